//! Sites folders written by a test, and the `wsgi-wasm` commands run over them to
//! completion (`check`, `build`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{copy_dir, fixture, state_dir, Server};

/// A sites folder written by the test: `<tmp>/sites/<name>/...`, beside room for files that
/// are outside every site (`<tmp>/outside/...`) and for server config files.
pub struct Layout {
    pub root: tempfile::TempDir,
}

impl Default for Layout {
    fn default() -> Self {
        Layout::new()
    }
}

impl Layout {
    pub fn new() -> Layout {
        let root = tempfile::tempdir().expect("a temp dir");
        std::fs::create_dir_all(root.path().join("sites")).unwrap();
        Layout { root }
    }

    /// `<tmp>/<relative>`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    pub fn sites(&self) -> PathBuf {
        self.path("sites")
    }

    /// Writes `<tmp>/<relative>`, creating its folders; returns its path.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Makes `<tmp>/<relative>` a symlink to `target` (used as given: absolute or relative).
    pub fn symlink(&self, target: impl AsRef<Path>, relative: &str) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, path).unwrap();
    }

    /// A static-only site: `site.toml` with `server_names`, `default` and `[static] root =
    /// "public"` plus `extra` lines for that table, and a `public/index.html` saying
    /// `site <name>`.
    pub fn static_site(&self, name: &str, names: &[&str], default: bool, extra: &str) {
        let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
        self.write(
            &format!("sites/{name}/site.toml"),
            format!(
                "server_names = [{}]\ndefault = {default}\n\n[static]\nroot = \"public\"\n{extra}",
                quoted.join(", ")
            ),
        );
        self.write(
            &format!("sites/{name}/public/index.html"),
            format!("site {name}\n"),
        );
    }

    /// Writes `sites/<name>/site.toml`; returns its path.
    pub fn site_toml(&self, name: &str, toml: &str) -> PathBuf {
        self.write(&format!("sites/{name}/site.toml"), toml)
    }

    /// Copies the fixture site `fixture` to `sites/<name>`; returns the copy's folder.
    pub fn copy_fixture(&self, fixture_name: &str, name: &str) -> PathBuf {
        let to = self.sites().join(name);
        copy_dir(&fixture(fixture_name), &to);
        to
    }

    /// Copies the app fixture `fixture` to `sites/<name>`, answering `<name>.test` where the
    /// fixture answers `<fixture>.test`, with the `app` lines first in its `[app]` table and
    /// `tables` appended to its `site.toml`; returns the copy's folder. Asserts that the
    /// fixture has an `[app]` table, and none of the tables that `tables` starts.
    pub fn app_fixture(&self, fixture_name: &str, name: &str, app: &str, tables: &str) -> PathBuf {
        let dir = self.copy_fixture(fixture_name, name);
        let file = dir.join("site.toml");
        let toml = std::fs::read_to_string(&file).unwrap();
        assert!(
            toml.contains("[app]\n"),
            "the fixture `{fixture_name}` has an [app] table:\n{toml}"
        );
        for table in tables.lines().filter(|l| l.starts_with('[')) {
            assert!(
                !toml.lines().any(|l| l.trim() == table.trim()),
                "the fixture `{fixture_name}` has no {table} table:\n{toml}"
            );
        }
        let toml = toml
            .replace(
                &format!("\"{fixture_name}.test\""),
                &format!("\"{name}.test\""),
            )
            .replace("[app]\n", &format!("[app]\n{app}"));
        std::fs::write(&file, format!("{toml}\n{tables}")).unwrap();
        dir
    }

    /// Serves `sites/` with `extra` arguments.
    pub fn serve_with(self, extra: &[&std::ffi::OsStr]) -> Server {
        let sites = self.sites();
        Server::launch(self.root, &sites, extra)
    }

    pub fn serve(self) -> Server {
        self.serve_with(&[])
    }

    /// Serves `sites/` while the layout stays with the test, so that the test can stop the
    /// server and start another one on the same folder.
    pub fn serve_in_place(&self) -> Server {
        Server::launch(tempfile::tempdir().expect("a temp dir"), &self.sites(), &[])
    }

    /// Serves `sites/` named by a relative path (`--sites sites`, from the layout's root), as
    /// an operator who runs the server beside its sites folder does.
    pub fn serve_relative(self) -> Server {
        Server::launch(self.root, Path::new("sites"), &[])
    }

    /// Serves `sites/` with `extra` arguments, returning as soon as the server listens,
    /// before its start-up builds end.
    #[allow(dead_code)]
    pub fn serve_early(self, extra: &[&std::ffi::OsStr]) -> Server {
        let sites = self.sites();
        Server::launch_with(self.root, &sites, extra, true)
    }

    /// `wsgi-wasm check --sites <sites/> [--config FILE]`.
    pub fn check(&self, config: Option<&Path>) -> Finished {
        let sites = self.sites();
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["check".as_ref(), "--sites".as_ref(), sites.as_os_str()];
        if let Some(config) = config {
            args.extend(["--config".as_ref(), config.as_os_str()]);
        }
        run_cli(&args)
    }

    /// `wsgi-wasm build` over `sites/`, with the shared test state folder.
    pub fn build(&self) -> Finished {
        let sites = self.sites();
        let state = state_dir();
        run_cli(&[
            std::ffi::OsStr::new("build"),
            std::ffi::OsStr::new("--sites"),
            sites.as_os_str(),
            std::ffi::OsStr::new("--state"),
            state.as_os_str(),
        ])
    }
}

