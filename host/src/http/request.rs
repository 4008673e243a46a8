//! The path of one request, after hyper has parsed it:
//!
//! 1. **Checks** (`http::sniff`, `http::checks`): the head alone: Host present and single, request-target
//!    form, framing headers (no CL+TE, one Content-Length, TE ending in `chunked`), sizes
//!    → 400/405/414/431/501, and the connection is closed.
//! 2. **Router**: the request target's authority (absolute form, HTTP/2 `:authority`) wins
//!    over `Host`; no site for it and no default site → the configured `unknown_host`
//!    behaviour (close the connection, or a fixed status).
//! 3. **Static root** (`try_files $uri $uri/ @app`): a file, a directory index, a redirect
//!    or a denial answers here; anything else falls through. Then the same for the folders
//!    of `[static.from_packages]`, under their URL prefixes.
//! 4. **App**: when the decoded path is inside the app's mount (else 404), the body is read
//!    whole within the site's limits (`http::request_body`: 413/408/503/400) *before* the
//!    request waits for an instance (unless the client sent `Expect: 100-continue`: then
//!    the app reads it as it arrives, and `100 Continue` goes out on its first read); `REMOTE_ADDR` comes from `http::forwarded`; then the
//!    site's WSGI app runs with `SCRIPT_NAME` = mount and `PATH_INFO` = the rest.
//!
//! Refusals answer with the fixed page of their status; the reason is logged with the peer.
//!
//! Before step 1 the request gets its id and its start is noted (`observe`): every
//! response, whatever step made it, ends in the request-end hook (access log, metrics),
//! and every log line of the request carries its id.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{header, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use crate::config::{AppConfig, FrontConfig, UnknownHost};
use crate::http::checks::{self, Target};
use crate::http::forwarded;
use crate::http::refusal::Refusal;
use crate::http::request_body::{self, BodyLimits};
use crate::http::sniff::Mark;
use crate::http::state::ServerState;
use crate::response::body::{self, Body, BodyError};
use crate::response::pages;
use crate::sites::catalog::Table;
use crate::static_files::{self, Outcome};
use crate::telemetry::observe::{Hook, Observed, Pending, SiteName, Start, Tag};
use crate::wsgi::pool::SitePool;
use crate::wsgi::{self, environ};

/// The connection is closed without a response (nginx's `return 444`).
#[derive(Debug, thiserror::Error)]
#[error("no site for host `{0}`: connection closed")]
pub struct NoSite(String);

/// How a request arrived: its id, the connection's two ends, and the connection's raw-byte
/// verdict (`http::sniff`).
#[derive(Clone, Copy)]
struct Arrival<'a> {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    mark: &'a Mark,
}

