//! Runs one request through a site's app and turns what the guest sends into a response.
//!
//! The guest runs in its own task: the response is returned as soon as the guest sends its
//! headers, and its body streams from the guest's `write` calls while the app keeps running.
//! If the app fails before its headers, the client gets a plain 500; after them, the
//! connection is cut so a half response never looks whole. The reason and traceback are in
//! the log, tagged with site and request id. A trapped instance is thrown away.

use std::sync::Arc;

use http::{Response, StatusCode};
use tokio::sync::{mpsc, oneshot};

use super::io::{Head, RequestBody, RequestIo};
use crate::body::{self, Body};
use crate::pages;
use crate::runtime::SitePool;

/// Response chunks buffered between the guest and a slow client before `write` waits.
const BUFFERED_CHUNKS: usize = 16;

/// One request, ready for the guest.
pub struct AppRequest {
    pub request_id: u64,
    pub environ: Vec<(String, String)>,
    pub body: RequestBody,
    /// A HEAD request: the app runs, its body is not sent.
    pub head_only: bool,
}

/// Runs `request` on an instance of the site and answers with what the app produced.
pub async fn dispatch(pool: Arc<SitePool>, request: AppRequest) -> Response<Body> {
    let (head_sender, head_receiver) = oneshot::channel();
    let (chunk_sender, chunk_receiver) = mpsc::channel(BUFFERED_CHUNKS);
    tokio::spawn(run(pool, request, head_sender, chunk_sender));
    match head_receiver.await {
        Ok(Head {
            status,
            reason,
            headers,
            body: whole,
        }) => {
            let body = match whole {
                Some(bytes) => body::full(bytes),
                None => body::channel(chunk_receiver),
            };
            let mut response = Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            if let Some(reason) = reason {
                response.extensions_mut().insert(reason);
            }
            response
        }
        // The guest ended without headers; `run` logged why.
        Err(_) => pages::error(StatusCode::INTERNAL_SERVER_ERROR),
    }
}

async fn run(
    pool: Arc<SitePool>,
    request: AppRequest,
    head: oneshot::Sender<Head>,
    chunks: mpsc::Sender<Result<hyper::body::Frame<bytes::Bytes>, crate::body::BodyError>>,
) {
    let site = pool.site().clone();
    let id = request.request_id;
    let mut lease = match pool.acquire().await {
        Ok(lease) => lease,
        Err(error) => {
            tracing::error!(site = %site, request = id, "no instance for the request: {error:#}");
            return;
        }
    };
    let io = RequestIo::new(
        site.clone(),
        id,
        request.body,
        request.head_only,
        head,
        chunks,
    );
    let instance = &mut lease.instance;
    instance.store.data_mut().request = Some(io);
    let result = instance
        .wsgi
        .call_handle(&mut instance.store, &request.environ)
        .await;
    let io = instance
        .store
        .data_mut()
        .request
        .take()
        .expect("the request I/O stays set during a call");
    match result {
        Ok(Ok(())) => pool.release(lease),
        Ok(Err(reason)) => {
            if io.head_sent() {
                io.abort(&reason);
            }
            if io.client_gone() {
                tracing::info!(site = %site, request = id, "request ended early: {reason}");
            } else {
                tracing::error!(site = %site, request = id, "app failed: {reason}");
            }
            pool.release(lease);
        }
        Err(trap) => {
            if io.head_sent() {
                io.abort("the instance trapped");
            }
            tracing::error!(site = %site, request = id, "instance trapped and was discarded: {trap:?}");
        }
    }
}
