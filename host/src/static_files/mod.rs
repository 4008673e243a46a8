//! Static files of one site, served nginx-style before the request falls through to the
//! site's WSGI app (`try_files $uri $uri/ @app`).
//!
//! [`serve`] runs this pipeline:
//!
//! 1. **Decode** the raw path: split on `/` first, then percent-decode each segment exactly
//!    once (`path.rs`). Invalid UTF-8, NUL, `\`, an encoded `/` or a `..` segment → 400.
//! 2. **Sanitise**: keep only normal segments (empty and `.` segments are dropped).
//! 3. **Dot-file rule**: a segment starting with `.` (`.git`, `.env`, `.htaccess`) → 404,
//!    answered here so the app never sees it either; a leading `/.well-known/` is exempt and
//!    is served when present, else falls through to the app like any other path.
//! 4. **Open through cap-std** (`open.rs`, inline): every access goes through
//!    the root's `cap_std::fs::Dir`, so no `..`, absolute path or symlink leaves the root
//!    (→ 403). With `disable_symlinks` every component is checked with `symlink_metadata`
//!    and any symlink → 403. FIFOs, sockets and devices → 403 (opened `O_NONBLOCK` and
//!    checked with `fstat`, so they are never blocked on).
//! 5. **Directory / index**: a directory without its trailing slash → 301 to `/dir/`
//!    (`Location` rebuilt from the sanitised segments; query dropped); with it, the first
//!    existing `index` file is served; none → [`Outcome::NotFound`] (no listings). A
//!    missing file → [`Outcome::NotFound`].
//! 6. **Precompressed choice** (`encoding.rs`): when `precompressed` is on, the siblings the
//!    client's `Accept-Encoding` accepts with q > 0 are looked up, best first (br before
//!    gzip on equal q), and the first that is a regular file (same symlink rules) is served
//!    with `Content-Encoding`; a client that accepts neither costs no extra lookup. As
//!    nginx's `gzip_vary`, `Vary: Accept-Encoding` is sent on every file answer (200, 206,
//!    304) whenever `precompressed` is on, whether or not a sibling exists, so a cache never
//!    hands an encoded body to a client that did not ask for it. `Content-Type` comes from
//!    the original name;
//!    each representation has its own ETag (suffix `-br`/`-gz`), and ranges apply to the
//!    bytes actually sent.
//! 7. **Conditionals** (`conditional.rs`): `If-Match`/`If-Unmodified-Since` failing → 412;
//!    `If-None-Match` (weak comparison, `*`) or, without it, `If-Modified-Since` → 304.
//! 8. **Ranges** (`range.rs`): honoured when `allow_ranges` and `If-Range` (if any) names
//!    the current representation. One range → 206; several → 206 `multipart/byteranges`;
//!    overlapping/adjacent ranges are coalesced; more than 16 ranges or a malformed header →
//!    200 with the whole file; nothing satisfiable → 416 `Content-Range: bytes */SIZE`.
//! 9. **Reply** (`reply.rs`): headers (`ETag`, `Last-Modified`, `Accept-Ranges`,
//!    `Cache-Control`/`Expires` when `expires` is set, exact `Content-Length`) and a body
//!    read with `pread` in 64 KiB pieces as hyper asks for them, so memory does not grow
//!    with file size (a file up to 64 KiB is one read and one frame). HEAD gets the same
//!    headers and no body. No `Server`/`Date` header is set here.
//!
//! ## Blocking file-system calls
//!
//! The stats, opens and reads above are plain blocking system calls made inline on the
//! tokio worker that handles the connection, as nginx does on its event loop without
//! `aio`. For local files in the page cache each takes a microsecond or so, far less than
//! a round trip through tokio's blocking pool (two cross-thread wake-ups per call), which
//! used to cost several times the work itself. The trade-off: on a slow file system (NFS,
//! a cold spinning disk) a stat or a 64 KiB read stalls every connection of that worker
//! until it returns, exactly as it stalls an nginx worker. Static roots are expected to be
//! local; a site on a slow mount should leave its files to the app or a CDN.//!
//! Methods: GET and HEAD are served. Any other method still gets the 400 of step 1 and the
//! 404 of step 3 (those paths are never the app's), but otherwise returns
//! [`Outcome::NotFound`] without touching the file system, even when a file exists at the
//! path, so the app can handle e.g. a POST to that URL. Hence this module never answers 405.

mod conditional;
mod encoding;
mod open;
mod path;
mod range;
mod reply;

#[cfg(test)]
mod tests;

use std::path::{Component, Path};
use std::sync::Arc;

use anyhow::Context as _;
use http::{HeaderMap, Method, StatusCode};

use crate::response::body::Body;
use crate::telemetry::observe::Tag;
use conditional::Precondition;
use open::Lookup;
use path::DotRule;
use range::RangePlan;

pub use crate::config::StaticOptions;

