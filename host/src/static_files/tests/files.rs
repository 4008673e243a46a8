//! Plain serving: headers, MIME types, directories and index files, precompressed
//! siblings, HEAD, caching, streaming.

use std::time::{Duration, SystemTime};

use http::header::{ACCEPT_ENCODING, RANGE};
use http::{Method, StatusCode};

use super::*;

#[tokio::test]
async fn static_plain_file_headers() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let (headers, body) = get(&root, "/hello.txt").await.expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
    assert_eq!(
        header(&headers, "content-type"),
        "text/plain; charset=utf-8"
    );
    assert_eq!(header(&headers, "content-length"), HELLO.len().to_string());
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(
        header(&headers, "etag"),
        expected_etag(&fixture.path("hello.txt"), None)
    );
    let mtime = std::fs::metadata(fixture.path("hello.txt"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        header(&headers, "last-modified"),
        httpdate::fmt_http_date(mtime)
    );
    let mut names: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "accept-ranges",
            "content-length",
            "content-type",
            "etag",
            "last-modified",
            // `precompressed` is on by default: Vary even without a sibling (gzip_vary).
            "vary"
        ]
    );

    let (headers, body) = get(&root, "/empty.txt").await.expect(StatusCode::OK);
    assert!(body.is_empty());
    assert_eq!(header(&headers, "content-length"), "0");
}

#[tokio::test]
async fn static_mime_types_and_charset() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let cases = [
        ("/hello.txt", "text/plain; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json; charset=utf-8"),
        ("/pic.svg", "image/svg+xml; charset=utf-8"),
        ("/sub/page.html", "text/html; charset=utf-8"),
        ("/img.png", "image/png"),
        ("/blob.zzzunknown", "application/octet-stream"),
        ("/big.bin", "application/octet-stream"),
        ("/app.js.gz", "application/gzip"),
    ];
    for (path, expected) in cases {
        let (headers, _) = get(&root, path).await.expect(StatusCode::OK);
        assert_eq!(header(&headers, "content-type"), expected, "{path}");
    }
    assert_eq!(reply_type("x.mjs"), "application/javascript; charset=utf-8");
    assert_eq!(reply_type("feed.xml"), "text/xml; charset=utf-8");
    assert_eq!(reply_type("x.wasm"), "application/wasm");
}

fn reply_type(name: &str) -> String {
    super::super::reply::content_type(Path::new(name))
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn static_directory_redirect_and_index() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let (headers, _) = get(&root, "/sub")
        .await
        .expect(StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&headers, "location"), "/sub/");
    let (headers, body) = request(&root, Method::HEAD, "/sub", &[])
        .await
        .expect(StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&headers, "location"), "/sub/");
    assert!(body.is_empty());
    // The Location is rebuilt from the sanitised path: never protocol-relative.
    let (headers, _) = get(&root, "//sub")
        .await
        .expect(StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&headers, "location"), "/sub/");
    let (headers, _) = get(&root, "/./sub")
        .await
        .expect(StatusCode::MOVED_PERMANENTLY);
    assert_eq!(header(&headers, "location"), "/sub/");

    let (headers, body) = get(&root, "/sub/").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"<p>sub index</p>");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    assert_eq!(
        header(&headers, "etag"),
        expected_etag(&fixture.path("sub/index.html"), None)
    );
    get(&root, "/emptydir/").await.expect_app();
    get(&root, "/emptydir")
        .await
        .expect(StatusCode::MOVED_PERMANENTLY);

    let (_, body) = get(&root, "/custom/").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"index page");
    let ordered = fixture.root_with(StaticOptions {
        index: vec![
            "missing.html".into(),
            "default.htm".into(),
            "index.html".into(),
        ],
        ..StaticOptions::default()
    });
    let (_, body) = get(&ordered, "/custom/").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"default page");
    // A directory named like an index file is skipped.
    std::fs::create_dir(fixture.path("emptydir/index.html")).unwrap();
    get(&root, "/emptydir/").await.expect_app();
}

