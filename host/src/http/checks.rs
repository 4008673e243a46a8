//! Step 1 of the request path (`request.rs`): checks on the request head alone, before the
//! router picks a site. hyper has already refused what it cannot parse; these are the rules
//! it leaves to the server, and the ones that matter most when the Host header picks the
//! tenant and a proxy in front may read the framing differently (request smuggling):
//!
//! 1. Sizes: a request line over 8190 bytes → 414; a header line over 8190 bytes → 431
//!    (nginx's 8 KiB buffers; hyper itself caps the whole head at [`MAX_HEAD`] and the count
//!    of header lines at 100).
//! 2. Header values with control characters other than HTAB → 400.
//! 3. Header names that differ from `Host`, `Content-Length` or `Transfer-Encoding` only by
//!    `_` for `-` → 400: a proxy that folds `_` into `-` would route or frame differently.
//! 4. Request target: `*` is for `OPTIONS` only, the authority form for `CONNECT` only (400);
//!    `CONNECT` itself → 405, this is not a proxy.
//! 5. Host: HTTP/1.1 without one, or with two, → 400; a malformed host → 400. The target's
//!    authority (absolute form, HTTP/2 `:authority`) wins over `Host`; in HTTP/2 a `host`
//!    field that names another host or port than `:authority` → 400 (RFC 9113 §8.3.1), and
//!    without one the app sees `:authority` as `HTTP_HOST` (`request.rs`).
//! 6. Framing: `Content-Length` twice (even with equal values: RFC 9110 lets a server merge
//!    identical ones, we take the strict answer), or not plain digits → 400; together with
//!    `Transfer-Encoding` → 400 (on HTTP/1 hyper hides both cases, so `sniff` catches them
//!    on the raw bytes; these checks cover what reaches us anyway); `Transfer-Encoding` must end with one `chunked` (400), and
//!    codings other than `chunked` (and the no-op `identity`) are not implemented → 501.
//! 7. `Content-Type` twice → 400.
//! 8. `Expect`: only `100-continue` is understood (hyper answers it when the app first reads
//!    the body); any other expectation → 417 (RFC 9110 §10.1.1).

use http::{header, HeaderMap, Method, Request, StatusCode, Uri, Version};

use super::refusal::Refusal;
use crate::config::host_name::normalize_host;

/// The longest request line (method, target and version) accepted; longer → 414.
pub const MAX_REQUEST_LINE: usize = 8190;
/// The longest header line (`name: value` and CRLF) accepted; longer → 431.
pub const MAX_FIELD_LINE: usize = 8190;
/// The largest request head hyper reads (request line and every header line); larger → 431.
pub const MAX_HEAD: usize = 64 * 1024;

/// What the head says about where the request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The host the request names, lower-cased, without port (None: HTTP/1.0 without Host).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// `OPTIONS *`: about the server itself, answered without a site.
    pub asterisk: bool,
}

/// Applies every check to `request`'s head; the named host when all pass.
pub fn check<B>(request: &Request<B>) -> Result<Target, Refusal> {
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    sizes(method, uri, headers)?;
    field_values(headers)?;
    underscored_names(headers)?;
    let asterisk = target_form(method, uri)?;
    let (host, port) = host(uri, headers, request.version())?;
    framing(headers)?;
    if headers.get_all(header::CONTENT_TYPE).iter().count() > 1 {
        return Err(Refusal::bad_request("duplicate Content-Type"));
    }
    expectation(headers)?;
    Ok(Target {
        host,
        port,
        asterisk,
    })
}

fn expectation(headers: &HeaderMap) -> Result<(), Refusal> {
    for value in headers.get_all(header::EXPECT) {
        if !value.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err(Refusal::new(
                StatusCode::EXPECTATION_FAILED,
                format!(
                    "unsupported expectation `{}`",
                    String::from_utf8_lossy(value.as_bytes())
                ),
            ));
        }
    }
    Ok(())
}

fn sizes(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), Refusal> {
    let target = match uri.path_and_query() {
        Some(pq) if uri.scheme().is_none() => pq.as_str().len(),
        _ => uri.to_string().len(),
    };
    // `METHOD SP target SP HTTP/1.1`
    let line = method.as_str().len() + 1 + target + 1 + "HTTP/1.1".len();
    if line > MAX_REQUEST_LINE {
        return Err(Refusal::new(
            StatusCode::URI_TOO_LONG,
            format!("request line of {line} bytes"),
        ));
    }
    for (name, value) in headers {
        let line = name.as_str().len() + ": ".len() + value.len() + "\r\n".len();
        if line > MAX_FIELD_LINE {
            return Err(Refusal::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("header line `{name}` of {line} bytes"),
            ));
        }
    }
    Ok(())
}

