//! The front end: accepts connections, speaks HTTP/1.1 and HTTP/2 (h2c) through hyper, and
//! walks each request down the path: request checks → router → site app.
//!
//! `serve(listener, app, shutdown)` owns the accept loop so tests and the CLI run the same
//! code. Accept errors are logged and retried after a pause, never returned.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{header, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::body::Body;
use crate::pages;
use crate::router::{normalize_host, Router};
use crate::sites::LiveSite;
use crate::wsgi::{self, environ};

/// How long a client may take to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Everything a request needs from the server.
pub struct App {
    pub router: Router<Arc<LiveSite>>,
    next_request: AtomicU64,
}

impl App {
    pub fn new(sites: &[Arc<LiveSite>]) -> Self {
        let router = Router::new(sites.iter().map(|s| {
            (
                s.config.server_names.as_slice(),
                s.config.default,
                s.clone(),
            )
        }));
        Self {
            router,
            next_request: AtomicU64::new(1),
        }
    }
}

/// Why a connection is closed without any response (nginx's `return 444`).
#[derive(Debug, thiserror::Error)]
#[error("no site for host `{0}`: connection closed")]
struct NoSite(String);

/// Serves connections from `listener` until `shutdown` resolves, then lets requests in
/// flight finish (up to a grace period).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: impl Future<Output = ()>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder.http2().timer(TokioTimer::new());
    let local = listener.local_addr().ok();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!("accept failed: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok().or(local).unwrap_or(peer);
        let app = app.clone();
        let service = service_fn(move |request| {
            let app = app.clone();
            async move { handle(&app, request, peer, local).await }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "connection ended: {error}");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
}

/// One request, from checks to response.
async fn handle(
    app: &App,
    request: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Body>, NoSite> {
    let hosts = request.headers().get_all(header::HOST).iter().count();
    let authority = request.uri().authority().map(|a| a.as_str().to_owned());
    let named = match (&authority, request.headers().get(header::HOST)) {
        (Some(authority), _) => Some(authority.clone()),
        (None, Some(value)) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        (None, None) => None,
    };
    if hosts > 1 || (hosts == 0 && authority.is_none() && request.version() == Version::HTTP_11) {
        return Ok(pages::error(StatusCode::BAD_REQUEST));
    }
    let (host, port) = match named.as_deref().map(normalize_host) {
        Some(Some((host, port))) => (Some(host), port),
        Some(None) => return Ok(pages::error(StatusCode::BAD_REQUEST)),
        None => (None, None),
    };
    let Some(site) = app.router.route(host.as_deref()) else {
        return Err(NoSite(host.unwrap_or_default()));
    };
    let request_id = app.next_request.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = request.into_parts();
    let server_name = host.unwrap_or_else(|| local.ip().to_string());
    let origin = environ::Origin {
        peer,
        local,
        host: &server_name,
        port: port.unwrap_or(local.port()),
        script_name: "",
        pass_authorization: false,
    };
    let environ = environ::build(&parts, &origin);
    let app_request = wsgi::AppRequest {
        request_id,
        environ,
        body: body
            .map_err(|e| Box::new(e) as crate::body::BodyError)
            .boxed_unsync(),
        head_only: parts.method == http::Method::HEAD,
    };
    Ok(wsgi::dispatch(site.pool.clone(), app_request).await)
}
