//! The admin listener: health, Prometheus metrics, the status page and reloads, on an
//! address of its own (`admin` in wsgi-wasm.toml, `--admin`; loopback by default), never
//! on the public port.
//!
//! It sits beside the request path, not on it: it reads the catalog (`catalog.rs`), the
//! metrics (`metrics.rs`) and the sites' pools, and asks the reloader (`reload.rs`) for
//! reloads. HTTP/1.1 only, answered by hyper; no authentication, which is why it binds to
//! loopback unless told otherwise. Against DNS rebinding it answers only a loopback `Host`
//! (or its own address), and a `POST` only from its own origin.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | `200 ok`; `503 stopping` once the shutdown began |
//! | `GET /metrics` | the Prometheus exposition (OpenMetrics text) |
//! | `GET /` | the status page (`status_page.rs`) |
//! | `GET /status.json` | the status page's data |
//! | `GET /status.js`, `/status.css` | the status page's script and style |
//! | `POST /reload` | rereads the configuration: `200` with what changed, `409` with why it was rejected |
//!
//! Other paths are 404; a known path with another method is 405 with `Allow`. `HEAD` is
//! answered like `GET` (hyper leaves the body out).
//!
//! The admin listener outlives the shutdown signal: while the public listeners drain, it
//! keeps answering (`/healthz` says `stopping`), and it ends with the process.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::reload;
use crate::request::App;
use crate::status_page;

/// Admin connections open at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin routes answer from.
struct Admin {
    /// The listener's own address: the one non-loopback `Host` it answers.
    local: Option<SocketAddr>,
    app: Arc<App>,
    reload: reload::Handle,
    stopping: AtomicBool,
}

/// Binds the admin listener's address; warns when it is not loopback (there is no
/// authentication).
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(address).await.with_context(|| {
        format!(
            "cannot listen on `{address}` for the admin listener \
             (`admin` in wsgi-wasm.toml, or `--admin ADDR|off`)"
        )
    })?;
    if !address.ip().is_loopback() {
        tracing::warn!(
            "the admin listener on {address} is not on loopback: it has no authentication, \
             so whoever reaches it can read the metrics and the sites' errors, and reload"
        );
    }
    Ok(listener)
}

/// Serves the admin routes on `listener` for the life of the process; once `shutdown`
/// resolves, `/healthz` answers `503 stopping`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    reload: reload::Handle,
    shutdown: impl Future<Output = ()>,
) {
    let admin = Arc::new(Admin {
        local: listener.local_addr().ok(),
        app,
        reload,
        stopping: AtomicBool::new(false),
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    tokio::pin!(shutdown);
    let mut signalled = false;
    loop {
        let permit = tokio::select! {
            biased;
            () = &mut shutdown, if !signalled => {
                signalled = true;
                admin.stopping.store(true, Ordering::Relaxed);
                continue;
            }
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown, if !signalled => {
                signalled = true;
                admin.stopping.store(true, Ordering::Relaxed);
                continue;
            }
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!("admin listener: accept failed: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let admin = admin.clone();
        let service = service_fn(move |request| {
            let admin = admin.clone();
            async move { Ok::<_, Infallible>(admin.answer(request).await) }
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "admin connection ended: {error}");
            }
            drop(permit);
        });
    }
}

impl Admin {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        if let Err(refusal) = self.check_origin(&request) {
            return refusal;
        }
        let method = request.method();
        let get = method == Method::GET || method == Method::HEAD;
        match request.uri().path() {
            "/healthz" if get => {
                if self.stopping.load(Ordering::Relaxed) {
                    text(StatusCode::SERVICE_UNAVAILABLE, "stopping\n".into())
                } else {
                    text(StatusCode::OK, "ok\n".into())
                }
            }
            "/metrics" if get => {
                let live = status_page::live(&self.app);
                let body = self.app.metrics().encode(&live);
                reply(
                    StatusCode::OK,
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    body.into(),
                )
            }
            "/" if get => {
                let status = status_page::survey(&self.app, self.stopping());
                let html = status_page::html(&status);
                let mut response = reply(StatusCode::OK, "text/html; charset=utf-8", html.into());
                // Site errors are shown on the page: nothing in it may run but its own script.
                response.headers_mut().insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(status_page::CONTENT_SECURITY_POLICY),
                );
                response
            }
            "/status.js" if get => reply(
                StatusCode::OK,
                "text/javascript; charset=utf-8",
                Bytes::from_static(status_page::SCRIPT.as_bytes()),
            ),
            "/status.css" if get => reply(
                StatusCode::OK,
                "text/css; charset=utf-8",
                Bytes::from_static(status_page::STYLE.as_bytes()),
            ),
            "/status.json" if get => {
                let status = status_page::survey(&self.app, self.stopping());
                let json = status_page::json(&status);
                reply(StatusCode::OK, "application/json", json.into())
            }
            "/reload" if method == Method::POST => self.reload().await,
            "/healthz" | "/metrics" | "/" | "/status.json" | "/status.js" | "/status.css" => {
                not_allowed("GET, HEAD")
            }
            "/reload" => not_allowed("POST"),
            _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
        }
    }

    /// Against DNS rebinding and cross-site requests from the operator's browser: the `Host`
    /// must be a loopback name or address, or the listener's own address; a `POST` must come
    /// from the admin's own origin (`Origin`, else `Sec-Fetch-Site`).
    #[allow(clippy::result_large_err)]
    fn check_origin(&self, request: &Request<Incoming>) -> Result<(), Response<Full<Bytes>>> {
        let refuse = |why: &str| Err(text(StatusCode::FORBIDDEN, format!("{why}\n")));
        let Some(host) = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(text(
                StatusCode::BAD_REQUEST,
                "a Host header is required\n".into(),
            ));
        };
        let name = crate::router::normalize_host(host).map(|(name, _)| name);
        let allowed = name.as_deref().is_some_and(|name| {
            let ip = name
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .ok();
            name == "localhost"
                || ip.is_some_and(|ip| {
                    ip.is_loopback() || self.local.is_some_and(|local| local.ip() == ip)
                })
        });
        if !allowed {
            tracing::warn!(
                host,
                "admin: refused a request for a host that is not this listener"
            );
            return refuse("the admin listener answers loopback host names only");
        }
        if request.method() == Method::POST {
            let headers = request.headers();
            let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
            let cross = match origin {
                Some(origin) => origin != format!("http://{host}"),
                None => headers
                    .get("sec-fetch-site")
                    .is_some_and(|v| v.as_bytes() != b"same-origin" && v.as_bytes() != b"none"),
            };
            if cross {
                tracing::warn!(host, ?origin, "admin: refused a cross-origin POST");
                return refuse("cross-origin requests may not change the server");
            }
        }
        Ok(())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// `POST /reload`: what the reloader says, as the answer's status and text.
    async fn reload(&self) -> Response<Full<Bytes>> {
        match self.reload.reload("admin /reload").await {
            Ok(summary) => text(StatusCode::OK, format!("{summary}\n")),
            // The reloader itself is gone: not something a new configuration would fix.
            Err(why) if why.starts_with("the reloader") => {
                text(StatusCode::INTERNAL_SERVER_ERROR, format!("{why}\n"))
            }
            Err(why) => text(StatusCode::CONFLICT, format!("{why}\n")),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    reply(status, "text/plain; charset=utf-8", body.into())
}

fn not_allowed(allow: &'static str) -> Response<Full<Bytes>> {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed\n".into(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
