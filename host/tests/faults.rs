//! Fault containment: a site's app that exhausts a resource or breaks the WSGI rules gets
//! its own 5xx, the reason is logged tagged with the site and the request id, and the server
//! goes on serving that site and every other one. Against copies of the `limits` fixture:
//! `limits.test` misbehaves, `other.test` is the bystander.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{get, request_id, tagged_event, Layout, Response, Server};

/// Copies the `limits` fixture to `sites/<name>`, answering `<name>.test`, with `tables`
/// (such as a `[limits]` table) appended to its `site.toml`.
fn add_site(layout: &Layout, name: &str, tables: &str) -> PathBuf {
    layout.app_fixture("limits", name, "", tables)
}

/// `limits.test` with a short CPU time and a small memory, beside `other.test`.
fn faulty() -> Server {
    let layout = Layout::new();
    add_site(
        &layout,
        "limits",
        "[limits]\ncpu_time = \"1s\"\nmemory = \"96MiB\"\n",
    );
    add_site(&layout, "other", "");
    let server = layout.serve();
    assert_eq!(
        server.get("limits.test", "/count").status,
        200,
        "{}",
        server.log()
    );
    server
}

/// The app's failure is in the log: a line naming `needle` and an error from the host, both
/// tagged with `site=limits` and the same request id.
fn assert_app_failure_logged(server: &Server, needle: &str) {
    let event = tagged_event(server, "limits", |l| l.contains(needle));
    let id = request_id(&event).unwrap();
    tagged_event(server, "limits", |l| {
        l.contains(" ERROR ") && request_id(l) == Some(id)
    });
}

/// The server goes on: the faulty site and another site both serve.
fn assert_still_serving(server: &Server) {
    for host in ["limits.test", "other.test"] {
        let response = server.get(host, "/count");
        assert_eq!(
            response.status,
            200,
            "{host} after the fault: {}\n{}",
            response.text(),
            server.log()
        );
        assert!(response.json()["count"].as_u64().is_some());
    }
}

/// A request whose app fails before its headers: a plain 500 without details.
fn assert_500(server: &Server, path: &str) -> Response {
    let response = server.get("limits.test", path);
    assert_eq!(
        response.status,
        500,
        "{path}: {}\n{}",
        response.text(),
        server.log()
    );
    assert_eq!(response.text(), "500 Internal Server Error\n", "{path}");
    response
}

#[test]
fn faults_memory_bomb() {
    let server = faulty();
    let response = assert_500(&server, "/alloc?mib=1024");
    assert!(!response.text().contains("MemoryError"));
    assert_app_failure_logged(&server, "MemoryError");
    assert_still_serving(&server);
}

#[test]
fn faults_infinite_loop() {
    let server = faulty();
    let response = server.get("limits.test", "/spin");
    assert_eq!(
        response.status,
        504,
        "{}\n{}",
        response.text(),
        server.log()
    );
    tagged_event(&server, "limits", |l| {
        let l = l.to_ascii_lowercase();
        l.contains("cpu time") || l.contains("cpu_time")
    });
    assert_still_serving(&server);
}

/// Unbounded recursion with Python's guard lifted: a RecursionError (or MemoryError) from
/// Python, or a wasm stack overflow trap; either way a 500.
fn assert_recursion_contained(server: &Server, path: &str) {
    assert_500(server, path);
    tagged_event(server, "limits", |l| {
        let lower = l.to_ascii_lowercase();
        l.contains("RecursionError")
            || l.contains("MemoryError")
            || lower.contains("stack overflow")
            || lower.contains("call stack exhausted")
            || lower.contains("trap")
    });
    assert_still_serving(server);
}

#[test]
fn faults_deep_recursion() {
    assert_recursion_contained(&faulty(), "/recurse");
}

#[test]
fn faults_deep_recursion_through_c() {
    assert_recursion_contained(&faulty(), "/recurse?via=repr");
}

#[test]
fn faults_bad_status_line() {
    let server = faulty();
    let good = server.get("limits.test", "/status?status=201%20Created");
    assert_eq!(good.status, 201, "{}\n{}", good.text(), server.log());
    assert_eq!(good.reason, "Created");
    for (query, status) in [("abc", "abc"), ("99%20Too%20Low", "99 Too Low")] {
        assert_500(&server, &format!("/status?status={query}"));
        assert_app_failure_logged(&server, status);
    }
    assert_still_serving(&server);
}

