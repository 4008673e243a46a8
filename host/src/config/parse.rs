//! Shared parsing helpers: TOML errors turned into [`ConfigError`]s that name the key, and
//! the value types several files use (durations, paths inside a folder).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::ConfigError;

/// Reads and parses `file` into `T`, or says which key is wrong and why.
pub fn read_toml<T: DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::new(file, "-", format!("cannot read the file: {e}")))?;
    toml::from_str(&text).map_err(|error| {
        let message = error.message().to_owned();
        let (key, line) = match error.span() {
            Some(span) => (
                key_at(&text, span.start, &message),
                Some(line_of(&text, span.start)),
            ),
            None => (key_in_message(&message).unwrap_or_else(|| "-".into()), None),
        };
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        ConfigError::new(file, key, format!("{message}{at}"))
    })
}

/// The dotted key an error points at: the table header above the offending line plus the
/// key on it; serde names missing or unknown fields in its message, which wins.
fn key_at(text: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("");
    let table = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && !l.starts_with("[["))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    let on_line = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_owned());
    let field = key_in_message(message).or(on_line);
    let in_header = line.trim_start().starts_with('[');
    let table = if in_header {
        Some(
            line.trim()
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned(),
        )
    } else {
        table
    };
    match (table, field) {
        (Some(table), Some(field)) if !in_header || !field.is_empty() => format!("{table}.{field}"),
        (Some(table), None) => table,
        (None, Some(field)) => field,
        _ => "-".into(),
    }
}

fn key_in_message(message: &str) -> Option<String> {
    // serde: "unknown field `x`, expected ...", "missing field `x`".
    if !(message.starts_with("unknown field") || message.starts_with("missing field")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    Some(message[start..end].to_owned())
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses a duration such as `30s`, `5m`, `1h 30m`, `7d`.
pub fn duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value.trim())
        .map_err(|e| format!("`{value}` is not a duration such as `30s`, `10m` or `7d`: {e}"))
}

/// Resolves `entry` against `dir`; it may not leave it.
pub fn inside(dir: &Path, entry: &str) -> Result<PathBuf, String> {
    let relative = Path::new(entry);
    let escapes = entry.is_empty()
        || relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir));
    if escapes {
        return Err(format!(
            "`{entry}` must be a relative path inside the site folder"
        ));
    }
    Ok(dir.join(relative))
}
