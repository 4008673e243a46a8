//! Per-site runtime limits (`[limits]` in `site.toml`) and the guest's capabilities, over
//! real HTTP against copies of the `limits` fixture. Each limit is tested as a pair: a
//! request inside the limit succeeds, one that breaks it gets the documented status, and the
//! site serves the next request.
//!
//! The fixture's app lives in `src/`, so copies that differ only in their `site.toml` share
//! one build per site name: keep the site names to `limits` and `other`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::{get, request_id, tagged_event, Layout, Server};

/// Copies the `limits` fixture to `sites/<name>`, answering `<name>.test`, with `app` lines
/// added to its `[app]` table and `tables` (such as a `[limits]` table) appended.
fn add_site(layout: &Layout, name: &str, app: &str, tables: &str) -> PathBuf {
    layout.app_fixture("limits", name, app, tables)
}

/// Serves one copy of the fixture, `limits.test`, with `limits` as its `[limits]` table.
fn limited(limits: &str) -> Server {
    let layout = Layout::new();
    add_site(&layout, "limits", "", &format!("[limits]\n{limits}"));
    layout.serve()
}

/// The request counter of the instance that served `path`; the response must be a 200.
fn count(server: &Server, path: &str) -> u64 {
    let response = server.get_ok("limits.test", path);
    response.json()["count"].as_u64().expect("a count")
}

#[test]
fn limits_fixture_builds_and_serves() {
    let server = Server::start(&["limits"]);
    let response = server.get_ok("limits.test", "/count");
    assert_eq!(response.json()["count"], 1);
    assert_eq!(response.json()["run_once"], false);
    let log = server.log();
    assert!(!log.contains("Traceback"), "{log}");
}

#[test]
fn limits_memory_error_is_a_500_and_the_instance_is_replaced() {
    let server = limited("memory = \"96MiB\"\ninstances = 1\n");
    let small = server.get("limits.test", "/alloc?mib=8");
    assert_eq!(small.status, 200, "{}\n{}", small.text(), server.log());
    assert_eq!(small.json()["mib"], 8);
    assert_eq!(small.json()["count"], 1);

    let bomb = server.get("limits.test", "/alloc?mib=1024");
    assert_eq!(bomb.status, 500, "{}\n{}", bomb.text(), server.log());
    assert!(
        !bomb.text().contains("MemoryError"),
        "no details reach the client"
    );
    let event = tagged_event(&server, "limits", |l| l.contains("MemoryError"));
    let id = request_id(&event).unwrap();
    tagged_event(&server, "limits", |l| {
        l.contains("Traceback (most recent call last)") && request_id(l) == Some(id)
    });

    assert_eq!(
        count(&server, "/count"),
        1,
        "the instance that ran out of memory was discarded; a fresh one serves"
    );
    assert_eq!(count(&server, "/count"), 2, "the fresh instance is reused");
}

#[test]
fn limits_cpu_time_endless_loop_is_a_504() {
    let server = limited("cpu_time = \"1s\"\n");
    let short = server.get("limits.test", "/spin?ms=100");
    assert_eq!(short.status, 200, "{}\n{}", short.text(), server.log());

    let endless = server.get("limits.test", "/spin");
    assert_eq!(endless.status, 504, "{}\n{}", endless.text(), server.log());
    tagged_event(&server, "limits", |l| {
        let l = l.to_ascii_lowercase();
        l.contains("cpu time") || l.contains("cpu_time")
    });

    let next = server.get("limits.test", "/spin?ms=10");
    assert_eq!(next.status, 200, "{}\n{}", next.text(), server.log());
}

#[test]
fn limits_request_timeout_is_a_504() {
    let server = limited("request_timeout = \"1s\"\n");
    let short = server.get("limits.test", "/sleep?s=0.1");
    assert_eq!(short.status, 200, "{}\n{}", short.text(), server.log());

    let long = server.get("limits.test", "/sleep?s=10");
    assert_eq!(long.status, 504, "{}\n{}", long.text(), server.log());

    let next = server.get("limits.test", "/sleep?s=0.1");
    assert_eq!(next.status, 200, "{}\n{}", next.text(), server.log());
}

