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
//! - `header_timeout`: hyper's `header_read_timeout` (HTTP/1): a client that does not send
//!   a whole request head in time is disconnected. The timer starts whenever the connection
//!   waits for a head, so it is also the idle timeout of a kept-alive connection.
//! - Heads over `front::checks::MAX_HEAD` bytes or with over 100 header lines → 431 (hyper;
//!   the HTTP/1 read buffer is capped at that size, bodies stream through it in pieces).
//!   Bodies are bounded per site, on the request path (`front::request_body`).

use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::front::checks::MAX_HEAD;
use crate::front::sniff::Sniffed;
use crate::request::App;
use crate::shutdown::Shutdown;

/// Serves connections from `listener` until the shutdown begins, then closes it and
/// returns; the connections it accepted finish on their own tasks, counted by `shutdown`
/// (whose [`Shutdown::finish`] waits for them).
pub async fn serve(listener: TcpListener, app: Arc<App>, shutdown: Shutdown) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(app.front().header_timeout)
        .max_buf_size(MAX_HEAD);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_HEAD as u32);
    let connections: &Arc<Semaphore> = app.connections();
    let local = listener.local_addr().ok();
    let stopping = shutdown.signalled();
    tokio::pin!(stopping);
    loop {
        if connections.available_permits() == 0 {
            tracing::warn!("max_connections reached: new connections wait until one closes");
        }
        let permit = tokio::select! {
            biased;
            () = &mut stopping => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut stopping => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    tracing::warn!("accept failed: {error}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().ok().or(local).unwrap_or(peer);
        let app = app.clone();
        let (stream, mark) = Sniffed::new(stream);
        let service = service_fn(move |request| {
            let (app, mark) = (app.clone(), mark.clone());
            async move { app.handle(request, peer, local, &mark).await }
        });
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .into_owned();
        let connection = shutdown.track(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%peer, "connection ended: {error}");
            }
            drop(permit);
        });
    }
    // Closed now, not when the connections are done: new connections are refused.
    drop(listener);
    if let Some(local) = local {
        tracing::info!("stopped listening on {local}");
    }
}
