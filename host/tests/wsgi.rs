//! The foundation, end to end: real components built from real Python, served by the real
//! binary, driven over real HTTP.

use crate::common;

use std::io::{BufReader, Write};

use crate::common::{read_chunk, Response, Server};
use sha2::{Digest, Sha256};

#[test]
fn hello_body_and_headers() {
    let server = Server::start(&["hello"]);
    let response = server.get("hello.localhost", "/");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello, World!\n");
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("14"));
    assert!(
        response.header("date").is_some(),
        "hyper adds Date: {:?}",
        response.headers
    );
}

#[test]
fn hello_reuses_its_instance_on_a_kept_alive_connection() {
    let server = Server::start(&["hello"]);
    let mut stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for _ in 0..50 {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        let response = Response::read(&mut reader, false);
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "Hello, World!\n");
    }
}

#[test]
fn environ_follows_pep3333() {
    let server = Server::start(&["echo"]);
    let head = "GET /caf%C3%A9/a%2Fb?x=1&y=%20z HTTP/1.1\r\nHost: Echo.Test:8123\r\n\
                X-Multi: one\r\nX-Multi: two\r\nCookie: a=1\r\nCookie: b=2\r\n\
                X_Forwarded_For: 6.6.6.6\r\nConnection: close\r\n\r\n";
    let response = server.request(head, b"");
    assert_eq!(response.status, 200, "{}", response.text());
    let environ = response.json();
    // UTF-8 bytes arrive one latin-1 character per byte; %2F is decoded into PATH_INFO.
    assert_eq!(environ["PATH_INFO"], "/caf\u{c3}\u{a9}/a/b");
    assert_eq!(environ["SCRIPT_NAME"], "");
    assert_eq!(environ["QUERY_STRING"], "x=1&y=%20z");
    assert_eq!(environ["REQUEST_URI"], "/caf%C3%A9/a%2Fb?x=1&y=%20z");
    assert_eq!(environ["REQUEST_METHOD"], "GET");
    assert_eq!(environ["SERVER_NAME"], "echo.test");
    assert_eq!(environ["SERVER_PORT"], "8123");
    assert_eq!(environ["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(environ["REMOTE_ADDR"], "127.0.0.1");
    assert!(environ["REMOTE_PORT"]
        .as_str()
        .unwrap()
        .parse::<u16>()
        .is_ok());
    assert_eq!(environ["HTTP_X_MULTI"], "one, two");
    assert_eq!(environ["HTTP_COOKIE"], "a=1; b=2");
    assert_eq!(environ["HTTP_HOST"], "Echo.Test:8123");
    assert!(
        environ.get("HTTP_X_FORWARDED_FOR").is_none(),
        "underscore headers are dropped"
    );
    assert!(environ.get("CONTENT_LENGTH").is_none());
    assert_eq!(environ["wsgi.url_scheme"], "http");
    assert_eq!(environ["wsgi.version"], serde_json::json!([1, 0]));
    assert_eq!(environ["wsgi.multithread"], false);
    assert_eq!(environ["wsgi.multiprocess"], true);
    assert_eq!(environ["wsgi.run_once"], false);
}

#[test]
fn environ_has_nothing_from_the_host_environment() {
    let server = Server::start(&["echo"]);
    let environ = server.get("echo.test", "/environ").json();
    let os_environ = environ["os_environ"]
        .as_object()
        .expect("os.environ as an object");
    assert_eq!(
        os_environ["ECHO_SITE_VAR"], "from site.toml",
        "the site's own env applies"
    );
    for (key, value) in std::env::vars() {
        if key.starts_with("PYTHON") {
            continue;
        }
        assert!(
            !os_environ.contains_key(&key),
            "host variable `{key}` leaked into the guest"
        );
        assert!(
            !environ
                .as_object()
                .unwrap()
                .values()
                .any(|v| v == &value && value.len() > 8),
            "host value of `{key}` leaked into the environ"
        );
    }
    assert!(!os_environ.contains_key("CARGO_MANIFEST_DIR"));
}

#[test]
fn upload_one_mebibyte_round_trip() {
    let server = Server::start(&["echo"]);
    let body: Vec<u8> = (0..1024 * 1024u32).map(|i| (i * 7 % 251) as u8).collect();
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: echo.test\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let response = server.request(&head, &body);
    assert_eq!(response.status, 200, "{}", response.text());
    let result = response.json();
    assert_eq!(result["length"], body.len());
    assert_eq!(result["sha256"], hex(&Sha256::digest(&body)));
}

#[test]
fn upload_chunked_request_body() {
    let server = Server::start(&["echo"]);
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 256) as u8).collect();
    let mut stream = server.connect();
    stream
        .write_all(b"POST /upload HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        .unwrap();
    for piece in body.chunks(70_001) {
        stream
            .write_all(format!("{:x}\r\n", piece.len()).as_bytes())
            .unwrap();
        stream.write_all(piece).unwrap();
        stream.write_all(b"\r\n").unwrap();
    }
    stream.write_all(b"0\r\n\r\n").unwrap();
    let response = Response::read(&mut BufReader::new(stream), false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["length"], body.len());
    assert_eq!(response.json()["sha256"], hex(&Sha256::digest(&body)));
}

#[test]
fn stream_one_mebibyte_response_chunked() {
    let server = Server::start(&["echo"]);
    let response = server.get("echo.test", "/stream?chunks=256&size=4096");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("transfer-encoding"),
        Some("chunked"),
        "no Content-Length means chunked"
    );
    assert_eq!(response.body.len(), 1024 * 1024);
    let expected: Vec<u8> = (0..256)
        .flat_map(|i| vec![65 + (i % 26) as u8; 4096])
        .collect();
    assert!(
        response.body == expected,
        "the streamed bytes arrive in order"
    );
}

