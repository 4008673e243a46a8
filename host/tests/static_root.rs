//! Static roots over real HTTP: confinement (no request ever gets bytes from outside the
//! root), the dot-file rule, conditionals, ranges, precompressed siblings, symlink rules,
//! directories and try_files fallthrough to the app. Edge cases of each step are covered by
//! the unit tests in `src/static_files/tests/`; these check that the pieces are wired up.

mod common;

use common::{Layout, Response, Server};

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

fn get_with(server: &Server, host: &str, path: &str, headers: &str) -> Response {
    server.request(
        &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n"),
        b"",
    )
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
        assert_eq!(response.status, 403, "{path}: {}", response.text());
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
        assert_eq!(response.status, 400, "{path}: {}", response.text());
    }
    // Decoded once only: `%252e%252e` is a literal (missing) name, not a parent folder.
    let response = server.get(
        "files.test",
        "/%252e%252e/%252e%252e/%252e%252e/outside/secret.txt",
    );
    assert_eq!(response.status, 404);
}

#[test]
fn static_escapes_on_a_site_with_an_app_reach_neither_file_nor_app() {
    let layout = Layout::new();
    let site = layout.copy_fixture("echo", "echostatic");
    let toml = std::fs::read_to_string(site.join("site.toml")).unwrap();
    let toml = toml.replace("[\"echo.test\"]", "[\"echostatic.test\"]");
    std::fs::write(
        site.join("site.toml"),
        format!("{toml}\n[static]\nroot = \"public\"\n"),
    )
    .unwrap();
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
        assert_eq!(server.get("echostatic.test", path).status, 403, "{path}");
    }
    for path in ["/../outside/secret.txt", "/..%2foutside", "/a%00"] {
        assert_eq!(server.get("echostatic.test", path).status, 400, "{path}");
    }
    // Dot-files are 404 and never the app's, even though the app answers every other path.
    for path in ["/.env", "/.git/config", "/.htaccess", "/sub/.env"] {
        let response = server.get("echostatic.test", path);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
        assert!(!response.text().contains("hunter2") && !response.text().contains("PATH_INFO"));
    }
    // The static file is served by the root, and a missing path goes to the app.
    let response = server.get("echostatic.test", "/hello.txt");
    assert_eq!((response.status, response.text().as_str()), (200, HELLO));
    let response = server.get("echostatic.test", "/no/such/file?q=1");
    assert_eq!(response.status, 200);
    let environ = response.json();
    assert_eq!(environ["PATH_INFO"], "/no/such/file");
    assert_eq!(environ["QUERY_STRING"], "q=1");
    // A non-GET to an existing file is the app's to answer.
    let response = server.request(
        "POST /hello.txt HTTP/1.1\r\nHost: echostatic.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(response.status, 200);
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
        assert_eq!(response.status, 404, "{path}");
        assert!(!response.text().contains("hunter2") && !response.text().contains("secret git"));
    }
    let response = server.get("files.test", "/.well-known/x");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), "well known\n");
}

#[test]
fn static_file_has_validators_type_and_length() {
    let server = files_server();
    let response = server.get("files.test", "/hello.txt");
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), HELLO);
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(response.header("content-length"), Some("13"));
    assert_eq!(response.header("accept-ranges"), Some("bytes"));
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
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("content-type"), Some(expected), "{path}");
    }
}

#[test]
fn static_if_none_match_gives_304() {
    let server = files_server();
    let first = server.get("files.test", "/hello.txt");
    let etag = first.header("etag").unwrap().to_owned();
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        &format!("If-None-Match: {etag}\r\n"),
    );
    assert_eq!(response.status, 304);
    assert!(response.body.is_empty());
    assert_eq!(response.header("etag"), Some(etag.as_str()));
    assert_eq!(response.header("cache-control"), Some("max-age=3600"));
    let weak = format!("W/{etag}");
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        &format!("If-None-Match: \"other\", {weak}\r\n"),
    );
    assert_eq!(response.status, 304, "weak comparison");
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        "If-None-Match: \"other\"\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), HELLO);
}

