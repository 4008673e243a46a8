//! Virtual hosts end to end: which site answers which request. Every site here is
//! static-only (no Python build) and its `index.html` says `site <name>`, so each answer
//! names the tenant that gave it.

use std::io::{BufReader, Write};

use crate::common::{Layout, Response, Server};

/// Sites: `exact` (example.com), `wild` (*.example.com), `deep` (*.deep.example.com),
/// `a` (a.test), `b` (b.test), and, when `with_default`, `fallback` (default, no names).
fn tenants(with_default: bool) -> Layout {
    let layout = Layout::new();
    layout.static_site("exact", &["example.com"], false, "");
    layout.static_site("wild", &["*.example.com"], false, "");
    layout.static_site("deep", &["*.deep.example.com"], false, "");
    layout.static_site("a", &["a.test"], false, "");
    layout.static_site("b", &["b.test", "B2.Test"], false, "");
    if with_default {
        layout.static_site("fallback", &[], true, "");
    }
    layout
}

fn with_default() -> Server {
    tenants(true).serve()
}

fn without_default() -> Server {
    tenants(false).serve()
}

/// The site that answered `GET /` for `host`, asserting a 200.
fn site_for(server: &Server, host: &str) -> String {
    let response = server.get(host, "/");
    assert_eq!(response.status, 200, "Host: {host}: {}", response.text());
    response.text().trim().to_owned()
}

fn raw_get(host_line: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\n{host_line}Connection: close\r\n\r\n").into_bytes()
}

/// Asserts the server closed the connection without sending one byte.
fn assert_closed_silently(server: &Server, raw: &[u8]) {
    let received = server.exchange(raw);
    assert!(
        received.is_empty(),
        "expected no response to {:?}, got {:?}",
        String::from_utf8_lossy(raw),
        String::from_utf8_lossy(&received)
    );
}

fn parse(raw: &[u8]) -> Response {
    Response::read(&mut BufReader::new(raw), false)
}

#[test]
fn routing_exact_names_pick_their_own_site() {
    let server = with_default();
    assert_eq!(site_for(&server, "example.com"), "site exact");
    assert_eq!(site_for(&server, "a.test"), "site a");
    assert_eq!(site_for(&server, "b.test"), "site b");
    assert_eq!(site_for(&server, "b2.test"), "site b", "a second name of b");
}

#[test]
fn routing_wildcard_matches_any_depth_below_but_not_the_apex() {
    let server = without_default();
    assert_eq!(site_for(&server, "a.example.com"), "site wild");
    assert_eq!(site_for(&server, "a.b.example.com"), "site wild");
    assert_eq!(
        site_for(&server, "example.com"),
        "site exact",
        "the apex is the exact site, never the wildcard"
    );
    // No exact site for the apex of `*.deep.example.com`: the shorter wildcard takes it.
    assert_eq!(site_for(&server, "deep.example.com"), "site wild");
}

#[test]
fn routing_longest_wildcard_wins() {
    let server = without_default();
    assert_eq!(site_for(&server, "x.deep.example.com"), "site deep");
    assert_eq!(site_for(&server, "y.x.deep.example.com"), "site deep");
    assert_eq!(site_for(&server, "x.notdeep.example.com"), "site wild");
}

#[test]
fn routing_host_is_case_insensitive() {
    let server = without_default();
    assert_eq!(site_for(&server, "EXAMPLE.com"), "site exact");
    assert_eq!(site_for(&server, "A.TEST"), "site a");
    assert_eq!(site_for(&server, "Www.Example.COM"), "site wild");
    assert_eq!(
        site_for(&server, "b2.TEST"),
        "site b",
        "names in site.toml are lowered too"
    );
}

#[test]
fn routing_port_in_host_is_ignored() {
    let server = without_default();
    assert_eq!(site_for(&server, "a.test:8080"), "site a");
    assert_eq!(site_for(&server, "example.com:80"), "site exact");
    assert_eq!(site_for(&server, "x.example.com:65535"), "site wild");
}

#[test]
fn routing_trailing_dot_is_ignored() {
    let server = without_default();
    assert_eq!(site_for(&server, "a.test."), "site a");
    assert_eq!(site_for(&server, "example.com.:8080"), "site exact");
    assert_eq!(site_for(&server, "x.example.com."), "site wild");
}

