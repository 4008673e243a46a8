//! PEP 3333, all of it, over real HTTP against the `pep3333` fixture: every way of reading
//! `wsgi.input` (with a length, chunked, past the end), `Expect: 100-continue` answered only
//! when the app reads, bodies longer or shorter than their `Content-Length`,
//! `wsgi.file_wrapper` sent by the host from disk (and its fallback), `close()` called once
//! when the client goes away, and a suite of requests against apps wrapped in
//! `wsgiref.validate` with warnings turned into errors.

use crate::common;

use std::io::{BufReader, Read, Write};
use std::time::Duration;

use crate::common::{log_events, Layout, Response, Server};
use serde_json::json;

const HOST: &str = "pep3333.test";

/// Serves a copy of the fixture; `data` files are written to its data folder first.
fn serve(data: &[(&str, &[u8])]) -> Server {
    let layout = Layout::new();
    let dir = layout.copy_fixture("pep3333", "pep3333");
    for (name, bytes) in data {
        std::fs::write(dir.join("data").join(name), bytes).unwrap();
    }
    layout.serve()
}

fn post(server: &Server, path: &str, body: &[u8]) -> Response {
    server.post(HOST, path, "", body)
}

/// The body as chunks of `piece` bytes.
fn chunked(body: &[u8], piece: usize) -> Vec<u8> {
    common::chunked(body, &[piece])
}

fn post_chunked(server: &Server, path: &str, body: &[u8]) -> Response {
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {HOST}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    server.request(&head, &chunked(body, 5))
}

#[test]
fn input_every_read_method_with_a_length_and_chunked() {
    let server = serve(&[]);
    let body = b"first line\nsecond\n\nlast without newline";
    let text = String::from_utf8_lossy(body).into_owned();
    let lines = ["first line\n", "second\n", "\n", "last without newline"];
    for chunked_body in [false, true] {
        let send = |mode: &str| {
            let path = format!("/input?mode={mode}");
            let response = if chunked_body {
                post_chunked(&server, &path, body)
            } else {
                post(&server, &path, body)
            };
            assert_eq!(
                response.status,
                200,
                "{mode}: {}\n{}",
                response.text(),
                server.log()
            );
            response.json()
        };
        for mode in ["read", "read-1", "read-none"] {
            let seen = send(mode);
            assert_eq!(
                seen["calls"],
                json!([text, "", ""]),
                "{mode}, chunked {chunked_body}"
            );
        }
        let pieces: Vec<String> = body
            .chunks(7)
            .map(|c| String::from_utf8_lossy(c).into())
            .collect();
        let mut expected = pieces.clone();
        expected.extend(["".to_string(), "".into(), "".into()]);
        assert_eq!(send("read-n")["calls"], json!(expected));
        let mut expected: Vec<&str> = lines.to_vec();
        expected.extend(["", "", ""]);
        assert_eq!(send("readline")["calls"], json!(expected));
        assert_eq!(
            send("readline-n")["calls"],
            json!([
                "firs", "t li", "ne\n", "seco", "nd\n", "\n", "last", " wit", "hout", " new",
                "line", "", "", ""
            ])
        );
        let mut expected: Vec<&str> = lines.to_vec();
        expected.extend(["", ""]);
        assert_eq!(send("readlines")["calls"], json!(expected));
        assert_eq!(send("iter")["calls"], json!(expected));
        let seen = send("read");
        assert_eq!(seen["input_terminated"], true);
        if chunked_body {
            assert_eq!(
                seen["content_length"],
                json!(null),
                "a chunked body has no CONTENT_LENGTH"
            );
        } else {
            assert_eq!(seen["content_length"], json!(body.len().to_string()));
        }
    }
}

#[test]
fn input_empty_body_reads_as_empty() {
    let server = serve(&[]);
    let response = server.get_ok(HOST, "/input?mode=read");
    assert_eq!(response.json()["calls"], json!(["", "", ""]));
}

