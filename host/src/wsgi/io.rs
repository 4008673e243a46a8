//! The host side of one request's I/O: the guest's `read-body`, `send-headers`, `write` and
//! `log` calls land here.
//!
//! The request body is handed to the app as it reads (wsgi.input), a piece at a time. The
//! response goes out through a channel into the hyper response body that holds at most the
//! site's `write_buffer` bytes, each charged to the site's memory budget until it is sent: a
//! slow client fills it and the guest waits in `write` (backpressure, no spinning); a client
//! that went away makes `write` fail so the app stops and its `close()` runs.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Frame;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::body::Sent;
use crate::runtime::bindings::host;
use crate::runtime::budget::{MemoryBudget, Reservation};
use crate::runtime::store::StoreState;

/// The request body as the app sees it (hyper's `Incoming`, boxed).
pub type RequestBody = http_body_util::combinators::UnsyncBoxBody<Bytes, crate::body::BodyError>;

/// The most bytes one `read-body` call returns, whatever the guest asks for.
const MAX_READ: usize = 1024 * 1024;

/// Status and headers, handed to the dispatcher when the guest sends them.
pub struct Head {
    pub status: StatusCode,
    pub reason: Option<hyper::ext::ReasonPhrase>,
    pub headers: HeaderMap,
    /// The whole body, when the guest sent it with the headers (`send-response`).
    pub body: Option<Bytes>,
}

/// Why a request has no head from the guest: the status the client gets instead.
#[derive(Debug, Clone, Copy)]
pub struct Failure {
    pub status: StatusCode,
    /// Seconds for a `Retry-After` header (overload).
    pub retry_after: Option<u64>,
}

/// What the dispatcher hears before any body: the guest's head, or a failure.
pub type Reply = Result<Head, Failure>;

/// What a buffered response chunk holds until it leaves for the client.
pub type Held = (OwnedSemaphorePermit, Reservation);

/// Where the response goes: the dispatcher's channels and the limits on buffering.
pub struct ResponseSink {
    pub head: oneshot::Sender<Reply>,
    pub chunks: mpsc::Sender<Sent<Held>>,
    /// Free bytes of the `write_buffer`.
    pub space: Arc<Semaphore>,
    pub write_buffer: u64,
    pub budget: Arc<MemoryBudget>,
}

/// The I/O state of the request an instance is serving.
pub struct RequestIo {
    /// Site and request id, for log lines.
    pub site: std::sync::Arc<str>,
    pub request_id: u64,
    body: RequestBody,
    pending: Bytes,
    body_done: bool,
    head: Option<oneshot::Sender<Reply>>,
    chunks: mpsc::Sender<Sent<Held>>,
    space: Arc<Semaphore>,
    write_buffer: u64,
    budget: Arc<MemoryBudget>,
    /// HEAD requests run the app as GET would, but its body bytes are dropped.
    discard_body: bool,
}

impl RequestIo {
    pub fn new(
        site: std::sync::Arc<str>,
        request_id: u64,
        body: RequestBody,
        discard_body: bool,
        sink: ResponseSink,
    ) -> Self {
        Self {
            site,
            request_id,
            body,
            pending: Bytes::new(),
            body_done: false,
            head: Some(sink.head),
            chunks: sink.chunks,
            space: sink.space,
            write_buffer: sink.write_buffer,
            budget: sink.budget,
            discard_body,
        }
    }

    /// The head channel, when the guest has not sent its head: the caller answers instead.
    pub fn take_head(&mut self) -> Option<oneshot::Sender<Reply>> {
        self.head.take()
    }

    /// Whether the guest has sent its status and headers.
    pub fn head_sent(&self) -> bool {
        self.head.is_none()
    }

    /// Ends the response stream with an error, so hyper cuts the connection instead of
    /// ending a response that is not whole as if it were.
    pub fn abort(&self, reason: &str) {
        let _ = self.chunks.try_send(Err(reason.to_owned().into()));
    }

    /// Whether the client stopped reading the response (it disconnected).
    pub fn client_gone(&self) -> bool {
        self.chunks.is_closed()
    }

