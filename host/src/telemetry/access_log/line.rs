//! What the access log says about one request ([`Entry`]) and how it is written as one
//! line; the writer thread (`writer.rs`) formats each entry it takes off the queue.
//!
//! Formats (`[log] format`):
//! - `combined`: nginx's combined line, then `site=`, `request=`, `duration=` (seconds) and
//!   `instance=`; `-` for what is unknown. Quotes, backslashes and control or non-ASCII
//!   bytes in the quoted fields are written `\xHH`, as nginx does.
//! - `json`: one object per line with the same values as named keys.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use http::{HeaderValue, Method, Uri, Version};
use serde::Serialize;

/// What the log says about one request.
#[derive(Debug)]
pub struct Entry {
    /// The client: the peer, or the address its trusted proxies name (as `REMOTE_ADDR`).
    pub remote_addr: IpAddr,
    /// The user name of `Authorization: Basic`.
    pub remote_user: Option<String>,
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub referer: Option<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
    /// When the response ended.
    pub time: SystemTime,
    pub status: u16,
    /// Body bytes handed to the connection (0 for HEAD).
    pub bytes: u64,
    pub site: Option<String>,
    pub request_id: u64,
    pub duration: Duration,
    /// The instance that ran the app, for app requests.
    pub instance: Option<u64>,
}

/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
/// "$http_referer" "$http_user_agent" site=… request=… duration=… instance=…`.
pub(super) fn combined(out: &mut Vec<u8>, entry: &Entry) {
    let time = chrono::DateTime::<chrono::Local>::from(entry.time);
    let _ = write!(out, "{} - ", entry.remote_addr);
    match &entry.remote_user {
        Some(user) if !user.is_empty() => escape(out, user.as_bytes()),
        _ => out.push(b'-'),
    }
    let _ = write!(out, " [{}] \"", time.format("%d/%b/%Y:%H:%M:%S %z"));
    escape(out, entry.method.as_str().as_bytes());
    out.push(b' ');
    escape(out, target(entry).as_bytes());
    out.push(b' ');
    out.extend_from_slice(protocol(entry.version).as_bytes());
    let _ = write!(out, "\" {} {} \"", entry.status, entry.bytes);
    quoted_header(out, entry.referer.as_ref());
    out.extend_from_slice(b"\" \"");
    quoted_header(out, entry.user_agent.as_ref());
    out.extend_from_slice(b"\" site=");
    out.extend_from_slice(entry.site.as_deref().unwrap_or("-").as_bytes());
    let _ = write!(
        out,
        " request={} duration={:.6} instance=",
        entry.request_id,
        entry.duration.as_secs_f64()
    );
    match entry.instance {
        Some(id) => {
            let _ = write!(out, "{id}");
        }
        None => out.push(b'-'),
    }
}

fn quoted_header(out: &mut Vec<u8>, value: Option<&HeaderValue>) {
    match value {
        Some(value) if !value.is_empty() => escape(out, value.as_bytes()),
        _ => out.push(b'-'),
    }
}

/// nginx's default log escaping: `"`, `\`, control bytes and bytes past ASCII as `\xHH`.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        if byte == b'"' || byte == b'\\' || !(0x20..0x7f).contains(&byte) {
            let _ = write!(out, "\\x{byte:02X}");
        } else {
            out.push(byte);
        }
    }
}

/// The request target as the client sent it: origin form for HTTP/2 (whose URI hyper
/// rebuilds from `:scheme` and `:authority`), as written otherwise.
fn target(entry: &Entry) -> String {
    if entry.version == Version::HTTP_2 {
        if let Some(path) = entry.uri.path_and_query() {
            return path.as_str().to_owned();
        }
    }
    entry.uri.to_string()
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// The JSON line: the combined line's values under names.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    remote_addr: IpAddr,
    remote_user: Option<&'a str>,
    method: &'a str,
    uri: String,
    protocol: &'static str,
    status: u16,
    bytes: u64,
    referer: Option<std::borrow::Cow<'a, str>>,
    user_agent: Option<std::borrow::Cow<'a, str>>,
    site: Option<&'a str>,
    request_id: u64,
    duration: f64,
    instance: Option<u64>,
}