#[test]
fn static_if_modified_since_gives_304() {
    let server = files_server();
    let first = server.get("files.test", "/hello.txt");
    let modified = first.header("last-modified").unwrap().to_owned();
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        &format!("If-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(response.status, 304);
    assert!(response.body.is_empty());
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n",
    );
    assert_eq!(response.status, 200);
    // If-None-Match wins over If-Modified-Since.
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        &format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(response.status, 200);
}

#[test]
fn static_single_range_is_206() {
    let server = files_server();
    let response = get_with(&server, "files.test", "/digits.txt", "Range: bytes=2-5\r\n");
    assert_eq!(response.status, 206);
    assert_eq!(response.text(), "2345");
    assert_eq!(response.header("content-range"), Some("bytes 2-5/36"));
    assert_eq!(response.header("content-length"), Some("4"));
    let response = get_with(&server, "files.test", "/digits.txt", "Range: bytes=-3\r\n");
    assert_eq!((response.status, response.text().as_str()), (206, "xyz"));
    let response = get_with(&server, "files.test", "/digits.txt", "Range: bytes=30-\r\n");
    assert_eq!((response.status, response.text().as_str()), (206, "uvwxyz"));
    assert_eq!(response.header("content-range"), Some("bytes 30-35/36"));
}

#[test]
fn static_multiple_ranges_are_multipart() {
    let server = files_server();
    let response = get_with(
        &server,
        "files.test",
        "/digits.txt",
        "Range: bytes=0-1, 10-12\r\n",
    );
    assert_eq!(response.status, 206);
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
    assert_eq!(
        response.header("content-length"),
        Some(body.len().to_string().as_str())
    );
}

#[test]
fn static_overlapping_ranges_are_coalesced() {
    let server = files_server();
    let response = get_with(
        &server,
        "files.test",
        "/digits.txt",
        "Range: bytes=0-4, 3-7, 8-9\r\n",
    );
    assert_eq!(response.status, 206);
    assert_eq!(response.text(), "0123456789");
    assert_eq!(response.header("content-range"), Some("bytes 0-9/36"));
}

#[test]
fn static_unsatisfiable_range_is_416() {
    let server = files_server();
    let response = get_with(
        &server,
        "files.test",
        "/digits.txt",
        "Range: bytes=100-200\r\n",
    );
    assert_eq!(response.status, 416);
    assert_eq!(response.header("content-range"), Some("bytes */36"));
    assert!(!response.text().contains("0123"));
    // A malformed header is ignored: the whole file.
    let response = get_with(&server, "files.test", "/digits.txt", "Range: lines=1-2\r\n");
    assert_eq!((response.status, response.text().as_str()), (200, DIGITS));
}

