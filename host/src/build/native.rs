//! Native extension files in a site's vendored packages: found, removed and named.
//!
//! Part of the build (`site.rs`, after pip has vendored the requirements): a wheel for
//! manylinux may hold `.so` files, which cannot load in WebAssembly. They are removed, and
//! each is recorded with the distribution that installed it (from the `RECORD` files of the
//! `*.dist-info` folders, its name from `METADATA`) and the dotted module name it would
//! have been imported as. That table goes into the generated `wsgi_site_config` module as
//! `NATIVE`; the bridge's `hints` finder turns an import of one of those modules into an
//! error naming the package and the file. A package that falls back to pure Python when its
//! extension is missing (MarkupSafe's `_speedups`) keeps working, as its import is caught.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};

/// One native extension file removed from the vendored packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeFile {
    /// Path inside the packages folder, `/`-separated.
    pub file: String,
    /// The distribution that installed it (its `METADATA` name), or its top-level folder.
    pub package: String,
    /// The module an import of it names (`ujson`, `pydantic_core._pydantic_core`), when the
    /// file is an importable module rather than a bundled shared library.
    pub module: Option<String>,
}

/// Removes every native extension file below `packages` and returns them, sorted by path.
pub fn strip(packages: &Path) -> Result<Vec<NativeFile>> {
    let owners = owners(packages)?;
    let mut files = Vec::new();
    find(packages, packages, &mut files)?;
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let path = packages.join(&file);
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove `{}`", path.display()))?;
        let package = owners
            .get(&file)
            .cloned()
            .unwrap_or_else(|| top_level(&file).to_owned());
        found.push(NativeFile {
            module: module_name(&file),
            package,
            file,
        });
    }
    Ok(found)
}

/// The dotted module name of an extension file: `a/b/_c.cpython-314-x86_64-linux-gnu.so`
/// → `a.b._c`; `None` when a part is not an identifier (`numpy.libs/libfoo.so`).
pub fn module_name(file: &str) -> Option<String> {
    let mut parts: Vec<&str> = file.split('/').collect();
    let last = parts.pop()?;
    let stem = last.split('.').next()?;
    parts.push(stem);
    parts
        .iter()
        .all(|part| is_identifier(part))
        .then(|| parts.join("."))
}

/// The top-level name a file sits under: `pkg/x.so` → `pkg`, `mod.abi3.so` → `mod`.
fn top_level(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.split('.').next().unwrap_or(first)
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

fn is_native(name: &str) -> bool {
    [".so", ".pyd", ".dylib"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

fn find(root: &Path, dir: &Path, found: &mut Vec<String>) -> Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("cannot read `{}`", dir.display()))?
    {
        let entry = entry.with_context(|| format!("cannot read `{}`", dir.display()))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .with_context(|| format!("cannot stat `{}`", path.display()))?;
        if kind.is_dir() {
            find(root, &path, found)?;
        } else if entry.file_name().to_str().is_some_and(is_native) {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// File path (as in `RECORD`) → distribution name, for every `*.dist-info` in `packages`.
fn owners(packages: &Path) -> Result<BTreeMap<String, String>> {
    let mut owners = BTreeMap::new();
    let entries = std::fs::read_dir(packages)
        .with_context(|| format!("cannot read `{}`", packages.display()))?;
    for entry in entries {
        let path = entry?.path();
        let Some(folder) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = folder.strip_suffix(".dist-info") else {
            continue;
        };
        let metadata = std::fs::read_to_string(path.join("METADATA")).unwrap_or_default();
        let name = metadata
            .lines()
            .take_while(|line| !line.is_empty())
            .find_map(|line| line.strip_prefix("Name:"))
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| stem.split('-').next().unwrap_or(stem).to_owned());
        let record = std::fs::read_to_string(path.join("RECORD")).unwrap_or_default();
        for line in record.lines() {
            if let Some(file) = record_path(line) {
                owners.insert(file, name.clone());
            }
        }
    }
    Ok(owners)
}

/// The path column of one `RECORD` line (CSV; a path holding a comma is quoted).
fn record_path(line: &str) -> Option<String> {
    let path = match line.strip_prefix('"') {
        Some(rest) => {
            let mut path = String::new();
            let mut chars = rest.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '"' {
                    if chars.peek() == Some(&'"') {
                        chars.next();
                    } else {
                        break;
                    }
                }
                path.push(c);
            }
            path
        }
        None => line.split(',').next()?.to_owned(),
    };
    let path = path.trim_start_matches("./").to_owned();
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_module_names() {
        assert_eq!(
            module_name("ujson.cpython-314-x86_64-linux-gnu.so").as_deref(),
            Some("ujson")
        );
        assert_eq!(
            module_name("pydantic_core/_pydantic_core.cpython-314-x86_64-linux-gnu.so").as_deref(),
            Some("pydantic_core._pydantic_core")
        );
        assert_eq!(
            module_name("pkg/_speedups.abi3.so").as_deref(),
            Some("pkg._speedups")
        );
        assert_eq!(module_name("numpy.libs/libopenblas-r0.so"), None);
    }

    #[test]
    fn native_record_paths() {
        assert_eq!(record_path("a/b.so,sha256=x,12").as_deref(), Some("a/b.so"));
        assert_eq!(
            record_path("\"a,\"\"b\"\".so\",sha256=x,1").as_deref(),
            Some("a,\"b\".so")
        );
        assert_eq!(record_path(""), None);
    }

    #[test]
    fn native_strip_names_package_and_module() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("Fast_Pkg-1.0.dist-info")).unwrap();
        std::fs::create_dir_all(root.join("fastpkg")).unwrap();
        std::fs::write(
            root.join("Fast_Pkg-1.0.dist-info/METADATA"),
            "Metadata-Version: 2.1\nName: Fast-Pkg\nVersion: 1.0\n\nName: not this\n",
        )
        .unwrap();
        std::fs::write(
            root.join("Fast_Pkg-1.0.dist-info/RECORD"),
            "fastpkg/__init__.py,,\nfastpkg/_core.cpython-314-x86_64-linux-gnu.so,,\n",
        )
        .unwrap();
        std::fs::write(root.join("fastpkg/__init__.py"), "").unwrap();
        std::fs::write(
            root.join("fastpkg/_core.cpython-314-x86_64-linux-gnu.so"),
            "",
        )
        .unwrap();
        std::fs::write(root.join("loose.abi3.so"), "").unwrap();
        let found = strip(root).unwrap();
        assert_eq!(
            found,
            vec![
                NativeFile {
                    file: "fastpkg/_core.cpython-314-x86_64-linux-gnu.so".into(),
                    package: "Fast-Pkg".into(),
                    module: Some("fastpkg._core".into()),
                },
                NativeFile {
                    file: "loose.abi3.so".into(),
                    package: "loose".into(),
                    module: Some("loose".into()),
                },
            ]
        );
        assert!(!root.join("loose.abi3.so").exists());
        assert!(root.join("fastpkg/__init__.py").exists());
    }
}
