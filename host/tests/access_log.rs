//! Access logs (`[log]` in wsgi-wasm.toml): the server's file and the per-site files, in the
//! combined and JSON formats, against a real server with a static-only site (`files.test`)
//! and the `echo` app (`echo.test`), and no default site (unknown hosts are closed, 444).
//! Lines are written by a thread of their own, so every check waits for its line.

use crate::common;

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{
    request_id, run_cli, tagged_event, wait_until, Layout, Response, Server, LOG_WAIT,
};

/// A server over `files` (static) and `echo` (app) with `[log]` set to `log_table`; returns
/// it with the layout's root folder (where the log paths are relative to).
fn serve_logged(log_table: &str) -> (Server, PathBuf) {
    let layout = Layout::new();
    layout.static_site("files", &["files.test"], false, "");
    // One instance: a response with a length is complete on the wire before its call has
    // returned, so a second instance could take the next request; with one it waits.
    layout.app_fixture("echo", "echo", "", "[limits]\ninstances = 1\n");
    let config = layout.write("wsgi-wasm.toml", format!("[log]\n{log_table}"));
    let root = layout.root.path().to_path_buf();
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    (server, root)
}

/// Waits until `path` has a line that `wanted` accepts; returns it.
fn wait_for_line(server: &Server, path: &Path, wanted: impl Fn(&str) -> bool) -> String {
    let what = format!("a matching line in {}", path.display());
    wait_until(&what, LOG_WAIT, || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        match text.lines().find(|l| wanted(l)) {
            Some(line) => Ok(line.to_owned()),
            None => Err(format!("the file:\n{text}\nserver log:\n{}", server.log())),
        }
    })
}

/// The line of the request whose request line (inside its quotes) is `request`.
fn line_of(server: &Server, path: &Path, request: &str) -> Combined {
    let quoted = format!("\"{request}\"");
    let line = Combined::parse(&wait_for_line(server, path, |l| l.contains(&quoted)));
    assert_eq!(line.request, request, "{}", line.line);
    line
}

fn bad<T>(line: &str) -> T {
    panic!("not a combined line: {line}")
}

/// One combined line, taken apart.
#[derive(Debug)]
struct Combined {
    line: String,
    remote_addr: String,
    remote_user: String,
    time: String,
    request: String,
    status: u16,
    bytes: u64,
    referer: String,
    user_agent: String,
    site: String,
    request_id: u64,
    duration: String,
    instance: String,
}

impl Combined {
    fn parse(line: &str) -> Combined {
        let (remote_addr, rest) = line.split_once(" - ").unwrap_or_else(|| bad(line));
        let (remote_user, rest) = rest.split_once(" [").unwrap_or_else(|| bad(line));
        let (time, rest) = rest.split_once("] \"").unwrap_or_else(|| bad(line));
        let (request, rest) = rest.split_once("\" ").unwrap_or_else(|| bad(line));
        let (status, rest) = rest.split_once(' ').unwrap_or_else(|| bad(line));
        let (bytes, rest) = rest.split_once(" \"").unwrap_or_else(|| bad(line));
        let (referer, rest) = rest.split_once("\" \"").unwrap_or_else(|| bad(line));
        let (user_agent, rest) = rest.split_once("\" ").unwrap_or_else(|| bad(line));
        let fields: Vec<(&str, &str)> = rest
            .split(' ')
            .map(|f| f.split_once('=').unwrap_or_else(|| bad(line)))
            .collect();
        let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
        assert_eq!(keys, ["site", "request", "duration", "instance"], "{line}");
        Combined {
            line: line.to_owned(),
            remote_addr: remote_addr.into(),
            remote_user: remote_user.into(),
            time: time.into(),
            request: request.into(),
            status: status.parse().unwrap_or_else(|_| bad(line)),
            bytes: bytes.parse().unwrap_or_else(|_| bad(line)),
            referer: referer.into(),
            user_agent: user_agent.into(),
            site: fields[0].1.into(),
            request_id: fields[1].1.parse().unwrap_or_else(|_| bad(line)),
            duration: fields[2].1.into(),
            instance: fields[3].1.into(),
        }
    }

