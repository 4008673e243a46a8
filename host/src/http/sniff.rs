//! Before step 1 of the request path: what hyper hides. hyper merges identical duplicate
//! `Content-Length` lines and drops `Content-Length` when `Transfer-Encoding` is present, so
//! the request the server sees no longer shows that its framing was ambiguous. This reader
//! sits between the socket and hyper and follows the HTTP/1 byte stream on its own: each
//! head's framing lines are counted, and each body skipped (by length, or chunk by chunk) to
//! find the next head. A head with two `Content-Length` lines, or with one together with
//! `Transfer-Encoding`, marks the connection: every request hyper then hands over from it
//! is refused with 400 (`checks` reads the mark).
//!
//! It only watches: hyper still does all the parsing. Where the stream stops making sense
//! (HTTP/2, a malformed chunk, which hyper refuses anyway), it stops watching.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest line kept for inspection; the rest of a longer line is skipped (hyper
/// refuses such heads anyway).
const MAX_LINE: usize = 8192;

/// Why a connection's framing is ambiguous, once it is.
pub type Mark = Arc<OnceLock<&'static str>>;

/// A socket whose inbound HTTP/1 heads are watched for ambiguous framing.
pub struct Sniffed<I> {
    inner: I,
    scanner: Scanner,
}

impl<I> Sniffed<I> {
    pub fn new(inner: I) -> (Self, Mark) {
        let mark = Mark::default();
        let scanner = Scanner {
            state: State::Head(Head::default()),
            line: Vec::new(),
            mark: mark.clone(),
            first: true,
        };
        (Self { inner, scanner }, mark)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Sniffed<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = result {
            let this = &mut *self;
            this.scanner.feed(&buf.filled()[before..]);
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Sniffed<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[derive(Default)]
struct Head {
    request_line: bool,
    lengths: usize,
    length: Option<u64>,
    chunked: bool,
}

enum State {
    Head(Head),
    /// Body bytes still to skip; then a head.
    Body(u64),
    ChunkSize,
    /// Chunk data and its CRLF still to skip; then a chunk size.
    ChunkData(u64),
    Trailers,
    /// Not following any more.
    Lost,
}

struct Scanner {
    state: State,
    line: Vec<u8>,
    mark: Mark,
    first: bool,
}

impl Scanner {
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.state {
                State::Lost => return,
                State::Body(left) | State::ChunkData(left) => {
                    let skip = (*left).min(bytes.len() as u64);
                    *left -= skip;
                    bytes = &bytes[skip as usize..];
                    if *left == 0 {
                        self.state = match self.state {
                            State::Body(_) => State::Head(Head::default()),
                            _ => State::ChunkSize,
                        };
                    }
                }
                State::Head(_) | State::ChunkSize | State::Trailers => {
                    let Some(end) = bytes.iter().position(|b| *b == b'\n') else {
                        self.keep(bytes);
                        return;
                    };
                    self.keep(&bytes[..end]);
                    bytes = &bytes[end + 1..];
                    let mut line = std::mem::take(&mut self.line);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    self.line_ended(&line);
                    line.clear();
                    self.line = line;
                }
            }
        }
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = MAX_LINE.saturating_sub(self.line.len());
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn line_ended(&mut self, line: &[u8]) {
        let first = std::mem::replace(&mut self.first, false);
        match &mut self.state {
            State::Head(head) if !head.request_line => {
                if first && line.starts_with(b"PRI * HTTP/2") {
                    self.state = State::Lost;
                } else if !line.is_empty() {
                    head.request_line = true;
                }
            }
            State::Head(head) if !line.is_empty() => {
                let Some(colon) = line.iter().position(|b| *b == b':') else {
                    return;
                };
                let name = line[..colon].to_ascii_lowercase();
                let value = String::from_utf8_lossy(&line[colon + 1..])
                    .trim()
                    .to_owned();
                if name == b"content-length" {
                    head.lengths += 1;
                    head.length = value.parse().ok();
                } else if name == b"transfer-encoding" {
                    head.chunked = true;
                }
            }
            State::Head(head) => {
                let reason = if head.lengths > 1 {
                    Some("duplicate Content-Length")
                } else if head.lengths == 1 && head.chunked {
                    Some("Content-Length together with Transfer-Encoding")
                } else {
                    None
                };
                if let Some(reason) = reason {
                    let _ = self.mark.set(reason);
                    self.state = State::Lost;
                    return;
                }
                self.state = if head.chunked {
                    State::ChunkSize
                } else if head.lengths == 0 {
                    State::Head(Head::default())
                } else {
                    match head.length {
                        Some(0) => State::Head(Head::default()),
                        Some(length) => State::Body(length),
                        None => State::Lost,
                    }
                };
            }
            State::ChunkSize => {
                let digits = line.split(|b| *b == b';').next().unwrap_or_default();
                let size = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| u64::from_str_radix(d.trim(), 16).ok());
                self.state = match size {
                    Some(0) => State::Trailers,
                    Some(size) => State::ChunkData(size.saturating_add(2)),
                    None => State::Lost,
                };
            }
            State::Trailers if line.is_empty() => self.state = State::Head(Head::default()),
            State::Trailers | State::Body(_) | State::ChunkData(_) | State::Lost => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(chunks: &[&[u8]]) -> Option<&'static str> {
        let mark = Mark::default();
        let mut scanner = Scanner {
            state: State::Head(Head::default()),
            line: Vec::new(),
            mark: mark.clone(),
            first: true,
        };
        for chunk in chunks {
            scanner.feed(chunk);
        }
        mark.get().copied()
    }

    #[test]
    fn sniffer_marks_ambiguous_framing_in_any_head_of_a_connection() {
        let both =
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        assert!(scan(&[both]).is_some());
        let te_first =
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert!(scan(&[te_first]).is_some());
        let twice = b"POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nhi";
        assert_eq!(scan(&[twice]), Some("duplicate Content-Length"));
        // Split anywhere, after a sized and a chunked body on the same connection.
        let later = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
            POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nA: b\r\n\r\n\
            GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n";
        for split in [1, 10, 40, 57, 70, 100] {
            assert!(
                scan(&[&later[..split], &later[split..]]).is_some(),
                "split at {split}"
            );
        }
    }

    #[test]
    fn sniffer_leaves_plain_connections_and_bodies_alone() {
        let body = "Content-Length: 1\r\nContent-Length: 2\r\nTransfer-Encoding: x\r\n\r\n";
        let plain = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            body.len()
        );
        assert_eq!(
            scan(&[plain.as_bytes()]),
            None,
            "a body that looks like headers is a body"
        );
        let chunked = format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n\
             GET / HTTP/1.1\r\n\r\n",
            body.len()
        );
        assert_eq!(scan(&[chunked.as_bytes()]), None);
        let h2 = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n";
        assert_eq!(scan(&[h2]), None);
    }
}
