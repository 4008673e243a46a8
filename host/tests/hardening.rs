//! The front end under hostile clients: gunicorn's request corpus replayed against the real
//! server, framing checks, forwarded addresses, body limits, and slow clients that must not
//! hold up anybody else. Every server here serves the `hardening` fixture as the default
//! site (any Host reaches it), with short timeouts from its own `wsgi-wasm.toml`.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::common::{Layout, Response, Server};

/// The server config every test starts from: short timeouts so slow clients are cut fast.
const SERVER: &str = "header_timeout = \"1s\"\n";
/// The site's limits: small bodies, a short body timeout.
const LIMITS: &str = "[limits]\nmax_body = \"4KiB\"\nbody_timeout = \"1s\"\n";

/// Serves the `hardening` fixture with `limits` appended to its site.toml and `server` as
/// the server config.
fn serve(server: &str, limits: &str) -> Server {
    let layout = Layout::new();
    let site = layout.copy_fixture("hardening", "hardening");
    let mut toml = std::fs::read_to_string(site.join("site.toml")).unwrap();
    toml.push_str(limits);
    std::fs::write(site.join("site.toml"), toml).unwrap();
    let config = layout.write("wsgi-wasm.toml", server);
    layout.serve_with(&["--config".as_ref(), config.as_os_str()])
}

/// Sends `raw` on a fresh connection and returns what came back until the server closed it.
fn exchange(server: &Server, raw: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    // The server may refuse and close before reading everything: that is an answer too.
    let _ = stream.write_all(raw);
    let mut received = Vec::new();
    let mut buffer = [0; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "no close within 15s ({e}); got {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    received
}

/// The statuses of the responses in `bytes`, in order.
fn statuses(mut bytes: &[u8]) -> Vec<u16> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
            panic!("a truncated head: {:?}", String::from_utf8_lossy(bytes));
        };
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        bytes = &bytes[end + 4..];
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line in {head:?}"));
        found.push(status);
        let header = |name: &str| {
            head.lines().skip(1).find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        if let Some(length) = header("content-length") {
            bytes = &bytes[length.parse::<usize>().unwrap().min(bytes.len())..];
        } else if header("transfer-encoding").is_some() {
            let mut cursor = std::io::Cursor::new(bytes);
            while common::read_chunk(&mut cursor).is_some() {}
            bytes = &bytes[cursor.position() as usize..];
        } else if !matches!(status, 100..=199 | 204 | 304) {
            bytes = &[];
        }
    }
    found
}

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus/http-gunicorn")
}

