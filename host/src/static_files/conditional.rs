//! Step 7 of the pipeline: validators (`ETag`, `Last-Modified`) and the conditional request
//! headers, evaluated in the order of RFC 9110 §13.2.2, plus `If-Range` (§13.1.5).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName};

/// The validators of one representation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validators {
    /// The strong entity-tag, quotes included: `"<hex mtime nanos>-<hex size>[-br|-gz]"`.
    pub etag: String,
    /// Modification time truncated to whole seconds (HTTP-date resolution).
    pub last_modified: Option<SystemTime>,
}

impl Validators {
    /// Validators from size, mtime and, for a precompressed sibling, its extension (so each
    /// representation has its own entity-tag).
    pub fn new(size: u64, modified: Option<SystemTime>, suffix: Option<&str>) -> Self {
        let since_epoch = modified.and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let nanos = since_epoch.map_or(0, |d| d.as_nanos());
        let etag = match suffix {
            Some(suffix) => format!("\"{nanos:x}-{size:x}-{suffix}\""),
            None => format!("\"{nanos:x}-{size:x}\""),
        };
        let last_modified = since_epoch.map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs()));
        Validators {
            etag,
            last_modified,
        }
    }
}

/// The verdict of the preconditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    /// Serve the representation (Range may still apply).
    Proceed,
    /// 304 Not Modified.
    NotModified,
    /// 412 Precondition Failed.
    Failed,
}

/// Evaluates `If-Match`, `If-Unmodified-Since`, `If-None-Match` and `If-Modified-Since` for a
/// GET or HEAD of an existing representation.
pub fn evaluate(headers: &HeaderMap, v: &Validators) -> Precondition {
    if let Some(list) = header_text(headers, &IF_MATCH) {
        if !list_matches(&list, &v.etag, Comparison::Strong) {
            return Precondition::Failed;
        }
    } else if let Some(date) = header_date(headers, &IF_UNMODIFIED_SINCE) {
        // Without a Last-Modified the condition cannot be evaluated: ignore it.
        if v.last_modified.is_some_and(|lm| lm > date) {
            return Precondition::Failed;
        }
    }
    if let Some(list) = header_text(headers, &IF_NONE_MATCH) {
        if list_matches(&list, &v.etag, Comparison::Weak) {
            return Precondition::NotModified;
        }
    } else if let Some(date) = header_date(headers, &IF_MODIFIED_SINCE) {
        if v.last_modified.is_some_and(|lm| lm <= date) {
            return Precondition::NotModified;
        }
    }
    Precondition::Proceed
}

/// Whether a `Range` header may be honoured: true without `If-Range`, otherwise only when
/// it names the current representation (strong comparison, or an exactly equal date).
pub fn if_range_allows(headers: &HeaderMap, v: &Validators) -> bool {
    let Some(value) = header_text(headers, &IF_RANGE) else {
        return true;
    };
    let value = value.trim();
    if value.starts_with('"') || value.starts_with("W/") {
        return match parse_tags(value) {
            Some(tags) if tags.len() == 1 => tag_matches(&tags[0], &v.etag, Comparison::Strong),
            _ => false,
        };
    }
    match (httpdate::parse_http_date(value), v.last_modified) {
        (Ok(date), Some(lm)) => date == lm,
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// One entity-tag from a header: its opaque part (quotes included) and weakness.
#[derive(Debug, PartialEq, Eq)]
struct Tag<'a> {
    weak: bool,
    opaque: &'a str,
}

/// All values of a header joined with `,` (a list header may be split over lines).
fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let parts: Vec<&str> = values.map(|v| v.to_str().unwrap_or("")).collect();
    Some(parts.join(","))
}

/// A date header's value; an unparseable date makes the header be ignored (RFC 9110).
fn header_date(headers: &HeaderMap, name: &HeaderName) -> Option<SystemTime> {
    let value = headers.get(name)?.to_str().ok()?;
    httpdate::parse_http_date(value.trim()).ok()
}

/// `*` matches any existing representation; otherwise any tag in the list must match.
/// A malformed list matches nothing.
fn list_matches(list: &str, etag: &str, comparison: Comparison) -> bool {
    if list.trim() == "*" {
        return true;
    }
    parse_tags(list).is_some_and(|tags| tags.iter().any(|t| tag_matches(t, etag, comparison)))
}

fn tag_matches(tag: &Tag<'_>, etag: &str, comparison: Comparison) -> bool {
    // Our own tags are always strong, so only the request side can be weak.
    match comparison {
        Comparison::Strong => !tag.weak && tag.opaque == etag,
        Comparison::Weak => tag.opaque == etag,
    }
}

