//! Conditional requests and byte ranges, end to end.

use std::time::Duration;

use http::header::{
    IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE, RANGE,
};
use http::{HeaderName, Method, StatusCode};

use super::*;

async fn get_with(root: &StaticRoot, path: &str, headers: &[(HeaderName, &str)]) -> Got {
    request(root, Method::GET, path, headers).await
}

fn last_modified(fixture: &Fixture, rel: &str) -> std::time::SystemTime {
    std::fs::metadata(fixture.path(rel))
        .unwrap()
        .modified()
        .unwrap()
}

#[tokio::test]
async fn static_conditional_if_none_match() {
    let fixture = Fixture::new();
    let root = fixture.root_with(StaticOptions {
        expires: Some(Duration::from_secs(60)),
        ..StaticOptions::default()
    });
    let etag = expected_etag(&fixture.path("app.js"), None);
    let weak = format!("W/{etag}");
    let listed = format!("\"nope\", {etag}");
    for value in [etag.as_str(), weak.as_str(), "*", listed.as_str()] {
        for method in [Method::GET, Method::HEAD] {
            let (headers, body) = request(&root, method, "/app.js", &[(IF_NONE_MATCH, value)])
                .await
                .expect(StatusCode::NOT_MODIFIED);
            assert!(body.is_empty());
            assert!(headers.get("content-length").is_none(), "{value}");
            assert!(headers.get("content-type").is_none());
            assert_eq!(header(&headers, "etag"), etag);
            assert_eq!(
                header(&headers, "last-modified"),
                httpdate::fmt_http_date(last_modified(&fixture, "app.js"))
            );
            assert_eq!(header(&headers, "cache-control"), "max-age=60");
            assert!(headers.get("expires").is_some());
            assert_eq!(header(&headers, "vary"), "accept-encoding");
        }
    }
    for value in ["\"nope\"", "W/\"nope\"", "garbage"] {
        let (_, body) = get_with(&root, "/app.js", &[(IF_NONE_MATCH, value)])
            .await
            .expect(StatusCode::OK);
        assert_eq!(&body[..], b"console.log('identity');\n");
    }
    // The identity ETag does not match the br representation.
    let (_, body) = get_with(
        &root,
        "/app.js",
        &[
            (IF_NONE_MATCH, &etag),
            (http::header::ACCEPT_ENCODING, "br"),
        ],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(&body[..], b"BR-OF-APP-JS");
}

#[tokio::test]
async fn static_conditional_if_modified_since() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let mtime = last_modified(&fixture, "hello.txt");
    let same = httpdate::fmt_http_date(mtime);
    let newer = httpdate::fmt_http_date(mtime + Duration::from_secs(3600));
    let older = httpdate::fmt_http_date(mtime - Duration::from_secs(3600));
    get_with(&root, "/hello.txt", &[(IF_MODIFIED_SINCE, &same)])
        .await
        .expect(StatusCode::NOT_MODIFIED);
    get_with(&root, "/hello.txt", &[(IF_MODIFIED_SINCE, &newer)])
        .await
        .expect(StatusCode::NOT_MODIFIED);
    let (_, body) = get_with(&root, "/hello.txt", &[(IF_MODIFIED_SINCE, &older)])
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
    get_with(&root, "/hello.txt", &[(IF_MODIFIED_SINCE, "not a date")])
        .await
        .expect(StatusCode::OK);
    // If-None-Match present: If-Modified-Since is ignored.
    let (_, body) = get_with(
        &root,
        "/hello.txt",
        &[(IF_NONE_MATCH, "\"other\""), (IF_MODIFIED_SINCE, &newer)],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
}

#[tokio::test]
async fn static_conditional_precondition_failed() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let etag = expected_etag(&fixture.path("hello.txt"), None);
    let mtime = last_modified(&fixture, "hello.txt");
    let older = httpdate::fmt_http_date(mtime - Duration::from_secs(3600));
    let same = httpdate::fmt_http_date(mtime);
    get_with(&root, "/hello.txt", &[(IF_MATCH, "\"other\"")])
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
    get_with(&root, "/hello.txt", &[(IF_MATCH, &format!("W/{etag}"))])
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
    get_with(&root, "/hello.txt", &[(IF_UNMODIFIED_SINCE, &older)])
        .await
        .expect(StatusCode::PRECONDITION_FAILED);
    let (_, body) = get_with(&root, "/hello.txt", &[(IF_MATCH, &etag)])
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
    get_with(&root, "/hello.txt", &[(IF_MATCH, "*")])
        .await
        .expect(StatusCode::OK);
    get_with(&root, "/hello.txt", &[(IF_UNMODIFIED_SINCE, &same)])
        .await
        .expect(StatusCode::OK);
}

