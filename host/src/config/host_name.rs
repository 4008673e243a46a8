//! Host names as the config and the router see them: a request's Host or authority split
//! and lower-cased, a `server_names` entry checked, a site folder's name checked.

/// Splits an authority or Host value into a lower-cased host and an optional port.
/// Returns `None` when the value is not a plausible host.
pub fn normalize_host(value: &str) -> Option<(String, Option<u16>)> {
    let value = value.trim();
    let (host, port) = if let Some(rest) = value.strip_prefix('[') {
        let end = rest.find(']')?;
        let port = rest[end + 1..].strip_prefix(':');
        (&value[..end + 2], port)
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (value, None),
        }
    };
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'[' | b']' | b':'));
    valid.then_some((host, port))
}

/// A `server_names` entry, lower-cased without its trailing dot; the error is the reason.
pub fn normalize_server_name(name: &str) -> Result<String, String> {
    // Like the router does for the request's host: case and one trailing dot do not count.
    let trimmed = name.trim();
    let lowered = trimmed
        .strip_suffix('.')
        .unwrap_or(trimmed)
        .to_ascii_lowercase();
    let host = lowered.strip_prefix("*.").unwrap_or(&lowered);
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(lowered)
    } else {
        Err(format!("`{name}` is not a host name (or `*.` wildcard)"))
    }
}

/// Whether `name` may be a site folder's name (the tenant's identity in logs and paths).
pub fn is_site_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}
