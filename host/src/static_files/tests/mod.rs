//! End-to-end tests of [`serve`](super::serve) on real files in a temporary directory.

mod files;
mod http_semantics;
mod security;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;

use super::{serve, Outcome, StaticOptions, StaticRoot};

/// Bytes of the files outside the root; no response may ever contain them.
pub const SECRET: &[u8] = b"TOP-SECRET-OUTSIDE-THE-ROOT";
pub const OUTSIDE_INDEX: &[u8] = b"<p>OUTSIDE-INDEX</p>";
pub const HELLO: &[u8] = b"hello, static world\n";
pub const BIG_LEN: usize = 200_000;
/// The site and request the unit tests' log lines name.
pub const TAG: crate::telemetry::observe::Tag<'static> = crate::telemetry::observe::Tag {
    site: "test",
    request: 1,
};

/// `big.bin`'s content: a pattern that makes any misplaced byte visible.
pub fn big() -> Vec<u8> {
    (0..BIG_LEN).map(|i| (i % 251) as u8).collect()
}

/// A temporary tree: `root/` (the static root) and `outside/` (what must never leak).
pub struct Fixture {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
}

impl Fixture {
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
        std::fs::write(outside.join("index.html"), OUTSIDE_INDEX).unwrap();
        // A file named like the double-decoded traversal, to prove no second decode.
        std::fs::write(tmp.path().join("passwd"), SECRET).unwrap();

        let files: &[(&str, &[u8])] = &[
            ("hello.txt", HELLO),
            ("style.css", b"body { color: red }\n"),
            ("style.css.gz", b"GZ-OF-STYLE"),
            ("app.js", b"console.log('identity');\n"),
            ("app.js.br", b"BR-OF-APP-JS"),
            ("app.js.gz", b"GZ-OF-APP-JS!"),
            ("data.json", b"{\"a\":1}"),
            ("pic.svg", b"<svg/>"),
            ("img.png", b"\x89PNG fake"),
            ("blob.zzzunknown", b"??"),
            ("empty.txt", b""),
            ("sub/index.html", b"<p>sub index</p>"),
            ("sub/page.html", b"<p>page</p>"),
            ("sub/.hidden", b"hidden"),
            ("custom/default.htm", b"default page"),
            ("custom/index.html", b"index page"),
            (".git/config", b"[core] secret-git"),
            (".env", b"PASSWORD=1"),
            (".htaccess", b"deny from all"),
            (".well-known/x", b"well-known x"),
            ("a%2fb", b"literal percent name"),
        ];
        for (name, content) in files {
            let path = root.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        std::fs::write(root.join("big.bin"), big()).unwrap();
        std::fs::create_dir_all(root.join("emptydir")).unwrap();

        use std::os::unix::fs::symlink;
        symlink(outside.join("secret.txt"), root.join("link_out_file")).unwrap();
        symlink("../outside/secret.txt", root.join("rel_out_file")).unwrap();
        symlink(&outside, root.join("link_out_dir")).unwrap();
        symlink("../outside", root.join("site")).unwrap();
        symlink("hello.txt", root.join("link_in")).unwrap();
        symlink("sub", root.join("dirlink_in")).unwrap();
        Fixture {
            _tmp: tmp,
            root,
            outside,
        }
    }

    pub fn root_with(&self, options: StaticOptions) -> StaticRoot {
        StaticRoot::open(&self.root, options).unwrap()
    }

    pub fn default_root(&self) -> StaticRoot {
        self.root_with(StaticOptions::default())
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// What `serve` answered, with the body collected.
#[derive(Debug)]
pub enum Got {
    App,
    Resp {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
}

impl Got {
    #[track_caller]
    pub fn resp(self) -> (StatusCode, HeaderMap, Bytes) {
        match self {
            Got::Resp {
                status,
                headers,
                body,
            } => (status, headers, body),
            Got::App => panic!("expected a response, got NotFound (fall through to the app)"),
        }
    }

    #[track_caller]
    pub fn expect(self, status: StatusCode) -> (HeaderMap, Bytes) {
        let (got, headers, body) = self.resp();
        assert_eq!(got, status, "headers: {headers:?} body: {body:?}");
        (headers, body)
    }

    #[track_caller]
    pub fn expect_app(self) {
        if let Got::Resp { status, body, .. } = self {
            panic!("expected NotFound, got {status} with {body:?}");
        }
    }
}

pub async fn request(
    root: &StaticRoot,
    method: Method,
    path: &str,
    headers: &[(HeaderName, &str)],
) -> Got {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.append(name.clone(), HeaderValue::from_str(value).unwrap());
    }
    match serve(root, &method, path, &map, TAG).await {
        Outcome::NotFound => Got::App,
        Outcome::Response(response) => {
            let (parts, body) = response.into_parts();
            let body = body.collect().await.expect("body stream failed").to_bytes();
            Got::Resp {
                status: parts.status,
                headers: parts.headers,
                body,
            }
        }
    }
}

pub async fn get(root: &StaticRoot, path: &str) -> Got {
    request(root, Method::GET, path, &[]).await
}

/// A header's value as text; panics when absent.
#[track_caller]
pub fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> &str {
    headers.get(name).expect("header missing").to_str().unwrap()
}

/// The strong ETag expected for a file: `"<hex mtime nanos>-<hex size>[-suffix]"`.
pub fn expected_etag(path: &Path, suffix: Option<&str>) -> String {
    let meta = std::fs::metadata(path).unwrap();
    let nanos = meta
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    match suffix {
        Some(s) => format!("\"{nanos:x}-{:x}-{s}\"", meta.len()),
        None => format!("\"{nanos:x}-{:x}\"", meta.len()),
    }
}

#[test]
fn static_root_open_errors_name_the_path() {
    let err = StaticRoot::open(
        Path::new("/nonexistent/static-root-xyz"),
        StaticOptions::default(),
    )
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("/nonexistent/static-root-xyz"),
        "{err:#}"
    );
    let fixture = Fixture::new();
    for bad in ["../index.html", "/index.html", ""] {
        let options = StaticOptions {
            index: vec![bad.to_owned()],
            ..StaticOptions::default()
        };
        let err = StaticRoot::open(&fixture.root, options).unwrap_err();
        assert!(
            format!("{err:#}").contains(fixture.root.to_str().unwrap()),
            "{err:#}"
        );
    }
    let file = fixture.path("hello.txt");
    assert!(StaticRoot::open(&file, StaticOptions::default()).is_err());
}