impl ServerState {
    /// Answers one request that arrived on a connection from `peer` to `local`; `mark` says
    /// when the connection's raw bytes showed ambiguous framing (`http::sniff`). The
    /// response's end (or the request's, without one) goes to the request-end hook.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        local: SocketAddr,
        mark: &Mark,
    ) -> Result<Response<Observed>, NoSite> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        // This request keeps the sites it started with, whatever a reload does meanwhile.
        let table = self.catalog.current();
        let trusted = &table.front.trusted_proxies;
        let headers = request.headers();
        let client = || forwarded::client_addr(peer, headers, trusted).ip();
        let start = Start::new(id, &request, client, &self.access_log);
        let hook = Hook {
            metrics: self.metrics.clone(),
            log: self.access_log.clone(),
        };
        let mut pending = Pending::new(hook, start);
        let answer = self
            .answer(
                request,
                Arrival {
                    id,
                    peer,
                    local,
                    mark,
                },
                &table,
                &mut pending.site,
            )
            .await;
        match answer {
            Ok(response) => Ok(pending.respond(response)),
            Err(no_site) => {
                pending.closed();
                Err(no_site)
            }
        }
    }

    /// Steps 1 to 4 for the request that `arrival` numbers; the site that takes it is put
    /// in `routed`.
    async fn answer(
        &self,
        mut request: Request<Incoming>,
        arrival: Arrival<'_>,
        table: &Table,
        routed: &mut Option<Arc<dyn SiteName>>,
    ) -> Result<Response<Body>, NoSite> {
        let Arrival {
            id,
            peer,
            local,
            mark,
        } = arrival;
        if let Some(reason) = mark.get() {
            return Ok(Refusal::bad_request(*reason).respond(peer, None, id));
        }
        let target = match checks::check(&request) {
            Ok(target) => target,
            Err(refusal) => return Ok(refusal.respond(peer, None, id)),
        };
        // HTTP/2 names the host in `:authority`, which `checks` found equal to any `host`
        // field: the app sees it as `HTTP_HOST` (RFC 9113 §8.3.1).
        if request.version() == http::Version::HTTP_2
            && !request.headers().contains_key(header::HOST)
        {
            if let Some(authority) = request.uri().authority() {
                if let Ok(value) = http::HeaderValue::from_str(authority.as_str()) {
                    request.headers_mut().insert(header::HOST, value);
                }
            }
        }
        let Some(site) = table.router.route(target.host.as_deref()) else {
            return match table.unknown_host {
                UnknownHost::Close => Err(NoSite(target.host.unwrap_or_default())),
                UnknownHost::Status(status) => Ok(pages::error(status)),
            };
        };
        *routed = Some(site.clone());
        let tag = Tag {
            site: &site.config.name,
            request: id,
        };
        if target.asterisk {
            // `OPTIONS *` asks about the server, not a resource: nothing to say but yes.
            let mut response = Response::new(body::empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            return Ok(response);
        }
        if let Some(root) = &site.static_root {
            if let Outcome::Response(response) = static_files::serve(
                root,
                request.method(),
                request.uri().path(),
                request.headers(),
                tag,
            )
            .await
            {
                return Ok(response);
            }
        }
        if let Outcome::Response(response) = site
            .package_static
            .serve(
                request.method(),
                request.uri().path(),
                request.headers(),
                tag,
            )
            .await
        {
            return Ok(response);
        }
        let html = pages::accepts_html(request.headers());
        let (Some(pool), Some(app)) = (&site.pool, &site.config.app) else {
            if site.starting {
                // The app's first build is under way (its static files are served already).
                let mut response = pages::error(StatusCode::SERVICE_UNAVAILABLE);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, http::HeaderValue::from_static("5"));
                return Ok(pages::dress(response, html));
            }
            return Ok(pages::error(StatusCode::NOT_FOUND));
        };
        let path = environ::latin1(
            &percent_encoding::percent_decode_str(request.uri().path()).collect::<Vec<u8>>(),
        );
        let Some(path_info) = mounted(&path, &app.mount) else {
            return Ok(pages::error(StatusCode::NOT_FOUND));
        };
        let path_info = path_info.to_owned();
        let limits = BodyLimits {
            max_body: site.config.limits.max_body,
            timeout: site.config.limits.body_timeout,
        };
        let to_app = ToApp {
            front: &table.front,
            pool,
            app,
            target,
            path_info: &path_info,
            limits,
            peer,
            local,
            id,
        };
        match self.to_app(request, to_app).await {
            // The app's failure (500, 502, 503, 504) as a page the client can read.
            Ok(response) => Ok(pages::dress(response, html)),
            Err(refusal) => Ok(refusal.respond(peer, Some(&site.config.name), id)),
        }
    }

    /// Step 4: reads the body within the site's limits, then runs the app.
    async fn to_app(
        &self,
        request: Request<Incoming>,
        to: ToApp<'_>,
    ) -> Result<Response<Body>, Refusal> {
        let (mut parts, body) = request.into_parts();
        let declared = body.size_hint().exact();
        request_body::check_declared(declared, &to.limits)?;
        // A site that wants a length for every body reads even a waiting client's body first.
        let stream_it = expects_continue(&parts) && !to.app.chunked_content_length;
        let (body, body_reservation) = if stream_it {
            // The client waits for `100 Continue`, which hyper sends when the app first
            // reads: the body goes to the app as it arrives.
            let body = request_body::stream(body, &to.limits).boxed_unsync();
            (body, None)
        } else {
            let buffered = request_body::read(body, declared, &to.limits, to.pool.budget()).await?;
            if declared.is_none() && to.app.chunked_content_length {
                let length = http::HeaderValue::from(buffered.bytes.len());
                parts.headers.insert(header::CONTENT_LENGTH, length);
            }
            let body = Full::new(buffered.bytes)
                .map_err(|never| -> BodyError { match never {} })
                .boxed_unsync();
            (body, Some(buffered.reservation))
        };
        // A body without `Content-Length` (chunked, or HTTP/2 without one) reaches the app
        // with no `CONTENT_LENGTH` (unless the site asks for `chunked_content_length`):
        // wsgi.input ends where the body does (`wsgi.input_terminated`), as Werkzeug expects.
        parts.headers.remove(header::TRANSFER_ENCODING);
        let client = forwarded::client_addr(to.peer, &parts.headers, &to.front.trusted_proxies);
        let server_name = to.target.host.unwrap_or_else(|| to.local.ip().to_string());
        let origin = environ::Origin {
            peer: client,
            scheme: forwarded::scheme(to.peer, &parts.headers, &to.front.trusted_proxies),
            host: &server_name,
            port: to.target.port.unwrap_or(to.local.port()),
            script_name: &to.app.mount,
            path_info: to.path_info,
            vars: &to.app.vars,
            pass_authorization: to.app.pass_authorization,
        };
        let app_request = wsgi::AppRequest {
            request_id: to.id,
            environ: environ::build(&parts, &origin),
            body,
            head_only: parts.method == http::Method::HEAD,
            body_reservation,
        };
        Ok(wsgi::dispatch(to.pool.clone(), app_request).await)
    }
}

/// Whether the client waits for `100 Continue` before it sends the body (HTTP/1.1 only;
/// `http::checks` refused any other expectation).
fn expects_continue(parts: &http::request::Parts) -> bool {
    parts.version == http::Version::HTTP_11 && parts.headers.contains_key(header::EXPECT)
}

/// What step 4 needs from the steps before it.
struct ToApp<'a> {
    front: &'a FrontConfig,
    pool: &'a Arc<SitePool>,
    app: &'a AppConfig,
    target: Target,
    path_info: &'a str,
    limits: BodyLimits,
    peer: SocketAddr,
    local: SocketAddr,
    /// The request's id (its log lines', and the app's).
    id: u64,
}

/// `PATH_INFO` for `path` when it is inside `mount` (`""` mounts at the root): `/app`,
/// `/app/` and `/app/x` are inside `/app`; `/apple` is not.
fn mounted<'a>(path: &'a str, mount: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(mount)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::mounted;

    #[test]
    fn mount_splits_script_name_and_path_info() {
        assert_eq!(mounted("/app", "/app"), Some(""));
        assert_eq!(mounted("/app/", "/app"), Some("/"));
        assert_eq!(mounted("/app/x", "/app"), Some("/x"));
        assert_eq!(mounted("/apple", "/app"), None);
        assert_eq!(mounted("/", "/app"), None);
        assert_eq!(mounted("/anything", ""), Some("/anything"));
    }
}
