//! Escapes from the root, dot-files, symlink rules, special files, methods.

use std::time::Duration;

use http::{Method, StatusCode};

use super::*;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn static_escape_attempts_never_leak() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    use StatusCode as S;
    // (path, expected: Some(status) or None for NotFound)
    let cases: &[(&str, Option<StatusCode>)] = &[
        ("/..", Some(S::BAD_REQUEST)),
        ("/../outside/secret.txt", Some(S::BAD_REQUEST)),
        ("/sub/../../outside/secret.txt", Some(S::BAD_REQUEST)),
        ("/%2e%2e/outside/secret.txt", Some(S::BAD_REQUEST)),
        ("/%2E%2E/%2E%2E/passwd", Some(S::BAD_REQUEST)),
        ("/.%2e/outside/secret.txt", Some(S::BAD_REQUEST)),
        ("/%252e%252e/outside/secret.txt", None),
        ("/%252e%252e/passwd", None),
        ("/..%2foutside%2fsecret.txt", Some(S::BAD_REQUEST)),
        ("/sub%2f..%2f..%2fpasswd", Some(S::BAD_REQUEST)),
        ("/..\\outside\\secret.txt", Some(S::BAD_REQUEST)),
        ("/..%5coutside%5csecret.txt", Some(S::BAD_REQUEST)),
        ("/hello.txt%00.png", Some(S::BAD_REQUEST)),
        ("/%00", Some(S::BAD_REQUEST)),
        ("/../../etc/passwd", Some(S::BAD_REQUEST)),
        ("//etc/passwd", None),
        ("///outside/secret.txt", None),
        ("/%ff%fe", Some(S::BAD_REQUEST)),
        ("outside/secret.txt", Some(S::BAD_REQUEST)),
        // Symlinks that lead outside the root: cap-std refuses them.
        ("/link_out_file", Some(S::FORBIDDEN)),
        ("/rel_out_file", Some(S::FORBIDDEN)),
        ("/link_out_dir/secret.txt", Some(S::FORBIDDEN)),
        ("/link_out_dir/", Some(S::FORBIDDEN)),
        ("/site", Some(S::FORBIDDEN)),
        ("/site/", Some(S::FORBIDDEN)),
        ("/site/index.html", Some(S::FORBIDDEN)),
        ("/site/%2e%2e/outside/secret.txt", Some(S::BAD_REQUEST)),
    ];
    for method in [Method::GET, Method::HEAD] {
        for &(path, expected) in cases {
            let got = request(&root, method.clone(), path, &[]).await;
            match (expected, got) {
                (None, Got::App) => {}
                (
                    Some(status),
                    Got::Resp {
                        status: got,
                        body,
                        headers,
                    },
                ) => {
                    assert_eq!(got, status, "{method} {path}");
                    assert!(
                        !contains(&body, SECRET) && !contains(&body, OUTSIDE_INDEX),
                        "{path} leaked"
                    );
                    assert!(
                        headers.get(http::header::ETAG).is_none(),
                        "{path} described a file"
                    );
                }
                (expected, got) => panic!("{method} {path}: expected {expected:?}, got {got:?}"),
            }
        }
    }
    // The literal (once-decoded) name is just a file name: `a%2fb` on disk is served for
    // `/a%252fb`, while `/a%2fb` is refused rather than split into `a/b`.
    let (_, body) = get(&root, "/a%252fb").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"literal percent name");
    get(&root, "/a%2fb").await.expect(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn static_dot_files_are_404_for_every_method() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    for path in [
        "/.git/config",
        "/.git/",
        "/.git",
        "/.env",
        "/.htaccess",
        "/sub/.hidden",
        "/%2egit/config",
        "/.missing",
    ] {
        for method in [Method::GET, Method::HEAD, Method::POST] {
            let (headers, body) = request(&root, method.clone(), path, &[])
                .await
                .expect(StatusCode::NOT_FOUND);
            let expected: &[u8] = if method == Method::HEAD {
                b""
            } else {
                b"Not Found\n"
            };
            assert_eq!(&body[..], expected, "{method} {path}");
            assert_eq!(header(&headers, "content-length"), "10");
        }
    }
}

