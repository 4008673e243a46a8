//! The head of the app's response: the status line and headers the guest sends with
//! `send-headers`/`send-response`, checked and turned into hyper's types, and the body
//! length the app promised with `Content-Length` (which `io` holds it to).

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

/// Status and headers, handed to the dispatcher when the guest sends them.
pub struct Head {
    pub status: StatusCode,
    pub reason: Option<hyper::ext::ReasonPhrase>,
    pub headers: HeaderMap,
    /// The whole body, when the guest sent it with the headers (`send-response`).
    pub body: Option<Whole>,
}

/// Hop-by-hop headers belong to the connection, which the server owns (PEP 3333).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// A body sent whole with the head; `short` when it ended before its `Content-Length`, so
/// the response must end by closing the connection.
pub struct Whole {
    pub bytes: Bytes,
    pub short: bool,
}

/// Checks the app's status line and headers and turns them into hyper's types. Header
/// strings are PEP 3333 native strings: each character stands for one latin-1 byte.
pub fn parse_head(status: &str, headers: &[(String, String)]) -> Result<Head, String> {
    let code = status.get(..3).and_then(|c| c.parse::<u16>().ok());
    let rest = status.get(3..).unwrap_or("");
    let status_code = match code {
        Some(code) if (200..=999).contains(&code) && (rest.is_empty() || rest.starts_with(' ')) => {
            StatusCode::from_u16(code).map_err(|_| format!("bad status `{status}`"))?
        }
        _ => {
            return Err(format!(
                "bad status `{}`: expected `NNN Reason` with NNN from 200 to 999",
                status.escape_debug()
            ))
        }
    };
    let reason_text = latin1(rest.trim_start())
        .ok_or_else(|| format!("bad status `{}`", status.escape_debug()))?;
    let reason = match status_code.canonical_reason() {
        Some(canonical) if canonical.as_bytes() == reason_text.as_slice() => None,
        _ if reason_text.is_empty() => None,
        _ => Some(
            hyper::ext::ReasonPhrase::try_from(reason_text)
                .map_err(|_| format!("bad reason phrase in status `{}`", status.escape_debug()))?,
        ),
    };
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name `{}`", name.escape_debug()))?;
        if HOP_BY_HOP.contains(&header.as_str()) {
            return Err(format!(
                "hop-by-hop header `{name}` is not allowed from a WSGI app"
            ));
        }
        let bytes = latin1(value)
            .ok_or_else(|| format!("header `{name}` has a value that is not latin-1"))?;
        let value = HeaderValue::from_bytes(&bytes)
            .map_err(|_| format!("header `{name}` has a bad value `{}`", value.escape_debug()))?;
        map.append(header, value);
    }
    content_length(&map)?;
    Ok(Head {
        status: status_code,
        reason,
        headers: map,
        body: None,
    })
}

/// A native string's bytes, when every character is latin-1.
pub fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

/// The app's `Content-Length`, checked: digits only, and several headers only when they
/// agree (a response with two lengths could be framed two ways).
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, String> {
    let mut length = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        let text = value.to_str().unwrap_or("");
        let parsed = (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| format!("bad Content-Length `{}`", text.escape_debug()))?;
        if length.is_some_and(|seen| seen != parsed) {
            return Err("conflicting Content-Length headers".into());
        }
        length = Some(parsed);
    }
    Ok(length)
}

/// The body length the response must have on the wire: the app's `Content-Length`, unless
/// the response has no body by its status or method (1xx, 204, 304, HEAD), where the header
/// describes a body that is not sent.
pub fn promised_length(head: &Head, head_request: bool) -> Option<u64> {
    let bodiless = head_request
        || head.status.is_informational()
        || head.status == StatusCode::NO_CONTENT
        || head.status == StatusCode::NOT_MODIFIED;
    if bodiless {
        return None;
    }
    content_length(&head.headers).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(status: &str, headers: &[(&str, &str)]) -> Result<Head, String> {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        parse_head(status, &headers)
    }

    #[test]
    fn head_checks_content_length() {
        assert!(head("200 OK", &[("Content-Length", "12")]).is_ok());
        assert!(head(
            "200 OK",
            &[("Content-Length", "12"), ("Content-Length", "12")]
        )
        .is_ok());
        let two = head(
            "200 OK",
            &[("Content-Length", "1"), ("Content-Length", "2")],
        );
        assert_eq!(two.err().unwrap(), "conflicting Content-Length headers");
        for bad in ["-1", "1 2", "", "0x10", "+5"] {
            assert!(
                head("200 OK", &[("Content-Length", bad)]).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn head_promises_a_length_only_with_a_body() {
        let ok = head("200 OK", &[("Content-Length", "5")]).unwrap();
        assert_eq!(promised_length(&ok, false), Some(5));
        assert_eq!(promised_length(&ok, true), None, "HEAD sends no body");
        for status in ["204 No Content", "304 Not Modified"] {
            let bodiless = head(status, &[("Content-Length", "5")]).unwrap();
            assert_eq!(promised_length(&bodiless, false), None, "{status}");
        }
        let none = head("200 OK", &[]).unwrap();
        assert_eq!(promised_length(&none, false), None);
    }

    #[test]
    fn head_refuses_hop_by_hop_and_bad_status() {
        assert!(head("200 OK", &[("Connection", "close")]).is_err());
        assert!(head("99 Low", &[]).is_err());
        assert!(head("200OK", &[]).is_err());
        assert!(head("404 Not Found", &[]).is_ok());
    }
}