pub(super) fn json(out: &mut Vec<u8>, entry: &Entry) {
    let time = chrono::DateTime::<chrono::Local>::from(entry.time);
    let header = |value: Option<&'_ HeaderValue>| {
        value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
    };
    let line = JsonLine {
        time: time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        remote_addr: entry.remote_addr,
        remote_user: entry.remote_user.as_deref(),
        method: entry.method.as_str(),
        uri: target(entry),
        protocol: protocol(entry.version),
        status: entry.status,
        bytes: entry.bytes,
        referer: header(entry.referer.as_ref()),
        user_agent: header(entry.user_agent.as_ref()),
        site: entry.site.as_deref(),
        request_id: entry.request_id,
        duration: entry.duration.as_secs_f64(),
        instance: entry.instance,
    };
    // Serializing plain values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            remote_addr: "203.0.113.7".parse().unwrap(),
            remote_user: None,
            method: Method::GET,
            uri: "/a?b=c".parse().unwrap(),
            version: Version::HTTP_11,
            referer: Some(HeaderValue::from_static("http://x/\"q\"")),
            user_agent: Some(HeaderValue::from_bytes(b"ua\\1\t\xe9").unwrap()),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            status: 200,
            bytes: 12,
            site: Some("blog".into()),
            request_id: 41,
            duration: Duration::from_micros(1_234_567),
            instance: Some(3),
        }
    }

    #[test]
    fn access_log_combined_line_escapes_like_nginx() {
        let mut out = Vec::new();
        combined(&mut out, &entry());
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("203.0.113.7 - - ["), "{line}");
        assert!(
            line.ends_with(
                "] \"GET /a?b=c HTTP/1.1\" 200 12 \"http://x/\\x22q\\x22\" \"ua\\x5C1\\x09\\xE9\" \
                 site=blog request=41 duration=1.234567 instance=3"
            ),
            "{line}"
        );
    }

    #[test]
    fn access_log_combined_line_has_dashes_for_the_unknown() {
        let mut entry = entry();
        entry.referer = None;
        entry.user_agent = Some(HeaderValue::from_static(""));
        entry.site = None;
        entry.instance = None;
        entry.remote_user = Some("a\"b".into());
        let mut out = Vec::new();
        combined(&mut out, &entry);
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("203.0.113.7 - a\\x22b ["), "{line}");
        assert!(
            line.ends_with("\"-\" \"-\" site=- request=41 duration=1.234567 instance=-"),
            "{line}"
        );
    }

    #[test]
    fn access_log_json_line_has_the_same_values() {
        let mut out = Vec::new();
        json(&mut out, &entry());
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["remote_addr"], "203.0.113.7");
        assert_eq!(value["remote_user"], serde_json::Value::Null);
        assert_eq!(value["method"], "GET");
        assert_eq!(value["uri"], "/a?b=c");
        assert_eq!(value["protocol"], "HTTP/1.1");
        assert_eq!(value["status"], 200);
        assert_eq!(value["bytes"], 12);
        assert_eq!(value["referer"], "http://x/\"q\"");
        assert_eq!(value["site"], "blog");
        assert_eq!(value["request_id"], 41);
        assert_eq!(value["duration"], 1.234567);
        assert_eq!(value["instance"], 3);
        let time = value["time"].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        assert_eq!(parsed.timestamp(), 1_700_000_000);
    }

    #[test]
    fn access_log_http2_target_is_the_path() {
        let mut entry = entry();
        entry.version = Version::HTTP_2;
        entry.uri = "http://example.com/x?y".parse().unwrap();
        assert_eq!(target(&entry), "/x?y");
        entry.version = Version::HTTP_11;
        assert_eq!(target(&entry), "http://example.com/x?y");
    }
}