/// Parses `#entity-tag` (commas may appear inside the quotes, so this is a small scanner).
fn parse_tags(list: &str) -> Option<Vec<Tag<'_>>> {
    let mut tags = Vec::new();
    let mut rest = list;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return Some(tags);
        }
        let weak = rest.starts_with("W/");
        if weak {
            rest = &rest[2..];
        }
        if !rest.starts_with('"') {
            return None;
        }
        let close = rest[1..].find('"')? + 2;
        tags.push(Tag {
            weak,
            opaque: &rest[..close],
        });
        rest = &rest[close..];
        let next = rest.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn validators() -> Validators {
        Validators::new(
            0x1234,
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 5)),
            None,
        )
    }

    fn with(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn static_etag_format() {
        let v = validators();
        let nanos: u128 = 1_700_000_000 * 1_000_000_000 + 5;
        assert_eq!(v.etag, format!("\"{nanos:x}-1234\""));
        assert_eq!(
            v.last_modified,
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
        let br = Validators::new(
            0x1234,
            Some(UNIX_EPOCH + Duration::new(1_700_000_000, 5)),
            Some("br"),
        );
        assert_eq!(br.etag, format!("\"{nanos:x}-1234-br\""));
    }

    #[test]
    fn static_parse_entity_tag_lists() {
        assert_eq!(
            parse_tags(r#"W/"a", "b,c" ,"d""#).unwrap(),
            [
                Tag {
                    weak: true,
                    opaque: "\"a\""
                },
                Tag {
                    weak: false,
                    opaque: "\"b,c\""
                },
                Tag {
                    weak: false,
                    opaque: "\"d\""
                }
            ]
        );
        assert_eq!(parse_tags("abc"), None);
        assert_eq!(parse_tags("\"abc"), None);
        assert_eq!(parse_tags("\"a\" x"), None);
    }

    #[test]
    fn static_precondition_order() {
        let v = validators();
        let e = v.etag.clone();
        let weak = format!("W/{e}");
        let lm = httpdate::fmt_http_date(v.last_modified.unwrap());
        let older = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        use Precondition::*;
        assert_eq!(evaluate(&HeaderMap::new(), &v), Proceed);
        assert_eq!(evaluate(&with(&[(IF_NONE_MATCH, &e)]), &v), NotModified);
        assert_eq!(evaluate(&with(&[(IF_NONE_MATCH, &weak)]), &v), NotModified);
        assert_eq!(
            evaluate(&with(&[(IF_NONE_MATCH, "\"x\", W/\"y\"")]), &v),
            Proceed
        );
        assert_eq!(
            evaluate(&with(&[(IF_NONE_MATCH, "\"x\""), (IF_NONE_MATCH, &e)]), &v),
            NotModified
        );
        assert_eq!(evaluate(&with(&[(IF_NONE_MATCH, "*")]), &v), NotModified);
        assert_eq!(
            evaluate(&with(&[(IF_MODIFIED_SINCE, &lm)]), &v),
            NotModified
        );
        assert_eq!(evaluate(&with(&[(IF_MODIFIED_SINCE, &older)]), &v), Proceed);
        assert_eq!(
            evaluate(&with(&[(IF_MODIFIED_SINCE, "garbage")]), &v),
            Proceed
        );
        // If-None-Match wins over If-Modified-Since.
        assert_eq!(
            evaluate(
                &with(&[(IF_NONE_MATCH, "\"x\""), (IF_MODIFIED_SINCE, &lm)]),
                &v
            ),
            Proceed
        );
        assert_eq!(evaluate(&with(&[(IF_MATCH, &e)]), &v), Proceed);
        assert_eq!(evaluate(&with(&[(IF_MATCH, "*")]), &v), Proceed);
        assert_eq!(evaluate(&with(&[(IF_MATCH, &weak)]), &v), Failed);
        assert_eq!(evaluate(&with(&[(IF_MATCH, "\"other\"")]), &v), Failed);
        assert_eq!(
            evaluate(&with(&[(IF_MATCH, "\"other\""), (IF_NONE_MATCH, &e)]), &v),
            Failed
        );
        assert_eq!(
            evaluate(&with(&[(IF_UNMODIFIED_SINCE, &older)]), &v),
            Failed
        );
        assert_eq!(evaluate(&with(&[(IF_UNMODIFIED_SINCE, &lm)]), &v), Proceed);
        // If-Match present: If-Unmodified-Since is not consulted.
        assert_eq!(
            evaluate(&with(&[(IF_MATCH, &e), (IF_UNMODIFIED_SINCE, &older)]), &v),
            Proceed
        );
    }

    #[test]
    fn static_if_range_rules() {
        let v = validators();
        let lm = httpdate::fmt_http_date(v.last_modified.unwrap());
        let older = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_600_000_000));
        assert!(if_range_allows(&HeaderMap::new(), &v));
        assert!(if_range_allows(&with(&[(IF_RANGE, &v.etag)]), &v));
        assert!(!if_range_allows(
            &with(&[(IF_RANGE, &format!("W/{}", v.etag))]),
            &v
        ));
        assert!(!if_range_allows(&with(&[(IF_RANGE, "\"other\"")]), &v));
        assert!(if_range_allows(&with(&[(IF_RANGE, &lm)]), &v));
        assert!(!if_range_allows(&with(&[(IF_RANGE, &older)]), &v));
        assert!(!if_range_allows(&with(&[(IF_RANGE, "nonsense")]), &v));
    }
}