/// A corpus file as bytes to send (the corpus README's decoding rules).
fn decode(path: &Path) -> Vec<u8> {
    let text: Vec<u8> = std::fs::read(path)
        .unwrap()
        .into_iter()
        .filter(|b| *b != b'\n')
        .collect();
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != b'\\' {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let escape = text.get(i + 1).copied();
        match escape {
            Some(b'r') => out.push(b'\r'),
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'0') => out.push(0),
            Some(b'x') => {
                let hex = std::str::from_utf8(&text[i + 2..i + 4]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            _ => panic!("{}: stray backslash at byte {i}", path.display()),
        }
        i += 2;
    }
    out
}

/// Replays every file of `corpus/<kind>` on its own connection, a few at a time; the
/// statuses each got, by file name.
fn replay(server: &Server, kind: &str) -> Vec<(String, Vec<u16>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus().join(kind))
        .unwrap_or_else(|e| panic!("the corpus beside the repo ({}): {e}", corpus().display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "http"))
        .collect();
    files.sort();
    let queue = Mutex::new(files);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| loop {
                let Some(file) = queue.lock().unwrap().pop() else {
                    break;
                };
                let got = statuses(&exchange(server, &decode(&file)));
                let name = file.file_name().unwrap().to_string_lossy().into_owned();
                results.lock().unwrap().push((name, got));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort();
    results
}

/// Valid requests we answer with a 5xx on purpose.
const VALID_BUT_REFUSED: &[(&str, &str)] = &[(
    "rfc9112_smuggle_gzip_chunked_01.http",
    "`Transfer-Encoding: gzip, chunked`: we decode no transfer coding but chunked, and \
     handing gzip bytes to an app as the body would be wrong: 501 (RFC 9112 §6.1). \
     (025.http and 025_line.http say the same but lack Host: 400, not a difference.)",
)];

/// Invalid requests we accept on purpose.
const INVALID_BUT_ACCEPTED: &[(&str, &str)] = &[
    ("006.http", "request line of 4112 bytes: over gunicorn's 4094 limit, under ours of 8190 (nginx's 8 KiB buffers)"),
];

#[test]
fn hardening_corpus_valid_requests_never_get_a_5xx() {
    let server = serve(SERVER, LIMITS);
    let results = replay(&server, "valid");
    assert!(results.len() >= 60, "only {} valid files", results.len());
    let mut wrong = Vec::new();
    for (name, got) in &results {
        let refused = got.iter().any(|s| *s >= 500);
        let expected = VALID_BUT_REFUSED.iter().any(|(n, _)| n == name);
        if refused != expected {
            wrong.push(format!(
                "{name}: {got:?} (listed as a difference: {expected})"
            ));
        }
    }
    let answered = results
        .iter()
        .filter(|(_, got)| got.iter().any(|s| *s < 300))
        .count();
    eprintln!(
        "valid: {} files, {answered} answered with a 2xx",
        results.len()
    );
    assert!(
        wrong.is_empty(),
        "valid corpus files:\n{}",
        wrong.join("\n")
    );
    // Many gunicorn cases are HTTP/1.1 without Host: 400 here (RFC 9112 §3.2), which is fine.
    assert!(answered >= 20, "valid requests reach the app: {results:?}");
}

#[test]
fn hardening_corpus_invalid_requests_get_a_4xx_or_a_close() {
    let server = serve(SERVER, LIMITS);
    let results = replay(&server, "invalid");
    assert!(results.len() >= 70, "only {} invalid files", results.len());
    let mut wrong = Vec::new();
    for (name, got) in &results {
        let refused = got.iter().all(|s| (400..500).contains(s));
        let expected = !INVALID_BUT_ACCEPTED.iter().any(|(n, _)| n == name);
        if refused != expected {
            wrong.push(format!(
                "{name}: {got:?} (listed as a difference: {})",
                !expected
            ));
        }
    }
    let closed = results.iter().filter(|(_, got)| got.is_empty()).count();
    eprintln!(
        "invalid: {} files, {closed} closed without a response",
        results.len()
    );
    assert!(
        wrong.is_empty(),
        "invalid corpus files:\n{}",
        wrong.join("\n")
    );
}

fn status_of(server: &Server, raw: &str) -> Vec<u16> {
    statuses(&exchange(server, raw.as_bytes()))
}

#[test]
fn hardening_ambiguous_framing_is_refused() {
    let server = serve(SERVER, LIMITS);
    let post = "POST / HTTP/1.1\r\nHost: a\r\n";
    let cases = [
        (
            "Content-Length: 2\r\nContent-Length: 2\r\n\r\nhi",
            400,
            "equal duplicate CL",
        ),
        (
            "Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
            400,
            "different CL",
        ),
        (
            "Content-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n",
            400,
            "two CT",
        ),
        (
            "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "CL+TE",
        ),
        (
            "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
            "gzip",
        ),
        (
            "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
            400,
            "chunked twice",
        ),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
            400,
            "not last",
        ),
        (
            "Transfer_Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
            400,
            "posing TE",
        ),
    ];
    for (rest, status, what) in cases {
        let got = status_of(&server, &format!("{post}{rest}"));
        assert_eq!(got, vec![status], "{what}");
    }
    let fine = status_of(
        &server,
        &format!("{post}Connection: close\r\nContent-Length: 2\r\n\r\nhi"),
    );
    assert_eq!(fine, vec![200]);
    let log = server.wait_for_log("duplicate Content-Length");
    assert!(
        log.contains("peer=127.0.0.1"),
        "reasons are logged with the peer:\n{log}"
    );
}