    fn send_head(
        &mut self,
        status: &str,
        headers: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<(), String> {
        let Some(sender) = self.head.take() else {
            return Err("the headers were already sent".into());
        };
        match parse_head(status, headers) {
            Ok(mut head) => {
                head.body = body;
                // The dispatcher may be gone (client disconnected); later calls report that.
                let _ = sender.send(Ok(head));
                Ok(())
            }
            Err(reason) => {
                self.head = Some(sender);
                Err(reason)
            }
        }
    }

    fn io(state: &mut StoreState) -> wasmtime::Result<&mut RequestIo> {
        state
            .request
            .as_mut()
            .ok_or_else(|| wasmtime::format_err!("a host call arrived outside of a request"))
    }
}

impl host::Host for StoreState {
    async fn read_body(&mut self, max: u32) -> wasmtime::Result<Result<Vec<u8>, String>> {
        let io = RequestIo::io(self)?;
        let max = (max as usize).clamp(1, MAX_READ);
        loop {
            if !io.pending.is_empty() {
                let n = max.min(io.pending.len());
                return Ok(Ok(io.pending.split_to(n).to_vec()));
            }
            if io.body_done {
                return Ok(Ok(Vec::new()));
            }
            match io.body.frame().await {
                None => io.body_done = true,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        io.pending = data;
                    }
                }
                Some(Err(error)) => {
                    return Ok(Err(format!("cannot read the request body: {error}")))
                }
            }
        }
    }

    async fn send_headers(
        &mut self,
        status: String,
        headers: Vec<(String, String)>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(RequestIo::io(self)?.send_head(&status, &headers, None))
    }

    async fn send_response(
        &mut self,
        status: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        let io = RequestIo::io(self)?;
        let body = if io.discard_body {
            Bytes::new()
        } else {
            Bytes::from(body)
        };
        Ok(io.send_head(&status, &headers, Some(body)))
    }

    async fn write(&mut self, chunk: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        let io = RequestIo::io(self)?;
        if !io.head_sent() {
            return Ok(Err("write before the headers were sent".into()));
        }
        if chunk.is_empty() || io.discard_body {
            return Ok(Ok(()));
        }
        if io.chunks.is_closed() {
            return Ok(Err("the client went away".into()));
        }
        // Wait for room in the write buffer (a chunk larger than the buffer takes all of it).
        let room = (chunk.len() as u64).min(io.write_buffer) as u32;
        let Ok(space) = io.space.clone().acquire_many_owned(room).await else {
            return Ok(Err("the response was closed".into()));
        };
        let Some(held) = io.budget.try_reserve(chunk.len() as u64) else {
            return Ok(Err("the site's memory budget is full".into()));
        };
        match io
            .chunks
            .send(Ok((Frame::data(Bytes::from(chunk)), (space, held))))
            .await
        {
            Ok(()) => Ok(Ok(())),
            Err(_) => Ok(Err("the client went away".into())),
        }
    }

    async fn log(&mut self, text: String) -> wasmtime::Result<()> {
        let io = RequestIo::io(self)?;
        for line in text.trim_end().lines() {
            tracing::warn!(target: "wsgi.errors", site = %io.site, request = io.request_id, "{line}");
        }
        Ok(())
    }
}

/// Hop-by-hop headers belong to the connection, which the server owns (PEP 3333).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Checks the app's status line and headers and turns them into hyper's types. Header
/// strings are PEP 3333 native strings: each character stands for one latin-1 byte.
fn parse_head(status: &str, headers: &[(String, String)]) -> Result<Head, String> {
    let code = status.get(..3).and_then(|c| c.parse::<u16>().ok());
    let rest = status.get(3..).unwrap_or("");
    let status_code = match code {
        Some(code) if (200..=999).contains(&code) && (rest.is_empty() || rest.starts_with(' ')) => {
            StatusCode::from_u16(code).map_err(|_| format!("bad status `{status}`"))?
        }
        _ => {
            return Err(format!(
                "bad status `{}`: expected `NNN Reason` with NNN from 200 to 999",
                status.escape_debug()
            ))
        }
    };
    let reason_text = latin1(rest.trim_start())
        .ok_or_else(|| format!("bad status `{}`", status.escape_debug()))?;
    let reason = match status_code.canonical_reason() {
        Some(canonical) if canonical.as_bytes() == reason_text.as_slice() => None,
        _ if reason_text.is_empty() => None,
        _ => Some(
            hyper::ext::ReasonPhrase::try_from(reason_text)
                .map_err(|_| format!("bad reason phrase in status `{}`", status.escape_debug()))?,
        ),
    };
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name `{}`", name.escape_debug()))?;
        if HOP_BY_HOP.contains(&header.as_str()) {
            return Err(format!(
                "hop-by-hop header `{name}` is not allowed from a WSGI app"
            ));
        }
        let bytes = latin1(value)
            .ok_or_else(|| format!("header `{name}` has a value that is not latin-1"))?;
        let value = HeaderValue::from_bytes(&bytes)
            .map_err(|_| format!("header `{name}` has a bad value `{}`", value.escape_debug()))?;
        map.append(header, value);
    }
    Ok(Head {
        status: status_code,
        reason,
        headers: map,
        body: None,
    })
}

/// A native string's bytes, when every character is latin-1.
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}
