//! Runs one request through a site's app and turns what the guest sends into a response.
//!
//! The guest runs in its own task: the response is returned as soon as the guest sends its
//! headers, and its body streams from the guest's `write` calls while the app keeps running.
//! Failures map to statuses here, for this request only:
//! - no instance: queue full or timed out, or the site's memory budget full → 503 with
//!   `Retry-After`;
//! - the request's wall-clock `request_timeout` or its `cpu_time` ran out → 504;
//! - the app raised, returned a bad head, or the instance trapped → 500.
//!
//! After the headers went out, a failure cuts the connection instead, so a half response
//! never looks whole. The reason and any traceback are in the log, tagged with site and
//! request id. An instance that trapped, timed out or ran out of memory is thrown away.
//!
//! The response carries the id of the instance that ran the app (`observe::InstanceId`),
//! for the access log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{header, HeaderValue, Response, StatusCode};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::head::{Head, Whole};
use super::io::{Failure, RequestBody, RequestIo, ResponseSink};
use crate::config::Isolation;
use crate::response::body::{self, Body};
use crate::response::pages;
use crate::runtime::budget::Reservation;
use crate::runtime::data_lock;
use crate::telemetry::metrics::Breach;
use crate::telemetry::observe::InstanceId;
use crate::wsgi::pool::SitePool;
use crate::wsgi::pool::{Busy, Lease};

/// Response chunks queued between the guest and the client (their bytes are bounded by the
/// site's `write_buffer` separately).
const QUEUED_CHUNKS: usize = 64;

/// One request, ready for the guest.
pub struct AppRequest {
    pub request_id: u64,
    pub environ: Vec<(String, String)>,
    pub body: RequestBody,
    /// A HEAD request: the app runs, its body is not sent.
    pub head_only: bool,
    /// The site's budget held for the buffered request body, until the request ends.
    pub body_reservation: Option<Reservation>,
}

