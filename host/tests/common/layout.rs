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

    /// Copies the fixture site `fixture` to `sites/<name>`; returns the copy's folder.
    pub fn copy_fixture(&self, fixture_name: &str, name: &str) -> PathBuf {
        let to = self.sites().join(name);
        copy_dir(&fixture(fixture_name), &to);
        to
    }

    /// Serves `sites/` with `extra` arguments.
    pub fn serve_with(self, extra: &[&std::ffi::OsStr]) -> Server {
        let sites = self.sites();
        Server::launch(self.root, &sites, extra)
    }

    pub fn serve(self) -> Server {
        self.serve_with(&[])
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
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