fn field_values(headers: &HeaderMap) -> Result<(), Refusal> {
    for (name, value) in headers {
        let control = |b: &u8| (*b < 0x20 && *b != b'\t') || *b == 0x7f;
        if value.as_bytes().iter().any(control) {
            return Err(Refusal::bad_request(format!(
                "control character in header `{name}`"
            )));
        }
    }
    Ok(())
}

fn underscored_names(headers: &HeaderMap) -> Result<(), Refusal> {
    for name in headers.keys() {
        let name = name.as_str();
        if !name.contains('_') {
            continue;
        }
        let folded = name.replace('_', "-");
        if matches!(
            folded.as_str(),
            "host" | "content-length" | "transfer-encoding"
        ) {
            return Err(Refusal::bad_request(format!(
                "header `{name}` poses as `{folded}`"
            )));
        }
    }
    Ok(())
}

/// `Ok(true)` for `OPTIONS *`.
fn target_form(method: &Method, uri: &Uri) -> Result<bool, Refusal> {
    let authority_form = uri.scheme().is_none() && uri.authority().is_some();
    if *method == Method::CONNECT {
        return Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "CONNECT: this server is not a proxy",
        ));
    }
    if authority_form {
        return Err(Refusal::bad_request(format!(
            "authority-form target `{uri}` with {method}"
        )));
    }
    let asterisk = uri.authority().is_none() && uri.path() == "*";
    if asterisk && *method != Method::OPTIONS {
        return Err(Refusal::bad_request(format!("target `*` with {method}")));
    }
    Ok(asterisk)
}

fn host(
    uri: &Uri,
    headers: &HeaderMap,
    version: Version,
) -> Result<(Option<String>, Option<u16>), Refusal> {
    let hosts = headers.get_all(header::HOST).iter().count();
    if hosts > 1 {
        return Err(Refusal::bad_request("more than one Host"));
    }
    if let (Version::HTTP_2, Some(authority), Some(field)) =
        (version, uri.authority(), headers.get(header::HOST))
    {
        // RFC 9113 §8.3.1: a `host` field must not differ from `:authority`.
        let field = String::from_utf8_lossy(field.as_bytes());
        let same = match (normalize_host(authority.as_str()), normalize_host(&field)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        };
        if !same {
            return Err(Refusal::bad_request(format!(
                "HTTP/2 `host: {field}` differs from `:authority: {authority}`"
            )));
        }
    }
    let named = match (uri.authority(), headers.get(header::HOST)) {
        (Some(authority), _) => Some(authority.as_str().to_owned()),
        (None, Some(value)) => Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        (None, None) => None,
    };
    match named {
        None if version == Version::HTTP_11 => Err(Refusal::bad_request("HTTP/1.1 without Host")),
        None => Ok((None, None)),
        Some(named) => match normalize_host(&named) {
            Some((host, port)) => Ok((Some(host), port)),
            None => Err(Refusal::bad_request(format!("malformed host `{named}`"))),
        },
    }
}

