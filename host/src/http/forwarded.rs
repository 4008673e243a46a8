//! Step 3 of the app path (`request.rs`): the client address the app sees as `REMOTE_ADDR`.
//!
//! `X-Forwarded-For` and `X-Real-IP` are believed only when the TCP peer is one of the
//! server's `trusted_proxies` (addresses or CIDR networks; none by default), as nginx's
//! `set_real_ip_from` with `real_ip_recursive on`: the addresses of `X-Forwarded-For` are
//! walked from the right, skipping trusted proxies, and the first untrusted one is the
//! client; when every one is trusted, the left-most is. An entry that is not an address
//! stops the walk at the last good one. Without `X-Forwarded-For`, a valid `X-Real-IP` is
//! used. The forwarded client's port is unknown, so `REMOTE_PORT` is then 0.
//!
//! The scheme the client used (`wsgi.url_scheme`) comes from the same trusted proxies, as
//! gunicorn's `secure_scheme_headers`: `X-Forwarded-Proto: https` (its left-most entry, the
//! one the first proxy wrote) or `X-Forwarded-Ssl: on`. From any other peer, and without
//! either header, it is the listener's own: `http`.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use http::HeaderMap;

use crate::config::Network;

/// The client's address: `peer` itself unless `peer` is a trusted proxy that says otherwise.
pub fn client_addr(peer: SocketAddr, headers: &HeaderMap, trusted: &[Network]) -> SocketAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(peer.ip()) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .collect();
    if !forwarded.is_empty() {
        let mut client = peer.ip();
        for entry in forwarded.iter().rev() {
            let Some(ip) = parse_ip(entry) else { break };
            client = ip;
            if !is_trusted(ip) {
                break;
            }
        }
        return SocketAddr::new(client, if client == peer.ip() { peer.port() } else { 0 });
    }
    match headers
        .get("x-real-ip")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_ip)
    {
        Some(ip) => SocketAddr::new(ip, 0),
        None => peer,
    }
}

/// `wsgi.url_scheme`: `https` when a trusted proxy says the client used TLS, else `http`.
pub fn scheme(peer: SocketAddr, headers: &HeaderMap, trusted: &[Network]) -> &'static str {
    if !trusted.iter().any(|n| n.contains(peer.ip())) {
        return "http";
    }
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    let ssl = headers
        .get("x-forwarded-ssl")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match (proto, ssl) {
        (Some(proto), _) if proto.eq_ignore_ascii_case("https") => "https",
        (Some(_), _) => "http",
        (None, Some(ssl)) if ssl.eq_ignore_ascii_case("on") => "https",
        _ => "http",
    }
}

/// An address as proxies write it: bare, or with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    let ip = IpAddr::from_str(text)
        .ok()
        .or_else(|| SocketAddr::from_str(text).ok().map(|a| a.ip()))
        .or_else(|| IpAddr::from_str(text.strip_prefix('[')?.strip_suffix(']')?).ok())?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Network> {
        list.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn client(peer: &str, pairs: &[(&str, &str)], trusted: &[&str]) -> String {
        client_addr(peer.parse().unwrap(), &headers(pairs), &nets(trusted))
            .ip()
            .to_string()
    }

    #[test]
    fn networks_parse_and_contain() {
        let net: Network = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains("10.200.3.4".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(
            net.contains("::ffff:10.0.0.1".parse().unwrap()),
            "v4-mapped peers"
        );
        let one: Network = "127.0.0.1".parse().unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
        let v6: Network = "fd00::/8".parse().unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("ten".parse::<Network>().is_err());
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let xff = [("x-forwarded-for", "203.0.113.7")];
        assert_eq!(client("192.0.2.1:5000", &xff, &[]), "192.0.2.1");
        assert_eq!(client("192.0.2.1:5000", &xff, &["10.0.0.0/8"]), "192.0.2.1");
        assert_eq!(
            client("10.1.1.1:5000", &xff, &["10.0.0.0/8"]),
            "203.0.113.7"
        );
        // Right-most untrusted: the client can prepend anything it likes.
        let chain = [("x-forwarded-for", "1.1.1.1, 203.0.113.7, 10.0.0.2")];
        assert_eq!(client("10.0.0.1:1", &chain, &["10.0.0.0/8"]), "203.0.113.7");
        let split = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "10.0.0.2"),
        ];
        assert_eq!(client("10.0.0.1:1", &split, &["10.0.0.0/8"]), "1.1.1.1");
        let all_trusted = [("x-forwarded-for", "10.0.0.3, 10.0.0.2")];
        assert_eq!(
            client("10.0.0.1:1", &all_trusted, &["10.0.0.0/8"]),
            "10.0.0.3"
        );
        let garbage = [("x-forwarded-for", "203.0.113.7, junk, 10.0.0.2")];
        assert_eq!(client("10.0.0.1:1", &garbage, &["10.0.0.0/8"]), "10.0.0.2");
        let ported = [("x-forwarded-for", "[2001:db8::1]:443")];
        assert_eq!(
            client("10.0.0.1:1", &ported, &["10.0.0.0/8"]),
            "2001:db8::1"
        );
        let real = [("x-real-ip", "198.51.100.9")];
        assert_eq!(client("10.0.0.1:1", &real, &["10.0.0.0/8"]), "198.51.100.9");
        assert_eq!(client("192.0.2.1:1", &real, &["10.0.0.0/8"]), "192.0.2.1");
    }

    #[test]
    fn forwarded_scheme_is_believed_only_from_trusted_proxies() {
        let scheme_of = |peer: &str, pairs: &[(&str, &str)], trusted: &[&str]| {
            scheme(peer.parse().unwrap(), &headers(pairs), &nets(trusted))
        };
        let https = [("x-forwarded-proto", "https")];
        assert_eq!(scheme_of("192.0.2.1:1", &https, &[]), "http");
        assert_eq!(scheme_of("192.0.2.1:1", &https, &["10.0.0.0/8"]), "http");
        assert_eq!(scheme_of("10.0.0.1:1", &https, &["10.0.0.0/8"]), "https");
        let upper = [("x-forwarded-proto", "HTTPS")];
        assert_eq!(scheme_of("10.0.0.1:1", &upper, &["10.0.0.0/8"]), "https");
        let chain = [("x-forwarded-proto", "https, http")];
        assert_eq!(scheme_of("10.0.0.1:1", &chain, &["10.0.0.0/8"]), "https");
        let plain = [("x-forwarded-proto", "http")];
        assert_eq!(scheme_of("10.0.0.1:1", &plain, &["10.0.0.0/8"]), "http");
        let junk = [("x-forwarded-proto", "gopher")];
        assert_eq!(scheme_of("10.0.0.1:1", &junk, &["10.0.0.0/8"]), "http");
        let ssl = [("x-forwarded-ssl", "on")];
        assert_eq!(scheme_of("10.0.0.1:1", &ssl, &["10.0.0.0/8"]), "https");
        assert_eq!(scheme_of("192.0.2.1:1", &ssl, &["10.0.0.0/8"]), "http");
        assert_eq!(scheme_of("10.0.0.1:1", &[], &["10.0.0.0/8"]), "http");
    }
}
