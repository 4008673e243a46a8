//! Graceful shutdown: SIGTERM/SIGINT close the listeners at once, let the requests in flight
//! finish (their whole responses), close idle keep-alive connections, and exit 0; past
//! `shutdown_timeout` what is left is cut, with a warning, and the exit is still 0.
//!
//! The `shutdown` fixture holds requests open until the test creates a file in the site's
//! data folder, so a request is surely in flight when the signal is sent.

use crate::common;

use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::common::{read_chunk, Layout, Response, Server};

const HOST: &str = "shutdown.test";
/// Long enough never to be what ends a test: the test waits for the event it expects.
const EXIT_WAIT: Duration = Duration::from_secs(60);

/// Serves the `shutdown` fixture with `config` as wsgi-wasm.toml; returns the server and
/// the site's data folder, where the test opens the gates.
fn serve(config: &str) -> (Server, PathBuf) {
    let layout = Layout::new();
    let site = layout.copy_fixture("shutdown", "shutdown");
    let config = layout.write("wsgi-wasm.toml", config);
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    (server, site.join("gate"))
}

fn open_gate(gate: &Path, name: &str) {
    std::fs::write(gate.join(name), b"go").unwrap();
}

/// Sends a GET on a fresh connection and reads the response on another thread.
fn get_in_background(addr: SocketAddr, path: &'static str) -> JoinHandle<Response> {
    std::thread::spawn(move || common::get(addr, HOST, path))
}

/// Sends a GET on a fresh connection and reads, on another thread, until the connection
/// ends (or is reset); returns what arrived.
fn hold(addr: SocketAddr, path: &'static str) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received);
        received
    })
}

#[test]
fn shutdown_lets_requests_in_flight_finish_and_refuses_new_connections() {
    let (mut server, gate) = serve("");
    let slow = get_in_background(server.addr, "/slow?gate=slow");
    // The streamed response: headers and a first chunk are out before the signal.
    let mut stream = server.connect();
    write!(
        stream,
        "GET /stream?gate=stream HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let head = Response::read_head(&mut reader);
    assert_eq!(head.status, 200);
    assert_eq!(read_chunk(&mut reader).as_deref(), Some(&b"first\n"[..]));
    server.wait_for_log("shutdown: slow waiting for slow");
    server.wait_for_log("shutdown: stream waiting for stream");

    server.signal(libc::SIGTERM);
    let log = server.wait_for_log("stopped listening on");
    assert!(log.contains("SIGTERM: shutting down"), "{log}");
    // The socket is closed, not just left unaccepted: a new connection is refused.
    let refused = TcpStream::connect(server.addr).expect_err("a connection after the signal");
    assert_eq!(refused.kind(), ErrorKind::ConnectionRefused, "{refused}");

    open_gate(&gate, "slow");
    open_gate(&gate, "stream");
    let slow = slow.join().unwrap();
    assert_eq!(slow.status, 200, "{}", server.log());
    assert_eq!(slow.body, b"slow body line\n".repeat(2000));
    let mut rest = Vec::new();
    while let Some(chunk) = read_chunk(&mut reader) {
        rest.extend_from_slice(&chunk);
    }
    let expected: String = (0..200).map(|i| format!("chunk {i}\n")).collect();
    assert_eq!(
        String::from_utf8(rest).unwrap(),
        format!("{expected}last\n")
    );

    let status = server.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{status}; log:\n{}", server.log());
    assert!(!server.log().contains("still open"), "{}", server.log());
}

#[test]
fn shutdown_closes_idle_keep_alive_connections() {
    // Neither the keep-alive timer nor the grace period could end the test.
    let (mut server, _gate) = serve("header_timeout = \"1h\"\nshutdown_timeout = \"1h\"\n");
    let mut idle = server.connect();
    write!(idle, "GET / HTTP/1.1\r\nHost: {HOST}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(idle.try_clone().unwrap());
    let response = Response::read(&mut reader, false);
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "ok\n");

    server.signal(libc::SIGINT);
    // The server closes the kept-alive connection: the next read sees its end.
    let mut byte = [0u8; 1];
    match reader.read(&mut byte) {
        Ok(0) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        other => panic!(
            "the idle connection stays open: {other:?}\n{}",
            server.log()
        ),
    }
    let status = server.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{status}; log:\n{}", server.log());
    assert!(server.log().contains("SIGINT: shutting down"));
}

#[test]
fn shutdown_timeout_cuts_what_is_left_and_still_exits_0() {
    let (mut server, _gate) = serve("shutdown_timeout = \"1s\"\n");
    let held = hold(server.addr, "/slow?gate=never");
    server.wait_for_log("shutdown: slow waiting for never");

    server.signal(libc::SIGTERM);
    let status = server.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{status}; log:\n{}", server.log());
    let log = server.wait_for_log("still open");
    assert!(
        log.contains("shutdown_timeout (1s) passed with 1 connection(s) still open"),
        "{log}"
    );
    // The client saw its connection end without a response.
    assert_eq!(held.join().unwrap(), b"");
}

#[test]
fn shutdown_second_signal_stops_waiting() {
    let (mut server, _gate) = serve("shutdown_timeout = \"1h\"\n");
    let _held = hold(server.addr, "/slow?gate=never");
    server.wait_for_log("shutdown: slow waiting for never");

    server.signal(libc::SIGTERM);
    server.wait_for_log("waiting up to 1h (shutdown_timeout) for 1 open connection(s)");
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(EXIT_WAIT);
    assert_eq!(status.code(), Some(0), "{status}; log:\n{}", server.log());
    let log = server.wait_for_log("still open");
    assert!(
        log.contains("SIGTERM again: exiting without waiting"),
        "{log}"
    );
    assert!(
        log.contains("stopping with 1 connection(s) still open"),
        "{log}"
    );
}

#[test]
fn shutdown_timeout_is_validated() {
    let layout = Layout::new();
    layout.copy_fixture("shutdown", "shutdown");
    for (value, reason) in [
        ("\"0s\"", "`0s` must be longer than zero"),
        ("\"soon\"", "`soon`"),
        ("30", "invalid type"),
    ] {
        let config = layout.write("wsgi-wasm.toml", format!("shutdown_timeout = {value}\n"));
        let finished = layout.check(Some(&config));
        assert_eq!(finished.code, Some(1), "{}", finished.all());
        let error = finished.all();
        assert!(
            error.contains("wsgi-wasm.toml") && error.contains("shutdown_timeout"),
            "{error}"
        );
        assert!(error.contains(reason), "{value}: {error}");
    }
}
