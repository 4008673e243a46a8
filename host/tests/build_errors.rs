//! What the sandbox does not have, as a site author meets it: a package that is only a
//! native extension fails the build naming the package and the file; a standard-library
//! module the guest lacks (`ssl`) or a thread fails its request with a 500 and a one-line
//! hint in the log, never in the response; code that expects them to be missing (an
//! optional import, MarkupSafe's pure-Python fallback) keeps working.

use crate::common::{tagged_event, Layout, Server};

#[test]
fn build_errors_native_only_package_is_named_with_its_file() {
    let layout = Layout::new();
    layout.copy_fixture("native", "native");
    let out = layout.build();
    assert_ne!(out.code, Some(0), "the build fails:\n{}", out.all());
    let first = out.failed_line();
    assert_eq!(
        first,
        "FAILED  site `native`: package `ujson` needs the native extension \
         `ujson.cpython-314-x86_64-linux-gnu.so`, which has no WebAssembly build; \
         use a pure-Python alternative"
    );
    // The traceback points at the app's import, and the removed files are listed.
    for needle in [
        "/1/app.py\", line 3, in <module>",
        "import ujson",
        "ujson.cpython-314-x86_64-linux-gnu.so (package `ujson`)",
    ] {
        assert!(
            out.stdout.contains(needle),
            "{needle:?} in:\n{}",
            out.stdout
        );
    }
}

/// Asserts `path` failed with a bare 500 and the log holds `hint`, tagged with the site
/// and a request id.
fn assert_500_with_hint(server: &Server, path: &str, hint: &str) {
    let response = server.get("sandbox.test", path);
    assert_eq!(response.status, 500, "{path}: {}", response.text());
    let body = response.text();
    assert_eq!(body, "500 Internal Server Error\n", "{path}: nothing leaks");
    let event = tagged_event(server, "sandbox", |e| e.contains(hint));
    assert!(event.contains(hint), "{event}");
}

#[test]
fn build_errors_missing_stdlib_module_is_a_500_with_a_hint() {
    let server = Server::start(&["sandbox"]);
    assert_500_with_hint(
        &server,
        "/ssl",
        "ModuleNotFoundError: No module named '_ssl': ssl is not available in the \
         wsgi-wasm sandbox: the guest has no OpenSSL and no network; TLS is terminated by \
         the server",
    );
}

#[test]
fn build_errors_thread_start_is_a_500_with_a_hint() {
    let server = Server::start(&["sandbox"]);
    assert_500_with_hint(
        &server,
        "/thread",
        "RuntimeError: can't start new thread: threads are not available in the wsgi-wasm \
         sandbox",
    );
}

#[test]
fn build_errors_stripped_extension_imported_at_request_time() {
    let server = Server::start(&["sandbox"]);
    assert_500_with_hint(
        &server,
        "/ujson",
        "No module named 'ujson': package `ujson` needs the native extension \
         `ujson.cpython-314-x86_64-linux-gnu.so`, which has no WebAssembly build",
    );
}

#[test]
fn build_errors_optional_imports_keep_working() {
    let server = Server::start(&["sandbox"]);
    let facts = server.get_ok("sandbox.test", "/optional").json();
    // `except ImportError` still catches it, with the module name code may check.
    assert_eq!(
        facts["ssl"],
        serde_json::json!(["ModuleNotFoundError", "_ssl"])
    );
    assert_eq!(
        facts["lzma"],
        serde_json::json!(["ModuleNotFoundError", "_lzma"])
    );
    // Asking whether a module exists is not importing it: no error, just "no".
    assert_eq!(facts["find_spec"], serde_json::json!([null, null]));
    // The app's module-level `try: import ujson` fell back at build time.
    assert_eq!(facts["fast_json"], false);
    // MarkupSafe lost its C speedup and runs its pure-Python one.
    assert_eq!(facts["escape"], "&lt;b&gt;");
    assert_eq!(facts["escape_inner"], "markupsafe._native");
    assert_eq!(facts["sha256"], "ba7816bf");
}

#[test]
fn build_errors_requirement_without_a_wheel_says_only_wheels_can_be_used() {
    let layout = Layout::new();
    layout.write(
        "sites/sdist/site.toml",
        "server_names = [\"sdist.test\"]\n[app]\nmodule = \"app\"\nrequirements = \"requirements.txt\"\n",
    );
    layout.write("sites/sdist/app.py", "application = None\n");
    // uWSGI is published as a source distribution only.
    layout.write("sites/sdist/requirements.txt", "uWSGI==2.0.28\n");
    let out = layout.build();
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.failed_line().contains(
            "package `uwsgi` has no wheel for the guest (CPython 3.14, pure Python or \
             manylinux); only wheels can be used"
        ),
        "{}",
        out.all()
    );
}

#[test]
fn build_errors_database_opened_at_import_names_the_key_and_the_remedy() {
    let layout = Layout::new();
    layout.write(
        "sites/eager/site.toml",
        "server_names = [\"eager.test\"]\n[app]\nmodule = \"app\"\ndata = [\"data\"]\n",
    );
    // Flask-SQLAlchemy's quick-start does this at module level (`db.create_all()`).
    layout.write(
        "sites/eager/app.py",
        "import sqlite3\n\
         sqlite3.connect('/data/app.db').execute('create table if not exists t (x)')\n\
         application = None\n",
    );
    std::fs::create_dir_all(layout.sites().join("eager/data")).unwrap();
    let out = layout.build();
    assert_ne!(out.code, Some(0), "{}", out.all());
    let first = out.failed_line();
    for needle in [
        "site `eager`: the app opened a database while it was imported",
        "data folders (`app.data`) are mounted only when the site runs",
        "`db.create_all()` inside a view",
    ] {
        assert!(first.contains(needle), "{needle:?} in {first:?}");
    }
    assert!(
        out.all().contains("unable to open database file"),
        "{}",
        out.all()
    );
}
