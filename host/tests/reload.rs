//! Reloads without a restart: code changes rebuilt and swapped in under load, SIGHUP
//! rereading every configuration file (a broken site.toml refuses that site only), sites added and
//! removed, and a failed build keeping the previous version.

use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::{Layout, Server};

/// A site whose app answers `version <n>` (and `site.toml` claims `names`).
fn versioned_site(layout: &Layout, name: &str, version: u32, extra_app: &str) {
    layout.write(
        &format!("sites/{name}/site.toml"),
        format!("server_names = [\"{name}.test\"]\n\n[app]\nmodule = \"app\"\n{extra_app}"),
    );
    write_version(&layout.sites().join(name), version);
}

fn write_version(site: &Path, version: u32) {
    let app = format!(
        "VERSION = {version}\n\n\
         def application(environ, start_response):\n    \
             body = f\"version {{VERSION}}\\n\".encode()\n    \
             start_response(\"200 OK\", [(\"Content-Type\", \"text/plain\"),\n        \
                 (\"Content-Length\", str(len(body)))])\n    \
             return [body]\n"
    );
    // Write then rename, as editors and deploy tools do: the watcher never sees half a file.
    let temp = site.join(".app.py.tmp");
    std::fs::write(&temp, app).unwrap();
    std::fs::rename(&temp, site.join("app.py")).unwrap();
}

/// An `app.py` with a syntax error no other run has built: failed builds are remembered by
/// their files' hash in the shared state folder, and these tests watch a first failure.
fn broken_app() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("def application(:  # {} {nanos}\n", std::process::id())
}

/// `wsgi-wasm reload --admin <the server's admin listener>`.
fn reload_command(server: &Server) -> common::Finished {
    let admin = server.admin.expect("the admin listener").to_string();
    common::run_cli(&["reload".as_ref(), "--admin".as_ref(), admin.as_ref()])
}

/// How long a reload or a rebuild may take to show (a rebuild runs componentize-py).
const REBUILD: Duration = Duration::from_secs(240);

/// How many times `needle` is in the log.
fn count(server: &Server, needle: &str) -> usize {
    server.log().matches(needle).count()
}

/// One GET on a kept-alive connection; any error is returned, not panicked on.
fn get_on(stream: &mut BufReader<TcpStream>, host: &str) -> Result<(u16, String), String> {
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut line = String::new();
    stream
        .read_line(&mut line)
        .map_err(|e| format!("status line: {e}"))?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {line:?}"))?;
    let mut length = 0;
    loop {
        let mut header = String::new();
        stream
            .read_line(&mut header)
            .map_err(|e| format!("header: {e}"))?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().map_err(|_| "bad length".to_owned())?;
            }
        }
    }
    let mut body = vec![0; length];
    stream
        .read_exact(&mut body)
        .map_err(|e| format!("body: {e}"))?;
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn connect(addr: SocketAddr) -> Result<BufReader<TcpStream>, String> {
    let stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    Ok(BufReader::new(stream))
}

/// What one load thread saw.
struct Seen {
    versions: Vec<u32>,
    failures: Vec<String>,
}

/// A client sending requests back to back until `stop`, on one kept-alive connection or a
/// new connection per request.
fn load(addr: SocketAddr, host: &'static str, keep_alive: bool, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen {
        versions: Vec::new(),
        failures: Vec::new(),
    };
    let mut stream = None;
    while !stop.load(Ordering::Relaxed) {
        let outcome = match stream.take() {
            Some(open) => Ok(open),
            None => connect(addr),
        }
        .and_then(|mut open| get_on(&mut open, host).map(|answer| (open, answer)));
        match outcome {
            Ok((open, (200, body))) => {
                match body.trim().strip_prefix("version ").map(str::parse) {
                    Some(Ok(version)) => seen.versions.push(version),
                    _ => seen.failures.push(format!("unexpected body {body:?}")),
                }
                if keep_alive {
                    stream = Some(open);
                }
            }
            Ok((_, (status, body))) => seen.failures.push(format!("status {status}: {body}")),
            Err(error) => seen.failures.push(error),
        }
    }
    seen
}

fn version_of(server: &Server, host: &str) -> Option<u32> {
    let response = server.get(host, "/");
    response
        .text()
        .trim()
        .strip_prefix("version ")
        .and_then(|v| v.parse().ok())
}