#[test]
fn stream_first_chunk_arrives_while_the_app_runs() {
    let server = Server::start(&["echo"]);
    let mut stream = server.connect();
    stream
        .write_all(b"GET /slow-stream HTTP/1.1\r\nHost: echo.test\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reader = BufReader::new(stream);
    let head = Response::read_head(&mut reader);
    assert_eq!(head.status, 200);
    let first = read_chunk(&mut reader).expect("a first chunk");
    assert_eq!(first, b"first\n");
    // The app writes the marker only after its first chunk is out and it has slept: the
    // first chunk must have arrived before the app reached that point.
    assert!(
        !server.log().contains("slow-stream: released"),
        "the first chunk was held back until the generator went on"
    );
    assert_eq!(read_chunk(&mut reader).expect("the last chunk"), b"last\n");
    assert!(read_chunk(&mut reader).is_none());
    server.wait_for_log("slow-stream: released");
}

#[test]
fn write_callable_and_iterable_mixed_in_order() {
    let server = Server::start(&["echo"]);
    let response = server.get("echo.test", "/write");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "one\ntwo\nthree\n");
}

#[test]
fn head_gets_headers_only() {
    let server = Server::start(&["hello"]);
    let mut stream = server.connect();
    stream.write_all(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\nGET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let head = Response::read(&mut reader, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("14"));
    // The next response on the connection starts right after the HEAD response's headers.
    let get = Response::read(&mut reader, false);
    assert_eq!(get.status, 200);
    assert_eq!(get.text(), "Hello, World!\n");
}

#[test]
fn lazy_imports_at_request_time_work() {
    let server = Server::start(&["echo"]);
    let response = server.get_ok("echo.test", "/lazy");
    let result = response.json();
    assert_eq!(
        result["already_imported"]["lazy_helper"], false,
        "the site module is first imported now"
    );
    assert_eq!(
        result["already_imported"]["colorsys"], false,
        "the stdlib module is first imported now"
    );
    assert_eq!(result["helper"], "lazy helper loaded");
    assert_eq!(result["codec"], "idna");
    assert_eq!(result["idna"], "xn--bcher-kva.example");
}

#[test]
fn app_exception_is_a_500_with_the_traceback_in_the_log() {
    let server = Server::start(&["echo"]);
    let response = server.get("echo.test", "/raise");
    assert_eq!(response.status, 500);
    assert_eq!(response.text(), "500 Internal Server Error\n");
    assert!(
        !response.text().contains("boom"),
        "no details reach the client"
    );
    let log = server.wait_for_log("RuntimeError: boom from echo");
    assert!(
        log.contains("Traceback (most recent call last)"),
        "traceback in the log:\n{log}"
    );
    assert!(
        log.contains("site=echo"),
        "log lines carry the site:\n{log}"
    );
    let next = server.get("echo.test", "/environ");
    assert_eq!(next.status, 200, "the next request succeeds");
}

#[test]
fn close_is_called_on_the_iterable() {
    let server = Server::start(&["echo"]);
    let response = server.get("echo.test", "/close");
    assert_eq!(response.text(), "closing body\n");
    server.wait_for_log("echo: close called");
    assert_eq!(server.log().matches("echo: close called").count(), 1);
}

#[test]
fn broken_sites_are_reported_and_skipped() {
    let server = Server::start(&["hello", "broken", "syntax", "missing_package"]);
    // Log lines arrive on another pipe than the `Serving` line: wait for each.
    for (needle, what) in [
        ("wsgi-wasm-no-such-package-for-tests", "the missing package"),
        ("module_that_does_not_exist", "the import error"),
        ("SyntaxError", "the syntax error"),
    ] {
        let log = server.wait_for_log(needle);
        assert!(log.contains(needle), "{what} is in the log:\n{log}");
    }
    assert!(
        server.log().contains("vendoring"),
        "the failed step is named"
    );
    let response = server.get("hello.localhost", "/");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "Hello, World!\n");
    // The broken site's name is unknown now, so the default site answers it.
    assert_eq!(server.get("broken.test", "/").text(), "Hello, World!\n");
}