#[test]
fn routing_absolute_form_target_wins_over_host() {
    let server = without_default();
    let response = server.request(
        "GET http://b.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "site b\n");
    let response = server.request(
        "GET http://A.Example.Com:8080/index.html HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "site wild\n");
}

#[test]
fn routing_absolute_form_with_unknown_authority_is_not_rescued_by_host() {
    let server = without_default();
    assert_closed_silently(
        &server,
        b"GET http://nobody.test/ HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n",
    );
}

#[test]
fn routing_unknown_host_goes_to_the_default_site() {
    let server = with_default();
    for host in [
        "nobody.test",
        "example.org",
        "127.0.0.1",
        "127.0.0.1:9",
        "[::1]:80",
    ] {
        assert_eq!(site_for(&server, host), "site fallback", "Host: {host}");
    }
}

#[test]
fn routing_unknown_host_without_default_closes_without_a_response() {
    let server = without_default();
    assert_closed_silently(&server, &raw_get("Host: nobody.test\r\n"));
    // The connection is closed even when the client wanted to keep it.
    assert_closed_silently(&server, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    // The server is still fine for known hosts.
    assert_eq!(site_for(&server, "a.test"), "site a");
}

#[test]
fn routing_unknown_host_never_lands_on_another_tenant() {
    let server = without_default();
    let near_misses = [
        "test",
        "xa.test",
        "a.test.evil",
        "a-test",
        "evilexample.com",
        "example.com.evil",
        "example.co",
        "xample.com",
        "com",
        "b.test2",
        "a.test..",
        "localhost",
    ];
    for host in near_misses {
        assert_closed_silently(&server, &raw_get(&format!("Host: {host}\r\n")));
    }
    let server = with_default();
    for host in near_misses {
        assert_eq!(site_for(&server, host), "site fallback", "Host: {host}");
    }
}

#[test]
fn routing_unknown_host_status_from_the_server_config() {
    let layout = tenants(false);
    let config = layout.write("wsgi-wasm.toml", "unknown_host = 421\n");
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    let response = server.get("nobody.test", "/");
    assert_eq!(response.status, 421);
    assert_eq!(response.text(), "421 Misdirected Request\n");
    assert!(!response.text().contains("site "));
    assert_eq!(site_for(&server, "a.test"), "site a");
}

#[test]
fn routing_http11_without_host_is_400() {
    let server = with_default();
    let response = parse(&server.exchange(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    assert_eq!(response.status, 400);
    assert!(!response.text().contains("site "));
}

#[test]
fn routing_duplicate_host_is_400() {
    let server = with_default();
    for hosts in [
        "Host: a.test\r\nHost: b.test\r\n",
        "Host: a.test\r\nHost: a.test\r\n",
    ] {
        let response = parse(&server.exchange(&raw_get(hosts)));
        assert_eq!(response.status, 400, "{hosts:?}");
        assert!(!response.text().contains("site "), "{hosts:?}");
    }
}

#[test]
fn routing_malformed_host_is_400() {
    let server = with_default();
    for host in [
        "a.test:99999",
        "a.test:http",
        "a_test",
        "a.test:",
        "user@a.test",
    ] {
        let response = parse(&server.exchange(&raw_get(&format!("Host: {host}\r\n"))));
        assert_eq!(response.status, 400, "Host: {host}");
        assert!(!response.text().contains("site "), "Host: {host}");
    }
}

#[test]
fn routing_http10_without_host_goes_to_the_default_site() {
    let server = with_default();
    let response = parse(&server.exchange(b"GET / HTTP/1.0\r\n\r\n"));
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "site fallback\n");
    // With a Host, HTTP/1.0 is routed like HTTP/1.1.
    let response = parse(&server.exchange(b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n"));
    assert_eq!(response.text(), "site a\n");
}

#[test]
fn routing_http10_without_host_and_no_default_closes() {
    let server = without_default();
    assert_closed_silently(&server, b"GET / HTTP/1.0\r\n\r\n");
}

#[test]
fn routing_each_request_on_a_kept_alive_connection_is_routed_by_its_own_host() {
    let server = with_default();
    let mut stream = server.connect();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    for (host, site) in [
        ("a.test", "site a"),
        ("b.test", "site b"),
        ("nobody.test", "site fallback"),
        ("x.example.com", "site wild"),
        ("a.test", "site a"),
    ] {
        write!(stream, "GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").unwrap();
        let response = Response::read(&mut reader, false);
        assert_eq!(response.status, 200);
        assert_eq!(response.text().trim(), site, "Host: {host}");
    }
}