#[test]
fn limits_queue_full_and_queue_timeout_are_503() {
    let server = limited("instances = 1\nqueue = 1\nqueue_timeout = \"500ms\"\n");
    let addr = server.addr;
    let finished: Arc<Mutex<Vec<&str>>> = Arc::default();

    let done = finished.clone();
    let slow = std::thread::spawn(move || {
        let response = get(addr, "limits.test", "/sleep?s=3");
        done.lock().unwrap().push("slow");
        response
    });
    // The slow request holds the only instance once the app runs.
    server.wait_for_log("limits: sleep started");
    assert!(server.log().contains("limits: sleep started"));

    let done = finished.clone();
    let queued = std::thread::spawn(move || {
        let response = get(addr, "limits.test", "/count");
        done.lock().unwrap().push("queued");
        response
    });
    // Give the second request time to take the only queue place (its wait is 500 ms).
    std::thread::sleep(Duration::from_millis(200));
    let full = get(addr, "limits.test", "/count");
    finished.lock().unwrap().push("full");

    let queued = queued.join().unwrap();
    let slow = slow.join().unwrap();
    assert_eq!(full.status, 503, "queue full: {}", full.text());
    assert_eq!(queued.status, 503, "queue timeout: {}", queued.text());
    let retry = queued
        .header("retry-after")
        .unwrap_or_else(|| panic!("503 after the queue wait has Retry-After: {queued:?}"));
    assert!(
        retry.parse::<u64>().is_ok(),
        "Retry-After is a number of seconds: {retry:?}"
    );
    assert_eq!(slow.status, 200, "{}\n{}", slow.text(), server.log());
    assert_eq!(
        *finished.lock().unwrap(),
        ["full", "queued", "slow"],
        "the full queue answers at once, the queued request after its wait, both before the slow one ends"
    );

    assert_eq!(server.get("limits.test", "/count").status, 200);
    assert_eq!(server.get("limits.test", "/count").status, 200);
}

#[test]
fn limits_max_requests_replaces_the_instance() {
    let server = limited("max_requests = 2\ninstances = 1\n");
    let counts: Vec<u64> = (0..5).map(|_| count(&server, "/count")).collect();
    assert_eq!(counts, [1, 2, 1, 2, 1]);
}

#[test]
fn limits_idle_timeout_drops_the_instance() {
    let server = limited("idle_timeout = \"1s\"\ninstances = 1\n");
    assert_eq!(count(&server, "/count"), 1);
    assert_eq!(count(&server, "/count"), 2);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(&server, "/count"), 1, "the idle instance was dropped");
    assert_eq!(count(&server, "/count"), 2);
}

#[test]
fn limits_isolation_request_gives_a_fresh_instance_each_time() {
    let server = limited("isolation = \"request\"\n");
    for _ in 0..4 {
        let response = server.get_ok("limits.test", "/count");
        assert_eq!(response.json()["count"], 1);
        assert_eq!(response.json()["run_once"], true);
    }
}

/// One-request instances come from the pooling allocator (`runtime/engine.rs`): its slots
/// are reused, so each must start from the snapshot again, after a clean request and after
/// one killed by a limit, and the memory cap and CPU time must hold there too.
#[test]
fn limits_isolation_request_keeps_every_limit_in_reused_slots() {
    let server = limited("isolation = \"request\"\nmemory = \"96MiB\"\ncpu_time = \"1s\"\n");
    let small = server.get("limits.test", "/alloc?mib=8");
    assert_eq!(small.status, 200, "{}\n{}", small.text(), server.log());
    assert_eq!(small.json()["count"], 1);

    let bomb = server.get("limits.test", "/alloc?mib=1024");
    assert_eq!(bomb.status, 500, "{}\n{}", bomb.text(), server.log());
    tagged_event(&server, "limits", |l| l.contains("MemoryError"));

    let endless = server.get("limits.test", "/spin");
    assert_eq!(endless.status, 504, "{}\n{}", endless.text(), server.log());

    // Concurrent requests take several slots at once; every one starts from the snapshot.
    let counts: Vec<serde_json::Value> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    (0..5)
                        .map(|_| server.get_ok("limits.test", "/alloc?mib=16").json())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    assert_eq!(counts.len(), 20);
    for response in &counts {
        assert_eq!(response["count"], 1, "{response}");
        assert_eq!(response["mib"], 16, "{response}");
    }
}

