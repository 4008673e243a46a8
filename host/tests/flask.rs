//! The Flask example site (`sites/flask`) driven over real HTTP: signed-cookie sessions,
//! multipart uploads framed by length and chunked, the upload limit, JSON in and out, and
//! `send_from_directory` with its validators, 304s and byte ranges.

use crate::common;

use crate::common::{fixture, noise, Response, Server};
use sha2::{Digest, Sha256};

const HOST: &str = "flask.localhost";

fn start() -> Server {
    Server::start(&["flask"])
}

/// The `session=...` pair of a response's `Set-Cookie`, ready to send back.
fn session_cookie(response: &Response) -> String {
    let header = response
        .headers
        .iter()
        .find(|(name, value)| name == "set-cookie" && value.starts_with("session="))
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| panic!("no session cookie in {:?}", response.headers));
    header.split(';').next().unwrap().to_owned()
}

fn get_with_cookie(server: &Server, path: &str, cookie: &str) -> Response {
    server.get_with(HOST, path, &format!("Cookie: {cookie}\r\n"))
}

fn post_form(server: &Server, path: &str, cookie: &str, form: &str) -> Response {
    let headers =
        format!("Cookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n");
    server.post(HOST, path, &headers, form)
}

/// The number the session page shows in `<strong id="visits">`.
fn visits(page: &Response) -> u32 {
    let text = page.text();
    let start = text
        .find("<strong id=\"visits\">")
        .unwrap_or_else(|| panic!("no visit count: {text}"))
        + "<strong id=\"visits\">".len();
    let end = start + text[start..].find('<').unwrap();
    text[start..end].parse().unwrap()
}

#[test]
fn flask_session_counts_visits_and_remembers_a_name() {
    let server = start();
    let first = server.get_ok(HOST, "/session");
    assert_eq!(visits(&first), 1);
    first.assert_contains("Hello, stranger");
    let set_cookie = first.header("set-cookie").unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = session_cookie(&first);

    let second = get_with_cookie(&server, "/session", &cookie);
    assert_eq!(visits(&second), 2, "the counter came back in the cookie");
    let cookie = session_cookie(&second);

    let remembered = post_form(&server, "/session", &cookie, "name=Ada+Lovelace");
    remembered.assert_status(303);
    remembered.assert_header("location", Some("/session"));
    let cookie = session_cookie(&remembered);

    let welcome = get_with_cookie(&server, "/session", &cookie);
    welcome.assert_status(200);
    welcome.assert_contains("Welcome back, Ada Lovelace!");
    welcome.assert_contains("We will remember you, Ada Lovelace.");
    assert_eq!(visits(&welcome), 3);
    let cookie = session_cookie(&welcome);

    // An empty name is refused and the session keeps the old one.
    let refused = post_form(&server, "/session", &cookie, "name=+");
    refused.assert_status(400);
    refused.assert_contains("Please tell us your name.");
    refused.assert_contains("Welcome back, Ada Lovelace!");

    let forgotten = post_form(&server, "/session", &cookie, "action=forget");
    forgotten.assert_status(303);
    let fresh = get_with_cookie(&server, "/session", &session_cookie(&forgotten));
    assert_eq!(visits(&fresh), 1, "{}", fresh.text());
    fresh.assert_contains("Hello, stranger");
}

