//! The request-end hook: what happens once per request, when its response is over.
//!
//! Where it sits: `ServerState::handle` (`request.rs`) numbers each request and notes its start
//! ([`Start`]) before anything else, so refusals, static files, unknown hosts and app
//! requests alike have a request id (the one their log lines carry and the app's
//! `AppRequest` gets). Every response's body is then wrapped in an [`Observed`] body that
//! counts the body bytes handed to the connection and, when the body ends or is dropped
//! (the client went away, the response was cut, HEAD), runs the hook exactly once:
//!
//! - the access log line (`access_log.rs`), when one is configured: the request's details
//!   are gathered at its start only then;
//! - `Metrics::observe_request` with the site, status, duration and the site limit the
//!   request ran into (the response's [`Breach`] extension, set where the refusal is made).
//!
//! The wrapper adds no allocation per chunk: one counter and the inner body's own calls.
//! A request closed without a response (an unknown host under `unknown_host = "close"`)
//! is logged at once with status 444, as nginx does.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body::{Frame, SizeHint};

use crate::response::body::{Body, BodyError};
use crate::telemetry::access_log::{AccessLog, Entry};
use crate::telemetry::metrics::{Breach, Metrics};

/// The instance that ran the app for this response: a response extension set by the WSGI
/// dispatcher, read by the hook for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceId(pub u64);

/// A site as the hook sees it: its name. The request holds its site through the hook until
/// the response is over, so the site (its pool, its build) outlives every request it took.
pub trait SiteName: Send + Sync {
    fn site_name(&self) -> &str;
}

/// The status logged for a connection closed without a response (nginx's 444).
pub const CLOSED_WITHOUT_RESPONSE: u16 = 444;

/// What the hook knows from the start of a request.
pub struct Start {
    pub id: u64,
    at: Instant,
    head: bool,
    /// The access log entry with the request's details filled in, when the log is on.
    entry: Option<Box<Entry>>,
}

impl Start {
    /// Notes the start of request `id`; gathers the details the access log needs (among
    /// them the client's address, from `client`) only when `log` is on.
    pub fn new<B>(
        id: u64,
        request: &Request<B>,
        client: impl FnOnce() -> IpAddr,
        log: &AccessLog,
    ) -> Start {
        let at = Instant::now();
        let head = request.method() == http::Method::HEAD;
        let entry = log.enabled().then(|| {
            let headers = request.headers();
            Box::new(Entry {
                remote_addr: client(),
                remote_user: basic_user(headers),
                method: request.method().clone(),
                uri: request.uri().clone(),
                version: request.version(),
                referer: headers.get(header::REFERER).cloned(),
                user_agent: headers.get(header::USER_AGENT).cloned(),
                time: SystemTime::UNIX_EPOCH,
                status: 0,
                bytes: 0,
                site: None,
                request_id: id,
                duration: Default::default(),
                instance: None,
            })
        });
        Start {
            id,
            at,
            head,
            entry,
        }
    }
}

/// Where the hook reports to: the server's metrics and access log.
#[derive(Clone)]
pub struct Hook {
    pub metrics: Arc<Metrics>,
    pub log: AccessLog,
}

/// A request being answered. Dropped without an answer (the connection went away while
/// the request waited or ran), it reports status 499, as nginx logs it.
pub struct Pending {
    begun: Option<(Hook, Start)>,
    /// The site that took the request, once it is routed.
    pub site: Option<Arc<dyn SiteName>>,
}

/// The status logged for a request whose client went away before the response began.
pub const CLIENT_CLOSED: u16 = 499;

impl Pending {
    pub fn new(hook: Hook, start: Start) -> Pending {
        Pending {
            begun: Some((hook, start)),
            site: None,
        }
    }

