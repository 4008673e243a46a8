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