#[test]
fn faults_error_page_is_html_for_a_browser_and_says_nothing_more() {
    let server = faulty();
    let browser = "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n";
    let response = server.get_with("limits.test", "/header?name=Bad%20Name&value=x", browser);
    response
        .assert_status(500)
        .assert_header("content-type", Some("text/html; charset=utf-8"))
        .assert_contains("<title>500 Internal Server Error</title>")
        .assert_contains("<h1>500 Internal Server Error</h1>")
        .assert_lacks("Bad Name")
        .assert_lacks("Traceback");
    // A client that does not ask for HTML gets the plain page, as before.
    let json = server.get_with(
        "limits.test",
        "/header?name=Bad%20Name&value=x",
        "Accept: application/json\r\n",
    );
    json.assert_body(500, "500 Internal Server Error\n");
    // An app's own answers are never dressed.
    let good = server.get_with("limits.test", "/status?status=201%20Created", browser);
    assert_eq!(good.status, 201);
    assert_ne!(
        good.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_still_serving(&server);
}

#[test]
fn faults_bad_header_name() {
    let server = faulty();
    let good = server.get("limits.test", "/header?name=X-Good&value=fine");
    assert_eq!(good.status, 200, "{}\n{}", good.text(), server.log());
    assert_eq!(good.header("x-good"), Some("fine"));
    assert_500(&server, "/header?name=Bad%20Name&value=x");
    assert_app_failure_logged(&server, "Bad Name");
    assert_still_serving(&server);
}

#[test]
fn faults_non_latin1_header_value() {
    let server = faulty();
    // "caf\u{e9}" is latin-1: it goes out as the byte 0xE9.
    let latin1 = server.exchange(
        b"GET /header?name=X-Latin&value=caf%C3%A9 HTTP/1.1\r\nHost: limits.test\r\n\
          Connection: close\r\n\r\n",
    );
    assert!(latin1.starts_with(b"HTTP/1.1 200 "), "{}", server.log());
    assert!(
        latin1
            .windows(13)
            .any(|w| w.eq_ignore_ascii_case(b"x-latin: caf\xe9")),
        "{}",
        String::from_utf8_lossy(&latin1)
    );
    // "\u20ac" (the euro sign) has no latin-1 byte.
    assert_500(&server, "/header?name=X-Euro&value=%E2%82%AC");
    assert_app_failure_logged(&server, "X-Euro");
    assert_still_serving(&server);
}

#[test]
fn faults_header_injection() {
    let server = faulty();
    // The value is "a\r\nInjected: 1".
    let raw = server.exchange(
        b"GET /header?name=X-Crlf&value=a%0D%0AInjected:%201 HTTP/1.1\r\nHost: limits.test\r\n\
          Connection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    assert!(
        text.starts_with("HTTP/1.1 500 "),
        "{text}\n{}",
        server.log()
    );
    assert!(
        !text.to_ascii_lowercase().contains("injected"),
        "the injected header reached the client:\n{text}"
    );
    let lone_lf = server.exchange(
        b"GET /header?name=X-Lf&value=a%0AInjected:%201 HTTP/1.1\r\nHost: limits.test\r\n\
          Connection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&lone_lf);
    assert!(text.starts_with("HTTP/1.1 500 "), "{text}");
    assert!(!text.to_ascii_lowercase().contains("injected"), "{text}");
    assert_app_failure_logged(&server, "X-Crlf");
    assert_still_serving(&server);
}

#[test]
fn faults_str_body() {
    let server = faulty();
    assert_500(&server, "/str-body");
    assert_app_failure_logged(&server, "TypeError");
    assert_still_serving(&server);
}

#[test]
fn faults_start_response_twice() {
    let server = faulty();
    assert_500(&server, "/start-twice");
    assert_app_failure_logged(&server, "start_response");
    assert_still_serving(&server);
}

#[test]
fn faults_raise_after_write() {
    let server = faulty();
    let raw = server.exchange(
        b"GET /write-then-raise HTTP/1.1\r\nHost: limits.test\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&raw);
    if !text.starts_with("HTTP/1.1 500 ") {
        // The headers were out before the app raised: the response must not look whole.
        assert!(
            text.starts_with("HTTP/1.1 200 "),
            "{text}\n{}",
            server.log()
        );
        assert!(
            text.to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{text}"
        );
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "a cut response never ends with the last chunk:\n{text}"
        );
    }
    assert_app_failure_logged(&server, "limits: raised after write");
    assert_still_serving(&server);
}

#[test]
fn faults_no_start_response() {
    let server = faulty();
    assert_500(&server, "/no-start-response");
    assert_app_failure_logged(&server, "start_response");
    assert_still_serving(&server);
}

/// The old nginx module ran every app in nginx's own worker, so one busy app stalled every
/// site behind it. Here a site burning its whole CPU time in more requests than the server
/// has worker threads (4 on this site's 4 instances) holds up nobody else.
#[test]
fn faults_other_sites_keep_serving_while_one_spins() {
    const SPINNERS: usize = 4;
    let layout = Layout::new();
    add_site(
        &layout,
        "limits",
        &format!("[limits]\ncpu_time = \"3s\"\ninstances = {SPINNERS}\n"),
    );
    add_site(&layout, "other", "[static]\nroot = \"public\"\n");
    let server = layout.serve();
    let addr = server.addr;
    let finished: Arc<Mutex<Vec<&str>>> = Arc::default();

    let spinners: Vec<_> = (0..SPINNERS)
        .map(|_| {
            let done = finished.clone();
            std::thread::spawn(move || {
                let response = get(addr, "limits.test", "/spin");
                done.lock().unwrap().push("spin");
                response
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.log().matches("limits: spin started").count() < SPINNERS {
        assert!(
            Instant::now() < deadline,
            "the spinning requests all run:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let workers: Vec<_> = (0..10)
        .map(|worker| {
            let done = finished.clone();
            std::thread::spawn(move || {
                for turn in 0..5 {
                    if (worker + turn) % 2 == 0 {
                        let response = get(addr, "other.test", "/count");
                        assert_eq!(response.status, 200, "{}", response.text());
                        assert!(response.json()["count"].as_u64().is_some());
                        done.lock().unwrap().push("app");
                    } else {
                        let response = get(addr, "other.test", "/hello.txt");
                        assert_eq!(response.status, 200, "{}", response.text());
                        assert_eq!(response.text(), "static file of the limits fixture\n");
                        done.lock().unwrap().push("static");
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .expect("every request to the other site succeeds");
    }
    for spinner in spinners {
        let spun = spinner.join().unwrap();
        assert_eq!(spun.status, 504, "{}\n{}", spun.text(), server.log());
    }

    let finished = finished.lock().unwrap();
    assert_eq!(finished.len(), 50 + SPINNERS);
    assert_eq!(finished.iter().filter(|&&e| e == "app").count(), 25);
    assert_eq!(finished.iter().filter(|&&e| e == "static").count(), 25);
    assert!(
        finished[..50].iter().all(|&e| e != "spin"),
        "every request to the other site completed before the first spinning one ended: {finished:?}"
    );
    assert_still_serving(&server);
}
