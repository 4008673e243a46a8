//! The path of one request, after hyper has parsed it:
//!
//! 1. **Checks**: HTTP/1.1 without `Host`, or with two, is a 400; a malformed host is a 400.
//! 2. **Router**: the request target's authority (absolute form, HTTP/2 `:authority`) wins
//!    over `Host`; no site for it and no default site → the configured `unknown_host`
//!    behaviour (close the connection, or a fixed status).
//! 3. **Static root** (`try_files $uri $uri/ @app`): a file, a directory index, a redirect
//!    or a denial answers here; anything else falls through.
//! 4. **App**: when the decoded path is inside the app's mount, the request goes to the
//!    site's WSGI app with `SCRIPT_NAME` = mount and `PATH_INFO` = the rest; else 404.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{header, Request, Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::body::{Body, BodyError};
use crate::config::UnknownHost;
use crate::pages;
use crate::router::{normalize_host, Router};
use crate::sites::LiveSite;
use crate::static_files::{self, Outcome};
use crate::wsgi::{self, environ};

/// Everything a request needs from the server.
pub struct App {
    router: Router<Arc<LiveSite>>,
    unknown_host: UnknownHost,
    next_request: AtomicU64,
}

/// The connection is closed without a response (nginx's `return 444`).
#[derive(Debug, thiserror::Error)]
#[error("no site for host `{0}`: connection closed")]
pub struct NoSite(String);

impl App {
    pub fn new(sites: &[Arc<LiveSite>], unknown_host: UnknownHost) -> Self {
        let router = Router::new(sites.iter().map(|s| {
            (
                s.config.server_names.as_slice(),
                s.config.default,
                s.clone(),
            )
        }));
        Self {
            router,
            unknown_host,
            next_request: AtomicU64::new(1),
        }
    }

    /// Answers one request that arrived on a connection from `peer` to `local`.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Result<Response<Body>, NoSite> {
        let hosts = request.headers().get_all(header::HOST).iter().count();
        let authority = request.uri().authority().map(|a| a.as_str().to_owned());
        let named = match (authority, request.headers().get(header::HOST)) {
            (Some(authority), _) => Some(authority),
            (None, Some(value)) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
            (None, None) => None,
        };
        if hosts > 1 || (named.is_none() && request.version() == Version::HTTP_11) {
            return Ok(pages::error(StatusCode::BAD_REQUEST));
        }
        let (host, port) = match named.as_deref().map(normalize_host) {
            Some(Some((host, port))) => (Some(host), port),
            Some(None) => return Ok(pages::error(StatusCode::BAD_REQUEST)),
            None => (None, None),
        };
        let Some(site) = self.router.route(host.as_deref()) else {
            return match self.unknown_host {
                UnknownHost::Close => Err(NoSite(host.unwrap_or_default())),
                UnknownHost::Status(status) => Ok(pages::error(status)),
            };
        };
        if let Some(root) = &site.static_root {
            if let Outcome::Response(response) = static_files::serve(
                root,
                request.method(),
                request.uri().path(),
                request.headers(),
            )
            .await
            {
                return Ok(response);
            }
        }
        let (Some(pool), Some(app)) = (&site.pool, &site.config.app) else {
            return Ok(pages::error(StatusCode::NOT_FOUND));
        };
        let path = environ::latin1(
            &percent_encoding::percent_decode_str(request.uri().path()).collect::<Vec<u8>>(),
        );
        let Some(path_info) = mounted(&path, &app.mount) else {
            return Ok(pages::error(StatusCode::NOT_FOUND));
        };
        let (parts, body) = request.into_parts();
        let server_name = host.unwrap_or_else(|| local.ip().to_string());
        let origin = environ::Origin {
            peer,
            host: &server_name,
            port: port.unwrap_or(local.port()),
            script_name: &app.mount,
            path_info,
            vars: &app.vars,
            pass_authorization: app.pass_authorization,
        };
        let app_request = wsgi::AppRequest {
            request_id: self.next_request.fetch_add(1, Ordering::Relaxed),
            environ: environ::build(&parts, &origin),
            body: body.map_err(|e| Box::new(e) as BodyError).boxed_unsync(),
            head_only: parts.method == http::Method::HEAD,
        };
        Ok(wsgi::dispatch(pool.clone(), app_request).await)
    }
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
