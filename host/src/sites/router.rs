//! Host → site: which tenant a request is for.
//!
//! Names match case-insensitively, without port or trailing dot: first exactly, then the
//! longest `*.suffix` wildcard (which matches any name below the suffix, not the suffix
//! itself), then the default site. With no default site an unknown host gets no site at
//! all; it never lands on some tenant's site.

use std::collections::HashMap;

/// A routing table from host names to sites.
pub struct Router<T> {
    exact: HashMap<String, T>,
    /// `(".example.com", site)`, longest suffix first.
    wildcard: Vec<(String, T)>,
    default: Option<T>,
}

impl<T: Clone> Router<T> {
    /// Builds the table; `names` are lower-case `host` or `*.suffix` (validated by config).
    pub fn new<'a>(sites: impl IntoIterator<Item = (&'a [String], bool, T)>) -> Self {
        let mut router = Router {
            exact: HashMap::new(),
            wildcard: Vec::new(),
            default: None,
        };
        for (names, is_default, site) in sites {
            for name in names {
                match name.strip_prefix('*') {
                    Some(suffix) => router.wildcard.push((suffix.to_owned(), site.clone())),
                    None => {
                        router.exact.insert(name.clone(), site.clone());
                    }
                }
            }
            if is_default {
                router.default = Some(site);
            }
        }
        router
            .wildcard
            .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        router
    }

    /// The site for a normalized host (see [`normalize_host`]); `None` for no host at all.
    pub fn route(&self, host: Option<&str>) -> Option<&T> {
        let Some(host) = host else {
            return self.default.as_ref();
        };
        if let Some(site) = self.exact.get(host) {
            return Some(site);
        }
        self.wildcard
            .iter()
            .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(suffix.as_str()))
            .map(|(_, site)| site)
            .or(self.default.as_ref())
    }
}

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