fn framing(headers: &HeaderMap) -> Result<(), Refusal> {
    let lengths: Vec<_> = headers.get_all(header::CONTENT_LENGTH).iter().collect();
    if lengths.len() > 1 {
        return Err(Refusal::bad_request("duplicate Content-Length"));
    }
    if let Some(length) = lengths.first() {
        let digits = length.as_bytes();
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(Refusal::bad_request(format!(
                "Content-Length `{}` is not a number",
                String::from_utf8_lossy(digits)
            )));
        }
    }
    let mut codings = Vec::new();
    for value in headers.get_all(header::TRANSFER_ENCODING) {
        let text = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
        codings.extend(text.split(',').map(|c| c.trim().to_owned()));
    }
    if codings.is_empty() {
        return Ok(());
    }
    if !lengths.is_empty() {
        return Err(Refusal::bad_request(
            "Content-Length together with Transfer-Encoding",
        ));
    }
    let Some((last, before)) = codings.split_last() else {
        return Ok(());
    };
    if last != "chunked" || before.iter().any(|c| c == "chunked") {
        return Err(Refusal::bad_request(format!(
            "Transfer-Encoding `{}` does not end with one `chunked`",
            codings.join(", ")
        )));
    }
    if let Some(other) = before.iter().find(|c| *c != "identity") {
        let status = if other.is_empty() {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::NOT_IMPLEMENTED
        };
        return Err(Refusal::new(
            status,
            format!("transfer coding `{other}` is not implemented"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(lines: &[(&str, &str)]) -> Request<()> {
        head_for(Method::POST, "/", lines)
    }

    fn head_for(method: Method, target: &str, lines: &[(&str, &str)]) -> Request<()> {
        let mut builder = Request::builder().method(method).uri(target);
        for (name, value) in lines {
            builder = builder.header(*name, *value);
        }
        builder.body(()).unwrap()
    }

    fn status(request: &Request<()>) -> Option<u16> {
        check(request).err().map(|r| r.status.as_u16())
    }

    #[test]
    fn checks_accept_plain_requests_and_name_the_host() {
        let request = head(&[("host", "Example.COM:8080"), ("content-length", "5")]);
        let target = check(&request).unwrap();
        assert_eq!(target.host.as_deref(), Some("example.com"));
        assert_eq!(target.port, Some(8080));
        let chunked = head(&[("host", "a"), ("transfer-encoding", "chunked")]);
        assert_eq!(status(&chunked), None);
        let identity = head(&[
            ("host", "a"),
            ("transfer-encoding", "identity"),
            ("transfer-encoding", "chunked"),
        ]);
        assert_eq!(status(&identity), None);
    }

    #[test]
    fn checks_answer_only_the_continue_expectation() {
        let ok = head(&[("host", "a"), ("expect", "100-Continue")]);
        assert_eq!(status(&ok), None);
        let other = head(&[("host", "a"), ("expect", "200-ok")]);
        assert_eq!(status(&other), Some(417));
    }

    #[test]
    fn checks_refuse_ambiguous_framing() {
        let twice = head(&[
            ("host", "a"),
            ("content-length", "5"),
            ("content-length", "5"),
        ]);
        assert_eq!(status(&twice), Some(400), "identical duplicates too");
        assert_eq!(
            status(&head(&[("host", "a"), ("content-length", "5, 5")])),
            Some(400)
        );
        assert_eq!(
            status(&head(&[("host", "a"), ("content-length", "+5")])),
            Some(400)
        );
        let both = head(&[
            ("host", "a"),
            ("content-length", "3"),
            ("transfer-encoding", "chunked"),
        ]);
        assert_eq!(status(&both), Some(400));
        let not_last = head(&[("host", "a"), ("transfer-encoding", "chunked, identity")]);
        assert_eq!(status(&not_last), Some(400));
        let double = head(&[("host", "a"), ("transfer-encoding", "chunked, chunked")]);
        assert_eq!(status(&double), Some(400));
        let gzip = head(&[("host", "a"), ("transfer-encoding", "gzip, chunked")]);
        assert_eq!(status(&gzip), Some(501));
        let types = head(&[
            ("host", "a"),
            ("content-type", "a/b"),
            ("content-type", "c/d"),
        ]);
        assert_eq!(status(&types), Some(400));
        let posing = head(&[("host", "a"), ("transfer_encoding", "gzip")]);
        assert_eq!(status(&posing), Some(400));
        let harmless = head(&[("host", "a"), ("x_forwarded_for", "1.2.3.4")]);
        assert_eq!(
            status(&harmless),
            None,
            "other `_` names are only dropped from environ"
        );
    }

    #[test]
    fn checks_refuse_hosts_targets_and_oversized_lines() {
        assert_eq!(status(&head(&[])), Some(400), "HTTP/1.1 without Host");
        assert_eq!(status(&head(&[("host", "a"), ("host", "b")])), Some(400));
        assert_eq!(status(&head(&[("host", "0.0.0.0=5000")])), Some(400));
        let star = head_for(Method::GET, "*", &[("host", "a")]);
        assert_eq!(status(&star), Some(400));
        let options = head_for(Method::OPTIONS, "*", &[("host", "a")]);
        assert!(check(&options).unwrap().asterisk);
        let authority = head_for(Method::GET, "example.com:443", &[("host", "a")]);
        assert_eq!(status(&authority), Some(400));
        let connect = head_for(Method::CONNECT, "example.com:443", &[("host", "a")]);
        assert_eq!(status(&connect), Some(405));
        let long_target = format!("/{}", "a".repeat(MAX_REQUEST_LINE));
        assert_eq!(
            status(&head_for(Method::GET, &long_target, &[("host", "a")])),
            Some(414)
        );
        let long_value = "v".repeat(MAX_FIELD_LINE);
        assert_eq!(
            status(&head(&[("host", "a"), ("x-long", &long_value)])),
            Some(431)
        );
    }
}
