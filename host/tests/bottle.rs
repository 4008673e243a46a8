//! The Bottle example site (`sites/bottle`) driven over real HTTP: `static_file` through the
//! app (validators, 304s, ranges, 416), SimpleTemplate pages, the contact form and the JSON
//! route.

use crate::common::{fixture, Response, Server};

const HOST: &str = "bottle.localhost";

fn start() -> Server {
    Server::start(&["bottle"])
}

fn post(server: &Server, path: &str, content_type: &str, body: &[u8]) -> Response {
    server.post(
        HOST,
        path,
        &format!("Content-Type: {content_type}\r\n"),
        body,
    )
}

fn site_file(name: &str) -> Vec<u8> {
    std::fs::read(fixture("bottle").join("files").join(name)).unwrap()
}

#[test]
fn bottle_static_file_validators_and_304() {
    let server = start();
    let file = site_file("ranges.txt");
    let path = "/files/ranges.txt";
    let whole = server.get_ok(HOST, path);
    assert_eq!(whole.body, file);
    whole.assert_header("content-type", Some("text/plain; charset=UTF-8"));
    whole.assert_header("accept-ranges", Some("bytes"));
    let etag = whole.header("etag").expect("an ETag").to_owned();
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "a quoted entity tag: {etag}"
    );
    let modified = whole
        .header("last-modified")
        .expect("a Last-Modified")
        .to_owned();
    assert!(modified.ends_with(" GMT"), "{modified}");

    let fresh = server.get_with(HOST, path, &format!("If-None-Match: {etag}\r\n"));
    fresh.assert_status(304);
    assert!(fresh.body.is_empty());
    fresh.assert_header("etag", Some(etag.as_str()));
    let fresh = server.get_with(HOST, path, &format!("If-Modified-Since: {modified}\r\n"));
    fresh.assert_status(304);

    let other = server.get_with(HOST, path, "If-None-Match: \"some-other-version\"\r\n");
    other.assert_status(200);
    assert_eq!(other.body, file);
    let old = server.get_with(
        HOST,
        path,
        "If-Modified-Since: Thu, 01 Jan 1998 00:00:00 GMT\r\n",
    );
    old.assert_status(200);
    assert_eq!(old.body, file);

    let svg = server.get_ok(HOST, "/files/bottle.svg");
    svg.assert_header("content-type", Some("image/svg+xml"));
    assert_eq!(svg.body, site_file("bottle.svg"));
    assert_ne!(svg.header("etag"), Some(etag.as_str()), "one tag per file");

    let download = server.get_ok(HOST, "/files/bottle.svg?download=1");
    download.assert_header(
        "content-disposition",
        Some("attachment; filename=\"bottle.svg\""),
    );
}

#[test]
fn bottle_static_file_ranges_and_416() {
    let server = start();
    let file = site_file("ranges.txt");
    let len = file.len();
    let path = "/files/ranges.txt";

    let first = server.get_with(HOST, path, "Range: bytes=0-19\r\n");
    first.assert_status(206);
    first.assert_header("content-range", Some(format!("bytes 0-19/{len}").as_str()));
    first.assert_header("content-length", Some("20"));
    assert_eq!(first.body, file[..20]);

    let middle = server.get_with(HOST, path, "Range: bytes=100-299\r\n");
    middle.assert_status(206);
    middle.assert_header(
        "content-range",
        Some(format!("bytes 100-299/{len}").as_str()),
    );
    assert_eq!(middle.body, file[100..300]);

    let tail = server.get_with(HOST, path, "Range: bytes=-50\r\n");
    tail.assert_status(206);
    tail.assert_header(
        "content-range",
        Some(format!("bytes {}-{}/{len}", len - 50, len - 1).as_str()),
    );
    assert_eq!(tail.body, file[len - 50..]);

    let rest = server.get_with(HOST, path, "Range: bytes=1000-\r\n");
    rest.assert_status(206);
    assert_eq!(rest.body, file[1000..]);

    // An end past the file is cut to the file.
    let long = server.get_with(HOST, path, &format!("Range: bytes=10-{}\r\n", len * 2));
    long.assert_status(206);
    assert_eq!(long.body, file[10..]);

    for unsatisfiable in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 9),
    ] {
        let refused = server.get_with(HOST, path, &format!("Range: {unsatisfiable}\r\n"));
        assert_eq!(refused.status, 416, "{unsatisfiable}");
        assert_eq!(
            refused.header("content-range"),
            Some(format!("bytes */{len}").as_str()),
            "{unsatisfiable}"
        );
    }

    server
        .get(HOST, "/files/no-such-file.txt")
        .assert_status(404);
    server.get(HOST, "/files/.hidden").assert_status(404);
    // The app's own code is not among the files.
    assert_ne!(server.get(HOST, "/files/../app.py").status, 200);
    assert_ne!(server.get(HOST, "/files/%2e%2e/app.py").status, 200);
}