/// The app's environ for a GET with `extra` header lines.
fn environ(server: &Server, extra: &str) -> serde_json::Value {
    let response = server.request(
        &format!("GET / HTTP/1.1\r\nHost: a\r\n{extra}Connection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(response.status, 200, "{}", response.text());
    response.json()
}

#[test]
fn hardening_forwarded_for_is_ignored_from_untrusted_peers() {
    let server = serve(SERVER, LIMITS);
    let env = environ(
        &server,
        "X-Forwarded-For: 203.0.113.7\r\nX-Real-IP: 198.51.100.9\r\nX_Forwarded_For: 192.0.2.1\r\n",
    );
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(
        env["HTTP_X_FORWARDED_FOR"], "203.0.113.7",
        "the header itself is passed"
    );
    let under = environ(&server, "X_Forwarded_For: 192.0.2.1\r\n");
    assert!(
        under.get("HTTP_X_FORWARDED_FOR").is_none(),
        "`_` names never map to HTTP_*: {under}"
    );
    assert_eq!(under["REMOTE_ADDR"], "127.0.0.1");
    let proto = environ(
        &server,
        "X-Forwarded-Proto: https\r\nX-Forwarded-Ssl: on\r\n",
    );
    assert_eq!(
        proto["wsgi.url_scheme"], "http",
        "an untrusted peer's scheme"
    );
}

#[test]
fn hardening_forwarded_for_is_believed_from_trusted_proxies() {
    let config = format!("{SERVER}trusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n");
    let server = serve(&config, LIMITS);
    // The right-most address that is not a trusted proxy: the client may prepend anything.
    let env = environ(
        &server,
        "X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.2\r\n",
    );
    assert_eq!(env["REMOTE_ADDR"], "203.0.113.7");
    let real = environ(&server, "X-Real-IP: 198.51.100.9\r\n");
    assert_eq!(real["REMOTE_ADDR"], "198.51.100.9");
    let under = environ(&server, "X_Forwarded_For: 192.0.2.1\r\n");
    assert_eq!(
        under["REMOTE_ADDR"], "127.0.0.1",
        "a `_` name is not X-Forwarded-For"
    );
    assert!(under.get("HTTP_X_FORWARDED_FOR").is_none());
    // The scheme the client used, so that redirects behind a TLS proxy come out https://.
    assert_eq!(env["wsgi.url_scheme"], "http", "no X-Forwarded-Proto");
    let https = environ(&server, "X-Forwarded-Proto: https\r\n");
    assert_eq!(https["wsgi.url_scheme"], "https");
    let ssl = environ(&server, "X-Forwarded-Ssl: on\r\n");
    assert_eq!(ssl["wsgi.url_scheme"], "https");
    let plain = environ(&server, "X-Forwarded-Proto: http\r\n");
    assert_eq!(plain["wsgi.url_scheme"], "http");
}

#[test]
fn hardening_big_content_length_is_413_before_any_body_is_sent() {
    let server = serve(SERVER, LIMITS);
    let head = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10485760\r\n\r\n";
    assert_eq!(status_of(&server, head), vec![413]);
    let expect =
        "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10485760\r\n\r\n";
    assert_eq!(
        status_of(&server, expect),
        vec![413],
        "no 100 Continue first"
    );
}

#[test]
fn hardening_chunked_body_is_413_as_soon_as_it_grows_past_max_body() {
    let server = serve(SERVER, LIMITS);
    let mut stream = server.connect();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    // 5 KiB in 1 KiB chunks, never the last chunk: the answer cannot wait for the end.
    for _ in 0..5 {
        stream.write_all(b"400\r\n").unwrap();
        stream.write_all(&[b'x'; 1024]).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    let mut reader = std::io::BufReader::new(stream);
    let response = Response::read_head(&mut reader);
    assert_eq!(response.status, 413);
    assert_eq!(response.header("connection"), Some("close"));
}

#[test]
fn hardening_chunked_body_within_limits_reaches_the_app_without_a_length() {
    let server = serve(SERVER, LIMITS);
    let head =
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    let response = server.request(head, b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_eq!(response.status, 200, "{}", response.text());
    let env = response.json();
    assert!(
        env.get("CONTENT_LENGTH").is_none(),
        "a chunked body has no CONTENT_LENGTH: wsgi.input ends where the body does"
    );
    assert_eq!(env["body_length"], 11);
    assert!(env.get("HTTP_TRANSFER_ENCODING").is_none());
}

#[test]
fn hardening_stalled_body_is_408() {
    let server = serve(SERVER, LIMITS);
    let mut stream = server.connect();
    stream
        .write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nonly ten b")
        .unwrap();
    let response = Response::read_head(&mut std::io::BufReader::new(stream));
    assert_eq!(response.status, 408);
    server.wait_for_log("body_timeout");
}

#[test]
fn hardening_idle_keep_alive_connections_are_closed_at_the_header_timeout() {
    let server = serve(SERVER, LIMITS);
    let mut stream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut reader = std::io::BufReader::new(stream);
    let response = Response::read(&mut reader, false);
    assert_eq!(response.status, 200);
    let mut rest = Vec::new();
    // Kept alive, then closed by the server once idle for `header_timeout` (1s), well
    // before this read would time out.
    let read = reader.read_to_end(&mut rest);
    assert!(read.is_ok() && rest.is_empty(), "{read:?} {rest:?}");
}

#[test]
fn hardening_connections_beyond_max_connections_wait_for_a_free_one() {
    let server = serve("header_timeout = \"60s\"\nmax_connections = 2\n", LIMITS);
    let keep_alive = || {
        let mut stream = server.connect();
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        assert_eq!(Response::read(&mut reader, false).status, 200);
        stream
    };
    let first = keep_alive();
    let _second = keep_alive();
    let mut third = server.connect();
    third
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    third
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut byte = [0; 1];
    let waiting = third.read(&mut byte);
    assert!(
        matches!(&waiting, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the third connection is not served while two are open: {waiting:?}"
    );
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let response = Response::read(&mut std::io::BufReader::new(third), false);
    assert_eq!(response.status, 200, "served once a connection closed");
}

/// How a slow client's connection ended.
#[derive(Debug, PartialEq)]
enum Ending {
    /// The server closed it (with or without a response first); the response's status.
    Closed(Option<u16>),
    /// Still open after the test's patience ran out.
    StillOpen,
}

/// Sends `head`, then one byte of `drip` every 250 ms, until the server answers or closes.
fn trickle(server: &Server, head: &[u8], drip: u8, started: &AtomicUsize) -> Ending {
    let mut stream: TcpStream = server.connect();
    stream
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    stream.write_all(head).unwrap();
    started.fetch_add(1, Ordering::SeqCst);
    let mut received = Vec::new();
    let mut buffer = [0; 1024];
    let mut closed = false;
    for _ in 0..80 {
        match stream.read(&mut buffer) {
            Ok(0) => closed = true,
            Ok(n) => {
                received.extend_from_slice(&buffer[..n]);
                continue;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => closed = true,
        }
        // Only while no answer came: a write after the close would be the one failing.
        closed = closed || (received.is_empty() && stream.write_all(&[drip]).is_err());
        if closed {
            break;
        }
    }
    if !closed {
        return Ending::StillOpen;
    }
    let status = (!received.is_empty()).then(|| statuses(&received)[0]);
    Ending::Closed(status)
}

#[test]
fn hardening_slow_clients_are_cut_at_their_timeouts_while_others_are_served() {
    let server = serve(SERVER, LIMITS);
    // A warm instance first, so the requests below measure the front end only.
    assert_eq!(environ(&server, "")["REQUEST_METHOD"], "GET");
    let started = AtomicUsize::new(0);
    let closed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let slow = 50;
    let endings = Mutex::new(Vec::new());
    let served = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for i in 0..slow * 2 {
            let (server, started, closed, endings) = (&server, &started, &closed, &endings);
            scope.spawn(move || {
                let ending = if i % 2 == 0 {
                    // Headers that never end: cut by `header_timeout`.
                    trickle(
                        server,
                        b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ",
                        b'a',
                        started,
                    )
                } else {
                    // A body that never ends: 408 at the site's `body_timeout`.
                    let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n";
                    trickle(server, head, b'b', started)
                };
                closed.fetch_add(1, Ordering::SeqCst);
                endings.lock().unwrap().push((i % 2 == 0, ending));
            });
        }
        while started.load(Ordering::SeqCst) < slow * 2 {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Normal requests on other connections, while the slow ones hold theirs.
        while closed.load(Ordering::SeqCst) < slow * 2 && !done.load(Ordering::SeqCst) {
            let response = server.request(
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\n",
                b"hello",
            );
            let open_slow = slow * 2 - closed.load(Ordering::SeqCst);
            served.lock().unwrap().push((response.status, open_slow));
        }
        done.store(true, Ordering::SeqCst);
    });
    let after = environ(&server, "");
    assert_eq!(
        after["REQUEST_METHOD"], "GET",
        "still served after they all ended"
    );

    let endings = endings.into_inner().unwrap();
    for (header, ending) in &endings {
        match (header, ending) {
            (true, Ending::Closed(None | Some(408))) => {}
            (false, Ending::Closed(Some(408))) => {}
            other => panic!("a slow client ended as {other:?}"),
        }
    }
    let served = served.into_inner().unwrap();
    assert!(
        served.iter().all(|(status, _)| *status == 200),
        "{served:?}"
    );
    assert!(
        served.iter().any(|(_, open)| *open == slow * 2),
        "normal requests were answered while all {} slow clients were connected: {served:?}",
        slow * 2
    );
}

#[test]
fn hardening_front_keys_are_checked() {
    for (toml, key, reason) in [
        (
            "trusted_proxies = [\"10.0.0.0/33\"]\n",
            "trusted_proxies",
            "10.0.0.0/33",
        ),
        (
            "trusted_proxies = [\"proxy.local\"]\n",
            "trusted_proxies",
            "proxy.local",
        ),
        ("header_timeout = \"soon\"\n", "header_timeout", "soon"),
        ("max_connections = 0\n", "max_connections", "at least 1"),
    ] {
        let layout = Layout::new();
        let config = layout.write("wsgi-wasm.toml", toml);
        let out = layout.check(Some(&config));
        assert_ne!(out.code, Some(0), "{toml}");
        let all = out.all();
        assert!(
            all.contains(&format!("`{key}`")) && all.contains(reason),
            "{toml}: {all}"
        );
    }
}

/// Waits for the server to close `stream` (EOF or reset), reading and keeping what it sent
/// first; `None` when it is still open after `patience`.
fn closed_within(stream: &mut TcpStream, patience: Duration) -> Option<Vec<u8>> {
    let deadline = std::time::Instant::now() + patience;
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return Some(received),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Some(received),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return None
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
}

#[test]
fn hardening_silent_connections_are_closed_at_the_header_timeout() {
    let server = serve(SERVER, LIMITS);
    // Not one byte; then only part of the HTTP/2 preface, so hyper cannot tell the protocol.
    for sent in [&b""[..], b"PRI * HTTP/2.0\r\n"] {
        let start = std::time::Instant::now();
        let mut stream = server.connect();
        stream.write_all(sent).unwrap();
        let received = closed_within(&mut stream, Duration::from_secs(6));
        let took = start.elapsed();
        assert_eq!(
            received.as_deref(),
            Some(&b""[..]),
            "{sent:?}: closed without an answer within 6s (header_timeout = 1s)"
        );
        assert!(
            took >= Duration::from_millis(900),
            "{sent:?}: closed after {took:?}"
        );
    }
    // Everyone else is still served.
    assert_eq!(environ(&server, "")["REQUEST_METHOD"], "GET");
}

/// The frames (type, flags, stream) in the HTTP/2 bytes `bytes`.
fn h2_frames(mut bytes: &[u8]) -> Vec<(u8, u8, u32)> {
    let mut frames = Vec::new();
    while bytes.len() >= 9 {
        let length = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        frames.push((bytes[3], bytes[4], stream));
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    frames
}

#[test]
fn hardening_idle_http2_connections_get_a_goaway_at_the_idle_timeout() {
    let server = serve("header_timeout = \"1s\"\nidle_timeout = \"2s\"\n", LIMITS);
    // Prior knowledge h2c: the preface and an empty SETTINGS, then nothing at all.
    let start = std::time::Instant::now();
    let mut stream = server.connect();
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let received = closed_within(&mut stream, Duration::from_secs(10))
        .expect("an idle HTTP/2 connection is closed within 10s (idle_timeout = 2s)");
    let took = start.elapsed();
    let frames = h2_frames(&received);
    assert!(
        frames
            .iter()
            .any(|&(kind, _, stream)| kind == 0x7 && stream == 0),
        "a GOAWAY before the close: {frames:?}"
    );
    assert!(took >= Duration::from_millis(1900), "closed after {took:?}");

    // A real client, which answers the server's PINGs: served, then let go once idle.
    use http_body_util::{BodyExt, Empty};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("an h2c handshake");
        let connection = tokio::spawn(connection);
        for _ in 0..3 {
            let request = http::Request::get(format!("http://a:{}/", server.addr.port()))
                .body(Empty::<bytes::Bytes>::new())
                .unwrap();
            let response = sender.send_request(request).await.expect("a response");
            assert_eq!(response.status(), 200);
            response.into_body().collect().await.unwrap();
            // Less than idle_timeout between requests: the connection stays.
            tokio::time::sleep(Duration::from_millis(1200)).await;
        }
        let idle = std::time::Instant::now();
        let ended = tokio::time::timeout(Duration::from_secs(10), connection).await;
        assert!(
            ended.is_ok(),
            "the server let go of the idle HTTP/2 connection within 10s"
        );
        let took = idle.elapsed();
        assert!(
            took >= Duration::from_millis(500),
            "ended {took:?} after the last request"
        );
    });
}

/// A GET on a fresh connection: its status, or `None` when it was closed without one.
fn try_get(server: &Server) -> Option<u16> {
    let answer = exchange(
        server,
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    );
    statuses(&answer).first().copied()
}

#[test]
fn hardening_connections_beyond_max_connections_per_ip_are_closed_at_once() {
    let server = serve(
        "header_timeout = \"20s\"\nmax_connections_per_ip = 3\n",
        LIMITS,
    );
    // Nothing before them: a connection the server has not finished closing would count.
    let mut idle: Vec<TcpStream> = (0..3).map(|_| server.connect()).collect();
    for stream in &mut idle {
        assert_eq!(closed_within(stream, Duration::from_millis(300)), None);
    }
    let start = std::time::Instant::now();
    let mut fourth = server.connect();
    let _ = fourth.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    let received = closed_within(&mut fourth, Duration::from_secs(5));
    assert_eq!(
        received.as_deref(),
        Some(&b""[..]),
        "the fourth connection is closed without an answer; log:\n{}",
        server.log()
    );
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "closed at once, not at a timeout: {:?}",
        start.elapsed()
    );
    assert_eq!(try_get(&server), None, "still three open");
    server.wait_for_log("max_connections_per_ip (3) reached");
    // One closes: a new connection is served.
    drop(idle.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match try_get(&server) {
            Some(status) => {
                assert_eq!(status, 200);
                break;
            }
            None if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100))
            }
            None => panic!("no request served after one of the three closed"),
        }
    }
    // The idle ones are still open: the limit closed only the one beyond it.
    for stream in &mut idle {
        assert_eq!(closed_within(stream, Duration::from_millis(200)), None);
    }
}