#[test]
fn flask_session_rejects_a_tampered_cookie() {
    let server = start();
    let mut cookie = session_cookie(&server.get_ok(HOST, "/session"));
    for _ in 0..2 {
        cookie = session_cookie(&get_with_cookie(&server, "/session", &cookie));
    }
    assert_eq!(visits(&get_with_cookie(&server, "/session", &cookie)), 4);

    // `session=<payload>.<timestamp>.<signature>`: put in a payload of our own.
    let value = cookie.strip_prefix("session=").unwrap();
    let (_payload, signed) = value.split_once('.').unwrap();
    let forged_payload = base64url(br#"{"visits":99,"name":"Mallory"}"#);
    let forged = format!("session={forged_payload}.{signed}");
    let page = get_with_cookie(&server, "/session", &forged);
    page.assert_status(200);
    assert_eq!(
        visits(&page),
        1,
        "a forged session is replaced by a fresh one"
    );
    page.assert_lacks("Mallory");
    assert_ne!(
        session_cookie(&page),
        forged,
        "a new cookie replaces the forged one"
    );

    // A flipped bit in the signature is rejected too (the first character of the signature
    // is all signature bits; the last one also holds padding bits a decoder ignores).
    let (signed_part, signature) = value.rsplit_once('.').unwrap();
    let mut signature = signature.to_owned().into_bytes();
    signature[0] = if signature[0] == b'A' { b'B' } else { b'A' };
    let flipped = format!(
        "session={signed_part}.{}",
        String::from_utf8(signature).unwrap()
    );
    assert_eq!(visits(&get_with_cookie(&server, "/session", &flipped)), 1);
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for group in bytes.chunks(3) {
        let n = group
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=group.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

const BOUNDARY: &str = "wsgi-wasm-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart/form-data body with a `note` field and `data` as the file `photo.bin`.
fn multipart(data: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nholiday snaps\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.bin\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// POSTs the multipart/form-data `body` to `/upload`, framed by its length.
fn post_multipart(server: &Server, body: &[u8]) -> Response {
    let headers = format!("Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n");
    server.post(HOST, "/upload", &headers, body)
}

/// `body` framed as HTTP/1.1 chunks of uneven sizes.
fn chunked(body: &[u8]) -> Vec<u8> {
    common::chunked(body, &[1, 4093, 16384, 777, 65536, 10])
}

fn assert_upload_report(response: &Response, server: &Server, data: &[u8]) {
    server.assert_status(response, 200);
    let page = response.text();
    let sha = hex::encode(Sha256::digest(data));
    for expected in [
        format!("<dd id=\"size\">{}</dd>", data.len()),
        format!("<dd id=\"sha256\">{sha}</dd>"),
        "<dd id=\"filename\">photo.bin</dd>".to_owned(),
        "<dd id=\"note\">holiday snaps</dd>".to_owned(),
    ] {
        assert!(page.contains(&expected), "{expected} in:\n{page}");
    }
}

#[test]
fn flask_upload_reports_size_and_checksum() {
    let server = start();
    let form = server.get_ok(HOST, "/upload");
    form.assert_contains("enctype=\"multipart/form-data\"");
    // Past Werkzeug's 500 KiB in-memory threshold: Werkzeug spools it to the site's /tmp.
    let data = noise(700 * 1024 + 17);
    let body = multipart(&data);
    let response = post_multipart(&server, &body);
    assert_upload_report(&response, &server, &data);
}

#[test]
fn flask_upload_chunked_body_is_read_whole() {
    let server = start();
    let data = noise(640 * 1024 + 3);
    let response = server.request(
        &format!(
            "POST /upload HTTP/1.1\r\nHost: {HOST}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ),
        &chunked(&multipart(&data)),
    );
    assert_upload_report(&response, &server, &data);
}

#[test]
fn flask_upload_over_the_limit_is_413() {
    let server = start();
    let body = multipart(&noise(1536 * 1024));
    let response = post_multipart(&server, &body);
    response.assert_status(413);
    response.assert_contains("That upload is larger than 1024 KiB.");
    // A form without a file is a 400 with the reason.
    let empty = format!("--{BOUNDARY}--\r\n");
    let response = post_multipart(&server, empty.as_bytes());
    response.assert_status(400);
    response.assert_contains("Choose a file to upload.");
}

fn post_json(server: &Server, content_type: &str, body: &str) -> Response {
    let headers = format!("Content-Type: {content_type}\r\n");
    server.post(HOST, "/api/echo", &headers, body)
}

#[test]
fn flask_json_echo_round_trip_and_errors() {
    let server = start();
    let body = r#"{"name": "Zoë", "tags": ["a", "b"], "n": 3}"#;
    let echoed = post_json(&server, "application/json", body);
    echoed.assert_status(200);
    echoed.assert_header("content-type", Some("application/json"));
    let json = echoed.json();
    assert_eq!(
        json["received"],
        serde_json::json!({"name": "Zoë", "tags": ["a", "b"], "n": 3})
    );
    assert_eq!(json["type"], "dict");
    assert_eq!(json["bytes"], body.len());

    let broken = post_json(&server, "application/json", r#"{"name": "#);
    broken.assert_status(400);
    assert_eq!(broken.json()["error"], "the body is not valid JSON");

    let form = post_json(&server, "application/x-www-form-urlencoded", "a=1");
    form.assert_status(415);
    assert!(form.json()["error"].as_str().unwrap().contains("JSON"));

    let info = server.get_ok(HOST, "/api/info");
    assert_eq!(info.json()["python"].as_str().unwrap()[..4], *"3.14");
}

#[test]
fn flask_send_file_validators_304_and_ranges() {
    let server = start();
    let file = std::fs::read(fixture("flask").join("files/sandbox-notes.txt")).unwrap();
    let path = "/files/sandbox-notes.txt";

    let listing = server.get_ok(HOST, "/files/");
    listing.assert_contains(&format!("{path}\">sandbox-notes.txt</a>"));

    let whole = server.get_ok(HOST, path);
    assert_eq!(whole.body, file);
    whole.assert_header("content-type", Some("text/plain; charset=utf-8"));
    whole.assert_header("accept-ranges", Some("bytes"));
    let etag = whole.header("etag").expect("an ETag").to_owned();
    let modified = whole
        .header("last-modified")
        .expect("a Last-Modified")
        .to_owned();

    let fresh = server.get_with(HOST, path, &format!("If-None-Match: {etag}\r\n"));
    fresh.assert_status(304);
    assert!(fresh.body.is_empty());
    let fresh = server.get_with(HOST, path, &format!("If-Modified-Since: {modified}\r\n"));
    fresh.assert_status(304);
    let stale = server.get_with(HOST, path, "If-None-Match: \"another-version\"\r\n");
    stale.assert_status(200);
    assert_eq!(stale.body, file);

    let range = server.get_with(HOST, path, "Range: bytes=10-29\r\n");
    range.assert_status(206);
    range.assert_header(
        "content-range",
        Some(format!("bytes 10-29/{}", file.len()).as_str()),
    );
    assert_eq!(range.body, file[10..30]);
    let suffix = server.get_with(HOST, path, "Range: bytes=-100\r\n");
    suffix.assert_status(206);
    assert_eq!(suffix.body, file[file.len() - 100..]);

    let beyond = server.get_with(
        HOST,
        path,
        &format!("Range: bytes={}-\r\n", file.len() + 10),
    );
    beyond.assert_status(416);
    beyond.assert_header(
        "content-range",
        Some(format!("bytes */{}", file.len()).as_str()),
    );

    // If-Range with a validator that no longer matches: the whole file, never a piece.
    let changed = server.get_with(
        HOST,
        path,
        "Range: bytes=0-9\r\nIf-Range: \"another-version\"\r\n",
    );
    changed.assert_status(200);
    assert_eq!(changed.body, file);
    let same = server.get_with(
        HOST,
        path,
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    same.assert_status(206);
    assert_eq!(same.body, file[..10]);

    let download = server.get_ok(HOST, &format!("{path}?download=1"));
    download.assert_header(
        "content-disposition",
        Some("attachment; filename=sandbox-notes.txt"),
    );
    server
        .get(HOST, "/files/no-such-file.txt")
        .assert_status(404);
    // The app's own code is not among the files.
    server.get(HOST, "/files/../app.py").assert_status(404);
    server.get(HOST, "/files/%2e%2e/app.py").assert_status(404);
}
