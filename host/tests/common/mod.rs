//! Test harness: runs the real `wsgi-wasm` binary on 127.0.0.1:0 over a fresh sites folder of
//! real fixture sites, and speaks raw HTTP/1.1 to it.
//!
//! Builds are cached in one state folder under the cargo target dir, shared by every test
//! (the server locks per site), so each fixture site is built once.

#![allow(dead_code)]

mod http;
mod layout;
mod logs;

// Not every part of the harness is used by every subject.
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use layout::*;
#[allow(unused_imports)]
pub use logs::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// server; a relative one is taken from `keep`), with `extra` arguments such as
    /// `--config FILE`.
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
        let mut command = Command::new(env!("CARGO_BIN_EXE_wsgi-wasm"));
        // A relative sites folder is relative to `keep`, the server's working directory then,
        // as an operator's `wsgi-wasm serve --sites sites` is.
        if sites.is_relative() {
            command.current_dir(dir.path());
        }
        let mut child = command
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

    pub fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(self.addr).expect("connect to the server");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
    }

    /// Sends a GET for `path` to `host` and reads the whole response.
    pub fn get(&self, host: &str, path: &str) -> Response {
        self.get_with(host, path, "")
    }

    /// [`Server::get`] with `headers` (whole lines, each ending in `\r\n`) after `Host`.
    pub fn get_with(&self, host: &str, path: &str, headers: &str) -> Response {
        self.request(
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"),
            b"",
        )
    }

    /// POSTs `body` to `path` on `host`, with `headers` (whole lines, each ending in `\r\n`)
    /// after `Host` and then its `Content-Length`; reads the whole response.
    pub fn post(&self, host: &str, path: &str, headers: &str, body: impl AsRef<[u8]>) -> Response {
        let body = body.as_ref();
        self.request(
            &format!(
                "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            ),
            body,
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

    /// Like [`Server::get`], and asserts a 200 (showing the response and the log when not).
    pub fn get_ok(&self, host: &str, path: &str) -> Response {
        let response = self.get(host, path);
        self.assert_status(&response, 200);
        response
    }

    /// Asserts that `response` has `status`; the failure shows the response and the log.
    pub fn assert_status(&self, response: &Response, status: u16) {
        assert_eq!(
            response.status,
            status,
            "{}\nlog:\n{}",
            response.describe(),
            self.log()
        );
    }

    /// Sends `head` (which must ask for `Connection: close`) and `body`; reads the response.
    pub fn request(&self, head: &str, body: &[u8]) -> Response {
        let mut stream = self.connect();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(body).unwrap();
        let mut response = Response::read(&mut BufReader::new(stream), head.starts_with("HEAD "));
        response.request = format!("{head}{}", preview(body));
        response
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
        let (child, log) = (&mut self.child, &self.log);
        wait_until("the server to exit", timeout, || {
            match child.try_wait().expect("the server's exit status") {
                Some(status) => Ok(status),
                None => Err(format!("log:\n{}", log.lock().unwrap())),
            }
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// The start of a request body, as failure messages show it.
fn preview(body: &[u8]) -> String {
    const SHOWN: usize = 200;
    let text = String::from_utf8_lossy(&body[..body.len().min(SHOWN)]).into_owned();
    match body.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("{text}… ({more} more bytes)"),
        _ => text,
    }
}

/// A GET on a fresh connection, for use from other threads.
pub fn get(addr: SocketAddr, host: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Response::read(&mut BufReader::new(stream), false);
    response.request = head;
    response
}