/// What a finished `wsgi-wasm` command printed, and how it ended.
#[derive(Debug)]
pub struct Finished {
    /// The arguments it ran with, for failure messages.
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// stdout and stderr together, for searching.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// The first `FAILED` line of stdout (a build's per-site verdict); panics without one.
    pub fn failed_line(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with("FAILED"))
            .unwrap_or_else(|| panic!("a FAILED line:\n{}", self.all()))
    }
}

// Assertions: each failure shows the command and all it printed (`Finished::describe`).
impl Finished {
    /// The command as failure messages show it: its arguments, how it ended, and what it
    /// printed to stdout and to stderr.
    pub fn describe(&self) -> String {
        format!(
            "`wsgi-wasm {}` ended with {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }

    /// Asserts the command exited with `code`.
    pub fn assert_exit(&self, code: i32) -> &Finished {
        assert_eq!(self.code, Some(code), "{}", self.describe());
        self
    }

    /// Asserts the command did not succeed: an exit code other than 0, or a signal.
    pub fn assert_failed(&self) -> &Finished {
        assert_ne!(self.code, Some(0), "{}", self.describe());
        self
    }

    /// Asserts `check` printed the `ok` line of the site `name`.
    pub fn assert_site_ok(&self, name: &str) -> &Finished {
        assert!(
            self.stdout.contains(&format!("ok      {name} (")),
            "`ok` for site `{name}`: {}",
            self.describe()
        );
        self
    }

    /// The `error` line `check` printed for the site `name` (the one naming its
    /// `site.toml`); panics unless there is exactly one.
    pub fn site_error(&self, name: &str) -> &str {
        let file = format!("/{name}/site.toml: ");
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.starts_with("error") && l.contains(&file))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one error for `{name}`: {}",
            self.describe()
        );
        lines[0]
    }

    /// Asserts `check`'s error for the site `name` names `key` (in backticks, as
    /// `` : `key`: ``) and says `reason` (a fragment); returns the error line.
    pub fn assert_site_error(&self, name: &str, key: &str, reason: &str) -> &str {
        let line = self.site_error(name);
        assert!(
            line.contains(&format!(": `{key}`: ")),
            "key `{key}` in {line:?}"
        );
        assert!(line.contains(reason), "reason {reason:?} in {line:?}");
        line
    }

    /// Asserts stderr names the server config `file` and `key` (as `` <file>: `key`: ``)
    /// and says `reason` (a fragment); the failure shows the file too.
    pub fn assert_config_error(&self, file: &Path, key: &str, reason: &str) -> &Finished {
        let named = format!("{}: `{key}`: ", file.display());
        let shown = || {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            format!("{}\n{text:?} in {}", self.describe(), file.display())
        };
        assert!(
            self.stderr.contains(&named),
            "{named:?} in stderr: {}",
            shown()
        );
        assert!(
            self.stderr.contains(reason),
            "{reason:?} in stderr: {}",
            shown()
        );
        self
    }
}

/// Runs `wsgi-wasm <args>` to completion (e.g. `check --sites DIR`).
pub fn run_cli(args: &[&std::ffi::OsStr]) -> Finished {
    let output = Command::new(env!("CARGO_BIN_EXE_wsgi-wasm"))
        .args(args)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("the wsgi-wasm binary runs");
    Finished {
        args: args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