    /// Wraps the response so the hook runs when its body is over.
    pub fn respond(mut self, response: Response<Body>) -> Response<Observed> {
        let (hook, start) = self.begun.take().expect("a pending request has begun");
        let status = response.status();
        let breach = response.extensions().get::<Breach>().copied();
        let instance = response.extensions().get::<InstanceId>().map(|i| i.0);
        let site = self.site.take();
        response.map(|inner| Observed {
            inner,
            bytes: 0,
            done: false,
            end: End {
                hook,
                start,
                site,
                status,
                breach,
                instance,
            },
        })
    }

    /// Reports a request answered by closing the connection (444).
    pub fn closed(mut self) {
        self.end(CLOSED_WITHOUT_RESPONSE);
    }

    fn end(&mut self, status: u16) {
        let Some((hook, start)) = self.begun.take() else {
            return;
        };
        End {
            hook,
            start,
            site: self.site.take(),
            status: StatusCode::from_u16(status).expect("a valid status"),
            breach: None,
            instance: None,
        }
        .finish(0);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.end(CLIENT_CLOSED);
    }
}

/// The site and request a log event belongs to, for code below the request path's top
/// (static files) that has neither otherwise.
#[derive(Debug, Clone, Copy)]
pub struct Tag<'a> {
    pub site: &'a str,
    pub request: u64,
}

/// What the hook reports when the body is over.
struct End {
    hook: Hook,
    start: Start,
    site: Option<Arc<dyn SiteName>>,
    status: StatusCode,
    breach: Option<Breach>,
    instance: Option<u64>,
}

impl End {
    fn finish(&mut self, bytes: u64) {
        let elapsed = self.start.at.elapsed();
        let site = self.site.as_ref().map(|s| s.site_name());
        self.hook
            .metrics
            .observe_request(site, self.status, elapsed, self.breach);
        if let Some(mut entry) = self.start.entry.take() {
            entry.time = SystemTime::now();
            entry.status = self.status.as_u16();
            entry.bytes = if self.start.head { 0 } else { bytes };
            entry.site = site.map(str::to_owned);
            entry.duration = elapsed;
            entry.instance = self.instance;
            self.hook.log.log(entry);
        }
    }
}

/// A response body that runs the request-end hook once, when it ends or is dropped.
pub struct Observed {
    inner: Body,
    /// Body bytes handed to the connection so far.
    bytes: u64,
    done: bool,
    end: End,
}

impl Observed {
    fn finish(&mut self) {
        if !self.done {
            self.done = true;
            self.end.finish(self.bytes);
        }
    }
}

impl http_body::Body for Observed {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes += data.len() as u64;
                }
            }
            Poll::Ready(Some(Err(error))) => {
                // The app's dispatcher logs its own cuts; others (a static file that
                // failed mid-read) are logged here, where the request is known.
                if this.end.instance.is_none() {
                    let site = this.end.site.as_ref().map(|s| s.site_name());
                    tracing::warn!(
                        site = site.unwrap_or("-"),
                        request = this.end.start.id,
                        "response cut: {error}; connection closed"
                    );
                }
                this.finish();
            }
            Poll::Ready(None) => this.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The user name of `Authorization: Basic …` (`$remote_user`).
fn basic_user(headers: &http::HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, rest) = value.split_at(value.iter().position(|&b| b == b' ')?);
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim_ascii())
        .ok()?;
    let user = decoded.split(|&b| b == b':').next()?;
    Some(String::from_utf8_lossy(user).into_owned())
}

#[cfg(test)]
mod tests {
    use super::basic_user;
    use http::{header, HeaderMap, HeaderValue};

    fn user(value: &'static str) -> Option<String> {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        basic_user(&headers)
    }

    #[test]
    fn observe_remote_user_is_the_basic_auth_name() {
        // "alice:secret:with:colons"
        assert_eq!(
            user("Basic YWxpY2U6c2VjcmV0OndpdGg6Y29sb25z").as_deref(),
            Some("alice")
        );
        assert_eq!(user("basic  YWxpY2U6").as_deref(), Some("alice"));
        assert_eq!(user("Bearer abc"), None);
        assert_eq!(user("Basic !!!"), None);
        assert_eq!(basic_user(&HeaderMap::new()), None);
    }
}
