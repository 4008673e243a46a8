//! Test harness: runs the real `wsgi-wasm` binary on 127.0.0.1:0 over a fresh sites folder of
//! real fixture sites, and speaks raw HTTP/1.1 to it.
//!
//! Builds are cached in one state folder under the cargo target dir, shared by every test
//! and test binary (the server locks per site), so each fixture site is built once.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fixture site's folder: `sites/<name>` or `tests/sites/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    let example = repo().join("sites").join(name);
    if example.is_dir() {
        return example;
    }
    let fixture = repo().join("tests/sites").join(name);
    assert!(fixture.is_dir(), "no fixture site `{name}`");
    fixture
}

pub fn state_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wsgi-wasm-state")
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// The admin listener (`Admin on http://…/`), on a free port unless the test passed
    /// its own `--admin`.
    pub admin: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
    sites: PathBuf,
    _sites: tempfile::TempDir,
}

impl Server {
    /// Serves copies of the named fixture sites.
    pub fn start(sites: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("a temp dir");
        for name in sites {
            copy_dir(&fixture(name), &dir.path().join(name));
        }
        Server::start_in(dir)
    }

    /// Serves the sites in `dir` as they are.
    pub fn start_in(dir: tempfile::TempDir) -> Server {
        let sites = dir.path().to_path_buf();
        Server::launch(dir, &sites, &[])
    }

    /// Serves the sites folder `sites` (usually inside `keep`, which lives as long as the
    /// server), with `extra` arguments such as `--config FILE`.
    pub fn launch(keep: tempfile::TempDir, sites: &Path, extra: &[&std::ffi::OsStr]) -> Server {
        Server::launch_with(keep, sites, extra, false)
    }

    /// [`Server::launch`], returning as soon as the server listens when `no_wait` (its
    /// sites may still be building; `Sites ready` comes to the log later).
    pub fn launch_with(
        keep: tempfile::TempDir,
        sites: &Path,
        extra: &[&std::ffi::OsStr],
        no_wait: bool,
    ) -> Server {
        let dir = keep;
        // Never the default admin port: tests run in parallel.
        let admin_given = extra.iter().any(|a| a.to_str() == Some("--admin"));
        let admin_args: &[&str] = if admin_given {
            &[]
        } else {
            &["--admin", "127.0.0.1:0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_wsgi-wasm"))
            .args(["serve", "--listen", "127.0.0.1:0", "--sites"])
            .arg(sites)
            .args(extra)
            .args(admin_args)
            .arg("--state")
            .arg(state_dir())
            // `WSGI_WASM_TEST_LOG=info,wasmtime_wasi=trace` shows every WASI call in a failing
            // test's log.
            .env(
                "RUST_LOG",
                std::env::var("WSGI_WASM_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the wsgi-wasm binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // `Admin on http://…/` comes before the `Serving HTTP on` lines.
        let mut admin = None;
        let mut first = String::new();
        loop {
            first.clear();
            stdout
                .read_line(&mut first)
                .expect("a line of the server's stdout");
            match first
                .trim()
                .strip_prefix("Admin on http://")
                .and_then(|a| a.strip_suffix('/'))
            {
                Some(address) => admin = Some(address.parse().expect("an admin address")),
                None => break,
            }
        }
        let Some(addr) = first
            .trim()
            .strip_prefix("Serving HTTP on http://")
            .and_then(|a| a.strip_suffix('/'))
        else {
            let _ = child.kill();
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "unexpected first line {first:?}; log:\n{}",
                log.lock().unwrap()
            );
        };
        let addr = addr.parse().expect("an address");
        // The server serves at once; sites not built yet come up as their builds finish.
        // Tests start once every start-up build has ended (`Sites ready: …`), unless they
        // asked not to wait. The rest of stdout goes to the log, as `stdout: <line>`.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str("stdout: ");
                log.push_str(&line);
                log.push('\n');
            }
        });
        if !no_wait {
            let deadline = std::time::Instant::now() + Duration::from_secs(600);
            while !log.lock().unwrap().contains("stdout: Sites ready") {
                if std::time::Instant::now() > deadline || child.try_wait().ok().flatten().is_some()
                {
                    let _ = child.kill();
                    panic!(
                        "no `Sites ready` from the server; log:\n{}",
                        log.lock().unwrap()
                    );
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Server {
            child,
            addr,
            admin,
            log,
            sites: sites.to_path_buf(),
            _sites: dir,
        }
    }

    /// Stops the server (SIGKILL) and starts it again on the same sites folder and state,
    /// with `extra` arguments.
    #[allow(dead_code)]
    pub fn restart(mut self, extra: &[&std::ffi::OsStr]) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let keep = std::mem::replace(&mut self._sites, tempfile::tempdir().expect("a temp dir"));
        Server::launch(keep, &self.sites.clone(), extra)
    }

    /// The sites folder the server serves (for tests that change it while it runs).
    pub fn sites_dir(&self) -> PathBuf {
        self.sites.clone()
    }

    /// The server process's id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (log lines arrive asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
    }

    /// Sends a GET for `path` to `host` and reads the whole response.
    pub fn get(&self, host: &str, path: &str) -> Response {
        self.request(
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
            b"",
        )
    }

    /// Sends raw bytes on a fresh connection and returns everything the server sends back
    /// until it closes the connection (empty: closed without a response, nginx's 444).
    pub fn exchange(&self, raw: &[u8]) -> Vec<u8> {
        let mut stream = self.connect();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.write_all(raw).unwrap();
        let mut received = Vec::new();
        match std::io::Read::read_to_end(&mut stream, &mut received) {
            Ok(_) => {}
            // A reset after the server closed with our bytes unread: also "no response".
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("reading until the server closes: {e} (got {received:?})"),
        }
        received
    }

    /// Like [`Server::get`], and asserts a 200 (showing the body and the log when not).
    pub fn get_ok(&self, host: &str, path: &str) -> Response {
        let response = self.get(host, path);
        assert_eq!(
            response.status,
            200,
            "{path}: {}\n{}",
            response.text(),
            self.log()
        );
        response
    }

    /// Sends `head` (which must ask for `Connection: close`) and `body`; reads the response.
    pub fn request(&self, head: &str, body: &[u8]) -> Response {
        let mut stream = self.connect();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        Response::read(&mut BufReader::new(stream), head.starts_with("HEAD "))
    }

    /// Sends the signal `sig` (`libc::SIGTERM`, ...) to the server process.
    #[allow(unsafe_code)] // the `unsafe` block below says why it holds
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill only sends a signal, to our own child, which is not reaped before drop
        // or `wait_exit`.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
    }

    /// Waits up to `timeout` for the server process to exit; panics, with the log, if it
    /// does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("the server's exit status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the server did not exit within {timeout:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    /// Lower-cased names, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): status {} body {}",
                self.status,
                self.text()
            )
        })
    }

    /// Reads the status line and headers only.
    pub fn read_head(reader: &mut impl BufRead) -> Response {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a status line");
        let mut parts = line.trim_end().splitn(3, ' ');
        let _version = parts.next();
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let reason = parts.next().unwrap_or("").to_owned();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header");
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        Response {
            status,
            reason,
            headers,
            body: Vec::new(),
        }
    }

    pub fn read(reader: &mut impl BufRead, head_request: bool) -> Response {
        let mut response = Response::read_head(reader);
        if head_request || response.status == 304 || response.status == 204 {
            return response;
        }
        if response.header("transfer-encoding") == Some("chunked") {
            response.body = read_chunked(reader);
        } else if let Some(length) = response.header("content-length") {
            let mut body = vec![0; length.parse().unwrap()];
            reader.read_exact(&mut body).expect("the whole body");
            response.body = body;
        } else {
            reader.read_to_end(&mut response.body).expect("the body");
        }
        response
    }
}

