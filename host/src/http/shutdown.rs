//! Stopping the server: SIGTERM or SIGINT, shared by every listener (the public ones and the
//! admin one). It sits around the request path: `listen.rs` asks it when to stop accepting and
//! hands it each connection; `cli` waits on it before the process exits.
//!
//! On the first signal:
//! 1. every accept loop stops and drops its listener, so the socket is closed at once: new
//!    connections are refused (those still in the kernel's backlog are reset);
//! 2. every connection is told to finish (hyper's graceful shutdown): an idle kept-alive
//!    HTTP/1 connection is closed at once, one with a request in flight is closed after its
//!    whole response went out (a streamed body included), HTTP/2 gets a GOAWAY and finishes
//!    its open streams;
//! 3. `cli` waits until every connection has closed, or `shutdown_timeout` has passed, then
//!    returns: the process exits 0. Connections still open then are cut (the runtime is shut
//!    down without waiting for them), and a warning says how many.
//!
//! A second signal during that wait stops waiting (logged); the process still exits 0. A
//! third one exits at once, whatever is running.
//!
//! App requests are bounded by their own `request_timeout`, so a guest in a long loop ends
//! by itself; past `shutdown_timeout` it is dropped with the runtime like any other task.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hyper_util::server::graceful::GracefulConnection;

use crate::http::conn::Expired;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// Why a tracked connection ended other than cleanly.
#[derive(Debug)]
pub enum Ended<E> {
    /// hyper's error.
    Error(E),
    /// Its timer ran out (`http::conn`) and it was closed.
    Cut,
}

impl<E: std::fmt::Display> std::fmt::Display for Ended<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::Error(error) => error.fmt(f),
            Ended::Cut => f.write_str("timed out: closed"),
        }
    }
}

/// Where the server is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    /// Signalled: no new connections; open ones finish.
    Draining,
    /// Signalled twice: stop waiting for open connections.
    Forced,
}

/// The shared shutdown state: clone it freely.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    phase: watch::Sender<Phase>,
    /// Connections handed to [`Shutdown::track`] that have not closed yet.
    open: watch::Sender<usize>,
}

impl Shutdown {
    /// A shutdown that only [`Shutdown::begin`] and [`Shutdown::force`] trigger.
    pub fn new() -> Shutdown {
        Shutdown {
            inner: Arc::new(Inner {
                phase: watch::Sender::new(Phase::Running),
                open: watch::Sender::new(0),
            }),
        }
    }

    /// A shutdown triggered by SIGTERM and SIGINT: the first begins it, the second forces
    /// it, the third exits the process at once. Call it inside the runtime.
    pub fn install() -> anyhow::Result<Shutdown> {
        let shutdown = Shutdown::new();
        let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        let handle = shutdown.clone();
        tokio::spawn(async move {
            for count in 1.. {
                let name = tokio::select! {
                    Some(()) = terminate.recv() => "SIGTERM",
                    Some(()) = interrupt.recv() => "SIGINT",
                    else => return,
                };
                match count {
                    1 => {
                        tracing::info!(
                            "{name}: shutting down: listeners closed, finishing the requests \
                             in flight ({} connection(s) open)",
                            handle.open_connections()
                        );
                        handle.begin();
                    }
                    2 => {
                        tracing::warn!(
                            "{name} again: exiting without waiting for the requests in flight"
                        );
                        handle.force();
                    }
                    _ => {
                        tracing::warn!("{name} a third time: exiting now");
                        std::process::exit(0);
                    }
                }
            }
        });
        Ok(shutdown)
    }

    /// Starts the shutdown (what the first signal does); again is a no-op.
    pub fn begin(&self) {
        self.inner.phase.send_if_modified(|phase| {
            let running = *phase == Phase::Running;
            if running {
                *phase = Phase::Draining;
            }
            running
        });
    }

    /// Stops waiting for open connections (what the second signal does).
    pub fn force(&self) {
        self.inner.phase.send_replace(Phase::Forced);
    }

    /// Resolves once the shutdown has begun (at once if it already has). Each call is its
    /// own future, so every accept loop and connection can wait on one.
    pub fn signalled(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut phase = self.inner.phase.subscribe();
        async move {
            // The sender lives as long as `self`'s clones; if all are gone, so is the server.
            let _ = phase.wait_for(|phase| *phase != Phase::Running).await;
        }
    }

    /// Connections open now (tracked ones that have not closed).
    pub fn open_connections(&self) -> usize {
        *self.inner.open.borrow()
    }