/// A site's static root: the directory opened once (beneath the site folder) when the site
/// comes up, and its options.
#[derive(Debug, Clone)]
pub struct StaticRoot {
    dir: Arc<cap_std::fs::Dir>,
    options: Arc<StaticOptions>,
    /// The site folder's owner: a file that is a hard link it does not own is not served.
    owner: Option<u32>,
}

impl StaticRoot {
    /// The root every static lookup is confined to: `dir`, already open; `owner` is the
    /// site folder's owner (`config::SiteDir::foreign_link`).
    pub fn new(dir: cap_std::fs::Dir, options: StaticOptions, owner: u32) -> anyhow::Result<Self> {
        check_index(&options)?;
        Ok(StaticRoot {
            dir: Arc::new(dir),
            options: Arc::new(options),
            owner: Some(owner),
        })
    }

    /// Opens the folder at `path` as a root (the unit tests' fixtures).
    #[cfg(test)]
    pub fn open(path: &Path, options: StaticOptions) -> anyhow::Result<Self> {
        check_index(&options).with_context(|| format!("static root {}", path.display()))?;
        let dir = cap_std::fs::Dir::open_ambient_dir(path, cap_std::ambient_authority())
            .with_context(|| format!("cannot open static root {}", path.display()))?;
        Ok(StaticRoot {
            dir: Arc::new(dir),
            options: Arc::new(options),
            owner: None,
        })
    }
}

/// Index names must be plain relative file names.
fn check_index(options: &StaticOptions) -> anyhow::Result<()> {
    for name in &options.index {
        let relative = Path::new(name);
        let plain = !name.is_empty()
            && !name.contains('\0')
            && relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
        anyhow::ensure!(plain, "index name {name:?} is not a relative file name");
    }
    Ok(())
}

/// The answer of the static layer.
#[derive(Debug)]
pub enum Outcome {
    /// A complete response (200/206/301/304/400/403/404 for denied paths/412/416/500).
    Response(hyper::Response<Body>),
    /// No static file matches: the caller runs the app (try_files fallthrough).
    NotFound,
}

/// Serves `path` (the raw request path: percent-encoded, no query, e.g. `uri.path()`) from
/// `root`, following the pipeline in the module documentation. `tag` names the site and
/// request in log lines.
pub async fn serve(
    root: &StaticRoot,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    tag: Tag<'_>,
) -> Outcome {
    let head = method == Method::HEAD;
    let request = match path::decode(path) {
        Ok(request) => request,
        Err(err) => return refused_path(tag, path, &err, head),
    };
    if request.dot_rule() == DotRule::Hidden {
        return Outcome::Response(reply::status(StatusCode::NOT_FOUND, head));
    }
    if method != Method::GET && !head {
        return Outcome::NotFound;
    }
    let asked = Asked {
        path,
        headers,
        head,
        tag,
    };
    serve_found(root, &request, &request, asked)
}

/// Steps 4–9: `inside` is the path below `root`; `request` the whole request path (for the
/// directory redirect's `Location`).
/// A request path that cannot name a file (bad escapes, NUL, `..` above the root): 400.
fn refused_path(tag: Tag<'_>, path: &str, err: &path::PathError, head: bool) -> Outcome {
    tracing::debug!(
        site = tag.site,
        request = tag.request,
        path,
        ?err,
        "static: refused request path"
    );
    Outcome::Response(reply::status(StatusCode::BAD_REQUEST, head))
}

/// What the client asked for, as the static layer's steps pass it on: the raw path, the
/// headers, whether it is a HEAD, and the tag for log lines.
#[derive(Clone, Copy)]
struct Asked<'a> {
    path: &'a str,
    headers: &'a HeaderMap,
    head: bool,
    tag: Tag<'a>,
}

/// Serves `inside` (the path below `root`) of `request` (the whole decoded path, for
/// redirects) from `root`.
fn serve_found(
    root: &StaticRoot,
    inside: &path::RequestPath,
    request: &path::RequestPath,
    asked: Asked<'_>,
) -> Outcome {
    let Asked {
        path,
        headers,
        head,
        tag,
    } = asked;
    let options = &*root.options;
    let accepted = if options.precompressed {
        encoding::accepted(headers)
    } else {
        Vec::new()
    };
    // Inline on this worker, like nginx without aio: see "Blocking file-system calls".
    let lookup = open::lookup(&root.dir, inside, options, &accepted, root.owner);

    let response = match lookup {
        Lookup::Found(found) => respond(options, found, headers, head),
        Lookup::Missing => return Outcome::NotFound,
        Lookup::Redirect => reply::redirect(&request.directory_location(), head),
        Lookup::Forbidden => reply::status(StatusCode::FORBIDDEN, head),
        Lookup::Failed(err) => {
            tracing::warn!(site = tag.site, request = tag.request, path, %err, "static: I/O error");
            reply::status(StatusCode::INTERNAL_SERVER_ERROR, head)
        }
    };
    if let Some(reply::Unbuilt(err)) = response.extensions().get() {
        tracing::error!(site = tag.site, request = tag.request, path, %err,
            "static file response could not be built");
    }
    Outcome::Response(response)
}