#[tokio::test]
async fn static_range_single_suffix_open_ended() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let data = big();
    let cases: &[(&str, usize, usize)] = &[
        ("bytes=0-99", 0, 99),
        ("bytes=-100", BIG_LEN - 100, BIG_LEN - 1),
        ("bytes=199990-", 199_990, BIG_LEN - 1),
        ("bytes=60000-140000", 60_000, 140_000),
        ("bytes=150000-999999", 150_000, BIG_LEN - 1),
        ("bytes=-999999", 0, BIG_LEN - 1),
        ("bytes=5-5", 5, 5),
    ];
    for &(range, first, last) in cases {
        let (headers, body) = get_with(&root, "/big.bin", &[(RANGE, range)])
            .await
            .expect(StatusCode::PARTIAL_CONTENT);
        assert_eq!(&body[..], &data[first..=last], "{range}");
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes {first}-{last}/{BIG_LEN}")
        );
        assert_eq!(
            header(&headers, "content-length"),
            (last - first + 1).to_string()
        );
        assert_eq!(header(&headers, "content-type"), "application/octet-stream");
        assert_eq!(header(&headers, "accept-ranges"), "bytes");
    }
}

/// Splits a multipart/byteranges body into (Content-Range, bytes) parts, strictly.
fn parse_multipart(body: &[u8], boundary: &str, part_type: &str) -> Vec<(String, Vec<u8>)> {
    let mut parts = Vec::new();
    let mut rest = body;
    loop {
        let delimiter = format!("\r\n--{boundary}");
        assert!(rest.starts_with(delimiter.as_bytes()), "missing delimiter");
        rest = &rest[delimiter.len()..];
        if rest == b"--\r\n" {
            return parts;
        }
        let head_end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("part head");
        let head = std::str::from_utf8(&rest[..head_end]).unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(
            lines[0], "",
            "delimiter line must end right after the boundary"
        );
        assert_eq!(lines[1], format!("Content-Type: {part_type}"));
        let range = lines[2]
            .strip_prefix("Content-Range: bytes ")
            .expect("content-range")
            .to_owned();
        assert_eq!(lines.len(), 3);
        rest = &rest[head_end + 4..];
        let (span, total) = range.split_once('/').unwrap();
        assert_eq!(total, BIG_LEN.to_string());
        let (a, b) = span.split_once('-').unwrap();
        let len = b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1;
        parts.push((range.clone(), rest[..len].to_vec()));
        rest = &rest[len..];
    }
}

#[tokio::test]
async fn static_range_multiple_and_overlapping() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let data = big();
    let (headers, body) = get_with(&root, "/big.bin", &[(RANGE, "bytes=100-109, 0-9,-5")])
        .await
        .expect(StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(&headers, "content-length"), body.len().to_string());
    assert!(headers.get("content-range").is_none());
    let content_type = header(&headers, "content-type");
    let boundary = content_type
        .strip_prefix("multipart/byteranges; boundary=")
        .expect(content_type);
    assert_eq!(boundary.len(), 32);
    let parts = parse_multipart(&body, boundary, "application/octet-stream");
    let expected = [(0, 9), (100, 109), (BIG_LEN - 5, BIG_LEN - 1)];
    assert_eq!(parts.len(), expected.len());
    for ((range, bytes), (first, last)) in parts.iter().zip(expected) {
        assert_eq!(range, &format!("{first}-{last}/{BIG_LEN}"));
        assert_eq!(&bytes[..], &data[first..=last]);
    }
    // Overlapping and adjacent ranges are coalesced into one part.
    let (headers, body) = get_with(&root, "/big.bin", &[(RANGE, "bytes=0-99,50-149,150-159")])
        .await
        .expect(StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 0-159/{BIG_LEN}")
    );
    assert_eq!(&body[..], &data[..160]);
    // Many overlapping whole-file ranges cannot multiply the response.
    let (headers, body) = get_with(
        &root,
        "/big.bin",
        &[(RANGE, "bytes=0-,0-,0-,0-,0-,0-,0-,0-")],
    )
    .await
    .expect(StatusCode::PARTIAL_CONTENT);
    assert_eq!(body.len(), BIG_LEN);
    assert_eq!(
        header(&headers, "content-range"),
        format!("bytes 0-{}/{BIG_LEN}", BIG_LEN - 1)
    );
    // More than 16 ranges: the header is ignored and the whole file sent.
    let many: Vec<String> = (0..17).map(|i| format!("{}-{}", i * 10, i * 10)).collect();
    let (headers, body) = get_with(
        &root,
        "/big.bin",
        &[(RANGE, &format!("bytes={}", many.join(",")))],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(body.len(), BIG_LEN);
    assert!(headers.get("content-range").is_none());
}