    /// Counts `connection` as open until it ends, and tells it to finish gracefully once the
    /// shutdown begins. Counted from this call, so call it as the connection is accepted.
    ///
    /// `watch` runs the connection's own timers (`http::conn`): when it resolves, the
    /// connection is cut, or told to finish (HTTP/2 GOAWAY) and cut when the future it
    /// gives resolves, if still open then.
    pub fn track<C, W>(
        &self,
        connection: C,
        watch: W,
    ) -> impl Future<Output = Result<(), Ended<C::Error>>> + Send + 'static
    where
        C: GracefulConnection + Send + 'static,
        W: Future<Output = Expired> + Send + 'static,
    {
        let open = OpenConnection::new(&self.inner);
        let stopping = self.signalled();
        async move {
            let _open = open;
            let mut connection = std::pin::pin!(connection);
            let expired = tokio::select! {
                ended = connection.as_mut() => return ended.map_err(Ended::Error),
                () = stopping => None,
                expired = watch => Some(expired),
            };
            match expired {
                Some(Expired::Cut) => Err(Ended::Cut),
                Some(Expired::GoAway { cut }) => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        ended = connection.as_mut() => ended.map_err(Ended::Error),
                        () = cut => Err(Ended::Cut),
                    }
                }
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await.map_err(Ended::Error)
                }
            }
        }
    }

    /// Waits until every tracked connection has closed, `grace` has passed or the shutdown
    /// is forced; returns how many connections are still open.
    pub async fn drain(&self, grace: Duration) -> usize {
        let mut open = self.inner.open.subscribe();
        let mut phase = self.inner.phase.subscribe();
        tokio::select! {
            _ = open.wait_for(|open| *open == 0) => {}
            _ = phase.wait_for(|phase| *phase == Phase::Forced) => {}
            () = tokio::time::sleep(grace) => {}
        }
        self.open_connections()
    }

    /// What `serve` does once its listeners are closed: [`Self::drain`], then a warning
    /// naming the connections that will be cut.
    pub async fn finish(&self, grace: Duration) {
        let open = self.open_connections();
        if open > 0 {
            tracing::info!(
                "waiting up to {} (shutdown_timeout) for {open} open connection(s)",
                humantime::format_duration(grace)
            );
        }
        let left = self.drain(grace).await;
        if left == 0 {
            return;
        }
        if *self.inner.phase.borrow() == Phase::Forced {
            tracing::warn!("stopping with {left} connection(s) still open: cutting them");
        } else {
            tracing::warn!(
                "shutdown_timeout ({}) passed with {left} connection(s) still open: cutting them",
                humantime::format_duration(grace)
            );
        }
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

/// One open connection in the count, until dropped.
struct OpenConnection(Arc<Inner>);

impl OpenConnection {
    fn new(inner: &Arc<Inner>) -> OpenConnection {
        inner.open.send_modify(|open| *open += 1);
        OpenConnection(inner.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.send_modify(|open| *open -= 1);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Shutdown;

    /// Waits for `future` or fails after a minute (a hang is a failure, not a slow pass).
    async fn within<F: std::future::Future>(future: F) -> F::Output {
        tokio::time::timeout(Duration::from_secs(60), future)
            .await
            .expect("finished within a minute")
    }

    #[tokio::test]
    async fn shutdown_signalled_resolves_for_waiters_before_and_after_it_begins() {
        let shutdown = Shutdown::new();
        let early = tokio::spawn(shutdown.signalled());
        tokio::task::yield_now().await;
        assert!(!early.is_finished(), "resolved before the shutdown began");
        shutdown.begin();
        within(early).await.unwrap();
        within(shutdown.signalled()).await;
    }

    #[tokio::test]
    async fn shutdown_drain_waits_for_open_connections_to_close() {
        let shutdown = Shutdown::new();
        let guard = super::OpenConnection::new(&shutdown.inner);
        assert_eq!(shutdown.open_connections(), 1);
        shutdown.begin();
        let drain = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move { shutdown.drain(Duration::from_secs(3600)).await })
        };
        drop(guard);
        assert_eq!(within(drain).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn shutdown_drain_gives_up_after_the_grace_period_with_the_count() {
        let shutdown = Shutdown::new();
        let _guards = [
            super::OpenConnection::new(&shutdown.inner),
            super::OpenConnection::new(&shutdown.inner),
        ];
        shutdown.begin();
        let left = within(shutdown.drain(Duration::from_millis(50))).await;
        assert_eq!(left, 2);
    }

    #[tokio::test]
    async fn shutdown_forced_stops_the_wait() {
        let shutdown = Shutdown::new();
        let _guard = super::OpenConnection::new(&shutdown.inner);
        shutdown.begin();
        let drain = {
            let shutdown = shutdown.clone();
            tokio::spawn(async move { shutdown.drain(Duration::from_secs(3600)).await })
        };
        shutdown.force();
        assert_eq!(within(drain).await.unwrap(), 1);
        // A later begin() does not undo it.
        shutdown.begin();
        assert_eq!(within(shutdown.drain(Duration::from_secs(3600))).await, 1);
    }
}
