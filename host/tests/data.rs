//! Writable data (`app.data`) and the data lock (`app.data_lock`), over real HTTP against
//! copies of the `sqlite` fixture: a plain WSGI app keeping a counter and rows in sqlite at
//! `/data/app.db`, whose `POST /add` is a read-modify-write that loses updates when two run
//! at once (sqlite has no file locks on WASI).
//!
//! The fixture marks every request in `/data/active` while it runs and logs each overlap it
//! sees to `data/overlaps.log`, which the tests read from the host: the lock is shown to
//! exclude by what really ran together, not by timing. The `none` test shows the detector
//! does see overlaps when nothing keeps requests apart.
//!
//! Every copy keeps the site name `sqlite` (its app lives in `src/`), so all share one build.

use std::path::{Path, PathBuf};

use crate::common::{Layout, Server};

const HOST: &str = "sqlite.test";

/// Copies the fixture to `sites/sqlite` with `app` lines added to its `[app]` table and
/// `limits` as its `[limits]` table, and makes its empty `data` folder.
fn sqlite_site(layout: &Layout, app: &str, limits: &str) -> PathBuf {
    let dir = layout.app_fixture("sqlite", "sqlite", app, &format!("[limits]\n{limits}"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    dir
}

/// `POST /add`; asserts a 200 and returns the counter value this write produced.
fn add(server: &Server, who: &str) -> u64 {
    let response = server.post(HOST, "/add", "", who);
    server.assert_status(&response, 200);
    response.json()["n"].as_u64().expect("a counter value")
}

/// `GET /count`: `(counter, rows, distinct counter values in rows)`.
fn counts(server: &Server) -> (u64, u64, u64) {
    let json = server.get_ok(HOST, "/count").json();
    let field = |name: &str| json[name].as_u64().expect("a number");
    (field("counter"), field("rows"), field("distinct"))
}

/// Asserts `PRAGMA integrity_check` says ok, on sqlite's rollback journal.
fn assert_intact(server: &Server) {
    let json = server.get_ok(HOST, "/check").json();
    assert_eq!(json["integrity"], serde_json::json!(["ok"]), "{json}");
    assert_eq!(json["journal_mode"], "delete", "{json}");
}

/// The overlaps the app saw (`<self> saw <others>`, each named `<METHOD>-<random>`).
fn overlaps(site: &Path) -> Vec<String> {
    match std::fs::read_to_string(site.join("data/overlaps.log")) {
        Ok(text) => text.lines().map(str::to_owned).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("reading overlaps.log: {e}"),
    }
}

/// `threads` clients at once, each sending `each` requests made by `send(thread, i)`.
fn at_once<T: Send>(
    threads: usize,
    each: usize,
    send: impl Fn(usize, usize) -> T + Sync,
) -> Vec<T> {
    let send = &send;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || (0..each).map(|i| send(t, i)).collect::<Vec<T>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a client thread"))
            .collect()
    })
}

const WRITERS: usize = 8;
const WRITES: usize = 25;

#[test]
fn data_concurrent_writers_lose_no_write() {
    let layout = Layout::new();
    let site = sqlite_site(&layout, "", "instances = 4\n");
    let server = layout.serve_in_place();
    let server = &server;
    // Writers and readers at once; the default lock (`exclusive`) runs each request alone.
    let mut written: Vec<u64> = at_once(WRITERS + 2, WRITES, |t, i| {
        if t < WRITERS {
            Some(add(server, &format!("writer {t} write {i}")))
        } else {
            let (counter, rows, _) = counts(server);
            assert_eq!(counter, rows, "a reader sees whole writes only");
            None
        }
    })
    .into_iter()
    .flatten()
    .collect();
    written.sort_unstable();
    let total = (WRITERS * WRITES) as u64;
    assert_eq!(
        written,
        (1..=total).collect::<Vec<u64>>(),
        "every write read the counter the write before it left"
    );
    assert_eq!(counts(server), (total, total, total));
    assert_intact(server);
    assert_eq!(
        overlaps(&site),
        Vec::<String>::new(),
        "no request ran beside another"
    );
}