#[tokio::test]
async fn static_range_unsatisfiable_malformed_and_disabled() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    for range in [
        "bytes=200000-",
        "bytes=300000-400000",
        "bytes=999999-,200001-200002",
    ] {
        let (headers, _) = get_with(&root, "/big.bin", &[(RANGE, range)])
            .await
            .expect(StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(
            header(&headers, "content-range"),
            format!("bytes */{BIG_LEN}"),
            "{range}"
        );
    }
    let (headers, _) = get_with(&root, "/empty.txt", &[(RANGE, "bytes=0-")])
        .await
        .expect(StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(&headers, "content-range"), "bytes */0");
    for range in [
        "bytes=abc",
        "bytes=5-1",
        "lines=0-5",
        "bytes= 0-5",
        "bytes=0-5;x",
        "bytes=--5",
    ] {
        let (headers, body) = get_with(&root, "/big.bin", &[(RANGE, range)])
            .await
            .expect(StatusCode::OK);
        assert_eq!(body.len(), BIG_LEN, "{range}");
        assert!(headers.get("content-range").is_none());
    }
    let off = fixture.root_with(StaticOptions {
        allow_ranges: false,
        ..StaticOptions::default()
    });
    let (headers, body) = get_with(&off, "/big.bin", &[(RANGE, "bytes=0-9")])
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], &big()[..]);
    assert!(headers.get("accept-ranges").is_none());
    assert!(headers.get("content-range").is_none());
    let (headers, _) = get_with(&off, "/big.bin", &[(RANGE, "bytes=999999-")])
        .await
        .expect(StatusCode::OK);
    assert!(headers.get("accept-ranges").is_none());
}

#[tokio::test]
async fn static_if_range_governs_range() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let etag = expected_etag(&fixture.path("big.bin"), None);
    let date = httpdate::fmt_http_date(last_modified(&fixture, "big.bin"));
    let older =
        httpdate::fmt_http_date(last_modified(&fixture, "big.bin") - Duration::from_secs(10));
    let range = (RANGE, "bytes=0-3");
    for matching in [etag.as_str(), date.as_str()] {
        let (_, body) = get_with(&root, "/big.bin", &[range.clone(), (IF_RANGE, matching)])
            .await
            .expect(StatusCode::PARTIAL_CONTENT);
        assert_eq!(&body[..], &[0, 1, 2, 3]);
    }
    let weak = format!("W/{etag}");
    for stale in ["\"stale\"", weak.as_str(), older.as_str(), "junk"] {
        let (headers, body) = get_with(&root, "/big.bin", &[range.clone(), (IF_RANGE, stale)])
            .await
            .expect(StatusCode::OK);
        assert_eq!(body.len(), BIG_LEN, "{stale}");
        assert!(headers.get("content-range").is_none());
    }
    // If-Range without Range changes nothing; a stale If-Range also skips the 416.
    get_with(&root, "/big.bin", &[(IF_RANGE, "\"stale\"")])
        .await
        .expect(StatusCode::OK);
    get_with(
        &root,
        "/big.bin",
        &[(RANGE, "bytes=999999-"), (IF_RANGE, "\"stale\"")],
    )
    .await
    .expect(StatusCode::OK);
}