#[test]
fn reload_code_changes_and_hangups_under_load_lose_no_request() {
    let layout = Layout::new();
    versioned_site(&layout, "live", 0, "");
    let site = layout.sites().join("live");
    let server = layout.serve();
    assert_eq!(version_of(&server, "live.test"), Some(0));

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = [true, true, false]
        .into_iter()
        .map(|keep_alive| {
            let stop = stop.clone();
            let addr = server.addr;
            std::thread::spawn(move || load(addr, "live.test", keep_alive, stop))
        })
        .collect();

    for version in 1..=5 {
        write_version(&site, version);
        server.wait_until(&format!("version {version}"), REBUILD, || {
            version_of(&server, "live.test") == Some(version)
        });
        if version == 2 || version == 4 {
            let reloaded = count(&server, "configuration reloaded");
            server.signal(libc::SIGHUP);
            server.wait_until("the SIGHUP reload", REBUILD, || {
                count(&server, "configuration reloaded") > reloaded
            });
            // The site did not change: it keeps its version (and its instances).
            assert_eq!(version_of(&server, "live.test"), Some(version));
        }
    }
    // Let the load run a little on the last version too.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        let seen = client.join().expect("a load thread");
        assert!(
            seen.failures.is_empty(),
            "failed requests: {:?}\nlog:\n{}",
            &seen.failures[..seen.failures.len().min(5)],
            server.log()
        );
        assert!(
            seen.versions.windows(2).all(|pair| pair[0] <= pair[1]),
            "a client went back to an older version: {:?}",
            seen.versions
        );
        assert_eq!(seen.versions.last(), Some(&5));
        total += seen.versions.len();
    }
    assert!(total > 50, "the load generator sent only {total} requests");
    let log = server.log();
    assert_eq!(
        log.matches("swapped in the new version").count(),
        5,
        "one swap per code change:\n{log}"
    );
}

#[test]
fn reload_failed_build_keeps_the_previous_version() {
    let layout = Layout::new();
    versioned_site(&layout, "keep", 1, "");
    let site = layout.sites().join("keep");
    let server = layout.serve();
    assert_eq!(version_of(&server, "keep.test"), Some(1));

    std::fs::write(site.join("app.py"), "def application(:\n").unwrap();
    server.wait_until("the failed build", REBUILD, || {
        count(&server, "build failed") > 0
    });
    let log = server.log();
    assert!(
        log.contains("SyntaxError"),
        "the traceback is logged:\n{log}"
    );
    assert_eq!(version_of(&server, "keep.test"), Some(1));

    write_version(&site, 2);
    server.wait_until("the fixed version", REBUILD, || {
        version_of(&server, "keep.test") == Some(2)
    });
}

#[test]
fn reload_site_whose_first_build_failed_is_watched_and_served_once_fixed() {
    let layout = Layout::new();
    versioned_site(&layout, "mended", 1, "");
    let site = layout.sites().join("mended");
    std::fs::write(site.join("app.py"), broken_app()).unwrap();
    let server = layout.serve();
    server.assert_logged("build failed");
    server.assert_logged("not served; its files are watched");
    // Unknown to the server meanwhile: no default site, so the connection is closed (444).
    let raw = b"GET / HTTP/1.1\r\nHost: mended.test\r\nConnection: close\r\n\r\n";
    let answer = || String::from_utf8_lossy(&server.exchange(raw)).into_owned();
    assert_eq!(answer(), "", "nothing serves the site");

    // No reload, no signal: saving the fix is enough.
    write_version(&site, 7);
    server.wait_until("the fixed first version", REBUILD, || {
        answer().ends_with("version 7\n")
    });
    server.assert_logged("building again (its last build failed)");
    // And it is watched as a served site from now on.
    write_version(&site, 8);
    server.wait_until("the next version", REBUILD, || {
        version_of(&server, "mended.test") == Some(8)
    });
}

#[test]
fn reload_unchanged_broken_site_is_reported_at_restart_without_a_build() {
    let layout = Layout::new();
    versioned_site(&layout, "recalled", 1, "");
    let site = layout.sites().join("recalled");
    std::fs::write(site.join("app.py"), broken_app()).unwrap();
    let server = layout.serve();
    server.assert_logged("build failed");
    assert!(
        server.log().contains("SyntaxError"),
        "the traceback:\n{}",
        server.log()
    );

    // The same files at the next start: the failure is reported at once, with its traceback.
    let server = server.restart(&[]);
    let log = server.log();
    assert!(
        log.contains("these same files failed to build before"),
        "the failure is remembered:\n{log}"
    );
    assert!(log.contains("SyntaxError"), "with its traceback:\n{log}");
    assert!(
        !log.contains("building in the background"),
        "nothing is built:\n{log}"
    );

    // Still watched: the fix builds and serves it.
    write_version(&site, 3);
    let raw = b"GET / HTTP/1.1\r\nHost: recalled.test\r\nConnection: close\r\n\r\n";
    server.wait_until("the fixed version", REBUILD, || {
        String::from_utf8_lossy(&server.exchange(raw)).ends_with("version 3\n")
    });
}