#[test]
fn limits_isolation_instance_reuses_and_is_not_run_once() {
    let server = limited("isolation = \"instance\"\ninstances = 1\n");
    for expected in 1..=3 {
        let response = server.get("limits.test", "/count");
        assert_eq!(response.json()["count"], expected);
        assert_eq!(response.json()["run_once"], false);
    }
}

/// Percent-encodes a query value.
fn q(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs `/fs` with `params` (name, value pairs) on `host`; returns the app's JSON.
fn fs(server: &Server, host: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let query: Vec<String> = params
        .iter()
        .map(|(name, value)| format!("{name}={}", q(value)))
        .collect();
    let response = server.get(host, &format!("/fs?{}", query.join("&")));
    assert_eq!(
        response.status,
        200,
        "{params:?}: {}\n{}",
        response.text(),
        server.log()
    );
    response.json()
}

fn assert_fails(result: &serde_json::Value, what: &str) {
    assert_eq!(result["ok"], false, "{what} must fail: {result}");
    assert_eq!(
        result["oserror"], true,
        "{what} fails with an OSError: {result}"
    );
}

/// Two sites, `limits` (with `app` lines) and `other`, beside a file outside every site.
fn two_sites(app: &str) -> (Server, PathBuf) {
    let layout = Layout::new();
    let site = add_site(&layout, "limits", app, "");
    if app.contains("data") {
        std::fs::create_dir_all(site.join("data")).unwrap();
    }
    add_site(&layout, "other", "", "");
    layout.write("outside/secret.txt", "host secret\n");
    let server = layout.serve();
    // The layout's folder lives as long as the server; `site` stays valid.
    (server, site)
}

#[test]
fn limits_data_folder_is_mounted_read_write() {
    let (server, site) = two_sites("data = [\"data\"]\n");
    let host = "limits.test";
    let wrote = fs(
        &server,
        host,
        &[
            ("op", "write"),
            ("path", "/data/x.txt"),
            ("text", "written by the guest\n"),
        ],
    );
    assert_eq!(wrote["ok"], true, "{wrote}\n{}", server.log());
    let read = fs(&server, host, &[("op", "read"), ("path", "/data/x.txt")]);
    assert_eq!(read["ok"], true, "{read}");
    assert_eq!(read["text"], "written by the guest\n");
    assert_eq!(
        std::fs::read_to_string(site.join("data/x.txt")).unwrap(),
        "written by the guest\n",
        "the file is in the site's data folder on the host"
    );
    let made = fs(&server, host, &[("op", "mkdir"), ("path", "/data/sub")]);
    assert_eq!(made["ok"], true, "{made}");
    assert!(site.join("data/sub").is_dir());

    let root = fs(&server, host, &[("op", "listdir"), ("path", "/")]);
    if root["ok"] == true {
        for entry in root["entries"].as_array().unwrap() {
            let entry = entry.as_str().unwrap();
            assert!(
                entry == "python" || entry == "data" || entry.parse::<u32>().is_ok(),
                "`/` lists only the mounts: {root}"
            );
        }
    }

    // The data folder is a capability, not a door: nothing beside or above it opens.
    for path in [
        "/data/../site.toml",
        "/data/../src/app.py",
        "/data/../../other/src/app.py",
        "/data/../../../outside/secret.txt",
        "/data/../../../../../../../../etc/passwd",
    ] {
        assert_fails(&fs(&server, host, &[("op", "read"), ("path", path)]), path);
    }
    for path in ["/data/../escaped.txt", "/data/../../other/src/planted.py"] {
        assert_fails(
            &fs(
                &server,
                host,
                &[("op", "write"), ("path", path), ("text", "x")],
            ),
            path,
        );
    }
    assert!(!site.join("escaped.txt").exists());
    assert!(!site.join("../other/src/planted.py").exists());

    // Symlinks the guest makes in its data folder do not lead out of it.
    for (link, target) in [
        ("/data/passwd", "/etc/passwd"),
        ("/data/other-app", "../../other/src/app.py"),
        ("/data/secret", "../../../outside/secret.txt"),
    ] {
        let made = fs(
            &server,
            host,
            &[("op", "symlink"), ("path", link), ("target", target)],
        );
        let read = fs(&server, host, &[("op", "read"), ("path", link)]);
        assert_eq!(
            read["ok"], false,
            "{link} -> {target} (made: {made}) must not be readable: {read}"
        );
    }
}

#[test]
fn limits_only_the_private_tmp_is_writable_without_a_data_folder() {
    let (server, _site) = two_sites("");
    let host = "limits.test";
    for path in [
        "/0/x.txt",
        "/1/x.txt",
        "/1/app.py",
        "/python/x.txt",
        "/x.txt",
        "/data/x.txt",
    ] {
        let result = fs(
            &server,
            host,
            &[("op", "write"), ("path", path), ("text", "x")],
        );
        assert_fails(&result, path);
    }
    let made = fs(&server, host, &[("op", "mkdir"), ("path", "/1/sub")]);
    assert_fails(&made, "mkdir /1/sub");
    // The app module itself is still intact and readable.
    let read = fs(&server, host, &[("op", "read"), ("path", "/1/app.py")]);
    assert_eq!(read["ok"], true, "{read}");
    assert!(read["text"].as_str().unwrap().contains("def application"));
    // The site's scratch /tmp is writable, and no other site sees what it holds.
    let scratch = fs(
        &server,
        host,
        &[("op", "write"), ("path", "/tmp/x.txt"), ("text", "x")],
    );
    assert_eq!(scratch["ok"], true, "{scratch}");
    let back = fs(&server, host, &[("op", "read"), ("path", "/tmp/x.txt")]);
    assert_eq!(back["text"], "x", "{back}");
    let elsewhere = fs(
        &server,
        "other.test",
        &[("op", "read"), ("path", "/tmp/x.txt")],
    );
    assert_fails(&elsewhere, "reading /tmp/x.txt from another site");
}

#[test]
fn limits_guest_sees_no_host_or_other_site_files() {
    let (server, _site) = two_sites("");
    let host = "limits.test";
    let root = fs(&server, host, &[("op", "listdir"), ("path", "/")]);
    if root["ok"] == true {
        for entry in root["entries"].as_array().unwrap() {
            let entry = entry.as_str().unwrap();
            assert!(
                entry == "python" || entry.parse::<u32>().is_ok(),
                "`/` lists only the mounts: {root}"
            );
        }
    } else {
        assert_fails(&root, "listdir /");
    }
    for path in [
        "/etc/passwd",
        "/0/../../../etc/passwd",
        "/1/../../../../../../../../etc/passwd",
        "/python/../etc/passwd",
        "/1/../../other/src/app.py",
        "/1/../../../../other/src/app.py",
        "/1/../../../../../other/src/app.py",
        "/1/../../../../../../outside/secret.txt",
        "/proc/self/environ",
    ] {
        let result = fs(&server, host, &[("op", "read"), ("path", path)]);
        assert_fails(&result, path);
    }
    for path in ["/", "/0/..", "/1/../..", "/etc", "/home"] {
        let result = fs(&server, host, &[("op", "listdir"), ("path", path)]);
        if result["ok"] == true {
            for entry in result["entries"].as_array().unwrap() {
                let entry = entry.as_str().unwrap();
                assert!(
                    entry == "python" || entry.parse::<u32>().is_ok(),
                    "{path} lists only the mounts: {result}"
                );
            }
        }
    }
    // The other site still serves its own app: the files exist, they are just not visible.
    assert_eq!(server.get("other.test", "/count").status, 200);
}

#[test]
fn limits_guest_has_no_network() {
    let server = limited("");
    let port = server.addr.port().to_string();
    let response = server.get_ok("limits.test", &format!("/connect?port={port}"));
    let result = response.json();
    assert_eq!(
        result["ok"], false,
        "the guest connected to the server: {result}"
    );
    assert!(
        result["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{result}"
    );
    // And the site is none the worse for it.
    assert_eq!(server.get("limits.test", "/count").status, 200);
}
