//! `[static.from_packages]`: folders of a site's vendored packages served by the static
//! pipeline under URL prefixes (nginx's `location` + `alias`), after the site's own root and
//! before the app. Over real HTTP against a site that vendors `idna` from PyPI: files with
//! validators, ranges and conditionals; the longest prefix wins; what the folder does not
//! hold falls through to the app; nothing leads out of the folder. Mistakes are reported by
//! `check` (bad keys) and `build` (a folder the packages do not have).

use crate::common::{Layout, Server};

const HOST: &str = "package-static.test";

#[test]
fn static_packages_serve_files_with_the_whole_pipeline() {
    let server = Server::start(&["package_static"]);
    let file = server.get_ok(HOST, "/vendor/package_data.py");
    assert_eq!(file.text(), "__version__ = \"3.20\"\n");
    assert!(file.header("content-type").unwrap().starts_with("text/"));
    file.assert_header("cache-control", Some("max-age=3600"));
    file.assert_header("accept-ranges", Some("bytes"));
    let etag = file.header("etag").expect("an ETag").to_owned();

    let not_modified = server.get_with(
        HOST,
        "/vendor/package_data.py",
        &format!("If-None-Match: {etag}\r\n"),
    );
    not_modified.assert_status(304);

    let range = server.get_with(HOST, "/vendor/package_data.py", "Range: bytes=0-10\r\n");
    range.assert_body(206, "__version__");
    range.assert_header("content-range", Some("bytes 0-10/21"));

    let head = server.request(
        &format!(
            "HEAD /vendor/package_data.py HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n"
        ),
        b"",
    );
    head.assert_status(200);
    head.assert_header("content-length", Some("21"));

    // Percent-encoding is decoded once, as for the site's own root.
    let encoded = server.get_ok(HOST, "/vendor/package%5Fdata.py");
    assert_eq!(encoded.text(), "__version__ = \"3.20\"\n");
}