/// Sends a head with `Expect: 100-continue` and returns the stream and what arrived within
/// a moment, before any body byte was sent.
fn expect_continue(server: &Server, path: &str, framing: &str) -> (std::net::TcpStream, String) {
    let mut stream = server.connect();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {HOST}\r\n{framing}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut first = [0u8; 25];
    stream
        .read_exact(&mut first)
        .expect("an interim or final response");
    (stream, String::from_utf8_lossy(&first).into_owned())
}

#[test]
fn continue_is_sent_only_when_the_app_reads() {
    let server = serve(&[]);
    // The app reads: `100 Continue` comes first, before the client sends a byte of body.
    let (mut stream, first) = expect_continue(&server, "/continue", "Content-Length: 11");
    assert_eq!(first, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(b"hello world").unwrap();
    let response = Response::read(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["length"], 11);

    // The app answers without reading: no `100 Continue`, the final response straight away.
    let (stream, first) = expect_continue(&server, "/no-read", "Content-Length: 11");
    assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first:?}");
    let mut rest = String::new();
    let _ = BufReader::new(stream).read_to_string(&mut rest);
    assert!(!rest.contains("100 Continue"), "{rest}");
    assert!(rest.contains("the body was not read"));

    // A chunked body that the app reads as it arrives.
    let (mut stream, first) = expect_continue(&server, "/continue", "Transfer-Encoding: chunked");
    assert_eq!(first, "HTTP/1.1 100 Continue\r\n\r\n");
    stream.write_all(&chunked(&[7u8; 1000], 300)).unwrap();
    let response = Response::read(&mut BufReader::new(stream), false);
    assert_eq!(response.json()["length"], 1000);
}

#[test]
fn continue_body_over_max_body_is_413() {
    let server = serve(&[]);
    // Declared too large: refused before `100 Continue`.
    let (_stream, first) = expect_continue(&server, "/continue", "Content-Length: 70000");
    assert!(first.starts_with("HTTP/1.1 413 "), "{first:?}");
    // Chunked, found too large while the app reads: 413 all the same, the app's read failed.
    let (mut stream, first) = expect_continue(&server, "/continue", "Transfer-Encoding: chunked");
    assert_eq!(first, "HTTP/1.1 100 Continue\r\n\r\n");
    let _ = stream.write_all(&chunked(&vec![1u8; 70 * 1024], 8192));
    let response = Response::read(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 413, "{}", response.text());
    // An expectation the server does not know.
    let raw = format!(
        "GET /input HTTP/1.1\r\nHost: {HOST}\r\nExpect: 200-ok\r\nConnection: close\r\n\r\n"
    );
    let answer = String::from_utf8_lossy(&server.exchange(raw.as_bytes())).into_owned();
    assert!(answer.starts_with("HTTP/1.1 417 "), "{answer}");
}