/// Runs `request` on an instance of the site and answers with what the app produced.
pub async fn dispatch(pool: Arc<SitePool>, request: AppRequest) -> Response<Body> {
    let (head_sender, head_receiver) = oneshot::channel();
    let (chunk_sender, chunk_receiver) = mpsc::channel(QUEUED_CHUNKS);
    let (cut_sender, cut_receiver) = oneshot::channel();
    let write_buffer = pool.limits().write_buffer;
    let sink = ResponseSink {
        head: head_sender,
        chunks: chunk_sender,
        cut: cut_sender,
        space: Arc::new(Semaphore::new(write_buffer.min(u32::MAX as u64) as usize)),
        write_buffer,
        budget: pool.budget().clone(),
    };
    // Set by the task once it has an instance (0: none).
    let instance = Arc::new(AtomicU64::new(0));
    tokio::spawn(run(pool, request, sink, instance.clone()));
    let mut response = match head_receiver.await {
        Ok(Ok(Head {
            status,
            reason,
            headers,
            body: whole,
        })) => {
            let body = match whole {
                Some(Whole {
                    bytes,
                    short: false,
                }) => body::full(bytes),
                Some(Whole { bytes, short: true }) => body::cut_short(bytes),
                None => body::channel(chunk_receiver, cut_receiver),
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            if let Some(reason) = reason {
                response.extensions_mut().insert(reason);
            }
            response
        }
        Ok(Err(Failure {
            status,
            retry_after,
            breach,
        })) => {
            let mut response = pages::error(status);
            if let Some(breach) = breach {
                response.extensions_mut().insert(breach);
            }
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            response
        }
        // The task ended without a word; it logged why.
        Err(_) => pages::error(StatusCode::INTERNAL_SERVER_ERROR),
    };
    match instance.load(Ordering::Acquire) {
        0 => {}
        id => {
            response.extensions_mut().insert(InstanceId(id));
        }
    }
    response
}

/// How a call ended, as far as the pool and the client are concerned.
enum Ending {
    Clean,
    /// The app failed; the instance is still sound.
    AppError(String),
    /// The instance must be thrown away; the status for a client that has no head yet.
    Broken(StatusCode, String),
}

async fn run(
    pool: Arc<SitePool>,
    mut request: AppRequest,
    sink: ResponseSink,
    instance: Arc<AtomicU64>,
) {
    let site = pool.site().clone();
    let id = request.request_id;
    // The site's data lock (if it has writable data) is held by this task until it ends.
    let method = data_lock::method_of(&request.environ);
    let (data_guard, mut lease) = match pool.admit(method, id).await {
        Ok(admitted) => admitted,
        Err(busy) => {
            let (status, retry_after) = match &busy {
                Busy::Failed(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
                Busy::QueueFull(_)
                | Busy::QueueTimeout(_)
                | Busy::Budget
                | Busy::DataLock(_)
                | Busy::PoolFull(_) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(pool.limits().queue_timeout.as_secs().max(1)),
                ),
            };
            let breach = match &busy {
                Busy::Failed(_) => None,
                Busy::Budget => Some(Breach::Memory),
                Busy::QueueFull(_)
                | Busy::QueueTimeout(_)
                | Busy::DataLock(_)
                | Busy::PoolFull(_) => Some(Breach::Overload),
            };
            tracing::warn!(site = %site, request = id, "no instance for the request: {busy:#}");
            let _ = sink.head.send(Err(Failure {
                status,
                retry_after,
                breach,
            }));
            return;
        }
    };
    if pool.limits().isolation == Isolation::Request {
        request.environ.push(("wsgi.run_once".into(), "1".into()));
    }
    instance.store(lease.instance.id, Ordering::Release);
    pool.begin(&mut lease.instance);
    let io = RequestIo::new(site.clone(), id, request.body, request.head_only, sink);
    let ending = call(&pool, &mut lease, io, &request.environ).await;
    let memory_refused = lease.instance.store.data().limiter.refused;
    let state = lease.instance.store.data_mut();
    state.request_id.store(0, Ordering::Relaxed);
    let io = state.request.take();
    drop(request.body_reservation);
    let Some(mut io) = io else { return };
    let (reason, status, keep) = match ending {
        Ending::Clean => {
            if let Some(reason) = io.shortfall() {
                tracing::warn!(site = %site, request = id, "response cut: {reason}; connection closed");
                io.abort(&reason);
            }
            pool.release(lease);
            return;
        }
        // A request body that broke a limit while the app read it: its own 4xx/5xx.
        Ending::AppError(reason) if io.body_refused().is_some() => {
            (reason, io.body_refused().unwrap(), true)
        }
        Ending::AppError(reason) => (reason, StatusCode::INTERNAL_SERVER_ERROR, true),
        Ending::Broken(status, reason) => (reason, status, false),
    };
    if io.client_gone() {
        tracing::info!(site = %site, request = id, "request ended early: {reason}");
    } else {
        tracing::error!(site = %site, request = id, status = status.as_u16(), "request failed: {reason}");
    }
    match io.take_head() {
        Some(head) => {
            let _ = head.send(Err(Failure {
                status,
                retry_after: None,
                breach: Breach::of(status, memory_refused),
            }));
        }
        None => io.abort(&reason),
    }
    if keep {
        pool.release(lease);
    } else {
        // The discarded instance may have died holding sqlite's lock folders.
        drop(lease);
        pool.recover_data(data_guard, id).await;
    }
}

/// Calls the guest under the site's deadlines and says how it ended.
async fn call(
    pool: &SitePool,
    lease: &mut Lease,
    io: RequestIo,
    environ: &[(String, String)],
) -> Ending {
    let instance = &mut lease.instance;
    let state = instance.store.data_mut();
    state.request_id.store(io.request_id, Ordering::Relaxed);
    state.request = Some(io);
    let timeout = pool.limits().request_timeout;
    let result = tokio::time::timeout(
        timeout,
        instance.wsgi.call_handle(&mut instance.store, environ),
    )
    .await;
    let state = instance.store.data();
    match result {
        Err(_) => Ending::Broken(
            StatusCode::GATEWAY_TIMEOUT,
            format!("the request ran past its request_timeout of {timeout:?}; instance discarded"),
        ),
        Ok(Err(_)) if state.cpu_exceeded => Ending::Broken(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "the request ran out of its cpu_time of {:?}; instance discarded",
                pool.limits().cpu_time
            ),
        ),
        Ok(Err(trap)) => Ending::Broken(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "the instance trapped and was discarded: {}",
                describe_trap(&trap)
            ),
        ),
        Ok(Ok(Err(reason))) if state.limiter.refused => Ending::Broken(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{reason} (the instance reached its memory limit; instance discarded)"),
        ),
        Ok(Ok(Err(reason))) => Ending::AppError(reason),
        Ok(Ok(Ok(()))) => Ending::Clean,
    }
}

/// Wasm stack frames of a trap shown in the log; a deep recursion has thousands.
const TRAP_FRAMES: usize = 8;

/// The trap's cause and the innermost function names of its wasm backtrace, on one line
/// (so the log line keeps its site and request tags): `wasm trap: call stack exhausted in
/// f ← g ← … (+69 frames)`.
fn describe_trap(trap: &wasmtime::Error) -> String {
    let cause = match trap.downcast_ref::<wasmtime::Trap>() {
        Some(code) => code.to_string(),
        None => trap.root_cause().to_string(),
    };
    let full = format!("{trap:?}");
    let frames: Vec<&str> = full
        .lines()
        .filter(|line| line.trim_start().starts_with(|c: char| c.is_ascii_digit()))
        .map(|line| line.rsplit(['!', ' ']).next().unwrap_or(line).trim())
        .collect();
    if frames.is_empty() {
        return cause;
    }
    let shown: Vec<&str> = frames.iter().take(TRAP_FRAMES).copied().collect();
    let more = frames.len().saturating_sub(TRAP_FRAMES);
    let rest = if more > 0 {
        format!(" (+{more} frames)")
    } else {
        String::new()
    };
    format!("{cause} in {}{rest}", shown.join(" ← "))
}