#[tokio::test]
async fn static_precompressed_selection() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let cases: &[(&str, &[u8], Option<&str>)] = &[
        ("br, gzip", b"BR-OF-APP-JS", Some("br")),
        ("gzip, br", b"BR-OF-APP-JS", Some("br")),
        ("gzip;q=0.5, br;q=0.8", b"BR-OF-APP-JS", Some("br")),
        ("br;q=0.1, gzip;q=0.9", b"GZ-OF-APP-JS!", Some("gzip")),
        ("br;q=0, gzip", b"GZ-OF-APP-JS!", Some("gzip")),
        ("gzip", b"GZ-OF-APP-JS!", Some("gzip")),
        ("br;q=0, gzip;q=0", b"console.log('identity');\n", None),
        ("identity", b"console.log('identity');\n", None),
        ("deflate", b"console.log('identity');\n", None),
        ("*", b"BR-OF-APP-JS", Some("br")),
    ];
    for &(accept, expected, coding) in cases {
        let (headers, body) = request(&root, Method::GET, "/app.js", &[(ACCEPT_ENCODING, accept)])
            .await
            .expect(StatusCode::OK);
        assert_eq!(&body[..], expected, "{accept}");
        assert_eq!(
            headers.get("content-encoding").map(|v| v.to_str().unwrap()),
            coding,
            "{accept}"
        );
        assert_eq!(header(&headers, "vary"), "accept-encoding", "{accept}");
        assert_eq!(
            header(&headers, "content-type"),
            "text/javascript; charset=utf-8",
            "{accept}"
        );
        assert_eq!(
            header(&headers, "content-length"),
            expected.len().to_string(),
            "{accept}"
        );
        let (file, suffix) = match coding {
            Some("br") => ("app.js.br", Some("br")),
            Some(_) => ("app.js.gz", Some("gz")),
            None => ("app.js", None),
        };
        assert_eq!(
            header(&headers, "etag"),
            expected_etag(&fixture.path(file), suffix),
            "{accept}"
        );
    }
    // No Accept-Encoding: identity, but still Vary since siblings exist.
    let (headers, body) = get(&root, "/app.js").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"console.log('identity');\n");
    assert_eq!(header(&headers, "vary"), "accept-encoding");
    // Only a .gz sibling: a br-only client gets identity (with Vary).
    let (headers, body) = request(&root, Method::GET, "/style.css", &[(ACCEPT_ENCODING, "br")])
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], b"body { color: red }\n");
    assert!(headers.get("content-encoding").is_none());
    assert_eq!(header(&headers, "vary"), "accept-encoding");
    // No siblings: identity, still with Vary (as nginx's gzip_vary: precompressed is on).
    let (headers, _) = request(
        &root,
        Method::GET,
        "/hello.txt",
        &[(ACCEPT_ENCODING, "br, gzip")],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(header(&headers, "vary"), "accept-encoding");
    assert!(headers.get("content-encoding").is_none());
    // Index files get their siblings too.
    std::fs::write(fixture.path("sub/index.html.gz"), b"GZ-INDEX").unwrap();
    let (headers, body) = request(&root, Method::GET, "/sub/", &[(ACCEPT_ENCODING, "gzip")])
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], b"GZ-INDEX");
    assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
    // Option off: identity, no Vary.
    let plain = fixture.root_with(StaticOptions {
        precompressed: false,
        ..StaticOptions::default()
    });
    let (headers, body) = request(
        &plain,
        Method::GET,
        "/app.js",
        &[(ACCEPT_ENCODING, "br, gzip")],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(&body[..], b"console.log('identity');\n");
    assert!(headers.get("vary").is_none());
    assert!(headers.get("content-encoding").is_none());
}

