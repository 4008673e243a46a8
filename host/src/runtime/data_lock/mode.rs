//! What one request takes of its site's data lock ([`Access`]), from the site's mode
//! (`app.data_lock`) and the request's method; the gate (`gate.rs`) then waits for it.
//!
//! Why: the guest's sqlite has no file locks on WASI (its locking calls succeed and lock
//! nothing), so two instances writing one database at once lose updates or corrupt the file.
//! The host is the only party that sees every instance, so it does the locking:
//! - `exclusive` (the default for a site with data folders): every request runs alone;
//! - `methods`: GET, HEAD, OPTIONS and TRACE share the lock, every other method runs alone
//!   (for apps that write only in unsafe methods);
//! - `none`: no lock; the app coordinates its own writes.

use crate::config::DataLock;

/// What a request with `method` takes under a site's `mode`.
pub fn access(mode: DataLock, method: &str) -> Access {
    match mode {
        DataLock::None => Access::Free,
        DataLock::Exclusive => Access::Exclusive,
        DataLock::Methods if is_safe(method) => Access::Shared,
        DataLock::Methods => Access::Exclusive,
    }
}

/// The methods RFC 9110 calls safe (read-only): they share the lock under `methods`.
fn is_safe(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// What one request takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Free,
    Shared,
    Exclusive,
}

/// The request's method, from its environ.
pub fn method_of(environ: &[(String, String)]) -> &str {
    environ
        .iter()
        .find(|(key, _)| key == "REQUEST_METHOD")
        .map_or("", |(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_lock_defaults_to_exclusive_with_data_and_none_without() {
        assert_eq!(DataLock::resolve(None, true), Ok(DataLock::Exclusive));
        assert_eq!(DataLock::resolve(None, false), Ok(DataLock::None));
        assert_eq!(
            DataLock::resolve(Some("methods"), true),
            Ok(DataLock::Methods)
        );
        assert_eq!(
            DataLock::resolve(Some("exclusive"), true),
            Ok(DataLock::Exclusive)
        );
        assert_eq!(DataLock::resolve(Some("none"), true), Ok(DataLock::None));
    }

    #[test]
    fn data_lock_rejects_unknown_modes_and_a_lock_without_data() {
        let unknown = DataLock::resolve(Some("sometimes"), true).unwrap_err();
        assert!(unknown.contains("`sometimes`"), "{unknown}");
        assert!(
            unknown.contains("`exclusive`, `methods` or `none`"),
            "{unknown}"
        );
        // Case matters, as for every other mode-like key.
        assert!(DataLock::resolve(Some("Exclusive"), true).is_err());
        for value in ["exclusive", "methods", "none"] {
            let alone = DataLock::resolve(Some(value), false).unwrap_err();
            assert!(alone.contains(&format!("`{value}`")), "{alone}");
            assert!(alone.contains("no `app.data` folders"), "{alone}");
        }
    }

    #[test]
    fn data_lock_access_follows_the_mode_and_method() {
        for method in [
            "GET", "HEAD", "OPTIONS", "TRACE", "POST", "PUT", "PATCH", "DELETE",
        ] {
            assert_eq!(access(DataLock::None, method), Access::Free, "{method}");
            assert_eq!(
                access(DataLock::Exclusive, method),
                Access::Exclusive,
                "{method}"
            );
        }
        for method in ["GET", "HEAD", "OPTIONS", "TRACE"] {
            assert_eq!(
                access(DataLock::Methods, method),
                Access::Shared,
                "{method}"
            );
        }
        // Anything not known to be safe writes: unsafe methods, extensions, odd spellings.
        for method in ["POST", "PUT", "PATCH", "DELETE", "PROPFIND", "get", ""] {
            assert_eq!(
                access(DataLock::Methods, method),
                Access::Exclusive,
                "{method:?}"
            );
        }
    }

    #[test]
    fn data_lock_method_comes_from_the_environ() {
        let environ = vec![
            ("PATH_INFO".to_owned(), "/x".to_owned()),
            ("REQUEST_METHOD".to_owned(), "PUT".to_owned()),
        ];
        assert_eq!(method_of(&environ), "PUT");
        assert_eq!(method_of(&[]), "");
    }
}