#[test]
fn reload_broken_site_toml_refuses_only_that_site() {
    let layout = Layout::new();
    layout.static_site("one", &["one.test"], false, "");
    layout.static_site("two", &["two.test"], false, "");
    let sites = layout.sites();
    let server = layout.serve();
    assert_eq!(server.get("one.test", "/").status, 200);

    // A valid change in one site and a broken file in the other: the valid one applies, the
    // broken one keeps serving its last good configuration.
    std::fs::write(
        sites.join("one/site.toml"),
        "server_names = [\"one.test\", \"uno.test\"]\n[static]\nroot = \"public\"\n",
    )
    .unwrap();
    std::fs::write(
        sites.join("two/site.toml"),
        "server_names = [\"two.test\", \"dos.test\"]\ncolour = \"blue\"\n[static]\nroot = \"public\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.wait_until("the partial reload", REBUILD, || {
        count(&server, "configuration reloaded but for the sites refused") > 0
    });
    let log = server.log();
    let refused = &log[log.find("site refused").expect("the refusal is logged")..];
    assert!(
        refused.contains("two/site.toml") && refused.contains("colour"),
        "the error names the file and the key:\n{log}"
    );
    assert_eq!(server.get("uno.test", "/").text(), "site one\n");
    assert_eq!(server.get("one.test", "/").text(), "site one\n");
    assert_eq!(server.get("two.test", "/").text(), "site two\n");
    let dos = server.exchange(b"GET / HTTP/1.1\r\nHost: dos.test\r\nConnection: close\r\n\r\n");
    assert!(
        dos.is_empty(),
        "dos.test is not served: two's new file was refused"
    );

    // `wsgi-wasm reload` gets the same answer, and says so with its exit status.
    let out = reload_command(&server);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.all().contains("refused") && out.all().contains("colour"),
        "{}",
        out.all()
    );

    // Fixed: the next reload applies it, and the command prints what changed.
    std::fs::write(
        sites.join("two/site.toml"),
        "server_names = [\"two.test\", \"dos.test\"]\n[static]\nroot = \"public\"\n",
    )
    .unwrap();
    let out = reload_command(&server);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("changed: two; 1 unchanged"),
        "{}",
        out.all()
    );
    assert_eq!(server.get("dos.test", "/").text(), "site two\n");
    assert_eq!(server.get("uno.test", "/").text(), "site one\n");
}

#[test]
fn reload_command_answers_once_accepted_not_after_the_builds() {
    let layout = Layout::new();
    layout.static_site("main", &["main.test"], true, "");
    let server = layout.serve_in_place();
    // A new site whose files no run has built: its build takes componentize-py's time.
    versioned_site(&layout, "fresh", 5, "");
    let app = layout.sites().join("fresh/app.py");
    let code = std::fs::read_to_string(&app).unwrap();
    std::fs::write(&app, format!("{code}# {}\n", broken_app())).unwrap();
    let out = reload_command(&server);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("building: fresh"),
        "answered while the build runs:\n{}",
        out.all()
    );
    assert!(
        !server.log().contains("configuration reloaded"),
        "the final summary comes when the build ends:\n{}",
        server.log()
    );
    server.wait_until("the new site", REBUILD, || {
        version_of(&server, "fresh.test") == Some(5)
    });
    server.assert_logged("configuration reloaded: added: fresh");
}

#[test]
fn reload_adds_and_removes_site_folders() {
    let layout = Layout::new();
    layout.static_site("main", &["main.test"], true, "");
    layout.static_site("old", &["old.test"], false, "");
    let sites = layout.sites();
    let server = layout.serve();
    assert_eq!(server.get("old.test", "/").text(), "site old\n");
    assert!(server.get("new.test", "/").text().contains("site main"));

    std::fs::remove_dir_all(sites.join("old")).unwrap();
    std::fs::create_dir_all(sites.join("new/public")).unwrap();
    std::fs::write(
        sites.join("new/site.toml"),
        "server_names = [\"new.test\"]\n[static]\nroot = \"public\"\n",
    )
    .unwrap();
    std::fs::write(sites.join("new/public/index.html"), "site new\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_until("the reload", REBUILD, || {
        count(&server, "configuration reloaded") > 0
    });
    let log = server.log();
    assert!(
        log.contains("added: new") && log.contains("removed: old"),
        "{log}"
    );
    assert_eq!(server.get("new.test", "/").text(), "site new\n");
    // The removed site's name falls through to the default site.
    assert_eq!(server.get("old.test", "/").text(), "site main\n");
}

#[test]
fn reload_watch_false_waits_for_a_hangup() {
    let layout = Layout::new();
    versioned_site(&layout, "manual", 1, "watch = false\n");
    versioned_site(&layout, "auto", 1, "");
    let sites = layout.sites();
    let server = layout.serve();
    assert_eq!(version_of(&server, "manual.test"), Some(1));

    write_version(&sites.join("manual"), 2);
    write_version(&sites.join("auto"), 2);
    // The watched site is rebuilt; by then the other one would have been too.
    server.wait_until("the watched site's new version", REBUILD, || {
        version_of(&server, "auto.test") == Some(2)
    });
    assert_eq!(version_of(&server, "manual.test"), Some(1));

    server.signal(libc::SIGHUP);
    server.wait_until("the SIGHUP reload", REBUILD, || {
        count(&server, "configuration reloaded") > 0
    });
    assert!(server.log().contains("changed: manual"), "{}", server.log());
    assert_eq!(version_of(&server, "manual.test"), Some(2));
}