#[test]
fn bottle_template_pages() {
    let server = start();
    let index = server.get_ok(HOST, "/");
    index.assert_header("content-type", Some("text/html; charset=UTF-8"));
    let text = index.text();
    assert!(
        text.contains("<title>Welcome · Bottle on wsgi-wasm</title>"),
        "{text}"
    );
    let size = site_file("ranges.txt").len();
    assert!(
        text.contains(&format!(
            "<a href=\"/files/ranges.txt\">ranges.txt</a> ({size} bytes"
        )),
        "the listing shows the file and its size: {text}"
    );

    let hello = server.get_ok(HOST, "/hello/%3Cb%3EAda");
    assert!(
        hello.text().contains("<h1>Hello, &lt;b&gt;Ada!</h1>"),
        "escaped: {}",
        hello.text()
    );

    // The page's own example link works.
    hello.assert_contains("href=\"/hello/%3Cscript%3E\"");
    assert!(server
        .get_ok(HOST, "/hello/%3Cscript%3E")
        .text()
        .contains("Hello, &lt;script&gt;!"));

    let missing = server.get(HOST, "/no/such/page");
    missing.assert_status(404);
    missing.assert_contains("Nothing lives at <code>/no/such/page</code>");
}

#[test]
fn bottle_contact_form() {
    let server = start();
    let form = server.get_ok(HOST, "/contact");
    form.assert_contains("<form method=\"post\" action=\"/contact\">");

    let sent = post(
        &server,
        "/contact",
        "application/x-www-form-urlencoded",
        b"name=Zo%C3%AB+%3Cadmin%3E&email=zoe%40example.org&message=Hello+from+the+test",
    );
    assert_eq!(sent.status, 200, "{}\n{}", sent.text(), server.log());
    let text = sent.text();
    assert!(
        text.contains("<h1>Thanks, Zoë &lt;admin&gt;!</h1>"),
        "{text}"
    );
    assert!(text.contains("<strong>zoe@example.org</strong>"), "{text}");
    assert!(
        text.contains("<blockquote>Hello from the test</blockquote>"),
        "{text}"
    );

    let refused = post(
        &server,
        "/contact",
        "application/x-www-form-urlencoded",
        b"name=&email=not-an-address&message=",
    );
    refused.assert_status(400);
    let text = refused.text();
    for message in [
        "Please tell us your name.",
        "That does not look like an email address.",
        "Please write a message.",
    ] {
        assert!(text.contains(message), "{message} in {text}");
    }
    assert!(
        text.contains("value=\"not-an-address\""),
        "the form keeps what was typed: {text}"
    );
}

#[test]
fn bottle_json_route() {
    let server = start();
    let counted = post(
        &server,
        "/api/stats",
        "application/json",
        "{\"text\": \"one two\\nthree, four é\"}".as_bytes(),
    );
    counted.assert_status(200);
    counted.assert_header("content-type", Some("application/json"));
    assert_eq!(
        counted.json(),
        serde_json::json!({"characters": 21, "words": 5, "lines": 2})
    );

    let broken = post(&server, "/api/stats", "application/json", b"{\"text\": ");
    broken.assert_status(400);
    assert_eq!(broken.json()["error"], "the body is not valid JSON");
    let wrong = post(&server, "/api/stats", "application/json", b"[1, 2]");
    wrong.assert_status(400);
    assert_eq!(
        wrong.json()["error"],
        "send an object with a \"text\" string"
    );
    let form = post(
        &server,
        "/api/stats",
        "application/x-www-form-urlencoded",
        b"text=hi",
    );
    form.assert_status(415);
    assert!(form.json()["error"].as_str().unwrap().contains("JSON"));
}
