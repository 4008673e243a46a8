//! The admin listener: health, Prometheus metrics, the status page and reloads, on an
//! address of its own (`admin` in wsgi-wasm.toml, `--admin`; loopback by default), never
//! on the public port.
//!
//! It sits beside the request path, not on it: it reads the catalog (`catalog.rs`), the
//! metrics (`metrics.rs`) and the sites' pools, and asks the reloader (`reload.rs`) for
//! reloads. HTTP/1.1 only, answered by hyper.
//!
//! Who may ask, checked in this order on every request:
//! 1. **Host** (against DNS rebinding: a web page whose name an attacker points at
//!    127.0.0.1 must not read the admin from the victim's browser): only loopback names and
//!    addresses (`localhost`, `127.0.0.0/8`, `[::1]`), the address the client connected to,
//!    and the names in `admin_hosts`, with any port; any other Host, or none, → `421`.
//! 2. **Token** (`admin_token_file`): when set, every route but `/healthz` needs
//!    `Authorization: Bearer <token>` (compared in constant time) → else `401` with
//!    `WWW-Authenticate`. Without a token the listener must be on loopback: the server
//!    refuses to start otherwise (`config::ServerConfig::check_admin_exposure`).
//! 3. **Origin** (against cross-site request forgery): a request that is not `GET`/`HEAD`
//!    with an `Origin` other than `http://<its Host>`, or without `Origin` but with
//!    `Sec-Fetch-Site` other than `same-origin`/`none`, → `403`.
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

pub mod status_page;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
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

use crate::config::host_name::normalize_host;
use crate::config::{AdminToken, ServerConfig};
use crate::http::listen::accept_loop;
use crate::http::state::ServerState;
use crate::sites::reload;

/// Admin connections open at once; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 64;
/// Time a client has to send a request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the admin routes answer from.
struct Admin {
    app: Arc<ServerState>,
    reload: reload::Handle,
    stopping: AtomicBool,
    access: Access,
}

/// Who may use the admin listener (`admin_hosts`, `admin_token_file`), fixed at start.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Host names answered besides the loopback ones, lower-cased, without port.
    pub hosts: Vec<String>,
    pub token: Option<AdminToken>,
}

impl Access {
    pub fn of(server: &ServerConfig) -> Self {
        Access {
            hosts: server.admin_hosts.clone(),
            token: server.admin_token.clone(),
        }
    }
}

/// Binds the admin listener's address; warns when it is not loopback.
pub async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(address).await.with_context(|| {
        format!(
            "cannot listen on `{address}` for the admin listener \
             (`admin` in wsgi-wasm.toml, or `--admin ADDR|off`)"
        )
    })?;
    if !address.ip().is_loopback() {
        tracing::warn!(
            "the admin listener on {address} is not on loopback: whoever has its token \
             (`admin_token_file`) and reaches it can read the metrics and the sites' errors, \
             and reload"
        );
    }
    Ok(listener)
}

/// Serves the admin routes on `listener` for the life of the process; once `shutdown`
/// resolves, `/healthz` answers `503 stopping`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<ServerState>,
    reload: reload::Handle,
    access: Access,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let admin = Arc::new(Admin {
        app,
        reload,
        stopping: AtomicBool::new(false),
        access,
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    // The admin listener outlives the shutdown's start: while connections drain it says
    // `stopping` on `/healthz`, so a load balancer takes the node out.
    tokio::spawn({
        let admin = admin.clone();
        async move {
            shutdown.await;
            admin.stopping.store(true, Ordering::Relaxed);
        }
    });
    let full = "admin listener: all its connections are in use";
    let forever = std::future::pending();
    accept_loop(
        &listener,
        &permits,
        full,
        forever,
        |stream, peer, permit| {
            let admin = admin.clone();
            let local = stream.local_addr().ok().map(|a| a.ip());
            let service = service_fn(move |request| {
                let admin = admin.clone();
                async move {
                    let answer = match admin.refusal(&request, local) {
                        Some(refused) => refused,
                        None => admin.answer(request).await,
                    };
                    Ok::<_, Infallible>(answer)
                }
            });
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, "admin connection ended: {error}");
                }
                drop(permit);
            });
        },
    )
    .await;
}

impl Admin {
    /// Steps 1 to 3 of the module's doc: the answer to a request that may not go on.
    fn refusal(
        &self,
        request: &Request<Incoming>,
        local: Option<IpAddr>,
    ) -> Option<Response<Full<Bytes>>> {
        let headers = request.headers();
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .filter(|host| self.host_allowed(host, local));
        let Some(host) = host else {
            tracing::warn!(
                host = ?headers.get(header::HOST),
                "admin: refused a request for a host that is not this listener"
            );
            return Some(text(
                StatusCode::MISDIRECTED_REQUEST,
                "the admin listener answers only to loopback names and addresses \
                 and to `admin_hosts`\n"
                    .into(),
            ));
        };
        if let Some(token) = &self.access.token {
            let given = headers
                .get(header::AUTHORIZATION)
                .map(|value| value.as_bytes())
                .and_then(|value| {
                    let (scheme, rest) = value.split_at_checked(7)?;
                    scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
                });
            let allowed = request.uri().path() == "/healthz"
                || given.is_some_and(|given| token.matches(given));
            if !allowed {
                let mut response = text(
                    StatusCode::UNAUTHORIZED,
                    "this admin route needs `Authorization: Bearer <token>` \
                     (the content of `admin_token_file`)\n"
                        .into(),
                );
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"wsgi-wasm admin\""),
                );
                return Some(response);
            }
        }
        let method = request.method();
        if method != Method::GET && method != Method::HEAD && !same_origin(headers, host) {
            tracing::warn!(
                host,
                origin = ?headers.get(header::ORIGIN),
                "admin: refused a cross-origin {method}"
            );
            return Some(text(
                StatusCode::FORBIDDEN,
                "cross-origin requests may not change the server\n".into(),
            ));
        }
        None
    }

    /// Whether `host` (a Host field) names the admin listener, not a name an attacker
    /// pointed at it.
    fn host_allowed(&self, host: &str, local: Option<IpAddr>) -> bool {
        let Some((name, _port)) = normalize_host(host) else {
            return false;
        };
        if name == "localhost" || self.access.hosts.contains(&name) {
            return true;
        }
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || Some(ip) == local,
            Err(_) => false,
        }
    }

    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
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

/// Whether a request that changes the server comes from the admin's own pages (or from
/// no page at all, as `curl` and `wsgi-wasm reload` send it).
fn same_origin(headers: &http::HeaderMap, host: &str) -> bool {
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = format!("http://{host}");
        return origin.as_bytes().eq_ignore_ascii_case(own.as_bytes());
    }
    match headers.get("sec-fetch-site") {
        Some(site) => matches!(site.as_bytes(), b"same-origin" | b"none"),
        None => true,
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
