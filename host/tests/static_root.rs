//! Static roots over real HTTP: confinement (no request ever gets bytes from outside the
//! root), the dot-file rule, conditionals, ranges, precompressed siblings, symlink rules,
//! directories and try_files fallthrough to the app. Edge cases of each step are covered by
//! the unit tests in `src/static_files/tests/`; these check that the pieces are wired up.

use crate::common::{Layout, Response, Server};

/// The content of the file outside every site; no response may ever contain it.
const SECRET: &str = "OUTSIDE-SECRET-7f3c9a1e-never-serve-me";

const HELLO: &str = "hello static\n";
const DIGITS: &str = "0123456789abcdefghijklmnopqrstuvwxyz";
const BIG: usize = 8 * 1024 * 1024;

/// `<tmp>/outside/secret.txt` and `<tmp>/outside/dir/secret.txt`, plus, in the site
/// `name`'s `public/`: `leak.txt` → the outside file, `leakdir` → the outside folder,
/// `trap/index.html` → the outside file; and an inside symlink `alias.txt` → `hello.txt`.
fn plant_escapes(layout: &Layout, name: &str) {
    let secret = layout.write("outside/secret.txt", SECRET);
    layout.write("outside/dir/secret.txt", SECRET);
    layout.write("outside/dir/index.html", SECRET);
    let public = format!("sites/{name}/public");
    layout.write(&format!("{public}/hello.txt"), HELLO);
    layout.symlink(&secret, &format!("{public}/leak.txt"));
    layout.symlink(layout.path("outside/dir"), &format!("{public}/leakdir"));
    layout.symlink(&secret, &format!("{public}/trap/index.html"));
    // A relative symlink climbing out: `public/up.txt` → `../../../outside/secret.txt`.
    layout.symlink("../../../outside/secret.txt", &format!("{public}/up.txt"));
    layout.symlink("hello.txt", &format!("{public}/alias.txt"));
}

/// The static-only site `files` (files.test) with everything these tests ask for.
fn files_layout() -> Layout {
    let layout = Layout::new();
    layout.static_site("files", &["files.test"], false, "expires = \"1h\"\n");
    plant_escapes(&layout, "files");
    let public = |rel: &str| format!("sites/files/public/{rel}");
    layout.write(&public("digits.txt"), DIGITS);
    layout.write(&public("style.css"), "body { color: red }\n");
    layout.write(&public("data.json"), "{\"a\": 1}\n");
    layout.write(&public("image.png"), b"\x89PNG\r\n\x1a\nnot really");
    layout.write(&public("page.html"), "<p>plain page</p>\n");
    layout.write(&public("page.html.gz"), "GZIP-BYTES-OF-PAGE");
    layout.write(&public("page.html.br"), "BROTLI-BYTES-OF-PAGE");
    layout.write(&public("only-gz.js"), "console.log(1)\n");
    layout.write(&public("only-gz.js.gz"), "GZIP-BYTES-OF-JS");
    layout.write(&public("sub/index.html"), "sub index\n");
    layout.write(&public("empty-dir/readme.md"), "no index here\n");
    layout.write(&public(".git/config"), "[core] secret git config\n");
    layout.write(&public(".env"), "DB_PASSWORD=hunter2\n");
    layout.write(&public(".htaccess"), "Deny from all\n");
    layout.write(&public(".well-known/x"), "well known\n");
    layout.write(&public("big.bin"), big_body());
    // Same files, other options: no ranges, and symlinks refused.
    layout.static_site(
        "noranges",
        &["noranges.test"],
        false,
        "allow_ranges = false\n",
    );
    layout.write("sites/noranges/public/digits.txt", DIGITS);
    layout.static_site("nosym", &["nosym.test"], false, "disable_symlinks = true\n");
    layout.write("sites/nosym/public/hello.txt", HELLO);
    layout.symlink("hello.txt", "sites/nosym/public/alias.txt");
    layout.write("sites/nosym/public/real/index.html", "real dir\n");
    layout.symlink("real", "sites/nosym/public/linkdir");
    layout
}

fn files_server() -> Server {
    files_layout().serve()
}