#[test]
fn static_ranges_off_serves_the_whole_file() {
    let server = files_server();
    let response = get_with(
        &server,
        "noranges.test",
        "/digits.txt",
        "Range: bytes=2-5\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.text(), DIGITS);
    assert_eq!(response.header("content-range"), None);
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
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length"), Some("13"));
    assert_eq!(
        response.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
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
        let response = get_with(&server, "files.test", "/page.html", header);
        assert_eq!(response.status, 200, "{header:?}");
        assert_eq!(response.text(), body, "{header:?}");
        assert_eq!(response.header("content-encoding"), coding, "{header:?}");
        assert!(
            response
                .header("vary")
                .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")),
            "{header:?}"
        );
        assert_eq!(
            response.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        etags.push(response.header("etag").unwrap().to_owned());
    }
    assert_ne!(etags[0], etags[1], "each representation has its own ETag");
    assert_ne!(etags[1], etags[4]);
    // Only a .gz sibling: a br-only client gets the original, still with Vary.
    let response = get_with(
        &server,
        "files.test",
        "/only-gz.js",
        "Accept-Encoding: br\r\n",
    );
    assert_eq!(response.text(), "console.log(1)\n");
    assert!(response
        .header("vary")
        .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")));
    // No sibling at all: the original, still with Vary (precompressed is on, as nginx's
    // gzip_vary), so a cache keys every answer of this site on Accept-Encoding.
    let response = get_with(
        &server,
        "files.test",
        "/hello.txt",
        "Accept-Encoding: gzip, br\r\n",
    );
    assert!(response
        .header("vary")
        .is_some_and(|v| v.eq_ignore_ascii_case("accept-encoding")));
    assert_eq!(response.header("content-encoding"), None);
}

#[test]
fn static_expires_sets_cache_control_and_expires() {
    let server = files_server();
    let response = server.get("files.test", "/hello.txt");
    assert_eq!(response.header("cache-control"), Some("max-age=3600"));
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
    assert_eq!((response.status, response.text().as_str()), (200, HELLO));
    let response = server.get("nosym.test", "/alias.txt");
    assert_eq!(response.status, 403);
    assert!(!response.text().contains("hello"));
    let response = server.get("nosym.test", "/linkdir/");
    assert_eq!(response.status, 403);
    let response = server.get("nosym.test", "/hello.txt");
    assert_eq!((response.status, response.text().as_str()), (200, HELLO));
    let response = server.get("nosym.test", "/real/");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "real dir\n")
    );
}

#[test]
fn static_directory_redirects_then_serves_its_index() {
    let server = files_server();
    let response = server.get("files.test", "/sub?x=1");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/sub/"));
    let response = server.get("files.test", "/sub/");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "sub index\n")
    );
    let response = server.get("files.test", "/");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "site files\n")
    );
    // `//evil.example` must never become a protocol-relative redirect.
    layout_free_redirect_check(&server);
}

fn layout_free_redirect_check(server: &Server) {
    let response = server.get("files.test", "//sub");
    assert_eq!(response.status, 301);
    assert_eq!(response.header("location"), Some("/sub/"));
}

#[test]
fn static_only_site_answers_404_for_missing_paths() {
    let server = files_server();
    for path in ["/nope.txt", "/empty-dir/", "/hello.txt/", "/sub/nope"] {
        let response = server.get("files.test", path);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
    }
    // No listing for a folder without an index.
    assert!(!server
        .get("files.test", "/empty-dir/")
        .text()
        .contains("readme"));
    // Other methods on a static-only site: nothing to run them.
    let response = server.request(
        "POST /hello.txt HTTP/1.1\r\nHost: files.test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        b"",
    );
    assert_eq!(response.status, 404);
}

#[test]
fn static_app_only_site_goes_straight_to_the_app() {
    let server = Server::start(&["echo"]);
    let response = server.get("echo.test", "/index.html");
    assert_eq!(response.status, 200);
    assert_eq!(response.json()["PATH_INFO"], "/index.html");
    // Without a static root there is no dot-file rule either: the app decides.
    let response = server.get("echo.test", "/.well-known/x");
    assert_eq!(response.json()["PATH_INFO"], "/.well-known/x");
}

#[test]
fn static_large_file_is_streamed_whole() {
    let server = files_server();
    let response = server.get("files.test", "/big.bin");
    assert_eq!(response.status, 200);
    assert_eq!(
        response.header("content-length"),
        Some(BIG.to_string().as_str())
    );
    assert_eq!(response.body.len(), BIG);
    assert!(response.body == big_body(), "the bytes differ");
    // A range deep inside it.
    let start = BIG - 100_000;
    let response = get_with(
        &server,
        "files.test",
        "/big.bin",
        &format!("Range: bytes={start}-\r\n"),
    );
    assert_eq!(response.status, 206);
    assert!(response.body[..] == big_body()[start..]);
}
