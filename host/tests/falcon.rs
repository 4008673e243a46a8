//! The Falcon example site (`sites/falcon`) driven over real HTTP: a CRUD flow on the book
//! collection with its status codes and JSON error bodies, the custom error handler, and raw
//! uploads framed by length and chunked.

use crate::common;

use crate::common::{noise, Response, Server};
use serde_json::json;
use sha2::{Digest, Sha256};

const HOST: &str = "falcon.localhost";

fn start() -> Server {
    Server::start(&["falcon"])
}

/// Sends `method path` with a JSON `body` (none when empty).
fn send(server: &Server, method: &str, path: &str, body: &str) -> Response {
    let content = if body.is_empty() {
        String::new()
    } else {
        format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        )
    };
    server.request(
        &format!("{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n{content}Connection: close\r\n\r\n"),
        body.as_bytes(),
    )
}

fn assert_json(response: &Response, status: u16) -> serde_json::Value {
    response
        .assert_status(status)
        .assert_header("content-type", Some("application/json"));
    response.json()
}

#[test]
fn falcon_crud_flow_over_json() {
    let server = start();
    let index = assert_json(&server.get(HOST, "/"), 200);
    assert_eq!(index["framework"], "falcon 4.4.0");

    let listed = assert_json(&server.get(HOST, "/books"), 200);
    let before = listed["books"].as_array().unwrap().len();
    assert!(before >= 2, "the collection starts with books: {listed}");

    let created = send(
        &server,
        "POST",
        "/books",
        r#"{"title": "Dune", "author": "Frank Herbert", "year": 1965}"#,
    );
    let book = assert_json(&created, 201);
    let id = book["id"].as_u64().expect("an id");
    created.assert_header("location", Some(format!("/books/{id}").as_str()));
    assert_eq!(
        book,
        json!({"id": id, "title": "Dune", "author": "Frank Herbert", "year": 1965})
    );

    let fetched = assert_json(&server.get(HOST, &format!("/books/{id}")), 200);
    assert_eq!(fetched, book);
    let listed = assert_json(&server.get(HOST, "/books"), 200);
    assert_eq!(listed["books"].as_array().unwrap().len(), before + 1);
    assert!(listed["books"].as_array().unwrap().contains(&book));

    let replaced = send(
        &server,
        "PUT",
        &format!("/books/{id}"),
        r#"{"title": "Dune Messiah", "author": "Frank Herbert"}"#,
    );
    let replaced = assert_json(&replaced, 200);
    assert_eq!(
        replaced,
        json!({"id": id, "title": "Dune Messiah", "author": "Frank Herbert", "year": null})
    );
    assert_eq!(
        assert_json(&server.get(HOST, &format!("/books/{id}")), 200),
        replaced
    );

    let deleted = send(&server, "DELETE", &format!("/books/{id}"), "");
    deleted.assert_status(204);
    assert!(deleted.body.is_empty());

    for (method, body) in [
        ("GET", ""),
        ("DELETE", ""),
        ("PUT", r#"{"title": "T", "author": "A"}"#),
    ] {
        let gone = send(&server, method, &format!("/books/{id}"), body);
        let error = assert_json(&gone, 404);
        assert_eq!(
            error,
            json!({"title": "Book not found", "description": format!("No book has id {id}.")}),
            "{method}"
        );
    }
    let listed = assert_json(&server.get(HOST, "/books"), 200);
    assert_eq!(listed["books"].as_array().unwrap().len(), before);

    // A path no route knows, and a method the resource lacks.
    assert_eq!(
        assert_json(&server.get(HOST, "/authors"), 404)["title"],
        "404 Not Found"
    );
    assert_eq!(
        assert_json(&server.get(HOST, "/books/not-a-number"), 404)["title"],
        "404 Not Found"
    );
    let patch = send(&server, "PATCH", "/books/1", "");
    assert_json(&patch, 405);
    patch.assert_header("allow", Some("DELETE, GET, PUT, OPTIONS"));
}

#[test]
fn falcon_rejects_bad_json_and_invalid_books() {
    let server = start();
    let malformed = send(&server, "POST", "/books", r#"{"title": "#);
    let error = assert_json(&malformed, 400);
    assert_eq!(error["title"], "Invalid JSON");
    assert!(
        error["description"]
            .as_str()
            .unwrap()
            .starts_with("Could not parse JSON body"),
        "{error}"
    );
    let empty = server.request(
        &format!(
            "POST /books HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        b"",
    );
    assert_eq!(assert_json(&empty, 400)["title"], "Invalid JSON");

    // The app's own error handler: 422 with every field's problem.
    let invalid = send(
        &server,
        "POST",
        "/books",
        r#"{"title": " ", "year": "1965", "isbn": "x"}"#,
    );
    assert_eq!(
        assert_json(&invalid, 422),
        json!({"title": "Invalid book", "errors": {
            "title": "required: a non-empty string",
            "author": "required: a non-empty string",
            "year": "a whole number between -3000 and 3000, or leave it out",
            "unknown": "fields not known: isbn",
        }})
    );
    let not_object = send(&server, "PUT", "/books/1", "[1, 2, 3]");
    assert_eq!(
        assert_json(&not_object, 422)["errors"],
        json!({"body": "send a JSON object"})
    );
    // Nothing invalid was stored, and the book that a bad PUT aimed at is unchanged.
    let listed = assert_json(&server.get(HOST, "/books"), 200);
    let books = listed["books"].as_array().unwrap();
    assert!(books.iter().all(|book| book["title"] != " "), "{listed}");
    assert_eq!(
        assert_json(&server.get(HOST, "/books/1"), 200)["title"],
        "The Left Hand of Darkness"
    );
}

/// `body` framed as HTTP/1.1 chunks of uneven sizes.
fn chunked(body: &[u8]) -> Vec<u8> {
    common::chunked(body, &[3, 65536, 1, 9000, 32768])
}

fn assert_upload(response: &Response, server: &Server, data: &[u8], framing: &str) {
    server.assert_status(response, 201);
    let report = response.json();
    assert_eq!(report["size"], data.len(), "{report}");
    assert_eq!(
        report["sha256"],
        hex::encode(Sha256::digest(data)),
        "{report}"
    );
    assert_eq!(report["content_type"], "application/octet-stream");
    assert_eq!(report["framing"], framing, "{report}");
}

#[test]
fn falcon_upload_reads_the_whole_body() {
    let server = start();
    let data = noise(700 * 1024 + 5);
    let sized = server.request(
        &format!(
            "POST /uploads HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            data.len()
        ),
        &data,
    );
    assert_upload(&sized, &server, &data, "content-length");

    let chunked_upload = server.request(
        &format!(
            "POST /uploads HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        ),
        &chunked(&data),
    );
    // A chunked body reaches the app with no CONTENT_LENGTH and wsgi.input_terminated set:
    // bounded_stream would read nothing, so the resource bounds the terminated input itself.
    assert_upload(&chunked_upload, &server, &data, "terminated");

    let nothing = server.request(
        &format!(
            "POST /uploads HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        b"",
    );
    assert_upload(&nothing, &server, b"", "content-length");
}

#[test]
fn falcon_upload_over_the_limit_is_413() {
    let server = start();
    let data = noise(8 * 1024 * 1024 + 1);
    for framing in ["content-length", "chunked"] {
        let (header, body) = if framing == "chunked" {
            ("Transfer-Encoding: chunked".to_owned(), chunked(&data))
        } else {
            (format!("Content-Length: {}", data.len()), data.clone())
        };
        let refused = server.request(
            &format!(
                "POST /uploads HTTP/1.1\r\nHost: {HOST}\r\n\
                 Content-Type: application/octet-stream\r\n{header}\r\nConnection: close\r\n\r\n"
            ),
            &body,
        );
        let error = assert_json(&refused, 413);
        assert_eq!(
            error["description"], "Uploads are limited to 8388608 bytes.",
            "{framing}"
        );
    }
}
