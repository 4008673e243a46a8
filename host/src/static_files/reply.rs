//! Step 9 of the pipeline: build the response — representation headers, the 200/206/304/
//! 412/416/301 and error answers, and the streaming file body.
//!
//! Bodies read the file in pieces of at most [`CHUNK`] bytes with `pread`, one piece each time
//! hyper polls for the next frame (inline on the worker: see the module documentation of
//! `static_files`), so memory per download stays bounded whatever the file size: hyper only
//! asks for more once its write buffer has room. Every response with a body carries an
//! exact `Content-Length` (HEAD gets the same header and no body); a file that shrinks
//! while it is sent ends the body with an error, so hyper cuts the connection instead of
//! sending a short, well-framed response. No `Server` or `Date` header is set here.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE,
    ETAG, EXPIRES, LAST_MODIFIED, LOCATION, VARY,
};
use http::response::Builder;
use http::{HeaderValue, Response, StatusCode};
use http_body::SizeHint;
use http_body_util::BodyExt;
use hyper::body::Frame;

use super::conditional::Validators;
use super::encoding::Coding;
use super::range::ByteRange;
use crate::response::body::{empty, full, Body, BodyError};

/// Bytes read from the file per body frame.
pub const CHUNK: u64 = 64 * 1024;

/// The headers that describe one representation, shared by every answer about it.
#[derive(Debug, Clone)]
pub struct Meta {
    pub content_type: HeaderValue,
    pub validators: Validators,
    pub coding: Option<Coding>,
    /// Add `Vary: Accept-Encoding` (a precompressed sibling exists).
    pub vary: bool,
    pub allow_ranges: bool,
    pub expires: Option<Duration>,
}

/// The `Content-Type` for a file, from the ORIGINAL file's name (never the `.br`/`.gz`).
pub fn content_type(original: &Path) -> HeaderValue {
    let essence = mime_guess::from_path(original)
        .first_raw()
        .unwrap_or("application/octet-stream");
    let textual = essence.starts_with("text/")
        || matches!(
            essence,
            "application/javascript" | "application/json" | "image/svg+xml" | "application/xml"
        )
        || essence.ends_with("+json")
        || essence.ends_with("+xml");
    if !textual {
        // mime_guess's names are `'static`: no copy (all are valid header text, checked
        // anyway so a bad table entry could never panic).
        return if essence.bytes().all(|b| b.is_ascii_graphic()) {
            HeaderValue::from_static(essence)
        } else {
            HeaderValue::from_static("application/octet-stream")
        };
    }
    let common = match essence {
        "text/html" => "text/html; charset=utf-8",
        "text/css" => "text/css; charset=utf-8",
        "text/javascript" => "text/javascript; charset=utf-8",
        "text/plain" => "text/plain; charset=utf-8",
        "application/json" => "application/json; charset=utf-8",
        "image/svg+xml" => "image/svg+xml; charset=utf-8",
        _ => "",
    };
    if !common.is_empty() {
        return HeaderValue::from_static(common);
    }
    HeaderValue::from_str(&format!("{essence}; charset=utf-8"))
        .unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

/// Validators, caching and Vary: what a 304 repeats from the 200 it stands for.
fn cache_headers(mut builder: Builder, meta: &Meta) -> Builder {
    builder = builder.header(ETAG, &meta.validators.etag);
    if let Some(lm) = meta.validators.last_modified {
        builder = builder.header(LAST_MODIFIED, httpdate::fmt_http_date(lm));
    }
    if let Some(max_age) = meta.expires {
        builder = builder
            .header(CACHE_CONTROL, format!("max-age={}", max_age.as_secs()))
            .header(
                EXPIRES,
                httpdate::fmt_http_date(SystemTime::now() + max_age),
            );
    }
    if meta.vary {
        builder = builder.header(VARY, "accept-encoding");
    }
    builder
}

/// Everything a 200 or 206 sends about the representation (not its length or type).
fn representation_headers(builder: Builder, meta: &Meta) -> Builder {
    let mut builder = cache_headers(builder, meta);
    if let Some(coding) = meta.coding {
        builder = builder.header(CONTENT_ENCODING, coding.token());
    }
    if meta.allow_ranges {
        builder = builder.header(ACCEPT_RANGES, "bytes");
    }
    builder
}

/// On a 500 made because the response could not be built: why (logged by the caller,
/// which knows the site and request).
#[derive(Debug, Clone)]
pub struct Unbuilt(pub String);

fn finish(builder: Builder, body: Body) -> Response<Body> {
    builder.body(body).unwrap_or_else(|err| {
        let mut response = status(StatusCode::INTERNAL_SERVER_ERROR, false);
        response.extensions_mut().insert(Unbuilt(err.to_string()));
        response
    })
}

/// A short plain-text answer for `status` (400, 403, 404, 412, 500, ...).
pub fn status(code: StatusCode, head: bool) -> Response<Body> {
    let text = format!("{}\n", code.canonical_reason().unwrap_or("Error"));
    let builder = Response::builder()
        .status(code)
        .header(CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(CONTENT_LENGTH, text.len());
    let body = if head { empty() } else { full(text) };
    builder.body(body).expect("static status response")
}

/// 301 to `location` (a directory asked for without its trailing slash).
pub fn redirect(location: &str, head: bool) -> Response<Body> {
    let mut response = status(StatusCode::MOVED_PERMANENTLY, head);
    match HeaderValue::from_str(location) {
        Ok(value) => {
            response.headers_mut().insert(LOCATION, value);
            response
        }
        Err(_) => status(StatusCode::NOT_FOUND, head),
    }
}

/// 304: validators and caching headers, no body and no `Content-Length`.
pub fn not_modified(meta: &Meta) -> Response<Body> {
    let builder = cache_headers(Response::builder().status(StatusCode::NOT_MODIFIED), meta);
    finish(builder, empty())
}

/// 416 with `Content-Range: bytes */size`.
pub fn unsatisfiable(meta: &Meta, size: u64, head: bool) -> Response<Body> {
    let mut response = status(StatusCode::RANGE_NOT_SATISFIABLE, head);
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_RANGE,
        HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
    );
    if meta.allow_ranges {
        headers.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    response
}

/// 200 with the whole file.
pub fn whole(meta: &Meta, file: std::fs::File, size: u64, head: bool) -> Response<Body> {
    let builder = representation_headers(Response::builder().status(StatusCode::OK), meta)
        .header(CONTENT_TYPE, meta.content_type.clone())
        .header(CONTENT_LENGTH, size);
    finish(builder, file_part(file, 0, size, head))
}

/// 206 with one range, or a `multipart/byteranges` body for several.
pub fn partial(
    meta: &Meta,
    file: std::fs::File,
    size: u64,
    ranges: &[ByteRange],
    head: bool,
) -> Response<Body> {
    let builder = representation_headers(
        Response::builder().status(StatusCode::PARTIAL_CONTENT),
        meta,
    );
    if let [range] = ranges {
        let builder = builder
            .header(CONTENT_TYPE, meta.content_type.clone())
            .header(CONTENT_RANGE, range.content_range(size))
            .header(CONTENT_LENGTH, range.len());
        return finish(builder, file_part(file, range.first, range.len(), head));
    }
    let boundary = boundary();
    let part_type = meta
        .content_type
        .to_str()
        .unwrap_or("application/octet-stream");
    let mut pieces = Vec::with_capacity(ranges.len() * 2 + 1);
    for range in ranges {
        let head = format!(
            "\r\n--{boundary}\r\nContent-Type: {part_type}\r\nContent-Range: {}\r\n\r\n",
            range.content_range(size)
        );
        pieces.push(Piece::Bytes(Bytes::from(head)));
        pieces.push(Piece::File {
            start: range.first,
            len: range.len(),
        });
    }
    pieces.push(Piece::Bytes(Bytes::from(format!("\r\n--{boundary}--\r\n"))));
    let length: u64 = pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        })
        .sum();
    let builder = builder
        .header(
            CONTENT_TYPE,
            format!("multipart/byteranges; boundary={boundary}"),
        )
        .header(CONTENT_LENGTH, length);
    let body = if head { empty() } else { stream(file, pieces) };
    finish(builder, body)
}