#[test]
fn flask_site_pages() {
    let server = Server::start(&["flask"]);
    let index = server.get("flask.localhost", "/");
    assert_eq!(index.status, 200, "{}\n{}", index.text(), server.log());
    assert!(index
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(index.text().contains("<html"), "{}", index.text());
    let hello = server.get("flask.localhost", "/hello/%3Cscript%3E");
    assert_eq!(hello.status, 200);
    assert!(
        hello.text().contains("&lt;script&gt;"),
        "escaped: {}",
        hello.text()
    );
    let info = server.get("flask.localhost", "/api/info");
    assert_eq!(info.status, 200);
    assert_eq!(info.json()["platform"], "wasi");
    assert_eq!(server.get("flask.localhost", "/no-such-page").status, 404);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn http2_prior_knowledge_serves_the_app() {
    use http_body_util::{BodyExt, Empty};
    let server = Server::start(&["echo"]);
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
        let request = http::Request::get(format!("http://echo.test:{}/h2?q=1", server.addr.port()))
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .body(Empty::<bytes::Bytes>::new())
            .unwrap();
        let response = sender.send_request(request).await.expect("a response");
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), http::Version::HTTP_2);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let environ: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(environ["SERVER_PROTOCOL"], "HTTP/2");
        assert_eq!(environ["SERVER_NAME"], "echo.test");
        assert_eq!(environ["PATH_INFO"], "/h2");
        assert_eq!(environ["QUERY_STRING"], "q=1");
        assert_eq!(
            environ["HTTP_COOKIE"], "a=1; b=2",
            "h2 cookie crumbs are joined with `; `"
        );
    });
}

#[test]
fn build_refuses_symlinks_leading_out_of_the_site() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.py"), "SECRET = 'host file'\n").unwrap();
    let sites = tempfile::tempdir().unwrap();
    common::copy_dir(&common::fixture("echo"), &sites.path().join("echo"));
    common::copy_dir(&common::fixture("hello"), &sites.path().join("hello"));
    std::os::unix::fs::symlink(
        outside.path().join("secret.py"),
        sites.path().join("echo/secret.py"),
    )
    .unwrap();
    let server = Server::start_in(sites);
    let log = server.wait_for_log("is a symlink that leads outside the site folder");
    assert!(
        log.contains("secret.py` is a symlink that leads outside the site folder"),
        "the build names the symlink:\n{log}"
    );
    // The echo site is not served; its name falls through to the default site.
    assert_eq!(
        server.get("echo.test", "/environ").text(),
        "Hello, World!\n"
    );
}
