//! Shared parsing helpers: TOML errors turned into [`ConfigError`]s that name the key, and
//! the value types several files use (durations, paths inside a folder).

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::error::ConfigError;
use super::site_dir::{describe, is_escape, SiteDir};

/// Reads and parses `file` into `T`, or says which key is wrong and why.
pub fn read_toml<T: DeserializeOwned>(file: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::new(file, "-", format!("cannot read the file: {e}")))?;
    parse_toml(&text, file)
}

/// Parses `text`, the contents of `file`, into `T`, or says which key is wrong and why.
pub fn parse_toml<T: DeserializeOwned>(text: &str, file: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|error| {
        let message = error.message().to_owned();
        let (key, line) = match error.span() {
            Some(span) => (
                key_at(text, span.start, &message),
                Some(line_of(text, span.start)),
            ),
            None => (key_in_message(&message).unwrap_or_else(|| "-".into()), None),
        };
        let at = line.map(|l| format!(" (line {l})")).unwrap_or_default();
        ConfigError::new(file, key, format!("{message}{at}"))
    })
}

/// The dotted key an error points at, from the line at `offset`: the table header above it
/// plus the key on it (`[app]` + `max_bdy = 3` → `app.max_bdy`). serde names unknown or
/// missing fields in its message; that name is joined to an inline table or dotted key on the
/// line (`static = { expire = "1h" }` → `static.expire`) and is not repeated after a header
/// that already ends with it (`[limits]` → `limits`).
fn key_at(text: &str, offset: usize, message: &str) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    let field = key_in_message(message);
    let ends_with = |key: &str, field: &str| key == field || key.ends_with(&format!(".{field}"));
    if let Some(header) = header_name(line) {
        return match field {
            Some(field) if !ends_with(&header, &field) => format!("{header}.{field}"),
            _ => header,
        };
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(|l| header_name(l.trim()));
    let on_line = line
        .split_once('=')
        .map(|(key, value)| (dotted_key(key), value.trim_start()))
        .filter(|(key, _)| !key.is_empty());
    let key = match (on_line, field) {
        (Some((key, _)), Some(field)) if ends_with(&key, &field) => key,
        (Some((key, value)), Some(field)) if value.starts_with('{') => format!("{key}.{field}"),
        (_, Some(field)) => field,
        (Some((key, _)), None) => key,
        (None, None) => return table.unwrap_or_else(|| "-".into()),
    };
    match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    }
}

/// `app.env` for a `[app.env]` or `[[app.env]]` header line.
fn header_name(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let end = inner.find(']')?;
    Some(dotted_key(&inner[..end]))
}

/// A TOML key as written (`static . "root"`) in its plain dotted form (`static.root`).
fn dotted_key(raw: &str) -> String {
    raw.split('.')
        .map(|part| part.trim().trim_matches(|c| c == '"' || c == '\''))
        .collect::<Vec<_>>()
        .join(".")
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

/// `entry` as a path relative to a site folder: normal components only (a `./` is
/// dropped), so it can never name a place outside the folder as written. Where it leads is
/// settled when it is opened, beneath the site folder's handle (`site_dir.rs`).
pub fn relative(entry: &str) -> Result<PathBuf, String> {
    let mut path = PathBuf::new();
    for component in Path::new(entry).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "`{entry}` must be a relative path inside the site folder"
                ))
            }
        }
    }
    if entry.is_empty() || entry.contains('\0') {
        return Err(format!(
            "`{entry}` must be a relative path inside the site folder"
        ));
    }
    Ok(path)
}

/// Checks that `entry` (from [`relative`]) is a folder beneath `site`.
pub fn folder_in(site: &SiteDir, entry: &str, path: &Path) -> Result<(), String> {
    match site.open_dir(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("`{entry}` is not a folder in the site"))
        }
        Err(error) if error.raw_os_error() == Some(libc::ENOTDIR) => {
            Err(format!("`{entry}` is not a folder in the site"))
        }
        Err(error) if is_escape(&error) => Err(format!(
            "`{entry}` leads outside the site folder through a symlink"
        )),
        Err(error) => Err(format!("`{entry}`: {}", describe(&error))),
    }
}