#[tokio::test]
async fn static_well_known_is_served_or_falls_through() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    let (headers, body) = get(&root, "/.well-known/x").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"well-known x");
    assert_eq!(header(&headers, "content-type"), "application/octet-stream");
    get(&root, "/.well-known/acme-challenge/token")
        .await
        .expect_app();
    get(&root, "/.well-known/.secret")
        .await
        .expect(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn static_disable_symlinks_refuses_inside_links() {
    let fixture = Fixture::new();
    let open = fixture.default_root();
    let (_, body) = get(&open, "/link_in").await.expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
    let (_, body) = get(&open, "/dirlink_in/page.html")
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], b"<p>page</p>");
    let (_, body) = get(&open, "/dirlink_in/").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"<p>sub index</p>");

    let strict = fixture.root_with(StaticOptions {
        disable_symlinks: true,
        ..StaticOptions::default()
    });
    for path in [
        "/link_in",
        "/dirlink_in/page.html",
        "/dirlink_in/",
        "/dirlink_in",
        "/link_out_file",
        "/site/",
    ] {
        let (_, body) = get(&strict, path).await.expect(StatusCode::FORBIDDEN);
        assert_eq!(&body[..], b"Forbidden\n", "{path}");
    }
    // Plain files and directories are unaffected.
    let (_, body) = get(&strict, "/sub/page.html").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"<p>page</p>");
    let (_, body) = get(&strict, "/sub/").await.expect(StatusCode::OK);
    assert_eq!(&body[..], b"<p>sub index</p>");
    get(&strict, "/sub/missing.html").await.expect_app();

    // An index file that is itself a symlink is refused too.
    std::os::unix::fs::symlink("../hello.txt", fixture.path("emptydir/index.html")).unwrap();
    get(&strict, "/emptydir/")
        .await
        .expect(StatusCode::FORBIDDEN);
    let (_, body) = get(&open, "/emptydir/").await.expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
}

#[tokio::test]
async fn static_precompressed_sibling_symlink_is_not_used_under_disable_symlinks() {
    let fixture = Fixture::new();
    std::fs::write(fixture.path("real.txt.br"), b"BR").unwrap();
    std::fs::write(fixture.path("plain.txt"), b"PLAIN").unwrap();
    std::os::unix::fs::symlink("real.txt.br", fixture.path("plain.txt.br")).unwrap();
    std::os::unix::fs::symlink(
        fixture.outside.join("secret.txt"),
        fixture.path("plain.txt.gz"),
    )
    .unwrap();
    let br = [(http::header::ACCEPT_ENCODING, "br, gzip")];
    let strict = fixture.root_with(StaticOptions {
        disable_symlinks: true,
        ..StaticOptions::default()
    });
    let (headers, body) = request(&strict, Method::GET, "/plain.txt", &br)
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], b"PLAIN");
    assert!(headers.get("content-encoding").is_none());
    // Vary whenever precompressed is on, whether or not a usable sibling exists.
    assert_eq!(header(&headers, "vary"), "accept-encoding");
    // Without disable_symlinks the inside link is followed, the outside one never.
    let open = fixture.default_root();
    let (headers, body) = request(&open, Method::GET, "/plain.txt", &br)
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], b"BR");
    assert_eq!(header(&headers, "content-encoding"), "br");
    let gz = [(http::header::ACCEPT_ENCODING, "gzip")];
    let (headers, body) = request(&open, Method::GET, "/plain.txt", &gz)
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], b"PLAIN");
    assert!(headers.get("content-encoding").is_none());
}

#[tokio::test]
async fn static_fifo_is_refused_without_blocking() {
    let fixture = Fixture::new();
    let status = std::process::Command::new("mkfifo")
        .arg(fixture.path("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let root = fixture.default_root();
    let got = tokio::time::timeout(Duration::from_secs(10), get(&root, "/pipe"))
        .await
        .expect("blocked on a FIFO");
    got.expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn static_fifo_index_or_sibling_is_skipped_and_socket_refused() {
    let fixture = Fixture::new();
    std::fs::create_dir(fixture.path("fifodir")).unwrap();
    for fifo in ["fifodir/index.html", "hello.txt.br"] {
        let status = std::process::Command::new("mkfifo")
            .arg(fixture.path(fifo))
            .status()
            .unwrap();
        assert!(status.success());
    }
    let _socket = std::os::unix::net::UnixListener::bind(fixture.path("sock")).unwrap();
    let root = fixture.default_root();
    async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(Duration::from_secs(10), future)
            .await
            .expect("blocked on a FIFO or socket")
    }
    // A FIFO as the index is no index: the app gets the directory.
    within(get(&root, "/fifodir/")).await.expect_app();
    // A FIFO as the sibling is skipped: the original is served.
    let br = [(http::header::ACCEPT_ENCODING, "br")];
    let (headers, body) = within(request(&root, Method::GET, "/hello.txt", &br))
        .await
        .expect(StatusCode::OK);
    assert_eq!(&body[..], HELLO);
    assert!(headers.get("content-encoding").is_none());
    // A socket cannot be opened (ENXIO): refused like any other non-regular file.
    within(get(&root, "/sock"))
        .await
        .expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn static_other_methods_fall_through() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::OPTIONS] {
        request(&root, method.clone(), "/hello.txt", &[])
            .await
            .expect_app();
        request(&root, method.clone(), "/sub", &[])
            .await
            .expect_app();
        request(&root, method.clone(), "/link_out_file", &[])
            .await
            .expect_app();
        request(&root, method.clone(), "/../hello.txt", &[])
            .await
            .expect(StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn static_missing_files_fall_through() {
    let fixture = Fixture::new();
    let root = fixture.default_root();
    get(&root, "/nope.txt").await.expect_app();
    get(&root, "/sub/nope/").await.expect_app();
    get(&root, "/hello.txt/").await.expect_app();
    get(&root, "/hello.txt/x").await.expect_app();
    get(&root, "/").await.expect_app();
}