/// Sends `request` over a prior-knowledge HTTP/2 connection; its status and body.
fn h2_send(
    server: &Server,
    request: http::Request<http_body_util::Empty<bytes::Bytes>>,
) -> (u16, Vec<u8>) {
    use http_body_util::BodyExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("an h2c handshake");
        tokio::spawn(connection);
        let response = sender.send_request(request).await.expect("a response");
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    })
}

#[test]
fn hardening_http2_host_that_differs_from_authority_is_400() {
    let server = serve(SERVER, LIMITS);
    let port = server.addr.port();
    for host in [
        "other.test".to_owned(),
        format!("a:{}", port + 1),
        "a".to_owned(),
    ] {
        let request = http::Request::get(format!("http://a:{port}/"))
            .header("host", &host)
            .body(http_body_util::Empty::new())
            .unwrap();
        let (status, _) = h2_send(&server, request);
        assert_eq!(status, 400, "host: {host} with :authority a:{port}");
    }
    server.wait_for_log("differs from `:authority");
    // The same host (case aside) is fine.
    let request = http::Request::get(format!("http://a:{port}/"))
        .header("host", format!("A:{port}"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let (status, body) = h2_send(&server, request);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn hardening_http2_authority_is_the_apps_http_host() {
    let layout = Layout::new();
    layout.copy_fixture("hardening", "hardening");
    layout.static_site("other", &["other.test"], false, "");
    let config = layout.write("wsgi-wasm.toml", SERVER);
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    let port = server.addr.port();
    let request = http::Request::get(format!("http://hardening.test:{port}/path"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let (status, body) = h2_send(&server, request);
    assert_eq!(status, 200);
    let environ: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(environ["HTTP_HOST"], format!("hardening.test:{port}"));
    assert_eq!(environ["SERVER_NAME"], "hardening.test");
    assert_eq!(environ["SERVER_PROTOCOL"], "HTTP/2");
    // Routed by `:authority`: another site's name reaches that site.
    let request = http::Request::get(format!("http://other.test:{port}/"))
        .body(http_body_util::Empty::new())
        .unwrap();
    let (status, body) = h2_send(&server, request);
    assert_eq!(status, 200);
    assert_eq!(String::from_utf8_lossy(&body), "site other\n");
}
