//! The front end: accepts connections and speaks HTTP/1.1 and HTTP/2 (h2c) through hyper;
//! each request then goes down the path in `request.rs`.
//!
//! `serve(listener, app, shutdown)` owns the accept loop so tests and the CLI run the same
//! code. Accept errors are logged and retried after a pause, never returned. On shutdown
//! (`shutdown.rs`) the loop ends and drops the listener, closing the socket, and each
//! connection, tracked from its accept, is told to finish what it is doing and close.
//!
//! Connection limits live here, the same for every site (`wsgi-wasm.toml`):
//! - `max_connections`: a connection holds a permit until it closes; at the cap the loop
//!   stops accepting, so new clients wait in the kernel's listen backlog (and time out on
//!   their side) rather than being cut, and are served as soon as a connection closes.
//!   The permits are shared by every listener.
//! - `max_connections_per_ip`: beyond it, a new connection from the same client address is
//!   closed at once (`http::conn::PeerCounts`).
//! - `header_timeout`: hyper's `header_read_timeout` (HTTP/1): a client that does not send
//!   a whole request head in time is disconnected. The timer starts whenever the connection
//!   waits for a head, so it is also the idle timeout of a kept-alive connection. Before
//!   that, from the accept, a connection has as long to show its protocol (hyper's auto
//!   builder waits for those bytes without a timer; `http::conn::Watch`).
//! - `idle_timeout` (HTTP/2): GOAWAY once no stream has been open for that long; the server
//!   PINGs every `idle_timeout`, and a peer that does not answer within `header_timeout` is
//!   disconnected (hyper's `keep_alive_interval`/`keep_alive_timeout`).
//! - All of them but `max_connections` are read at each accept: a reload changes them for
//!   the connections accepted after it.
//! - Heads over `http::checks::MAX_HEAD` bytes or with over 100 header lines → 431 (hyper;
//!   the HTTP/1 read buffer is capped at that size, bodies stream through it in pieces).
//!   Bodies are bounded per site, on the request path (`http::request_body`).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::FrontConfig;
use crate::http::checks::MAX_HEAD;
use crate::http::conn::{Activity, Tracked, Watch, Watched};
use crate::http::request::NoSite;
use crate::http::shutdown::Shutdown;
use crate::http::sniff::Sniffed;
use crate::http::state::ServerState;

/// Serves connections from `listener` until the shutdown begins, then closes it and
/// returns; the connections it accepted finish on their own tasks, counted by `shutdown`
/// (whose [`Shutdown::finish`] waits for them).
pub async fn serve(listener: TcpListener, app: Arc<ServerState>, shutdown: Shutdown) {
    let local = listener.local_addr().ok();
    let permits = app.connections().clone();
    let limit = "max_connections reached";
    accept_loop(
        &listener,
        &permits,
        limit,
        shutdown.signalled(),
        |stream, peer, permit| {
            let front = app.front();
            let Some(slot) = app.peers().admit(peer.ip(), &front, &front.trusted_proxies) else {
                // Closed now, not queued: one client may not fill `max_connections`.
                drop(stream);
                return;
            };
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().ok().or(local).unwrap_or(peer);
            let app = app.clone();
            let activity = Activity::new();
            let (stream, mark) = Sniffed::new(Watched::new(stream, activity.clone()));
            let watch = Watch::new(&activity, &front);
            let service = service_fn(move |request| {
                let (app, mark) = (app.clone(), mark.clone());
                let stream = activity.stream();
                async move {
                    let response = app.handle(request, peer, local, &mark).await?;
                    Ok::<_, NoSite>(response.map(|body| Tracked::new(body, stream)))
                }
            });
            let connection = builder(&front)
                .serve_connection(TokioIo::new(stream), service)
                .into_owned();
            let connection = shutdown.track(connection, watch.expired());
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%peer, "connection ended: {error}");
                }
                drop(slot);
                drop(permit);
            });
        },
    )
    .await;
    // Closed now, not when the connections are done: new connections are refused.
    drop(listener);
    if let Some(local) = local {
        tracing::info!("stopped listening on {local}");
    }
}

/// The accept loop of every listener, public and admin: each connection first takes one
/// of `permits` (at the cap the loop stops accepting, so new clients wait in the kernel's
/// listen backlog, and `full` is logged), then goes to `serve` with its permit, which it
/// holds until the connection closes. Accept errors (out of descriptors, a reset in the
/// backlog) are logged and retried after a pause, never returned. Ends when `until`
/// resolves.
pub async fn accept_loop(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
    full: &str,
    until: impl Future<Output = ()>,
    mut serve: impl FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit),
) {
    tokio::pin!(until);
    loop {
        if permits.available_permits() == 0 {
            tracing::warn!("{full}: new connections wait until one closes");
        }
        let permit = tokio::select! {
            biased;
            () = &mut until => return,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut until => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!("accept failed: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        serve(stream, peer, permit);
    }
}

/// hyper's settings for one connection, from the front end's settings at its accept.
fn builder(front: &FrontConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(front.header_timeout)
        .max_buf_size(MAX_HEAD);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(front.idle_timeout))
        .keep_alive_timeout(front.header_timeout)
        .max_header_list_size(MAX_HEAD as u32);
    builder
}