#[tokio::test]
async fn static_precompressed_ranges_apply_to_encoded_bytes() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let (headers, body) = request(
        &root,
        Method::GET,
        "/app.js",
        &[(ACCEPT_ENCODING, "br"), (RANGE, "bytes=3-5")],
    )
    .await
    .expect(StatusCode::PARTIAL_CONTENT);
    assert_eq!(&body[..], b"OF-");
    assert_eq!(header(&headers, "content-range"), "bytes 3-5/12");
    assert_eq!(header(&headers, "content-encoding"), "br");
    assert_eq!(
        header(&headers, "content-type"),
        "text/javascript; charset=utf-8"
    );
    // An If-Range naming the identity representation does not validate the br one.
    let identity = expected_etag(&fixture.path("app.js"), None);
    let (headers, body) = request(
        &root,
        Method::GET,
        "/app.js",
        &[
            (ACCEPT_ENCODING, "br"),
            (RANGE, "bytes=3-5"),
            (http::header::IF_RANGE, &identity),
        ],
    )
    .await
    .expect(StatusCode::OK);
    assert_eq!(&body[..], b"BR-OF-APP-JS");
    assert!(headers.get("content-range").is_none());
}

#[tokio::test]
async fn static_head_matches_get() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    for (path, extra) in [
        ("/big.bin", vec![]),
        ("/app.js", vec![(ACCEPT_ENCODING, "gzip")]),
        ("/big.bin", vec![(RANGE, "bytes=10-19")]),
        ("/big.bin", vec![(RANGE, "bytes=0-0,10-19")]),
        ("/big.bin", vec![(RANGE, "bytes=999999-")]),
    ] {
        let (get_status, get_headers, get_body) =
            request(&root, Method::GET, path, &extra).await.resp();
        let (head_status, head_headers, head_body) =
            request(&root, Method::HEAD, path, &extra).await.resp();
        assert_eq!(get_status, head_status);
        assert!(head_body.is_empty());
        assert_eq!(
            header(&head_headers, "content-length"),
            get_body.len().to_string(),
            "{path} {extra:?}"
        );
        for (name, value) in &get_headers {
            if name == "content-type" && value.to_str().unwrap().starts_with("multipart/") {
                continue; // the boundary is random per response
            }
            if name != "expires" {
                assert_eq!(
                    head_headers.get(name),
                    Some(value),
                    "{name} for {path} {extra:?}"
                );
            }
        }
        assert_eq!(get_headers.len(), head_headers.len());
    }
}

#[tokio::test]
async fn static_expires_sets_cache_headers() {
    let fixture = Fixture::new();
    let root = fixture.root_with(StaticOptions {
        expires: Some(Duration::from_secs(3600)),
        ..StaticOptions::default()
    });
    let before = SystemTime::now();
    let (headers, _) = get(&root, "/hello.txt").await.expect(StatusCode::OK);
    assert_eq!(header(&headers, "cache-control"), "max-age=3600");
    let expires = httpdate::parse_http_date(header(&headers, "expires")).unwrap();
    let low = before + Duration::from_secs(3599);
    let high = SystemTime::now() + Duration::from_secs(3601);
    assert!(expires >= low && expires <= high, "{expires:?}");
    let no_cache = fixture.default_root();
    let (headers, _) = get(&no_cache, "/hello.txt").await.expect(StatusCode::OK);
    assert!(headers.get("cache-control").is_none() && headers.get("expires").is_none());
}

#[tokio::test]
async fn static_large_file_streams_in_bounded_chunks() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let Outcome::Response(response) =
        serve(&root, &Method::GET, "/big.bin", &HeaderMap::new(), TAG).await
    else {
        panic!("big.bin not served");
    };
    let mut body = response.into_body();
    let mut received = Vec::new();
    let mut frames = 0;
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(data.len() <= 64 * 1024, "frame of {} bytes", data.len());
        received.extend_from_slice(&data);
        frames += 1;
    }
    assert!(frames >= 4, "{frames} frames");
    assert_eq!(received, big());
}

#[tokio::test]
async fn static_file_shrinking_mid_stream_errors_the_body() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let Outcome::Response(response) =
        serve(&root, &Method::GET, "/big.bin", &HeaderMap::new(), TAG).await
    else {
        panic!("big.bin not served");
    };
    std::fs::OpenOptions::new()
        .write(true)
        .open(fixture.path("big.bin"))
        .unwrap()
        .set_len(1000)
        .unwrap();
    assert!(response.into_body().collect().await.is_err());
}
