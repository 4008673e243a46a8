//! `wsgi-wasm reload`: asks a running server to reread its configuration, through its admin
//! listener (`POST /reload`, see `admin/mod.rs`), and prints what the server answered.
//!
//! The exit status says whether the new configuration was taken: 0 when it was, 1 when the
//! server rejected it (the server keeps serving the old one) or could not be reached. A
//! signal (SIGHUP) does the same without an answer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http::{header, Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::config::AdminToken;

/// How long a reload may take: it includes the builds of changed sites.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Sends `POST /reload` to the admin listener at `admin`, with `token` as its bearer token
/// when given; returns the server's summary. An unspecified address (`0.0.0.0`, `[::]`) is
/// reached on loopback.
pub async fn reload(admin: SocketAddr, token: Option<&AdminToken>) -> Result<String> {
    let admin = match admin.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, admin.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, admin.port()).into(),
        _ => admin,
    };
    let stream = tokio::net::TcpStream::connect(admin)
        .await
        .with_context(|| format!("cannot reach the admin listener at `{admin}` (is the server running, with `admin` on?)"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("the admin listener did not speak HTTP")?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/reload")
        .header(header::HOST, admin.to_string());
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {}", token.expose()));
    }
    let request = request
        .body(Empty::<Bytes>::new())
        .expect("a valid request");
    let exchange = async {
        let response = sender.send_request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, String::from_utf8_lossy(&body).trim().to_owned()))
    };
    let (status, text) = tokio::time::timeout(RELOAD_TIMEOUT, exchange)
        .await
        .with_context(|| format!("no answer from `{admin}` within {RELOAD_TIMEOUT:?}"))?
        .with_context(|| format!("the reload request to `{admin}` failed"))?;
    match status {
        StatusCode::OK => Ok(text),
        StatusCode::CONFLICT => bail!(
            "the server rejected the new configuration and keeps serving the old one:\n{text}"
        ),
        StatusCode::UNAUTHORIZED => bail!(
            "the admin listener wants its token: give `--admin-token-file FILE`, or \
             `--config` with `admin_token_file` ({text})"
        ),
        other => bail!("the server answered {other}: {text}"),
    }
}
