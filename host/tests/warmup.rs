//! `app.warmup`: URLs the build requests inside the guest before the interpreter snapshot.
//! Proven over real HTTP (a module only the warmed view imports is already loaded at the
//! first request), and as a site author meets its failures: a warmup URL that raises or
//! answers 5xx fails `wsgi-wasm build` naming the site, the key, the URL and the traceback;
//! bad entries fail `wsgi-wasm check`.

use crate::common::{Finished, Layout, Server};

/// The `FAILED` report of `build` for `site`, with everything printed after it.
fn failure_of(out: &Finished, site: &str) -> String {
    let marker = format!("FAILED  site `{site}`: ");
    let at = out
        .stdout
        .find(&marker)
        .unwrap_or_else(|| panic!("no failure for `{site}`:\n{}", out.all()));
    out.stdout[at..].to_owned()
}

#[test]
fn warmup_modules_are_loaded_before_the_first_request() {
    let server = Server::start(&["warmup"]);
    // The very first request to the site: its instance starts from the build's snapshot.
    let status = server.get_ok("warmup.test", "/app/status").json();
    assert_eq!(
        status["warm_lazy"], true,
        "the module the warmup view imports is in the snapshot: {status}"
    );
    assert_eq!(
        status["cold_lazy"], false,
        "a module no warmup URL imports is not: {status}"
    );
    let requests = status["warmup_requests"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "one warmup URL, one request: {status}");
    let seen = &requests[0];
    for (key, value) in [
        ("REQUEST_METHOD", "GET"),
        ("SCRIPT_NAME", "/app"),
        ("PATH_INFO", "/warm"),
        ("QUERY_STRING", "via=warmup"),
        // The first exact server name (the wildcard before it names no host).
        ("SERVER_NAME", "warmup.test"),
        ("HTTP_HOST", "warmup.test"),
        ("SERVER_PORT", "80"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("wsgi.url_scheme", "http"),
        ("SITE_TIER", "gold"),
        ("body", ""),
    ] {
        assert_eq!(seen[key], value, "{key} in {seen}");
    }
    assert_eq!(seen["wsgi.input_terminated"], true);
    assert_eq!(seen["wsgi.multithread"], false);
    assert_eq!(seen["wsgi.run_once"], false);
    // Real requests are not marked as warmup, and lazy imports still work at run time.
    assert_eq!(server.get_ok("warmup.test", "/app/cold").text(), "cold\n");
}

#[test]
fn warmup_url_that_raises_fails_the_build() {
    let layout = Layout::new();
    layout.copy_fixture("warmup_fails", "warmup_fails");
    let out = layout.build();
    assert_ne!(out.code, Some(0), "the build fails:\n{}", out.all());
    let failure = failure_of(&out, "warmup_fails");
    assert!(
        failure.starts_with(
            "FAILED  site `warmup_fails`: `app.warmup`: `/boom?x=1` raised ZeroDivisionError: division by zero\n"
        ),
        "site, key, URL and error on the first line:\n{failure}"
    );
    for needle in [
        "Traceback",
        "/1/app.py\", line 7, in application",
        "return 1 // 0",
    ] {
        assert!(failure.contains(needle), "{needle:?} in:\n{failure}");
    }
}

#[test]
fn warmup_url_that_answers_5xx_fails_the_build() {
    let layout = Layout::new();
    let dir = layout.copy_fixture("warmup_fails", "warmup_5xx");
    std::fs::write(
        dir.join("site.toml"),
        "server_names = [\"warmup-5xx.test\"]\n[app]\nwarmup = [\"/\", \"/unavailable\"]\n",
    )
    .unwrap();
    let out = layout.build();
    assert_ne!(out.code, Some(0), "the build fails:\n{}", out.all());
    let failure = failure_of(&out, "warmup_5xx");
    assert!(
        failure.starts_with(
            "FAILED  site `warmup_5xx`: `app.warmup`: `/unavailable` answered `503 Service Unavailable`\n"
        ),
        "{failure}"
    );
    assert!(
        failure.contains("database is down"),
        "the start of the 5xx body is shown:\n{failure}"
    );
}

#[test]
fn warmup_urls_that_pass_build_and_serve() {
    let layout = Layout::new();
    let dir = layout.copy_fixture("warmup_fails", "warmup_ok");
    std::fs::write(
        dir.join("site.toml"),
        "server_names = [\"warmup-ok.test\"]\n[app]\nwarmup = [\"/\", \"/caf%C3%A9?q=%20x\"]\n",
    )
    .unwrap();
    let server = layout.serve();
    assert_eq!(server.get_ok("warmup-ok.test", "/").text(), "fine\n");
}

#[test]
fn warmup_config_errors_name_the_key() {
    let layout = Layout::new();
    let cases = [
        ("relative", "[\"warm\"]", "`warm` is not a URL path"),
        ("fragment", "[\"/a#b\"]", "`/a#b` is not a URL path"),
        ("space", "[\"/a b\"]", "`/a b` is not a URL path"),
        ("scheme", "[\"http://x/\"]", "`http://x/` is not a URL path"),
        (
            "protocol_relative",
            "[\"//x/\"]",
            "`//x/` is not a URL path",
        ),
        (
            "many",
            &format!("[{}]", vec!["\"/\""; 51].join(", ")),
            "51 URLs: at most 50",
        ),
        (
            "outside_mount",
            "[\"/other\"]\nmount = \"/app\"",
            "`/other` is outside the app's mount `/app`",
        ),
        ("not_a_list", "\"/\"", "invalid type"),
    ];
    for (name, value, _) in &cases {
        layout.site_toml(
            name,
            &format!(
                "server_names = [\"{}.test\"]\n[app]\nwarmup = {value}\n",
                name.replace('_', "-")
            ),
        );
        layout.write(&format!("sites/{name}/app.py"), "application = None\n");
    }
    let out = layout.check(None);
    out.assert_failed();
    for (name, _, reason) in cases {
        out.assert_site_error(name, "app.warmup", reason);
    }
}