    /// `duration=` has six decimals; `[time]` is `dd/Mon/yyyy:HH:MM:SS +zzzz`.
    fn assert_shapes(&self) {
        let (whole, fraction) = self.duration.split_once('.').unwrap();
        assert!(
            whole.parse::<u64>().is_ok()
                && fraction.len() == 6
                && fraction.bytes().all(|b| b.is_ascii_digit()),
            "{}",
            self.line
        );
        let (clock, zone) = self.time.split_once(' ').unwrap();
        assert_eq!(clock.len(), "10/Oct/2000:13:55:36".len(), "{}", self.line);
        assert_eq!(clock.split(['/', ':']).count(), 6, "{}", self.line);
        assert!(
            zone.len() == 5 && (zone.starts_with('+') || zone.starts_with('-')),
            "{}",
            self.line
        );
    }
}

fn get(server: &Server, host: &str, path: &str, extra: &str) -> Response {
    server.request(
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n"),
        b"",
    )
}

#[test]
fn access_log_combined_lines_for_every_kind_of_request() {
    let (server, root) = serve_logged("access = \"logs/access.log\"\nsites = \"logs/sites\"\n");
    let log = root.join("logs/access.log");

    // A static file, with quotes in the referer and user agent and a Basic auth user.
    let response = get(
        &server,
        "files.test",
        "/index.html?case=static",
        "Referer: http://ref.test/\"q\"\r\nUser-Agent: agent \"x\" \\ y\r\n\
         Authorization: Basic YWxpY2U6c2VjcmV0\r\n",
    );
    assert_eq!(response.status, 200);
    let line = line_of(&server, &log, "GET /index.html?case=static HTTP/1.1");
    line.assert_shapes();
    assert_eq!(line.remote_addr, "127.0.0.1");
    assert_eq!(line.remote_user, "alice");
    assert_eq!(line.status, 200);
    assert_eq!(line.bytes, response.body.len() as u64);
    assert_eq!(line.bytes, "site files\n".len() as u64);
    assert_eq!(line.referer, "http://ref.test/\\x22q\\x22");
    assert_eq!(line.user_agent, "agent \\x22x\\x22 \\x5C y");
    assert_eq!(line.site, "files");
    assert_eq!(line.instance, "-");
    let static_id = line.request_id;

    // HEAD: the headers only, 0 bytes.
    let head = server.request(
        "HEAD /index.html?case=head HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(head.status, 200);
    let line = line_of(&server, &log, "HEAD /index.html?case=head HTTP/1.1");
    assert_eq!((line.status, line.bytes), (200, 0), "{}", line.line);
    assert_eq!(
        (line.referer.as_str(), line.user_agent.as_str()),
        ("-", "-")
    );
    assert_eq!(line.remote_user, "-");

    // A 404 of the static-only site.
    let missing = get(&server, "files.test", "/missing.txt", "");
    assert_eq!(missing.status, 404);
    let line = line_of(&server, &log, "GET /missing.txt HTTP/1.1");
    assert_eq!(line.status, 404);
    assert_eq!(line.bytes, missing.body.len() as u64);
    assert_eq!(line.site, "files");

    // Two app requests in a row: the same reused instance serves both.
    let first = get(&server, "echo.test", "/first", "");
    assert_eq!(first.status, 200, "{}", server.log());
    let second = get(&server, "echo.test", "/second", "");
    assert_eq!(second.status, 200);
    let one = line_of(&server, &log, "GET /first HTTP/1.1");
    let two = line_of(&server, &log, "GET /second HTTP/1.1");
    one.assert_shapes();
    assert_eq!(one.site, "echo");
    assert_eq!(one.bytes, first.body.len() as u64);
    assert_eq!(two.bytes, second.body.len() as u64);
    assert!(one.instance.parse::<u64>().is_ok(), "{}", one.line);
    assert_eq!(one.instance, two.instance);
    assert!(one.request_id > static_id && two.request_id > one.request_id);

    // A request refused before any site takes it: two Host headers.
    let refused = server.exchange(
        b"GET /refused HTTP/1.1\r\nHost: files.test\r\nHost: echo.test\r\nConnection: close\r\n\r\n",
    );
    assert!(refused.starts_with(b"HTTP/1.1 400 "), "{refused:?}");
    let line = line_of(&server, &log, "GET /refused HTTP/1.1");
    assert_eq!(line.status, 400);
    assert_eq!(line.site, "-");
    assert_eq!(line.instance, "-");
    let body_start = refused.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(line.bytes, (refused.len() - body_start) as u64);

    // An unknown host: the connection is closed without a response, logged as 444.
    let closed = server.exchange(b"GET /nobody HTTP/1.1\r\nHost: nobody.test\r\n\r\n");
    assert!(closed.is_empty(), "{closed:?}");
    let line = line_of(&server, &log, "GET /nobody HTTP/1.1");
    assert_eq!((line.status, line.bytes), (444, 0));
    assert_eq!(line.site, "-");

    // Each site's own file has its lines, and only them.
    let files = wait_for_line(&server, &root.join("logs/sites/files.access.log"), |l| {
        l.contains("\"GET /missing.txt HTTP/1.1\"")
    });
    assert!(files.contains(" site=files "), "{files}");
    let files_log = std::fs::read_to_string(root.join("logs/sites/files.access.log")).unwrap();
    assert!(files_log.contains("\"GET /index.html?case=static HTTP/1.1\""));
    assert!(
        files_log.lines().all(|l| l.contains(" site=files ")),
        "{files_log}"
    );
    wait_for_line(&server, &root.join("logs/sites/echo.access.log"), |l| {
        l.contains("\"GET /second HTTP/1.1\"")
    });
    let echo_log = std::fs::read_to_string(root.join("logs/sites/echo.access.log")).unwrap();
    assert!(
        echo_log.lines().all(|l| l.contains(" site=echo ")),
        "{echo_log}"
    );
    // Requests no site took are in the server's log only.
    let names: Vec<String> = std::fs::read_dir(root.join("logs/sites"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn access_log_request_id_is_the_error_logs() {
    let (server, root) = serve_logged("access = \"access.log\"\n");
    let response = get(&server, "echo.test", "/raise", "");
    assert_eq!(response.status, 500);
    let event = tagged_event(&server, "echo", |e| e.contains("boom from echo"));
    let id = request_id(&event).unwrap();
    let line = line_of(&server, &root.join("access.log"), "GET /raise HTTP/1.1");
    assert_eq!(line.request_id, id, "{}\n{event}", line.line);
    assert_eq!(line.status, 500);
    assert_eq!(line.bytes, response.body.len() as u64);
    assert!(line.instance.parse::<u64>().is_ok(), "{}", line.line);

    // A refusal's log line names its request too.
    let refused = server.exchange(
        b"GET /twice HTTP/1.1\r\nHost: echo.test\r\nHost: files.test\r\nConnection: close\r\n\r\n",
    );
    assert!(refused.starts_with(b"HTTP/1.1 400 "));
    let line = line_of(&server, &root.join("access.log"), "GET /twice HTTP/1.1");
    let needle = format!(" request={} ", line.request_id);
    let log = server.wait_for_log(&needle);
    assert!(
        log.lines()
            .any(|l| l.contains("request refused") && l.contains(&needle)),
        "{log}"
    );
}

#[test]
fn access_log_json_lines_have_the_same_values() {
    let (server, root) = serve_logged("access = \"access.json\"\nformat = \"json\"\n");
    let path = root.join("access.json");
    let response = get(
        &server,
        "echo.test",
        "/json?x=1",
        "Referer: http://r.test/\"\r\nUser-Agent: ua\\\"\r\n",
    );
    assert_eq!(response.status, 200);
    let text = wait_for_line(&server, &path, |l| l.contains("/json?x=1"));
    let value: serde_json::Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(value["remote_addr"], "127.0.0.1");
    assert_eq!(value["remote_user"], serde_json::Value::Null);
    assert_eq!(value["method"], "GET");
    assert_eq!(value["uri"], "/json?x=1");
    assert_eq!(value["protocol"], "HTTP/1.1");
    assert_eq!(value["status"], 200);
    assert_eq!(value["bytes"], response.body.len() as u64);
    assert_eq!(value["referer"], "http://r.test/\"");
    assert_eq!(value["user_agent"], "ua\\\"");
    assert_eq!(value["site"], "echo");
    assert!(value["request_id"].as_u64().is_some(), "{text}");
    assert!(
        value["duration"].as_f64().is_some_and(|d| d >= 0.0),
        "{text}"
    );
    assert!(value["instance"].as_u64().is_some(), "{text}");
    let time = value["time"].as_str().unwrap();
    assert!(
        time.len() >= "2000-01-01T00:00:00.000Z".len() && time.as_bytes()[10] == b'T',
        "{text}"
    );

    let static_file = get(&server, "files.test", "/", "");
    assert_eq!(static_file.status, 200);
    let text = wait_for_line(&server, &path, |l| l.contains("\"site\":\"files\""));
    let value: serde_json::Value = serde_json::from_str(&text).expect(&text);
    assert_eq!(value["uri"], "/");
    assert_eq!(value["bytes"], static_file.body.len() as u64);
    assert_eq!(value["instance"], serde_json::Value::Null);
    assert_eq!(value["referer"], serde_json::Value::Null);
}

#[test]
fn access_log_client_gone_mid_body_logs_the_bytes_sent() {
    let (server, root) = serve_logged("access = \"access.log\"\n");
    let chunks = 4000u64;
    let size = 16384u64;
    let path = format!("/stream?chunks={chunks}&size={size}");
    let mut stream = server.connect();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let head = Response::read_head(&mut reader);
    assert_eq!(head.status, 200);
    let mut some = vec![0; 64 * 1024];
    reader.read_exact(&mut some).unwrap();
    drop(reader);
    let line = line_of(
        &server,
        &root.join("access.log"),
        &format!("GET {path} HTTP/1.1"),
    );
    assert_eq!(line.status, 200);
    assert!(
        line.bytes >= 64 * 1024 && line.bytes < chunks * size,
        "{}",
        line.line
    );
    assert!(line.instance.parse::<u64>().is_ok(), "{}", line.line);
}

#[test]
fn access_log_bad_config_fails_serve_and_check() {
    let cases = [
        ("format = \"xml\"\n", "`log.format`", "`xml`"),
        (
            "acces = \"a.log\"\n",
            "`log.acces`",
            "unknown field `acces`",
        ),
        ("access = \"\"\n", "`log.access`", "``"),
        ("access = \"logs\"\n", "`log.access`", "`logs` is a folder"),
        (
            "sites = \"wsgi-wasm.toml\"\n",
            "`log.sites`",
            "`wsgi-wasm.toml` is not a folder",
        ),
    ];
    for (table, key, value) in cases {
        let layout = Layout::new();
        layout.static_site("files", &["files.test"], false, "");
        std::fs::create_dir_all(layout.path("logs")).unwrap();
        let config = layout.write("wsgi-wasm.toml", format!("[log]\n{table}"));
        let sites = layout.sites();
        for command in ["check", "serve"] {
            let mut args: Vec<&std::ffi::OsStr> = vec![
                command.as_ref(),
                "--config".as_ref(),
                config.as_os_str(),
                "--sites".as_ref(),
                sites.as_os_str(),
            ];
            if command == "serve" {
                args.push("--listen".as_ref());
                args.push("127.0.0.1:0".as_ref());
            }
            let out = run_cli(&args);
            assert_ne!(out.code, Some(0), "{command} {table}: {}", out.all());
            let all = out.all();
            assert!(
                all.contains("wsgi-wasm.toml: ") && all.contains(key) && all.contains(value),
                "{command} with {table:?}: {all}"
            );
        }
    }

    // A file that cannot be opened stops `serve` (check does not open files).
    let layout = Layout::new();
    layout.static_site("files", &["files.test"], false, "");
    let config = layout.write(
        "wsgi-wasm.toml",
        "[log]\naccess = \"wsgi-wasm.toml/access.log\"\n",
    );
    let sites = layout.sites();
    let out = run_cli(&[
        "serve".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--sites".as_ref(),
        sites.as_os_str(),
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
    ]);
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.all()
            .contains("`log.access`: cannot open `wsgi-wasm.toml/access.log`"),
        "{}",
        out.all()
    );
}

#[test]
fn access_log_reopens_its_files_on_reload() {
    let (server, root) = serve_logged("access = \"logs/access.log\"\nsites = \"logs/sites\"\n");
    let log = root.join("logs/access.log");
    let site_log = root.join("logs/sites/echo.access.log");
    assert_eq!(get(&server, "echo.test", "/one", "").status, 200);
    line_of(&server, &log, "GET /one HTTP/1.1");
    wait_for_line(&server, &site_log, |l| l.contains("\"GET /one "));
    // logrotate moves the files away; the server still writes to them until it reopens.
    let rotated = root.join("logs/access.log.1");
    let site_rotated = root.join("logs/sites/echo.access.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    std::fs::rename(&site_log, &site_rotated).unwrap();
    assert_eq!(get(&server, "echo.test", "/two", "").status, 200);
    line_of(&server, &rotated, "GET /two HTTP/1.1");
    wait_for_line(&server, &site_rotated, |l| l.contains("\"GET /two "));

    server.signal(libc::SIGHUP);
    let log_text = server.wait_for_log("configuration reloaded");
    assert!(log_text.contains("configuration reloaded"), "{log_text}");
    assert_eq!(get(&server, "echo.test", "/three", "").status, 200);
    line_of(&server, &log, "GET /three HTTP/1.1");
    wait_for_line(&server, &site_log, |l| l.contains("\"GET /three "));
    let new = std::fs::read_to_string(&log).unwrap();
    assert!(!new.contains("/two"), "{new}");
    let old = std::fs::read_to_string(&rotated).unwrap();
    assert!(!old.contains("/three"), "{old}");
}

#[test]
fn access_log_guest_output_lines_carry_the_request_id() {
    let layout = Layout::new();
    layout.write(
        "sites/printer/site.toml",
        "server_names = [\"printer.test\"]\n\n[app]\nmodule = \"app\"\n",
    );
    layout.write(
        "sites/printer/app.py",
        "import sys\n\n\
         def application(environ, start_response):\n    \
             print('to stdout', environ['PATH_INFO'], flush=True)\n    \
             print('to stderr', environ['PATH_INFO'], file=sys.stderr)\n    \
             start_response('200 OK', [('Content-Type', 'text/plain')])\n    \
             return [b'printed\\n']\n",
    );
    let config = layout.write("wsgi-wasm.toml", "[log]\naccess = \"access.log\"\n");
    let log = layout.path("access.log");
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    let response = get(&server, "printer.test", "/out", "");
    assert_eq!(response.status, 200, "{}", server.log());
    let line = line_of(&server, &log, "GET /out HTTP/1.1");
    for stream in ["stdout", "stderr"] {
        let event = tagged_event(&server, "printer", |e| {
            e.contains(&format!("to {stream} /out")) && e.contains(&format!("stream=\"{stream}\""))
        });
        assert_eq!(request_id(&event), Some(line.request_id), "{event}");
    }
}

#[test]
fn access_log_has_the_lines_of_requests_that_end_during_shutdown() {
    let (mut server, root) = serve_logged("access = \"access.log\"\n");
    // A response still streaming when SIGTERM comes: it finishes during the shutdown,
    // moments before the process exits.
    let mut stream = server.connect();
    stream
        .write_all(b"GET /slow-stream HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = Response::read_head(&mut reader);
    assert_eq!(head.status, 200);
    let first = common::read_chunk(&mut reader).expect("the first chunk");
    assert_eq!(first, b"first\n");
    server.signal(libc::SIGTERM);
    let mut rest = Vec::new();
    while let Some(chunk) = common::read_chunk(&mut reader) {
        rest.extend_from_slice(&chunk);
    }
    assert_eq!(rest, b"last\n");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", server.log());
    // The process is gone: its lines are in the file now or never.
    let text = std::fs::read_to_string(root.join("access.log")).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("\"GET /slow-stream HTTP/1.1\""))
        .unwrap_or_else(|| panic!("no line for /slow-stream:\n{text}"));
    let line = Combined::parse(line);
    assert_eq!(
        (line.status, line.bytes),
        (200, "first\nlast\n".len() as u64)
    );
}