#[test]
fn data_lock_methods_shares_reads_and_runs_writes_alone() {
    let layout = Layout::new();
    let site = sqlite_site(&layout, "data_lock = \"methods\"\n", "instances = 4\n");
    let server = layout.serve_in_place();
    let server = &server;
    // Two GETs that each wait (bounded) until the other has come in: both meet.
    let met = at_once(2, 1, |_, _| {
        server.get_ok(HOST, "/rendezvous?group=reads").json()["met"].clone()
    });
    assert_eq!(met, [true, true], "reads run together under `methods`");

    let writers = 4;
    let writes = 15;
    let written = at_once(writers * 2, writes, |t, i| {
        if t < writers {
            Some(add(server, &format!("writer {t} write {i}")))
        } else {
            counts(server);
            None
        }
    });
    let total = (writers * writes) as u64;
    assert_eq!(written.iter().flatten().count() as u64, total);
    assert_eq!(counts(server), (total, total, total));
    assert_intact(server);
    let seen = overlaps(&site);
    assert!(
        seen.iter().any(|line| line.starts_with("GET-")),
        "the readers that met are in the log: {seen:?}"
    );
    let with_writes: Vec<&String> = seen.iter().filter(|l| l.contains("POST-")).collect();
    assert!(
        with_writes.is_empty(),
        "a write ran beside another request: {with_writes:?}"
    );
}

#[test]
fn data_lock_none_lets_requests_overlap() {
    let layout = Layout::new();
    let site = sqlite_site(&layout, "data_lock = \"none\"\n", "instances = 4\n");
    let server = layout.serve_in_place();
    let server = &server;
    // Without a lock two POSTs run together, and the fixture's detector sees it: the empty
    // overlap logs of the other tests mean the lock kept requests apart.
    let met = at_once(2, 1, |_, _| {
        let response = server.post(HOST, "/rendezvous?group=writes", "", "");
        server.assert_status(&response, 200);
        response.json()["met"].clone()
    });
    assert_eq!(met, [true, true], "writes run together under `none`");
    let seen = overlaps(&site);
    assert!(
        seen.iter()
            .any(|l| l.starts_with("POST-") && l.contains(" saw POST-")),
        "the detector logged the overlap: {seen:?}"
    );
}

#[test]
fn data_listing_a_folder_survives_entries_removed_meanwhile() {
    let layout = Layout::new();
    sqlite_site(&layout, "data_lock = \"none\"\n", "instances = 4\n");
    let server = layout.serve_in_place();
    let server = &server;
    // Pairs of requests meet, then each creates, lists and removes its own file 300 times
    // in one shared folder: a listing is read while the other instance removes an entry.
    let crowded: u64 = at_once(4, 2, |t, i| {
        let response = server.get(
            HOST,
            &format!("/churn?group=churn-{}-{i}&rounds=300", t / 2),
        );
        // A listing that failed answers with its error.
        server.assert_status(&response, 200);
        let json = response.json();
        assert_eq!(json["met"], true, "{json}");
        json["crowded"].as_u64().expect("a count")
    })
    .into_iter()
    .sum();
    assert!(crowded > 0, "no listing saw the other request's file");
}

#[test]
fn data_survives_instance_recycling_and_a_restart() {
    let layout = Layout::new();
    let site = sqlite_site(&layout, "", "instances = 4\nmax_requests = 2\n");
    let server = layout.serve_in_place();
    let served = at_once(4, 10, |t, i| {
        let response = server.post(HOST, "/add", "", format!("writer {t} write {i}"));
        server.assert_status(&response, 200);
        response.json()["served"].as_u64().expect("a served count")
    });
    assert!(
        served.iter().all(|&n| n <= 2),
        "every instance was replaced after two requests: {served:?}"
    );
    assert_eq!(counts(&server), (40, 40, 40));
    drop(server);
    // As if the server had been killed mid-transaction: sqlite's lock folder is left.
    std::fs::create_dir(site.join("data/app.db.lock")).unwrap();

    // A new server on the same sites folder finds the data where the last one left it, and
    // clears the stale lock before any instance runs.
    let server = layout.serve_in_place();
    assert!(!site.join("data/app.db.lock").exists(), "{}", server.log());
    // The log line comes through the harness's stderr thread, maybe after `Sites ready`.
    server.assert_logged("removed the stale sqlite lock");
    assert_eq!(counts(&server), (40, 40, 40));
    assert_eq!(add(&server, "after the restart"), 41);
    assert_eq!(counts(&server), (41, 41, 41));
    assert_intact(&server);
    assert!(
        site.join("data/app.db").is_file(),
        "the database is in the site's data folder"
    );
}

