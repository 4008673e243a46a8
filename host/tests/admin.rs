//! The admin listener (`host/src/admin.rs`): `/healthz`, Prometheus `/metrics`, the status
//! page and its data, `POST /reload`, over real HTTP against the real server, on the admin
//! address the harness asks for (`--admin 127.0.0.1:0`). The status page is also loaded in
//! a real headless browser (Debian's chromium), which must run its script: the charts in
//! the dumped DOM are drawn by it.
//!
//! Metrics are read as the Prometheus text a scraper gets. A request's metrics are recorded
//! when its response has ended, which may be just after the client read it, so a test
//! waits for a counter to reach its value instead of reading it once.

use crate::common;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{get, wait_until, Layout, Response, Server, LOG_WAIT};

/// Copies the `limits` fixture to `sites/<name>`, answering `<name>.test`, with `tables`
/// appended to its `site.toml`.
fn limits_site(layout: &Layout, name: &str, tables: &str) -> PathBuf {
    layout.app_fixture("limits", name, "", tables)
}

fn admin(server: &Server) -> SocketAddr {
    server.admin.expect("the harness starts an admin listener")
}

fn admin_get(server: &Server, path: &str) -> Response {
    get(admin(server), "127.0.0.1", path)
}

/// Sends `method path` with an empty body to the admin listener.
fn admin_send(server: &Server, method: &str, path: &str) -> Response {
    let mut stream = TcpStream::connect(admin(server)).expect("connect to the admin listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    Response::read(&mut BufReader::new(stream), method == "HEAD")
}

fn scrape(server: &Server) -> String {
    let response = admin_get(server, "/metrics");
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

/// The value of `series` (name and labels, as exported) in a scrape; 0 when absent.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(0.0)
}

/// Waits until `series` satisfies `ok`; returns its value (panics with the scrape if it
/// never does).
fn wait_for(server: &Server, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    wait_until(&format!("`{series}`"), LOG_WAIT, || {
        let text = scrape(server);
        let found = value(&text, series);
        if ok(found) {
            Ok(found)
        } else {
            Err(format!(
                "`{series}` is {found}; scrape:\n{text}\nlog:\n{}",
                server.log()
            ))
        }
    })
}

fn requests(site: &str, class: &str) -> String {
    format!("wsgi_wasm_requests_total{{site=\"{site}\",class=\"{class}\"}}")
}

fn breaches(site: &str, kind: &str) -> String {
    format!("wsgi_wasm_limit_breaches_total{{site=\"{site}\",kind=\"{kind}\"}}")
}

#[test]
fn admin_healthz_routes_and_not_on_the_public_port() {
    let layout = Layout::new();
    layout.static_site("plain", &["plain.test"], false, "");
    let server = layout.serve();
    assert_ne!(admin(&server).port(), server.addr.port());
    assert!(admin(&server).ip().is_loopback());

    let health = admin_get(&server, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (200, "ok\n"));
    let head = admin_send(&server, "HEAD", "/healthz");
    assert_eq!(head.status, 200);

    let metrics = admin_get(&server, "/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        metrics.headers
    );
    assert!(metrics.text().ends_with("# EOF\n"), "{}", metrics.text());
    assert!(metrics
        .text()
        .contains("wsgi_wasm_site_state{site=\"plain\",state=\"serving\"} 1"));

    assert_eq!(admin_get(&server, "/nothing").status, 404);
    let wrong = admin_send(&server, "POST", "/metrics");
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET, HEAD"));
    assert_eq!(admin_send(&server, "GET", "/reload").status, 405);

    // The public port serves sites only: its `/metrics` is the site's (a 404 here).
    let public = server.get("plain.test", "/metrics");
    assert_eq!(public.status, 404, "{}", public.text());
    assert!(!public.text().contains("wsgi_wasm"));
    let public = server.get("plain.test", "/healthz");
    assert_eq!(public.status, 404);
}

#[test]
fn admin_metrics_move_with_requests_timeouts_memory_body_size_and_overload() {
    let layout = Layout::new();
    limits_site(
        &layout,
        "limits",
        "[limits]\ncpu_time = \"1s\"\nmemory = \"96MiB\"\ninstances = 1\nqueue = 1\nqueue_timeout = \"2s\"\nmax_body = \"1KiB\"\n",
    );
    let server = layout.serve();
    let before = scrape(&server);
    let ok_before = value(&before, &requests("limits", "2xx"));

    for _ in 0..3 {
        server.get_ok("limits.test", "/count");
    }
    wait_for(&server, &requests("limits", "2xx"), |v| {
        v == ok_before + 3.0
    });
    let after = scrape(&server);
    assert!(
        value(
            &after,
            "wsgi_wasm_request_duration_seconds_count{site=\"limits\"}"
        ) >= 3.0,
        "{after}"
    );
    assert!(
        value(&after, "wsgi_wasm_instances{site=\"limits\"}") >= 1.0,
        "{after}"
    );
    assert!(
        value(&after, "wsgi_wasm_memory_bytes{site=\"limits\"}") > 0.0,
        "{after}"
    );
    assert_eq!(
        value(&after, "wsgi_wasm_memory_budget_bytes{site=\"limits\"}"),
        (96 << 20) as f64
    );
    for kind in ["timeout", "memory", "body_size", "overload"] {
        assert_eq!(
            value(&after, &breaches("limits", kind)),
            0.0,
            "{kind}: {after}"
        );
    }

    // cpu_time: an endless loop is a 504 and a timeout.
    let endless = server.get("limits.test", "/spin");
    assert_eq!(endless.status, 504, "{}", server.log());
    wait_for(&server, &breaches("limits", "timeout"), |v| v == 1.0);
    wait_for(&server, &requests("limits", "5xx"), |v| v == 1.0);

    // The instance's memory cap: a 500 and a memory breach.
    let bomb = server.get("limits.test", "/alloc?mib=1024");
    assert_eq!(bomb.status, 500, "{}", server.log());
    wait_for(&server, &breaches("limits", "memory"), |v| v == 1.0);
    wait_for(&server, &requests("limits", "5xx"), |v| v == 2.0);

    // max_body: a 413 before the app runs.
    let big = server.request(
        "POST /count HTTP/1.1\r\nHost: limits.test\r\nContent-Length: 4096\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(big.status, 413);
    wait_for(&server, &breaches("limits", "body_size"), |v| v == 1.0);
    wait_for(&server, &requests("limits", "4xx"), |v| v >= 1.0);

    // One instance: a request while the instance sleeps waits its queue_timeout, then is
    // turned away. (A queue of one, not none: a request right after another may find the
    // instance not yet given back.)
    let addr = server.addr;
    let slow = std::thread::spawn(move || get(addr, "limits.test", "/sleep?s=6"));
    server.wait_for_log("limits: sleep started");
    let turned_away = server.get("limits.test", "/count");
    assert_eq!(turned_away.status, 503, "{}", turned_away.text());
    assert_eq!(slow.join().unwrap().status, 200);
    wait_for(&server, &breaches("limits", "overload"), |v| v == 1.0);

    // A request no site takes (no Host) counts under site="-".
    let unrouted = value(&scrape(&server), &requests("-", "4xx"));
    let refused = server.exchange(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(refused.starts_with(b"HTTP/1.1 400"), "{refused:?}");
    wait_for(&server, &requests("-", "4xx"), |v| v == unrouted + 1.0);

    // The status page's data counts the same.
    let status = admin_get(&server, "/status.json").json();
    let site = status["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "limits")
        .expect("the site in status.json")
        .clone();
    assert_eq!(site["state"], "serving");
    assert_eq!(site["breaches"]["timeout"], 1);
    assert_eq!(site["breaches"]["memory"], 1);
    assert_eq!(site["breaches"]["body_size"], 1);
    assert_eq!(site["breaches"]["overload"], 1);
    assert!(site["errors"].as_u64().unwrap() >= 3, "{site}");
    let series: u64 = site["series"]["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(series, site["requests"].as_u64().unwrap(), "{site}");
    assert!(site["request_rate"].as_f64().unwrap() > 0.0, "{site}");
}

/// A served site, a static one and one whose build fails (its import raises).
fn mixed_sites() -> Server {
    let layout = Layout::new();
    limits_site(&layout, "limits", "");
    layout.static_site("plain", &["plain.test"], false, "");
    layout.copy_fixture("broken", "broken");
    let server = layout.serve();
    server.get_ok("limits.test", "/count");
    server
}

#[test]
fn admin_status_page_shows_every_site_and_a_failed_build_with_its_error() {
    let server = mixed_sites();
    let status = admin_get(&server, "/status.json").json();
    let sites = status["sites"].as_array().unwrap();
    let names: Vec<&str> = sites.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["broken", "limits", "plain"], "{status}");
    let broken = &sites[0];
    assert_eq!(broken["state"], "failed", "{broken}");
    let error = broken["error"].as_str().unwrap();
    assert!(error.contains("module_that_does_not_exist"), "{error}");
    assert_eq!(sites[1]["state"], "serving");
    assert_eq!(sites[1]["server_names"][0], "limits.test");
    assert!(sites[1]["serving_build"]
        .as_str()
        .is_some_and(|b| !b.is_empty()));
    assert!(sites[1]["last_build_seconds"].as_f64().is_some());

    let page = admin_get(&server, "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.header("content-security-policy").is_some());
    let html = page.text();
    for name in ["broken", "limits", "plain"] {
        assert!(html.contains(&format!("data-site=\"{name}\"")), "{html}");
    }
    assert!(html.contains("<span class=\"state failed\" data-field=\"state\">failed</span>"));
    assert!(
        html.contains("<pre class=\"error\" data-error-of=\"broken\">"),
        "{html}"
    );
    assert!(html.contains("module_that_does_not_exist"));
    // The traceback's `<module>` is text, not markup.
    if error.contains("<module>") {
        assert!(html.contains("&lt;module&gt;") && !html.contains("<module>"));
    }
    assert!(!html.contains("<svg"), "the charts are the script's");
    let script = admin_get(&server, "/status.js");
    assert_eq!(script.status, 200);
    assert!(script.text().contains("/status.json"));
    assert_eq!(admin_get(&server, "/status.css").status, 200);

    let metrics = scrape(&server);
    assert_eq!(
        value(&metrics, "wsgi_wasm_build_failures_total{site=\"broken\"}"),
        1.0,
        "{metrics}"
    );
    assert_eq!(
        value(
            &metrics,
            "wsgi_wasm_site_state{site=\"broken\",state=\"failed\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "wsgi_wasm_site_state{site=\"limits\",state=\"serving\"}"
        ),
        1.0
    );
    assert!(
        value(
            &metrics,
            "wsgi_wasm_build_duration_seconds_count{site=\"limits\"}"
        ) >= 1.0
    );
}

/// Debian's chromium; CI installs it (`.ci/run`), so a machine without it fails here.
fn chromium() -> &'static Path {
    let path = Path::new("/usr/bin/chromium");
    assert!(
        path.exists(),
        "/usr/bin/chromium is missing: install Debian's `chromium` (.ci/run does)"
    );
    path
}

/// Runs headless chromium on `url` with `extra` flags in a fresh profile; returns stdout.
fn run_chromium(url: &str, extra: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish: {}", err.join().unwrap());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(status.success(), "chromium failed ({status}): {err}");
    out
}

#[test]
fn admin_status_page_renders_in_a_real_browser() {
    chromium();
    let server = Arc::new(mixed_sites());
    // Requests and 5xx answers for the charts.
    for _ in 0..5 {
        server.get_ok("limits.test", "/count");
    }
    let url = format!("http://{}/", admin(&server));

    let dom = run_chromium(&url, &["--dump-dom"]);
    for name in ["broken", "limits", "plain"] {
        assert!(dom.contains(&format!("data-site=\"{name}\"")), "{dom}");
    }
    // Drawn by the script from /status.json: one chart per site, and its refresh time.
    assert_eq!(dom.matches("<svg class=\"spark\"").count(), 3, "{dom}");
    assert!(dom.contains("<polyline class=\"requests\""), "{dom}");
    assert!(dom.contains("id=\"updated\">updated "), "{dom}");
    assert!(dom.contains("module_that_does_not_exist"), "{dom}");
    assert!(!dom.contains("<module>"), "the traceback stays text: {dom}");

    let shots = tempfile::tempdir().unwrap();
    let png = shots.path().join("status.png");
    run_chromium(
        &url,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1200,800",
            "--hide-scrollbars",
        ],
    );
    let bytes = std::fs::read(&png).expect("chromium wrote the screenshot");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    assert!(
        bytes.len() > 20_000,
        "a page, not a blank: {} bytes",
        bytes.len()
    );
    if let Some(keep) = std::env::var_os("WSGI_WASM_KEEP_SCREENSHOT") {
        std::fs::copy(&png, keep).unwrap();
    }
}

#[test]
fn admin_reload_answers_with_the_outcome() {
    let layout = Layout::new();
    layout.static_site("plain", &["plain.test"], false, "");
    let site_toml = layout.sites().join("plain/site.toml");
    let server = layout.serve();

    let reloaded = admin_send(&server, "POST", "/reload");
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());

    std::fs::write(
        &site_toml,
        "server_names = [\"plain.test\"]\n[static]\nrot = \"public\"\n",
    )
    .unwrap();
    let rejected = admin_send(&server, "POST", "/reload");
    assert_eq!(rejected.status, 409, "{}", rejected.text());
    assert!(rejected.text().contains("site.toml"), "{}", rejected.text());
    assert!(rejected.text().contains("rot"), "{}", rejected.text());
    // The old configuration still serves.
    server.get_ok("plain.test", "/");
}

#[test]
fn admin_off_or_a_bad_address() {
    let layout = Layout::new();
    layout.static_site("plain", &["plain.test"], false, "");
    let server = layout.serve_with(&["--admin".as_ref(), "off".as_ref()]);
    assert_eq!(server.admin, None);
    server.get_ok("plain.test", "/");

    let layout = Layout::new();
    layout.static_site("plain", &["plain.test"], false, "");
    let config = layout.write("wsgi-wasm.toml", "admin = \"localhost:nine\"\n");
    let out = layout.check(Some(&config));
    assert_ne!(out.code, Some(0));
    assert!(
        out.all()
            .contains("wsgi-wasm.toml: `admin`: `localhost:nine` is not an address"),
        "{}",
        out.all()
    );
}

#[test]
fn admin_healthz_says_stopping_while_requests_drain() {
    let layout = Layout::new();
    limits_site(&layout, "limits", "");
    let server = layout.serve();
    let addr = server.addr;
    let slow = std::thread::spawn(move || get(addr, "limits.test", "/sleep?s=4"));
    server.wait_for_log("limits: sleep started");
    server.signal(libc::SIGTERM);
    server.wait_for_log("shutting down");
    let health = admin_get(&server, "/healthz");
    assert_eq!((health.status, health.text().as_str()), (503, "stopping\n"));
    assert_eq!(slow.join().unwrap().status, 200);
}

/// Sends `method path` to the admin listener with the Host `host` and the `extra` header
/// lines (each ending in `\r\n`).
fn admin_with(server: &Server, method: &str, path: &str, host: &str, extra: &str) -> Response {
    let mut stream = TcpStream::connect(admin(server)).expect("connect to the admin listener");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    Response::read(&mut BufReader::new(stream), method == "HEAD")
}

/// Serves a static site with `config` as the server config; the config file's path too.
fn serve_config(config: &str, files: &[(&str, &str)]) -> (Server, PathBuf) {
    let layout = Layout::new();
    layout.static_site("plain", &["plain.test"], false, "");
    for (name, contents) in files {
        layout.write(name, contents);
    }
    let file = layout.write("wsgi-wasm.toml", config);
    let server = layout.serve_with(&["--config".as_ref(), file.as_os_str()]);
    (server, file)
}

#[test]
fn admin_refuses_hosts_that_are_not_its_own() {
    let (server, _) = serve_config("admin_hosts = [\"Admin.Internal\"]\n", &[]);
    let port = admin(&server).port();
    // A page on a name its attacker points at 127.0.0.1 (DNS rebinding) gets nothing.
    for host in [
        "evil.example".to_owned(),
        format!("evil.example:{port}"),
        "localhost.evil.example".to_owned(),
        "10.1.2.3".to_owned(),
    ] {
        for path in ["/", "/metrics", "/status.json"] {
            let refused = admin_with(&server, "GET", path, &host, "");
            assert_eq!(refused.status, 421, "{host} {path}: {}", refused.text());
        }
        let reload = admin_with(&server, "POST", "/reload", &host, "");
        assert_eq!(reload.status, 421, "{host}: {}", reload.text());
    }
    let mut stream = TcpStream::connect(admin(&server)).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let no_host = Response::read(&mut BufReader::new(stream), false);
    assert_eq!(no_host.status, 421, "no Host at all");
    for host in [
        "localhost".to_owned(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "127.0.0.2".to_owned(),
        "[::1]:9180".to_owned(),
        "admin.internal".to_owned(),
        format!("ADMIN.internal:{port}"),
    ] {
        let served = admin_with(&server, "GET", "/metrics", &host, "");
        assert_eq!(served.status, 200, "{host}: {}", served.text());
    }
}

#[test]
fn admin_refuses_cross_origin_posts() {
    let (server, _) = serve_config("", &[]);
    let port = admin(&server).port();
    let host = format!("127.0.0.1:{port}");
    for extra in [
        "Origin: http://evil.example\r\n".to_owned(),
        format!("Origin: http://localhost:{port}\r\n"),
        format!("Origin: https://{host}\r\n"),
        "Origin: null\r\n".to_owned(),
        "Sec-Fetch-Site: cross-site\r\n".to_owned(),
        "Sec-Fetch-Site: same-site\r\n".to_owned(),
    ] {
        let refused = admin_with(&server, "POST", "/reload", &host, &extra);
        assert_eq!(refused.status, 403, "{extra}: {}", refused.text());
    }
    assert!(
        !server.log().contains("admin /reload"),
        "no refused POST reached the reloader:\n{}",
        server.log()
    );
    for extra in [
        format!("Origin: http://{host}\r\n"),
        "Sec-Fetch-Site: same-origin\r\n".to_owned(),
        "Sec-Fetch-Site: none\r\n".to_owned(),
        String::new(),
    ] {
        let reloaded = admin_with(&server, "POST", "/reload", &host, &extra);
        assert_eq!(reloaded.status, 200, "{extra}: {}", reloaded.text());
    }
    // A cross-origin GET is a read the browser does not let the page see: allowed.
    let get = admin_with(
        &server,
        "GET",
        "/healthz",
        &host,
        "Origin: http://evil.example\r\n",
    );
    assert_eq!(get.status, 200);
    let address = admin(&server).to_string();
    let out = common::run_cli(&["reload".as_ref(), "--admin".as_ref(), address.as_ref()]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("unchanged"), "{}", out.all());
}

#[test]
fn admin_token_is_required_when_configured() {
    let (server, config) = serve_config(
        "admin_token_file = \"secrets/admin.token\"\n",
        &[("secrets/admin.token", "  s3cret-token\n")],
    );
    let host = format!("127.0.0.1:{}", admin(&server).port());
    for path in ["/", "/metrics", "/status.json", "/status.js"] {
        for extra in [
            "",
            "Authorization: Bearer wrong\r\n",
            "Authorization: Bearer s3cret-toke\r\n",
            "Authorization: Bearer s3cret-token2\r\n",
            "Authorization: Basic s3cret-token\r\n",
        ] {
            let refused = admin_with(&server, "GET", path, &host, extra);
            assert_eq!(refused.status, 401, "{path} {extra}: {}", refused.text());
            assert_eq!(
                refused.header("www-authenticate"),
                Some("Bearer realm=\"wsgi-wasm admin\""),
                "{path}"
            );
        }
        let served = admin_with(
            &server,
            "GET",
            path,
            &host,
            "Authorization: Bearer s3cret-token\r\n",
        );
        assert_eq!(served.status, 200, "{path}: {}", served.text());
    }
    let scheme = admin_with(
        &server,
        "GET",
        "/metrics",
        &host,
        "Authorization: bearer s3cret-token\r\n",
    );
    assert_eq!(scheme.status, 200, "the scheme is case-insensitive");
    assert_eq!(
        admin_with(&server, "GET", "/healthz", &host, "").status,
        200
    );
    let reload = admin_with(&server, "POST", "/reload", &host, "");
    assert_eq!(reload.status, 401, "{}", reload.text());

    // `wsgi-wasm reload` sends the token: from the config file, or from `--admin-token-file`.
    let address = admin(&server).to_string();
    let without = common::run_cli(&["reload".as_ref(), "--admin".as_ref(), address.as_ref()]);
    assert_ne!(without.code, Some(0), "{}", without.all());
    assert!(
        without.all().contains("--admin-token-file"),
        "{}",
        without.all()
    );
    let from_config = common::run_cli(&[
        "reload".as_ref(),
        "--admin".as_ref(),
        address.as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    assert_eq!(from_config.code, Some(0), "{}", from_config.all());
    let token = config.parent().unwrap().join("secrets/admin.token");
    let from_flag = common::run_cli(&[
        "reload".as_ref(),
        "--admin".as_ref(),
        address.as_ref(),
        "--admin-token-file".as_ref(),
        token.as_os_str(),
    ]);
    assert_eq!(from_flag.code, Some(0), "{}", from_flag.all());
}

#[test]
fn admin_off_loopback_needs_a_token() {
    let layout = Layout::new();
    layout.static_site("plain", &["plain.test"], false, "");
    for (toml, reason) in [
        ("admin = \"0.0.0.0:9180\"\n", "is not on loopback"),
        ("admin_token_file = \"missing.token\"\n", "missing.token"),
        ("admin_hosts = [\"evil.example:80\"]\n", "evil.example:80"),
    ] {
        let config = layout.write("wsgi-wasm.toml", toml);
        let out = layout.check(Some(&config));
        assert_ne!(out.code, Some(0), "{toml}");
        let key = if toml.starts_with("admin_hosts") {
            "admin_hosts"
        } else {
            "admin_token_file"
        };
        assert!(
            out.all().contains(&format!("`{key}`")) && out.all().contains(reason),
            "{toml}: {}",
            out.all()
        );
    }
    layout.write("admin.token", "\n");
    let config = layout.write("wsgi-wasm.toml", "admin_token_file = \"admin.token\"\n");
    let out = layout.check(Some(&config));
    assert!(out.all().contains("is empty"), "{}", out.all());
    layout.write("admin.token", "t0ken\n");
    let config = layout.write(
        "wsgi-wasm.toml",
        "admin = \"0.0.0.0:9180\"\nadmin_token_file = \"admin.token\"\n",
    );
    let out = layout.check(Some(&config));
    assert_eq!(out.code, Some(0), "{}", out.all());

    // `--admin` off loopback, without a token: the server does not start.
    let sites = layout.sites();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wsgi-wasm"))
        .args(["serve", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"])
        .arg("--sites")
        .arg(&sites)
        .arg("--state")
        .arg(common::state_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started with an admin listener off loopback and no token");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!status.success());
    assert!(
        stderr.contains("--admin") && stderr.contains("admin_token_file"),
        "{stderr}"
    );
}