/// Everything the server sends on a fresh connection for `path`, until it closes.
fn raw_get(server: &Server, path: &str) -> Vec<u8> {
    server.exchange(format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n").as_bytes())
}

fn split_response(raw: &[u8]) -> (String, Vec<u8>) {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head")
        + 4;
    (
        String::from_utf8_lossy(&raw[..end]).into_owned(),
        raw[end..].to_vec(),
    )
}

#[test]
fn content_length_longer_body_is_cut_to_the_length() {
    let server = serve(&[]);
    for path in [
        "/length?declared=5&parts=10",
        "/length?declared=5&parts=3,4,3&how=stream",
        "/length-write?declared=5&parts=2,2,2",
    ] {
        // Keep-alive: the connection stays framed right, so a second request on it works.
        let mut stream = server.connect();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let response = Response::read(&mut reader, false);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.body.len(), 5, "{path}: {:?}", response.text());
        stream
            .write_all(
                format!("GET /v/list HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        let next = Response::read(&mut reader, false);
        assert_eq!(
            next.text(),
            "list body\n",
            "{path}: the next response on the connection"
        );
    }
    server.wait_for_log("more bytes than its Content-Length");
}

#[test]
fn content_length_shorter_body_closes_the_connection() {
    let server = serve(&[]);
    for path in [
        "/length?declared=20&parts=10",
        "/length?declared=20&parts=4,6&how=stream",
        "/length-write?declared=20&parts=5,5",
    ] {
        // Keep-alive asked for, yet the server closes after the short body: the client can
        // tell the response was not whole.
        let raw = raw_get(&server, path);
        let (head, body) = split_response(&raw);
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{path}: {head}");
        assert!(
            head.to_ascii_lowercase().contains("content-length: 20"),
            "{head}"
        );
        assert_eq!(
            body.len(),
            10,
            "{path}: only what the app sent, then the close"
        );
    }
    server.wait_for_log("short of its Content-Length");
}

#[test]
fn file_wrapper_is_sent_by_the_host_from_disk() {
    let blob: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i * 31 % 253) as u8)
        .collect();
    let server = serve(&[("big.bin", &blob)]);
    // `NoPythonRead` fails if Python reads it: the bytes came from the host.
    let response = server.get_ok(HOST, "/file?which=data");
    assert_eq!(response.body.len(), blob.len());
    assert!(response.body == blob, "the file's bytes, in order");
    let site = server.get_ok(HOST, "/file?which=site");
    assert_eq!(site.text(), "hello from the site folder\n");
    // From an offset the app seeked to, and held to the Content-Length the app declared.
    let part = server.get_ok(HOST, "/file?which=data&offset=1000&length=5000");
    assert_eq!(part.header("content-length"), Some("5000"));
    assert!(part.body == blob[1000..6000]);
    // HEAD: headers only.
    let head = server.request(
        &format!(
            "HEAD /file?which=data&length={} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n",
            blob.len()
        ),
        b"",
    );
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn file_wrapper_falls_back_to_iteration() {
    let blob = vec![42u8; 100_000];
    let server = serve(&[("big.bin", &blob)]);
    // A BytesIO has no file behind it; an ordinary file object works either way.
    let memory = server.get_ok(HOST, "/file?which=data&python=bytesio");
    assert!(memory.body == blob);
    let plain = server.get_ok(HOST, "/file?which=data&python=1");
    assert!(plain.body == blob);
    // The standard library is not the site's: the host refuses it, Python sends it.
    let stdlib = server.get_ok(HOST, "/file?which=stdlib&python=1");
    assert!(
        stdlib.text().contains("def "),
        "os.py, iterated by the bridge"
    );
    // ...and a NoPythonRead file there fails as a 500 (it had to be read by Python).
    let refused = server.get(HOST, "/file?which=stdlib");
    assert_eq!(refused.status, 500);
    assert!(
        !refused.text().contains("AssertionError"),
        "no traceback in the response"
    );
    server.wait_for_log("the file's bytes went through Python");
}

#[test]
fn close_is_called_once_when_the_client_goes_away() {
    let server = serve(&[]);
    let mut stream = server.connect();
    write!(
        stream,
        "GET /endless?tag=gone HTTP/1.1\r\nHost: {HOST}\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let response = Response::read_head(&mut reader);
    assert_eq!(response.status, 200);
    let mut some = vec![0u8; 100_000];
    reader.read_exact(&mut some).unwrap();
    drop(reader);
    stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(stream);
    server.wait_for_log("close called for gone");
    // Once only, even after the server has had time to notice anything else.
    let after = server.get_ok(HOST, "/v/list");
    assert_eq!(after.text(), "list body\n", "the instance serves on");
    let log = server.log();
    let calls = log_events(&log)
        .iter()
        .filter(|e| e.contains("close called for gone"))
        .count();
    assert_eq!(calls, 1, "{log}");
}

#[test]
fn tmp_is_a_scratch_folder_of_the_site_alone() {
    let layout = Layout::new();
    layout.copy_fixture("pep3333", "pep3333");
    let other = layout.copy_fixture("pep3333", "other");
    let toml = std::fs::read_to_string(other.join("site.toml")).unwrap();
    std::fs::write(
        other.join("site.toml"),
        toml.replace("\"pep3333.test\"", "\"other.test\""),
    )
    .unwrap();
    let server = layout.serve();
    // Werkzeug and Django spool big uploads to tempfile: it works.
    let spool = server.get_ok(HOST, "/tmp?op=spool").json();
    assert_eq!(spool, json!({"size": 1 << 20, "dir": "/tmp"}));
    assert_eq!(server.get_ok(HOST, "/tmp?op=write").json()["exists"], true);
    assert_eq!(server.get_ok(HOST, "/tmp").json()["exists"], true);
    // Another site's /tmp is its own.
    assert_eq!(server.get_ok("other.test", "/tmp").json()["exists"], false);
}

/// Every request of the validate suite: (method, path, body, chunked, expected status).
const VALIDATE_SUITE: &[(&str, &str, &[u8], bool, u16)] = &[
    ("GET", "/v/list", b"", false, 200),
    ("GET", "/v/list?a=1&b=%20", b"", false, 200),
    ("HEAD", "/v/list", b"", false, 200),
    ("GET", "/v/generator", b"", false, 200),
    ("GET", "/v/write", b"", false, 200),
    (
        "POST",
        "/v/input",
        b"line one\nline two\nthree\n",
        false,
        200,
    ),
    (
        "POST",
        "/v/input",
        b"line one\nline two\nthree\n",
        true,
        200,
    ),
    ("POST", "/v/input", b"", false, 200),
    ("PUT", "/v/input-iter", b"a\nb\nc", false, 200),
    ("PATCH", "/v/input-iter", b"a\nb\nc", true, 200),
    ("GET", "/v/errors", b"", false, 200),
    ("GET", "/v/exc-info", b"", false, 500),
    ("GET", "/v/file", b"", false, 200),
    ("GET", "/v/empty", b"", false, 204),
    ("DELETE", "/v/empty", b"", false, 204),
    ("OPTIONS", "/v/environ", b"", false, 200),
    ("GET", "/v/environ?x=%41", b"", false, 200),
];

#[test]
fn validate_suite_has_zero_failures() {
    let server = serve(&[]);
    for &(method, path, body, is_chunked, status) in VALIDATE_SUITE {
        for version in ["HTTP/1.1", "HTTP/1.0"] {
            if is_chunked && version == "HTTP/1.0" {
                continue;
            }
            let framing = if is_chunked {
                "Transfer-Encoding: chunked\r\n".to_string()
            } else if body.is_empty() {
                String::new()
            } else {
                format!("Content-Length: {}\r\n", body.len())
            };
            let head = format!(
                "{method} {path} {version}\r\nHost: {HOST}\r\n{framing}Connection: close\r\n\r\n"
            );
            let sent = if is_chunked {
                chunked(body, 4)
            } else {
                body.to_vec()
            };
            let response = server.request(&head, &sent);
            assert_eq!(
                response.status,
                status,
                "{method} {path} {version}: {}\n{}",
                response.text(),
                server.log()
            );
        }
    }
    let list = server.get_ok(HOST, "/v/list");
    assert_eq!(list.text(), "list body\n");
    assert_eq!(
        server.get_ok(HOST, "/v/write").text(),
        "written then returned\n"
    );
    assert_eq!(
        server.get_ok(HOST, "/v/generator").text(),
        "part 0\npart 1\npart 2\n"
    );
    let input = post(&server, "/v/input", b"line one\nline two\nthree\n");
    assert_eq!(
        input.text(),
        "(b'line one\\n', b'lin', [b'e two\\n', b'three\\n'], b'')"
    );
    let environ = server.get_ok(HOST, "/v/environ").json();
    for key in [
        "wsgi.errors",
        "wsgi.file_wrapper",
        "wsgi.input",
        "wsgi.input_terminated",
        "wsgi.multiprocess",
        "wsgi.multithread",
        "wsgi.run_once",
        "wsgi.url_scheme",
        "wsgi.version",
    ] {
        assert!(
            environ["keys"].as_array().unwrap().contains(&json!(key)),
            "{key}"
        );
    }
    server.wait_for_log("pep3333: two lines");
    // The exc_info route logged its own deliberate error; nothing else failed.
    let log = server.log();
    for bad in [
        "AssertionError",
        "WSGIWarning",
        "Warning:",
        "request failed",
        "garbage collected",
    ] {
        assert!(!log.contains(bad), "`{bad}` in the log:\n{log}");
    }
}