#[test]
fn data_lock_is_released_after_failures_and_timeouts() {
    let layout = Layout::new();
    sqlite_site(
        &layout,
        "",
        "instances = 2\nrequest_timeout = \"5s\"\nqueue_timeout = \"1s\"\n",
    );
    let server = layout.serve_in_place();
    assert_eq!(add(&server, "first"), 1);

    // The app raises inside a transaction (and rolls it back): a 500, and the lock is free.
    server.post(HOST, "/fail", "", "").assert_status(500);
    server.wait_for_log("sqlite: failed inside a transaction");
    assert_eq!(add(&server, "after the failure"), 2);

    // A request that holds the lock past its request_timeout, mid-transaction.
    std::thread::scope(|scope| {
        let slow = scope.spawn(|| server.post(HOST, "/slow?s=60", "", ""));
        server.assert_logged("sqlite: slow started");
        // Meanwhile a write waits for the lock (not for an instance: one is free) and gives up
        // after the queue_timeout.
        let waiting = server.post(HOST, "/add", "", "while the slow one runs");
        server.assert_status(&waiting, 503);
        assert!(waiting.header("retry-after").is_some(), "{waiting:?}");
        server.assert_logged("data lock was not free within 1s");
        server.assert_status(&slow.join().unwrap(), 504);
    });
    // The discarded instance's sqlite lock folder was cleared and the data lock released;
    // the killed transaction's journal is rolled back by the next connection, so its +1000
    // is gone.
    let log = server.wait_for_log("removed the stale sqlite lock");
    assert!(log.contains("left by the discarded instance"), "{log}");
    assert_eq!(add(&server, "after the timeout"), 3);
    assert_eq!(counts(&server), (3, 3, 3));
    assert_intact(&server);
}

/// `wsgi-wasm check` over one site with `app` lines in its `[app]` table: asserts it fails,
/// with an error on `app.data_lock` that says each of `reasons`.
fn assert_data_lock_error(app: &str, reasons: &[&str]) {
    let layout = Layout::new();
    std::fs::create_dir_all(layout.sites().join("bad/data")).unwrap();
    layout.site_toml(
        "bad",
        &format!("server_names = [\"bad.test\"]\n[app]\n{app}"),
    );
    let out = layout.check(None);
    out.assert_failed();
    for reason in reasons {
        out.assert_site_error("bad", "app.data_lock", reason);
    }
}

#[test]
fn data_lock_config_errors_name_the_key_and_value() {
    assert_data_lock_error(
        "data = [\"data\"]\ndata_lock = \"sometimes\"\n",
        &["`sometimes`", "`exclusive`, `methods` or `none`"],
    );
    assert_data_lock_error(
        "data_lock = \"exclusive\"\n",
        &["`exclusive`", "no `app.data` folders"],
    );
}

#[test]
fn data_file_reads_and_writes_keep_every_byte() {
    let layout = Layout::new();
    let site = sqlite_site(&layout, "", "");
    let server = layout.serve_in_place();
    for _ in 0..2 {
        let json = server.get_ok(HOST, "/fileio").json();
        assert_eq!(json["size"], json["expected"], "{json}");
        for check in ["whole", "chunks", "middle", "raw_read"] {
            assert_eq!(json[check], true, "{check}: {json}");
        }
        assert_eq!(json["at_end"], "", "a read past the end: {json}");
        assert_eq!(json["sha256"], json["expected_sha256"], "{json}");
    }
    // What the guest wrote is on the host's disk, whole.
    let written = std::fs::read(site.join("data/fileio.bin")).unwrap();
    assert_eq!(written.len(), 25 * 8192 + 4);
    assert!(written.ends_with(b"tail"));
}

#[test]
fn data_writes_never_wake_the_code_watcher() {
    let layout = Layout::new();
    sqlite_site(&layout, "", "instances = 2");
    // A relative sites folder: the data folder must be left unwatched however it is named.
    let server = layout.serve_relative();
    for who in ["a", "b", "c", "d", "e", "f"] {
        add(&server, who);
    }
    assert_eq!(counts(&server).0, 6);
    // Past the watcher's quiet time (300 ms): a batch would have gone out by now.
    std::thread::sleep(std::time::Duration::from_secs(2));
    let log = server.log();
    for needle in ["files changed", "WatchNotFound", "Unable to remove"] {
        assert!(!log.contains(needle), "{needle:?} in the log:\n{log}");
    }
}