/// A boundary unlikely to occur in the file: 128 bits from std's randomly keyed hasher.
fn boundary() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        hasher.finish()
    };
    format!("{:016x}{:016x}", word(), word())
}

/// One stretch of a response body.
enum Piece {
    /// Literal bytes (multipart part headers).
    Bytes(Bytes),
    /// `len` bytes of the file from offset `start`.
    File { start: u64, len: u64 },
}

/// A body that sends its pieces, reading the file parts [`CHUNK`] bytes at a time with
/// `pread` (so no cursor is shared or moved) each time it is polled.
struct FileBody {
    file: std::fs::File,
    pieces: VecDeque<Piece>,
    /// Bytes still to send: the sum of the pieces' lengths.
    remaining: u64,
}

/// The body for `pieces` of `file`.
/// `len` bytes of `file` from `start`, or nothing for HEAD.
fn file_part(file: std::fs::File, start: u64, len: u64, head: bool) -> Body {
    if head {
        empty()
    } else {
        stream(file, vec![Piece::File { start, len }])
    }
}

fn stream(file: std::fs::File, pieces: Vec<Piece>) -> Body {
    let remaining = pieces
        .iter()
        .map(|p| match p {
            Piece::Bytes(b) => b.len() as u64,
            Piece::File { len, .. } => *len,
        })
        .sum();
    FileBody {
        file,
        pieces: pieces.into(),
        remaining,
    }
    .boxed_unsync()
}

impl FileBody {
    fn next_frame(&mut self) -> Result<Option<Bytes>, BodyError> {
        loop {
            let (start, len) = match self.pieces.pop_front() {
                None => return Ok(None),
                Some(Piece::Bytes(bytes)) => {
                    self.remaining -= bytes.len() as u64;
                    return Ok(Some(bytes));
                }
                Some(Piece::File { len: 0, .. }) => continue,
                Some(Piece::File { start, len }) => (start, len),
            };
            let mut buf = BytesMut::zeroed(len.min(CHUNK) as usize);
            let read = loop {
                match self.file.read_at(&mut buf, start) {
                    Ok(read) => break read,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(self.fail(err.into())),
                }
            };
            if read == 0 {
                return Err(self.fail("static file shrank while it was being sent".into()));
            }
            buf.truncate(read);
            let read = read as u64;
            self.remaining -= read;
            if read < len {
                self.pieces.push_front(Piece::File {
                    start: start + read,
                    len: len - read,
                });
            }
            return Ok(Some(buf.freeze()));
        }
    }

    /// Drops what is left, so the body ends after the error.
    fn fail(&mut self, err: BodyError) -> BodyError {
        self.pieces.clear();
        self.remaining = 0;
        err
    }
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        Poll::Ready(
            self.get_mut()
                .next_frame()
                .map(|d| d.map(Frame::data))
                .transpose(),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}