/// Folders served at URL prefixes (`[static.from_packages]`, nginx's `location` + `alias`),
/// tried after the site's static root: the longest prefix that the decoded request path
/// starts with wins, and the rest of the path is looked up in its folder with the whole
/// pipeline above. A path under no prefix is not theirs ([`Outcome::NotFound`]), even when
/// it could not be decoded: the app may still answer it.
#[derive(Debug, Clone, Default)]
pub struct Aliases(Vec<Alias>);

#[derive(Debug, Clone)]
struct Alias {
    segments: Vec<String>,
    /// `/a/b/`: the prefix as a raw request path starts with it (its segments are plain).
    raw: String,
    root: StaticRoot,
}

impl Aliases {
    /// Opens `folder` inside `base` for each `(prefix segments, base, folder)`, with cap-std
    /// (so no part of `folder` can lead out of `base`).
    pub fn open(
        entries: &[(Vec<String>, std::path::PathBuf, std::path::PathBuf)],
        options: &StaticOptions,
    ) -> anyhow::Result<Self> {
        let mut aliases = Vec::new();
        for (segments, base, folder) in entries {
            let base_dir = cap_std::fs::Dir::open_ambient_dir(base, cap_std::ambient_authority())
                .with_context(|| format!("cannot open `{}`", base.display()))?;
            let dir = base_dir.open_dir(folder).with_context(|| {
                format!("cannot open `{}` in `{}`", folder.display(), base.display())
            })?;
            let mut raw = String::from("/");
            for segment in segments {
                raw.push_str(segment);
                raw.push('/');
            }
            aliases.push(Alias {
                segments: segments.clone(),
                raw,
                root: StaticRoot {
                    dir: Arc::new(dir),
                    options: Arc::new(options.clone()),
                    // The vendored packages are the server's own (pip wrote them).
                    owner: None,
                },
            });
        }
        aliases.sort_by_key(|alias| std::cmp::Reverse(alias.segments.len()));
        Ok(Aliases(aliases))
    }

    /// Serves `path` (raw, as for [`serve`]) from the folder of the longest matching prefix.
    pub async fn serve(
        &self,
        method: &Method,
        path: &str,
        headers: &HeaderMap,
        tag: Tag<'_>,
    ) -> Outcome {
        if self.0.is_empty() {
            return Outcome::NotFound;
        }
        let head = method == Method::HEAD;
        let request = match path::decode(path) {
            Ok(request) => request,
            Err(err) if self.0.iter().any(|alias| path.starts_with(&alias.raw)) => {
                return refused_path(tag, path, &err, head)
            }
            Err(_) => return Outcome::NotFound,
        };
        let Some(alias) = self
            .0
            .iter()
            .find(|alias| request.segments.starts_with(&alias.segments))
        else {
            return Outcome::NotFound;
        };
        if request.dot_rule() == DotRule::Hidden {
            return Outcome::Response(reply::status(StatusCode::NOT_FOUND, head));
        }
        if method != Method::GET && !head {
            return Outcome::NotFound;
        }
        let inside = path::RequestPath {
            segments: request.segments[alias.segments.len()..].to_vec(),
            trailing_slash: request.trailing_slash,
        };
        let asked = Asked {
            path,
            headers,
            head,
            tag,
        };
        serve_found(&alias.root, &inside, &request, asked)
    }
}

/// Steps 7–9 for an opened representation.
fn respond(
    options: &StaticOptions,
    found: open::Found,
    headers: &HeaderMap,
    head: bool,
) -> hyper::Response<Body> {
    let rep = found.representation;
    let meta = reply::Meta {
        content_type: reply::content_type(&found.original),
        validators: conditional::Validators::new(
            rep.size,
            rep.modified,
            rep.coding.map(|c| c.extension()),
        ),
        coding: rep.coding,
        vary: options.precompressed,
        allow_ranges: options.allow_ranges,
        expires: options.expires,
    };
    match conditional::evaluate(headers, &meta.validators) {
        Precondition::Proceed => {}
        Precondition::NotModified => return reply::not_modified(&meta),
        Precondition::Failed => return reply::status(StatusCode::PRECONDITION_FAILED, head),
    }
    let plan = match headers.get(http::header::RANGE) {
        Some(value)
            if options.allow_ranges && conditional::if_range_allows(headers, &meta.validators) =>
        {
            value
                .to_str()
                .map_or(RangePlan::Full, |text| range::plan(text, rep.size))
        }
        _ => RangePlan::Full,
    };
    match plan {
        RangePlan::Full => reply::whole(&meta, rep.file, rep.size, head),
        RangePlan::Partial(ranges) => reply::partial(&meta, rep.file, rep.size, &ranges, head),
        RangePlan::Unsatisfiable => reply::unsatisfiable(&meta, rep.size, head),
    }
}
