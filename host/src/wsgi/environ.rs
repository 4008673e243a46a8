//! PEP 3333 `environ` for one request: the CGI variables as native strings.
//!
//! Native strings carry bytes: every byte of the path, query and header values becomes the
//! character with the same code (latin-1), as PEP 3333 asks. `PATH_INFO` is percent-decoded
//! (so `%2F` arrives as `/` and UTF-8 paths as their latin-1 spelling); `REQUEST_URI` and
//! `QUERY_STRING` are as the client sent them. Nothing from the host's own environment goes
//! in. Header names with `_` are dropped rather than mapped to `HTTP_*`, so `X_Forwarded_For`
//! cannot pose as `X-Forwarded-For`; `Proxy` is dropped (httpoxy) and `Authorization` is
//! passed only when the site allows it.

use std::net::SocketAddr;

use http::request::Parts;
use http::{header, Version};

/// What the server knows of a request beyond its head.
pub struct Origin<'a> {
    pub peer: SocketAddr,
    /// `wsgi.url_scheme`: `http`, or `https` when a trusted proxy says so.
    pub scheme: &'static str,
    /// The host the request named (authority or Host header), lower-cased, without port.
    pub host: &'a str,
    /// The port the request named, or the port it arrived on.
    pub port: u16,
    /// The app's mount prefix (`SCRIPT_NAME`), empty for the root.
    pub script_name: &'a str,
    /// The decoded path below the mount (`PATH_INFO`).
    pub path_info: &'a str,
    /// The site's `wsgi_var` entries.
    pub vars: &'a std::collections::BTreeMap<String, String>,
    pub pass_authorization: bool,
}

/// Builds the environ pairs sent to the guest.
pub fn build(parts: &Parts, origin: &Origin<'_>) -> Vec<(String, String)> {
    let mut environ = Vec::with_capacity(16 + parts.headers.keys_len());
    let mut put = |key: &str, value: String| environ.push((key.to_owned(), value));
    put("REQUEST_METHOD", parts.method.as_str().to_owned());
    put("SCRIPT_NAME", origin.script_name.to_owned());
    put("PATH_INFO", origin.path_info.to_owned());
    put("QUERY_STRING", parts.uri.query().unwrap_or("").to_owned());
    let request_uri = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    put("REQUEST_URI", request_uri.to_owned());
    put("SERVER_NAME", origin.host.to_owned());
    put("SERVER_PORT", origin.port.to_string());
    put("SERVER_PROTOCOL", protocol(parts.version).to_owned());
    put("REMOTE_ADDR", origin.peer.ip().to_string());
    put("REMOTE_PORT", origin.peer.port().to_string());
    put("wsgi.url_scheme", origin.scheme.to_owned());
    if let Some(value) = parts.headers.get(header::CONTENT_TYPE) {
        put("CONTENT_TYPE", latin1(value.as_bytes()));
    }
    if let Some(value) = parts.headers.get(header::CONTENT_LENGTH) {
        put("CONTENT_LENGTH", latin1(value.as_bytes()));
    }
    for name in parts.headers.keys() {
        let name = name.as_str();
        let skip = name == "content-type"
            || name == "content-length"
            || name == "proxy"
            || name.contains('_')
            || (name == "authorization" && !origin.pass_authorization);
        if skip {
            continue;
        }
        let separator = if name == "cookie" { "; " } else { ", " };
        let mut value = String::new();
        for (index, part) in parts.headers.get_all(name).iter().enumerate() {
            if index > 0 {
                value.push_str(separator);
            }
            value.push_str(&latin1(part.as_bytes()));
        }
        let key: String = "HTTP_"
            .chars()
            .chain(name.chars().map(|c| {
                if c == '-' {
                    '_'
                } else {
                    c.to_ascii_uppercase()
                }
            }))
            .collect();
        environ.push((key, value));
    }
    // The site's own `wsgi_var` entries come last, so they win over anything above.
    environ.extend(origin.vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    environ
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// Bytes as a PEP 3333 native string.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}