#[test]
fn static_packages_longest_prefix_wins_and_misses_reach_the_app() {
    let server = Server::start(&["package_static"]);
    // `/vendor/meta/` is the dist-info folder, not `idna/meta/`.
    let wheel = server.get_ok(HOST, "/vendor/meta/WHEEL");
    assert!(
        wheel.text().starts_with("Wheel-Version:"),
        "{}",
        wheel.text()
    );
    // Missing files, and paths under no prefix, are the app's.
    assert_eq!(
        server.get_ok(HOST, "/vendor/no-such-file.css").text(),
        "app: /vendor/no-such-file.css\n"
    );
    assert_eq!(
        server.get_ok(HOST, "/vendorx/core.py").text(),
        "app: /vendorx/core.py\n"
    );
    assert_eq!(server.get_ok(HOST, "/").text(), "app: /\n");
    // A folder without its slash is redirected, as for the root; no listings.
    let redirect = server.get(HOST, "/vendor");
    redirect.assert_status(301);
    redirect.assert_header("location", Some("/vendor/"));
    assert_eq!(server.get_ok(HOST, "/vendor/").text(), "app: /vendor/\n");
    // POST is never answered by static files.
    let post = server.request(
        &format!("POST /vendor/core.py HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(post.text(), "app: /vendor/core.py\n");
}

#[test]
fn static_packages_nothing_leads_out_of_the_folder() {
    let server = Server::start(&["package_static"]);
    for path in [
        "/vendor/../idna-3.20.dist-info/RECORD",
        "/vendor/%2e%2e/idna-3.20.dist-info/RECORD",
        "/vendor/..%2fidna-3.20.dist-info%2fRECORD",
        "/vendor/..%5cRECORD",
        "/vendor/meta/../../app.py",
    ] {
        let response = server.get(HOST, path);
        response.assert_status(400);
    }
    // Dot-files are never served, and never reach the app either.
    let hidden = server.get(HOST, "/vendor/.hidden");
    assert_eq!(
        (hidden.status, hidden.text().contains("app:")),
        (404, false)
    );
}

/// A site folder vendoring idna, with this `[static]` table.
fn package_site(layout: &Layout, name: &str, static_table: &str) {
    let dir = layout.copy_fixture("package_static", name);
    std::fs::write(
        dir.join("site.toml"),
        format!(
            "server_names = [\"{}.test\"]\n[static]\n{static_table}\n\
             [app]\nmodule = \"app\"\nrequirements = \"requirements.txt\"\n",
            name.replace('_', "-")
        ),
    )
    .unwrap();
}

#[test]
fn static_packages_come_after_the_sites_own_root() {
    let layout = Layout::new();
    package_site(
        &layout,
        "with_root",
        "root = \"public\"\nfrom_packages = { \"/vendor/\" = \"idna\" }",
    );
    layout.write(
        "sites/with_root/public/vendor/package_data.py",
        "from the root\n",
    );
    let server = layout.serve();
    let host = "with-root.test";
    // The root answers first; what it does not hold is looked up in the package folder.
    assert_eq!(
        server.get_ok(host, "/vendor/package_data.py").text(),
        "from the root\n"
    );
    let core = server.get_ok(host, "/vendor/core.py");
    core.assert_contains("def encode(");
    assert_eq!(server.get_ok(host, "/other").text(), "app: /other\n");
}

#[test]
fn static_packages_missing_folder_fails_the_build() {
    let layout = Layout::new();
    package_site(
        &layout,
        "missing_folder",
        "from_packages = { \"/x/\" = \"idna/no-such-folder\" }",
    );
    let out = layout.build();
    assert_ne!(out.code, Some(0), "{}", out.all());
    let line = out.failed_line();
    assert!(
        line.contains("/missing_folder/site.toml: `static.from_packages`: `idna/no-such-folder` (for `/x/`) is not a folder in the site's vendored packages"),
        "{line}"
    );
}

#[test]
fn static_packages_config_errors_name_the_key() {
    let layout = Layout::new();
    let cases = [
        (
            "no_slash",
            "from_packages = { \"static/\" = \"idna\" }",
            "`static/` is not a URL path prefix",
        ),
        (
            "no_end_slash",
            "from_packages = { \"/static\" = \"idna\" }",
            "`/static` is not a URL path prefix",
        ),
        (
            "dot_prefix",
            "from_packages = { \"/.git/\" = \"idna\" }",
            "`/.git/` is not a URL path prefix",
        ),
        (
            "parent",
            "from_packages = { \"/s/\" = \"../idna\" }",
            "`../idna` (for `/s/`) must be a relative folder",
        ),
        (
            "absolute",
            "from_packages = { \"/s/\" = \"/etc\" }",
            "`/etc` (for `/s/`) must be a relative folder",
        ),
        ("not_a_table", "from_packages = \"idna\"", "invalid type"),
    ];
    for (name, table, _) in &cases {
        package_site(&layout, name, table);
    }
    // Without requirements there are no vendored packages to look in.
    layout.site_toml(
        "no_requirements",
        "server_names = [\"no-requirements.test\"]\n[static]\nfrom_packages = { \"/s/\" = \"idna\" }\n[app]\n",
    );
    let config = layout.write(
        "wsgi-wasm.toml",
        "[defaults.static.from_packages]\n\"/s/\" = \"idna\"\n",
    );
    let out = layout.check(None);
    out.assert_failed();
    let all_cases =
        cases
            .iter()
            .copied()
            .chain([("no_requirements", "", "needs `[app]` with `requirements`")]);
    for (name, _, reason) in all_cases {
        out.assert_site_error(name, "static.from_packages", reason);
    }
    // A server-wide default cannot name package folders.
    let out = layout.check(Some(&config));
    out.assert_failed();
    assert!(
        out.all()
            .contains("`defaults.static.from_packages`: each site names its own package folders"),
        "{}",
        out.all()
    );
}