/// Reads one chunk of a chunked body; `None` at the last chunk.
pub fn read_chunk(reader: &mut impl BufRead) -> Option<Vec<u8>> {
    let mut size = String::new();
    reader.read_line(&mut size).expect("a chunk size");
    let size =
        usize::from_str_radix(size.trim().split(';').next().unwrap(), 16).expect("hex chunk size");
    let mut chunk = vec![0; size + 2];
    reader.read_exact(&mut chunk).expect("a whole chunk");
    chunk.truncate(size);
    (size > 0).then_some(chunk)
}

fn read_chunked(reader: &mut impl BufRead) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(chunk) = read_chunk(reader) {
        body.extend_from_slice(&chunk);
    }
    body
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "__pycache__" {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else if kind.is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(target, to.join(&name)).unwrap();
        } else {
            std::fs::copy(entry.path(), to.join(&name)).unwrap();
        }
    }
}

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

/// `body` framed as HTTP/1.1 chunks, their sizes taken from `sizes` in turn.
pub fn chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at((*size).min(rest.len()));
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
        rest = tail;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
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

// Log events and tagged lookups, for tests that check what the server logged.

/// A GET on a fresh connection, for use from other threads.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    Response::read(&mut BufReader::new(stream), false)
}

/// The log split into events: a line starting with a timestamp, and the lines after it
/// that do not (a multi-line message, such as a trap's wasm frames).
pub fn log_events(log: &str) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    for line in log.lines() {
        let starts_event = line.len() > 4 && line[..4].bytes().all(|b| b.is_ascii_digit());
        match events.last_mut() {
            Some(event) if !starts_event => {
                event.push('\n');
                event.push_str(line);
            }
            _ => events.push(line.to_owned()),
        }
    }
    events
}

/// Waits for a log event that `matches` and is tagged with `site=<site>` and a request id;
/// returns the event's text.
pub fn tagged_event(server: &Server, site: &str, matches: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.log();
        let found = log_events(&log).into_iter().find(|event| {
            matches(event)
                && event.contains(&format!(" site={site} "))
                && request_id(event).is_some()
        });
        if let Some(event) = found {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "no log event tagged with site={site} and a request id matches; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `request=<id>` field of a log event (fields follow the message).
pub fn request_id(event: &str) -> Option<u64> {
    let rest = &event[event.rfind(" request=")? + " request=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
