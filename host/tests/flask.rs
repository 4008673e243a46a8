//! The Flask example site (`sites/flask`) driven over real HTTP: signed-cookie sessions,
//! multipart uploads framed by length and chunked, the upload limit, JSON in and out, and
//! `send_from_directory` with its validators, 304s and byte ranges.

mod common;

use common::{fixture, Response, Server};
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
    server.request(
        &format!(
            "GET {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        ),
        b"",
    )
}

fn post_form(server: &Server, path: &str, cookie: &str, form: &str) -> Response {
    server.request(
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {HOST}\r\nCookie: {cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            form.len()
        ),
        form.as_bytes(),
    )
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
    assert!(first.text().contains("Hello, stranger"), "{}", first.text());
    let set_cookie = first.header("set-cookie").unwrap();
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    assert!(set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    let cookie = session_cookie(&first);

    let second = get_with_cookie(&server, "/session", &cookie);
    assert_eq!(visits(&second), 2, "the counter came back in the cookie");
    let cookie = session_cookie(&second);

    let remembered = post_form(&server, "/session", &cookie, "name=Ada+Lovelace");
    assert_eq!(remembered.status, 303, "{}", remembered.text());
    assert_eq!(remembered.header("location"), Some("/session"));
    let cookie = session_cookie(&remembered);

    let welcome = get_with_cookie(&server, "/session", &cookie);
    assert_eq!(welcome.status, 200);
    assert!(
        welcome.text().contains("Welcome back, Ada Lovelace!"),
        "{}",
        welcome.text()
    );
    assert!(welcome
        .text()
        .contains("We will remember you, Ada Lovelace."));
    assert_eq!(visits(&welcome), 3);
    let cookie = session_cookie(&welcome);

    // An empty name is refused and the session keeps the old one.
    let refused = post_form(&server, "/session", &cookie, "name=+");
    assert_eq!(refused.status, 400);
    assert!(refused.text().contains("Please tell us your name."));
    assert!(refused.text().contains("Welcome back, Ada Lovelace!"));

    let forgotten = post_form(&server, "/session", &cookie, "action=forget");
    assert_eq!(forgotten.status, 303);
    let fresh = get_with_cookie(&server, "/session", &session_cookie(&forgotten));
    assert_eq!(visits(&fresh), 1, "{}", fresh.text());
    assert!(fresh.text().contains("Hello, stranger"));
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
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        visits(&page),
        1,
        "a forged session is replaced by a fresh one"
    );
    assert!(!page.text().contains("Mallory"));
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

/// `len` bytes that do not compress and are the same on every run.
fn noise(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
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

/// `body` framed as HTTP/1.1 chunks of uneven sizes.
fn chunked(body: &[u8]) -> Vec<u8> {
    common::chunked(body, &[1, 4093, 16384, 777, 65536, 10])
}

fn assert_upload_report(response: &Response, server: &Server, data: &[u8]) {
    assert_eq!(
        response.status,
        200,
        "{}\n{}",
        response.text(),
        server.log()
    );
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
    assert!(form.text().contains("enctype=\"multipart/form-data\""));
    // Past Werkzeug's 500 KiB in-memory threshold: Werkzeug spools it to the site's /tmp.
    let data = noise(700 * 1024 + 17);
    let body = multipart(&data);
    let response = server.request(
        &format!(
            "POST /upload HTTP/1.1\r\nHost: {HOST}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        &body,
    );
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
    let response = server.request(
        &format!(
            "POST /upload HTTP/1.1\r\nHost: {HOST}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        &body,
    );
    assert_eq!(response.status, 413, "{}", response.text());
    assert!(
        response
            .text()
            .contains("That upload is larger than 1024 KiB."),
        "{}",
        response.text()
    );
    // A form without a file is a 400 with the reason.
    let empty = format!("--{BOUNDARY}--\r\n");
    let response = server.request(
        &format!(
            "POST /upload HTTP/1.1\r\nHost: {HOST}\r\n\
             Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            empty.len()
        ),
        empty.as_bytes(),
    );
    assert_eq!(response.status, 400);
    assert!(response.text().contains("Choose a file to upload."));
}

fn post_json(server: &Server, content_type: &str, body: &str) -> Response {
    server.request(
        &format!(
            "POST /api/echo HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        ),
        body.as_bytes(),
    )
}

#[test]
fn flask_json_echo_round_trip_and_errors() {
    let server = start();
    let body = r#"{"name": "Zoë", "tags": ["a", "b"], "n": 3}"#;
    let echoed = post_json(&server, "application/json", body);
    assert_eq!(echoed.status, 200, "{}", echoed.text());
    assert_eq!(echoed.header("content-type"), Some("application/json"));
    let json = echoed.json();
    assert_eq!(
        json["received"],
        serde_json::json!({"name": "Zoë", "tags": ["a", "b"], "n": 3})
    );
    assert_eq!(json["type"], "dict");
    assert_eq!(json["bytes"], body.len());

    let broken = post_json(&server, "application/json", r#"{"name": "#);
    assert_eq!(broken.status, 400);
    assert_eq!(broken.json()["error"], "the body is not valid JSON");

    let form = post_json(&server, "application/x-www-form-urlencoded", "a=1");
    assert_eq!(form.status, 415);
    assert!(form.json()["error"].as_str().unwrap().contains("JSON"));

    let info = server.get_ok(HOST, "/api/info");
    assert_eq!(info.json()["python"].as_str().unwrap()[..4], *"3.14");
}

fn get_headers(server: &Server, path: &str, headers: &str) -> Response {
    server.request(
        &format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{headers}Connection: close\r\n\r\n"),
        b"",
    )
}

#[test]
fn flask_send_file_validators_304_and_ranges() {
    let server = start();
    let file = std::fs::read(fixture("flask").join("files/sandbox-notes.txt")).unwrap();
    let path = "/files/sandbox-notes.txt";

    let listing = server.get_ok(HOST, "/files/");
    assert!(
        listing
            .text()
            .contains(&format!("{path}\">sandbox-notes.txt</a>")),
        "{}",
        listing.text()
    );

    let whole = server.get_ok(HOST, path);
    assert_eq!(whole.body, file);
    assert_eq!(
        whole.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(whole.header("accept-ranges"), Some("bytes"));
    let etag = whole.header("etag").expect("an ETag").to_owned();
    let modified = whole
        .header("last-modified")
        .expect("a Last-Modified")
        .to_owned();

    let fresh = get_headers(&server, path, &format!("If-None-Match: {etag}\r\n"));
    assert_eq!(fresh.status, 304);
    assert!(fresh.body.is_empty());
    let fresh = get_headers(&server, path, &format!("If-Modified-Since: {modified}\r\n"));
    assert_eq!(fresh.status, 304);
    let stale = get_headers(&server, path, "If-None-Match: \"another-version\"\r\n");
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, file);

    let range = get_headers(&server, path, "Range: bytes=10-29\r\n");
    assert_eq!(range.status, 206);
    assert_eq!(
        range.header("content-range"),
        Some(format!("bytes 10-29/{}", file.len()).as_str())
    );
    assert_eq!(range.body, file[10..30]);
    let suffix = get_headers(&server, path, "Range: bytes=-100\r\n");
    assert_eq!(suffix.status, 206);
    assert_eq!(suffix.body, file[file.len() - 100..]);

    let beyond = get_headers(
        &server,
        path,
        &format!("Range: bytes={}-\r\n", file.len() + 10),
    );
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", file.len()).as_str())
    );

    // If-Range with a validator that no longer matches: the whole file, never a piece.
    let changed = get_headers(
        &server,
        path,
        "Range: bytes=0-9\r\nIf-Range: \"another-version\"\r\n",
    );
    assert_eq!(changed.status, 200);
    assert_eq!(changed.body, file);
    let same = get_headers(
        &server,
        path,
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!(same.status, 206);
    assert_eq!(same.body, file[..10]);

    let download = server.get_ok(HOST, &format!("{path}?download=1"));
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=sandbox-notes.txt")
    );
    assert_eq!(server.get(HOST, "/files/no-such-file.txt").status, 404);
    // The app's own code is not among the files.
    assert_eq!(server.get(HOST, "/files/../app.py").status, 404);
    assert_eq!(server.get(HOST, "/files/%2e%2e/app.py").status, 404);
}