fn big_body() -> Vec<u8> {
    (0..BIG as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect()
}

/// Every path that tries to reach the outside file, in every encoding.
const ESCAPES: &[&str] = &[
    "/leak.txt",
    "/up.txt",
    "/leakdir/secret.txt",
    "/leakdir/",
    "/leakdir",
    "/trap/",
    "/trap/index.html",
    "/../../../outside/secret.txt",
    "/../outside/secret.txt",
    "/sub/../../../../outside/secret.txt",
    "/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
    "/%2E%2E/%2E%2E/%2E%2E/outside/secret.txt",
    "/.%2e/.%2e/.%2e/outside/secret.txt",
    "/%252e%252e/%252e%252e/%252e%252e/outside/secret.txt",
    "/..%2f..%2f..%2foutside%2fsecret.txt",
    "/..%2F..%2F..%2Foutside%2Fsecret.txt",
    "/..\\..\\..\\outside\\secret.txt",
    "/..%5c..%5c..%5coutside%5csecret.txt",
    "/leak.txt%00.html",
    "/%00/../../../outside/secret.txt",
    "/hello.txt%00",
    "/leakdir/%2e%2e/dir/secret.txt",
    "/sub/%2e%2e%2f%2e%2e%2f%2e%2e%2foutside/secret.txt",
    "//../../../outside/secret.txt",
];

fn assert_no_secret(response: &Response, what: &str) {
    assert!(
        !response.text().contains(SECRET)
            && !response.headers.iter().any(|(_, v)| v.contains(SECRET)),
        "{what}: the outside file's bytes were served: {response:?}"
    );
}

#[test]
fn static_escapes_never_serve_outside_bytes() {
    let server = files_server();
    for path in ESCAPES {
        for method in ["GET", "HEAD"] {
            let response = server.request(
                &format!(
                    "{method} {path} HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n"
                ),
                b"",
            );
            assert!(
                [400, 403, 404].contains(&response.status),
                "{method} {path}: status {} {}",
                response.status,
                response.text()
            );
            assert_no_secret(&response, &format!("{method} {path}"));
        }
    }
}

#[test]
fn static_symlinks_leading_outside_are_403() {
    let server = files_server();
    for path in [
        "/leak.txt",
        "/up.txt",
        "/leakdir/secret.txt",
        "/leakdir/",
        "/trap/",
        "/trap/index.html",
    ] {
        let response = server.get("files.test", path);
        response.assert_status(403);
        assert_no_secret(&response, path);
    }
}

#[test]
fn static_traversal_in_any_encoding_is_400() {
    let server = files_server();
    for path in [
        "/../../../outside/secret.txt",
        "/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2f..%2f..%2foutside%2fsecret.txt",
        "/..%5c..%5c..%5coutside%5csecret.txt",
        "/leak.txt%00.html",
    ] {
        let response = server.get("files.test", path);
        response.assert_status(400);
    }
    // Decoded once only: `%252e%252e` is a literal (missing) name, not a parent folder.
    let response = server.get(
        "files.test",
        "/%252e%252e/%252e%252e/%252e%252e/outside/secret.txt",
    );
    response.assert_status(404);
}

#[test]
fn static_escapes_on_a_site_with_an_app_reach_neither_file_nor_app() {
    let layout = Layout::new();
    layout.app_fixture("echo", "echostatic", "", "[static]\nroot = \"public\"\n");
    plant_escapes(&layout, "echostatic");
    layout.write("sites/echostatic/public/.env", "DB_PASSWORD=hunter2\n");
    let server = layout.serve();
    for path in ESCAPES {
        let response = server.get("echostatic.test", path);
        assert_no_secret(&response, path);
        if response.status == 200 {
            // Only a path that names no file at all may reach the app, which then echoes
            // the environ: never a file's content.
            assert_eq!(
                response.header("content-type"),
                Some("application/json"),
                "{path}: {response:?}"
            );
        }
    }
    for path in ["/leak.txt", "/up.txt", "/leakdir/secret.txt", "/trap/"] {
        server.get("echostatic.test", path).assert_status(403);
    }
    for path in ["/../outside/secret.txt", "/..%2foutside", "/a%00"] {
        server.get("echostatic.test", path).assert_status(400);
    }
    // Dot-files are 404 and never the app's, even though the app answers every other path.
    for path in ["/.env", "/.git/config", "/.htaccess", "/sub/.env"] {
        let response = server.get("echostatic.test", path);
        response
            .assert_status(404)
            .assert_lacks("hunter2")
            .assert_lacks("PATH_INFO");
    }
    // The static file is served by the root, and a missing path goes to the app.
    let response = server.get("echostatic.test", "/hello.txt");
    response.assert_body(200, HELLO);
    let response = server.get("echostatic.test", "/no/such/file?q=1");
    response.assert_status(200);
    let environ = response.json();
    assert_eq!(environ["PATH_INFO"], "/no/such/file");
    assert_eq!(environ["QUERY_STRING"], "q=1");
    // A non-GET to an existing file is the app's to answer.
    let response = server.post("echostatic.test", "/hello.txt", "", b"");
    response.assert_status(200);
    assert_eq!(response.json()["REQUEST_METHOD"], "POST");
}

#[test]
fn static_dot_files_are_404_and_well_known_is_served() {
    let server = files_server();
    for path in [
        "/.git/config",
        "/.git/",
        "/.env",
        "/.htaccess",
        "/%2eenv",
        "/.well-known/.env",
    ] {
        let response = server.get("files.test", path);
        response
            .assert_status(404)
            .assert_lacks("hunter2")
            .assert_lacks("secret git");
    }
    let response = server.get("files.test", "/.well-known/x");
    response.assert_body(200, "well known\n");
}

#[test]
fn static_file_has_validators_type_and_length() {
    let server = files_server();
    let response = server.get("files.test", "/hello.txt");
    response.assert_body(200, HELLO);
    response.assert_header("content-type", Some("text/plain; charset=utf-8"));
    response.assert_header("content-length", Some("13"));
    response.assert_header("accept-ranges", Some("bytes"));
    let etag = response.header("etag").expect("an ETag");
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    assert!(response.header("last-modified").is_some());
    assert!(response.header("date").is_some());
}

#[test]
fn static_mime_types_have_charset_only_for_text() {
    let server = files_server();
    for (path, expected) in [
        ("/style.css", "text/css; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/", "text/html; charset=utf-8"),
        ("/image.png", "image/png"),
        ("/big.bin", "application/octet-stream"),
    ] {
        let response = server.get("files.test", path);
        response.assert_status(200);
        response.assert_header("content-type", Some(expected));
    }
}

#[test]
fn static_if_none_match_gives_304() {
    let server = files_server();
    let first = server.get("files.test", "/hello.txt");
    let etag = first.header("etag").unwrap().to_owned();
    let response = server.get_with(
        "files.test",
        "/hello.txt",
        &format!("If-None-Match: {etag}\r\n"),
    );
    response.assert_status(304);
    assert!(response.body.is_empty());
    response.assert_header("etag", Some(etag.as_str()));
    response.assert_header("cache-control", Some("max-age=3600"));
    let weak = format!("W/{etag}");
    let response = server.get_with(
        "files.test",
        "/hello.txt",
        &format!("If-None-Match: \"other\", {weak}\r\n"),
    );
    assert_eq!(response.status, 304, "weak comparison");
    let response = server.get_with("files.test", "/hello.txt", "If-None-Match: \"other\"\r\n");
    response.assert_body(200, HELLO);
}

#[test]
fn static_if_modified_since_gives_304() {
    let server = files_server();
    let first = server.get("files.test", "/hello.txt");
    let modified = first.header("last-modified").unwrap().to_owned();
    let response = server.get_with(
        "files.test",
        "/hello.txt",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    response.assert_status(304);
    assert!(response.body.is_empty());
    let response = server.get_with(
        "files.test",
        "/hello.txt",
        "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n",
    );
    response.assert_status(200);
    // If-None-Match wins over If-Modified-Since.
    let response = server.get_with(
        "files.test",
        "/hello.txt",
        &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n"),
    );
    response.assert_status(200);
}

#[test]
fn static_single_range_is_206() {
    let server = files_server();
    let response = server.get_with("files.test", "/digits.txt", "Range: bytes=2-5\r\n");
    response.assert_body(206, "2345");
    response.assert_header("content-range", Some("bytes 2-5/36"));
    response.assert_header("content-length", Some("4"));
    let response = server.get_with("files.test", "/digits.txt", "Range: bytes=-3\r\n");
    response.assert_body(206, "xyz");
    let response = server.get_with("files.test", "/digits.txt", "Range: bytes=30-\r\n");
    response.assert_body(206, "uvwxyz");
    response.assert_header("content-range", Some("bytes 30-35/36"));
}

#[test]
fn static_multiple_ranges_are_multipart() {
    let server = files_server();
    let response = server.get_with("files.test", "/digits.txt", "Range: bytes=0-1, 10-12\r\n");
    response.assert_status(206);
    let content_type = response.header("content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    let body = response.text();
    assert_eq!(
        body,
        format!(
            "\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 0-1/36\r\n\r\n01\
             \r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Range: bytes 10-12/36\r\n\r\nabc\
             \r\n--{boundary}--\r\n"
        )
    );
    response.assert_header("content-length", Some(body.len().to_string().as_str()));
}

#[test]
fn static_overlapping_ranges_are_coalesced() {
    let server = files_server();
    let response = server.get_with(
        "files.test",
        "/digits.txt",
        "Range: bytes=0-4, 3-7, 8-9\r\n",
    );
    response.assert_body(206, "0123456789");
    response.assert_header("content-range", Some("bytes 0-9/36"));
}

#[test]
fn static_unsatisfiable_range_is_416() {
    let server = files_server();
    let response = server.get_with("files.test", "/digits.txt", "Range: bytes=100-200\r\n");
    response
        .assert_status(416)
        .assert_header("content-range", Some("bytes */36"))
        .assert_lacks("0123");
    // A malformed header is ignored: the whole file.
    let response = server.get_with("files.test", "/digits.txt", "Range: lines=1-2\r\n");
    response.assert_body(200, DIGITS);
}

#[test]
fn static_ranges_off_serves_the_whole_file() {
    let server = files_server();
    let response = server.get_with("noranges.test", "/digits.txt", "Range: bytes=2-5\r\n");
    response.assert_body(200, DIGITS);
    response.assert_header("content-range", None);
    assert_ne!(response.header("accept-ranges"), Some("bytes"));
    assert_eq!(
        response.header("cache-control"),
        None,
        "no `expires` on this site"
    );
}

#[test]
fn static_head_has_headers_and_no_body() {
    let server = files_server();
    let response = server.request(
        "HEAD /hello.txt HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n",
        b"",
    );
    response.assert_status(200);
    response.assert_header("content-length", Some("13"));
    response.assert_header("content-type", Some("text/plain; charset=utf-8"));
    assert!(response.header("etag").is_some());
    // Nothing follows the head: the next bytes on the connection would be a new response.
    let raw = server
        .exchange(b"HEAD /hello.txt HTTP/1.1\r\nHost: files.test\r\nConnection: close\r\n\r\n");
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.ends_with("\r\n\r\n") && !text.contains(HELLO),
        "{text:?}"
    );
}

#[test]
fn static_precompressed_sibling_follows_accept_encoding() {
    let server = files_server();
    let cases = [
        (
            "Accept-Encoding: gzip, br\r\n",
            "BROTLI-BYTES-OF-PAGE",
            Some("br"),
        ),
        (
            "Accept-Encoding: gzip\r\n",
            "GZIP-BYTES-OF-PAGE",
            Some("gzip"),
        ),
        (
            "Accept-Encoding: br;q=0.5, gzip\r\n",
            "GZIP-BYTES-OF-PAGE",
            Some("gzip"),
        ),
        (
            "Accept-Encoding: br;q=0, gzip;q=0\r\n",
            "<p>plain page</p>\n",
            None,
        ),
        ("", "<p>plain page</p>\n", None),
    ];
    let mut etags = Vec::new();
    for (header, body, coding) in cases {
        let response = server.get_with("files.test", "/page.html", header);
        response.assert_body(200, body);
        response.assert_header("content-encoding", coding);
        assert!(
            response
                .header("vary")
                .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
            "{header:?}"
        );
        response.assert_header("content-type", Some("text/html; charset=utf-8"));
        etags.push(response.header("etag").unwrap().to_owned());
    }
    assert_ne!(etags[0], etags[1], "each representation has its own ETag");
    assert_ne!(etags[1], etags[4]);
    // Only a .gz sibling: a br-only client gets the original, still with Vary.
    let response = server.get_with("files.test", "/only-gz.js", "Accept-Encoding: br\r\n");
    assert_eq!(response.text(), "console.log(1)\n");
    assert!(response
        .header("vary")
        .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")));
    // No sibling at all: the original, still with Vary (precompressed is on, as nginx's
    // gzip_vary), so a cache keys every answer of this site on Accept-Encoding.
    let response = server.get_with("files.test", "/hello.txt", "Accept-Encoding: gzip, br\r\n");
    assert!(response
        .header("vary")
        .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")));
    response.assert_header("content-encoding", None);
}

#[test]
fn static_expires_sets_cache_control_and_expires() {
    let server = files_server();
    let response = server.get("files.test", "/hello.txt");
    response.assert_header("cache-control", Some("max-age=3600"));
    let expires = httpdate::parse_http_date(response.header("expires").expect("Expires")).unwrap();
    let date = httpdate::parse_http_date(response.header("date").unwrap()).unwrap();
    let ahead = expires.duration_since(date).unwrap().as_secs();
    assert!(
        (3595..=3605).contains(&ahead),
        "Expires is {ahead} s after Date"
    );
}

#[test]
fn static_symlink_inside_root_is_followed_unless_disabled() {
    let server = files_server();
    let response = server.get("files.test", "/alias.txt");
    response.assert_body(200, HELLO);
    let response = server.get("nosym.test", "/alias.txt");
    response.assert_status(403).assert_lacks("hello");
    let response = server.get("nosym.test", "/linkdir/");
    response.assert_status(403);
    let response = server.get("nosym.test", "/hello.txt");
    response.assert_body(200, HELLO);
    let response = server.get("nosym.test", "/real/");
    response.assert_body(200, "real dir\n");
}

#[test]
fn static_directory_redirects_then_serves_its_index() {
    let server = files_server();
    let response = server.get("files.test", "/sub?x=1");
    response.assert_status(301);
    response.assert_header("location", Some("/sub/"));
    let response = server.get("files.test", "/sub/");
    response.assert_body(200, "sub index\n");
    let response = server.get("files.test", "/");
    response.assert_body(200, "site files\n");
    // `//evil.example` must never become a protocol-relative redirect.
    layout_free_redirect_check(&server);
}

fn layout_free_redirect_check(server: &Server) {
    let response = server.get("files.test", "//sub");
    response.assert_status(301);
    response.assert_header("location", Some("/sub/"));
}

#[test]
fn static_only_site_answers_404_for_missing_paths() {
    let server = files_server();
    for path in ["/nope.txt", "/empty-dir/", "/hello.txt/", "/sub/nope"] {
        let response = server.get("files.test", path);
        response.assert_status(404);
    }
    // No listing for a folder without an index.
    server
        .get("files.test", "/empty-dir/")
        .assert_lacks("readme");
    // Other methods on a static-only site: nothing to run them.
    let response = server.post("files.test", "/hello.txt", "", b"");
    response.assert_status(404);
}

#[test]
fn static_app_only_site_goes_straight_to_the_app() {
    let server = Server::start(&["echo"]);
    let response = server.get("echo.test", "/index.html");
    response.assert_status(200);
    assert_eq!(response.json()["PATH_INFO"], "/index.html");
    // Without a static root there is no dot-file rule either: the app decides.
    let response = server.get("echo.test", "/.well-known/x");
    assert_eq!(response.json()["PATH_INFO"], "/.well-known/x");
}

#[test]
fn static_large_file_is_streamed_whole() {
    let server = files_server();
    let response = server.get("files.test", "/big.bin");
    response.assert_status(200);
    response.assert_header("content-length", Some(BIG.to_string().as_str()));
    assert_eq!(response.body.len(), BIG);
    assert!(response.body == big_body(), "the bytes differ");
    // A range deep inside it.
    let start = BIG - 100_000;
    let response = server.get_with(
        "files.test",
        "/big.bin",
        &format!("Range: bytes={start}-\r\n"),
    );
    response.assert_status(206);
    assert!(response.body[..] == big_body()[start..]);
}
