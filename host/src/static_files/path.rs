//! Steps 1–3 of the pipeline: decode the raw request path once, keep only its normal
//! segments, and apply the dot-file rule.
//!
//! The raw path is split on `/` *before* decoding, so `%2F` can never become a separator.
//! Each segment is percent-decoded exactly once (`%252e` becomes the literal text `%2e`,
//! which is then just an odd file name), must be valid UTF-8, and must not contain NUL,
//! a backslash or a (decoded) slash; a decoded `..` is refused rather than resolved.
//! Empty and `.` segments are dropped, as static-web-server does.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// Why a request path cannot name a static file. Every variant answers 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/` (e.g. `*` or an authority-form target).
    NotAbsolute,
    /// A segment decodes to bytes that are not UTF-8.
    InvalidUtf8,
    /// A segment decodes to something holding NUL.
    Nul,
    /// A segment decodes to something holding `\` (a separator on some systems).
    Backslash,
    /// A segment holds an encoded slash (`%2F`), which we refuse rather than reinterpret.
    EncodedSlash,
    /// A segment is `..` (raw or encoded).
    ParentDir,
}

/// A sanitised request path: the normal segments, each a plain file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPath {
    /// Decoded segments; none is empty, `.`, `..`, or holds `/`, `\` or NUL.
    pub segments: Vec<String>,
    /// Whether the raw path ended with `/` (a directory request: `/dir/`).
    pub trailing_slash: bool,
}

/// What the dot-file rule says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotRule {
    /// No segment starts with `.`, or the only one is a leading `.well-known`.
    Allowed,
    /// Some segment is a dot-file or dot-folder: answer 404 and keep it from the app.
    Hidden,
}

/// Characters escaped when a sanitised path is written back into a `Location` header.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Decodes and sanitises a raw (percent-encoded, query-less) request path.
pub fn decode(raw: &str) -> Result<RequestPath, PathError> {
    let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    let mut segments = Vec::new();
    for raw_segment in rest.split('/') {
        let bytes: Vec<u8> = percent_decode_str(raw_segment).collect();
        let segment = String::from_utf8(bytes).map_err(|_| PathError::InvalidUtf8)?;
        if segment.contains('\0') {
            return Err(PathError::Nul);
        }
        if segment.contains('\\') {
            return Err(PathError::Backslash);
        }
        if segment.contains('/') {
            return Err(PathError::EncodedSlash);
        }
        match segment.as_str() {
            "" | "." => continue,
            ".." => return Err(PathError::ParentDir),
            _ => segments.push(segment),
        }
    }
    Ok(RequestPath {
        segments,
        trailing_slash: raw.ends_with('/'),
    })
}

impl RequestPath {
    /// The dot-file rule: any segment starting with `.` hides the path, except a first
    /// segment `.well-known` (RFC 8615), under which other dot segments stay hidden.
    pub fn dot_rule(&self) -> DotRule {
        let hidden = self
            .segments
            .iter()
            .enumerate()
            .any(|(i, s)| s.starts_with('.') && !(i == 0 && s == ".well-known"));
        if hidden {
            DotRule::Hidden
        } else {
            DotRule::Allowed
        }
    }

    /// The path relative to the static root, for cap-std (`""` is the root itself).
    pub fn relative(&self) -> std::path::PathBuf {
        self.segments.iter().collect()
    }

    /// The `Location` for the `/dir` → `/dir/` redirect, rebuilt from the sanitised
    /// segments (so `//evil.example` can never become a protocol-relative URL).
    pub fn directory_location(&self) -> String {
        let mut out = String::from("/");
        for segment in &self.segments {
            out.extend(utf8_percent_encode(segment, SEGMENT));
            out.push('/');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(raw: &str) -> Vec<String> {
        decode(raw).unwrap().segments
    }

    #[test]
    fn static_path_keeps_normal_segments() {
        assert_eq!(segs("/a/b.txt"), ["a", "b.txt"]);
        assert_eq!(segs("//a///./b/"), ["a", "b"]);
        assert_eq!(segs("/"), Vec::<String>::new());
        assert_eq!(segs("/caf%C3%A9%20x"), ["café x"]);
        assert!(decode("/a/").unwrap().trailing_slash);
        assert!(!decode("/a").unwrap().trailing_slash);
    }

    #[test]
    fn static_path_rejects_traversal_in_every_encoding() {
        assert_eq!(decode("/../etc/passwd"), Err(PathError::ParentDir));
        assert_eq!(decode("/a/%2e%2e/b"), Err(PathError::ParentDir));
        assert_eq!(decode("/a/%2E%2E"), Err(PathError::ParentDir));
        assert_eq!(decode("/a/.%2e/"), Err(PathError::ParentDir));
        assert_eq!(decode("/..%2fetc"), Err(PathError::EncodedSlash));
        assert_eq!(decode("/a%2Fb"), Err(PathError::EncodedSlash));
        assert_eq!(decode("/..\\etc"), Err(PathError::Backslash));
        assert_eq!(decode("/..%5cetc"), Err(PathError::Backslash));
        assert_eq!(decode("/a%00.txt"), Err(PathError::Nul));
        assert_eq!(decode("/%ff"), Err(PathError::InvalidUtf8));
        assert_eq!(decode("etc/passwd"), Err(PathError::NotAbsolute));
        assert_eq!(decode("*"), Err(PathError::NotAbsolute));
        // Decoded once only: the double-encoded form is a literal, harmless name.
        assert_eq!(segs("/%252e%252e/x"), ["%2e%2e", "x"]);
    }

    #[test]
    fn static_path_dot_rule() {
        let rule = |raw: &str| decode(raw).unwrap().dot_rule();
        assert_eq!(rule("/.git/config"), DotRule::Hidden);
        assert_eq!(rule("/a/.env"), DotRule::Hidden);
        assert_eq!(rule("/%2Ehtaccess"), DotRule::Hidden);
        assert_eq!(rule("/.well-known/x"), DotRule::Allowed);
        assert_eq!(rule("/.well-known/.secret"), DotRule::Hidden);
        assert_eq!(rule("/a/.well-known/x"), DotRule::Hidden);
        assert_eq!(rule("/a/b.c/d"), DotRule::Allowed);
    }

    #[test]
    fn static_path_directory_location_is_rebuilt() {
        assert_eq!(
            decode("//evil.example").unwrap().directory_location(),
            "/evil.example/"
        );
        assert_eq!(
            decode("/a%20b/c").unwrap().directory_location(),
            "/a%20b/c/"
        );
        assert_eq!(decode("/100%25").unwrap().directory_location(), "/100%25/");
    }
}
