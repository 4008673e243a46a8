//! Storage quotas (`tmp_size`, `tmp_files`, `data_size`, `data_files` in `[limits]`), over
//! real HTTP against copies of the `quota` fixture: an app that fills its scratch `/tmp` or
//! its data folder until Python's `OSError` stops it, and answers the errno it got.
//!
//! The fixture's app lives in `src/`, so copies that differ only in their `site.toml` share
//! one build per site name: keep the site names to `quota` and `other`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::{get, Layout, Server};

/// The guest's name of the errno for a full disk (WASI's number for it is 51, not Linux's 28).
const ENOSPC: &str = "ENOSPC";
const MIB: u64 = 1024 * 1024;

/// Copies the `quota` fixture to `sites/<name>`, answering `<name>.test`, with `limits` as
/// its `[limits]` table and an empty `data` folder.
fn add_site(layout: &Layout, name: &str, limits: &str) -> PathBuf {
    let dir = layout.app_fixture("quota", name, "", &format!("[limits]\n{limits}"));
    std::fs::create_dir_all(dir.join("data")).unwrap();
    dir
}

/// `GET path` on `<site>.test`, which must answer 200 with JSON.
fn call(server: &Server, site: &str, path: &str) -> serde_json::Value {
    let response = server.get(&format!("{site}.test"), path);
    assert_eq!(
        response.status,
        200,
        "{site} {path}: {}\n{}",
        response.text(),
        server.log()
    );
    response.json()
}

/// This server's scratch folders in the host's temp folder.
fn scratch_folders(pid: u32) -> Vec<PathBuf> {
    let prefix = format!("wsgi-wasm-{pid}-");
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect()
}

fn site_status<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    status["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no site `{name}` in {status}"))
}

fn storage<'a>(site: &'a serde_json::Value, mount: &str) -> &'a serde_json::Value {
    site["storage"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["mount"] == mount)
        .unwrap_or_else(|| panic!("no storage `{mount}` in {site}"))
}

#[test]
fn quota_tmp_write_past_the_limit_is_enospc_in_python() {
    let layout = Layout::new();
    add_site(&layout, "quota", "tmp_size = \"1MiB\"\n");
    add_site(&layout, "other", "");
    let server = layout.serve_in_place();

    // 64 KiB pieces: the sixteenth fills the quota exactly, the seventeenth is refused.
    // Through os.pwrite (the host's descriptor write) Python sees ENOSPC.
    let filled = call(&server, "quota", "/write?dir=/tmp&name=fill&how=pwrite");
    assert_eq!(filled["error"], ENOSPC, "{filled}");
    assert_eq!(filled["written"], MIB, "{filled}");
    assert_eq!(filled["size"], MIB, "the file holds what was accepted");
    // Growing a file with ftruncate past the quota is ENOSPC too; reopening with O_TRUNC
    // gave the old megabyte back first.
    let grown = call(&server, "quota", "/write?dir=/tmp&name=fill&how=truncate");
    assert_eq!(grown["error"], ENOSPC, "{grown}");
    assert_eq!(grown["size"], MIB, "{grown}");
    // A file object's write() goes through a host output stream, and the guest's libc
    // reports every failed stream write as EIO, whatever the host says: the write is
    // refused at the same byte, but Python sees EIO, not ENOSPC.
    let streamed = call(&server, "quota", "/write?dir=/tmp&name=fill");
    assert_eq!(streamed["error"], "EIO", "{streamed}");
    assert_eq!(streamed["written"], MIB, "{streamed}");
    assert_eq!(streamed["size"], MIB, "{streamed}");

    // The quota is the site's: another file (possibly in another instance) gets no room.
    let more = call(
        &server,
        "quota",
        "/write?dir=/tmp&name=more&chunk=1&how=pwrite",
    );
    assert_eq!(more["error"], ENOSPC, "{more}");
    assert_eq!(more["written"], 0, "{more}");

    // The site serves on; another site's /tmp is its own.
    assert_eq!(call(&server, "quota", "/hello")["hello"], true);
    let other = call(&server, "other", "/write?dir=/tmp&max=2097152");
    assert_eq!(other["error"], serde_json::Value::Null, "{other}");
    assert_eq!(other["written"], 2 * MIB);

    // Removing the files gives the room back.
    assert_eq!(call(&server, "quota", "/remove?dir=/tmp")["removed"], 2);
    let again = call(&server, "quota", "/write?dir=/tmp&name=again&how=pwrite");
    assert_eq!(again["error"], ENOSPC, "{again}");
    assert_eq!(again["written"], MIB, "{again}");
    // Truncating it on open gives it back too.
    let truncated = call(&server, "quota", "/write?dir=/tmp&name=again&max=65536");
    assert_eq!(truncated["error"], serde_json::Value::Null, "{truncated}");
    assert_eq!(truncated["size"], 65536);

    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn quota_data_files_past_the_limit_are_refused() {
    let layout = Layout::new();
    let site = add_site(
        &layout,
        "quota",
        "data_files = 20\ndata_size = \"256KiB\"\ntmp_files = 3\n",
    );
    // Five entries are there before the server starts: the walk at start counts them.
    let data = site.join("data");
    std::fs::create_dir(data.join("old")).unwrap();
    for name in ["old/a", "b", "c", "d"] {
        std::fs::write(data.join(name), b"0123456789").unwrap();
    }
    let server = layout.serve_in_place();

    let made = call(&server, "quota", "/files?dir=/data&prefix=f");
    assert_eq!(made["error"], ENOSPC, "{made}");
    assert_eq!(made["created"], 15, "{made}");
    let dir = call(&server, "quota", "/mkdir?dir=/data&name=more");
    assert_eq!(dir["error"], ENOSPC, "folders count too: {dir}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 4 + 15);

    // /tmp has its own count.
    let tmp = call(&server, "quota", "/files?dir=/tmp&prefix=t");
    assert_eq!(tmp["error"], ENOSPC, "{tmp}");
    assert_eq!(tmp["created"], 3, "{tmp}");

    // Removing frees the entries; bytes are held to data_size.
    assert_eq!(call(&server, "quota", "/remove?dir=/data")["removed"], 20);
    let bytes = call(
        &server,
        "quota",
        "/write?dir=/data&name=big&chunk=4096&how=pwrite",
    );
    assert_eq!(bytes["error"], ENOSPC, "{bytes}");
    assert_eq!(bytes["written"], 256 * 1024, "{bytes}");
    let made = call(&server, "quota", "/files?dir=/data&prefix=g");
    assert_eq!(made["created"], 19, "{made}");
    drop(server);

    // A new server measures the folder again: it is full.
    let server = layout.serve_in_place();
    let made = call(&server, "quota", "/files?dir=/data&prefix=h");
    assert_eq!(made["error"], ENOSPC, "{made}");
    assert_eq!(made["created"], 0, "{made}");
    assert!(data.join("big").is_file() && !data.join("h0").exists());
}

#[test]
fn quota_usage_is_on_the_status_page() {
    let layout = Layout::new();
    let site = add_site(&layout, "quota", "tmp_size = \"1MiB\"\ndata_files = 50\n");
    std::fs::write(site.join("data/seed"), vec![7u8; 3000]).unwrap();
    std::fs::create_dir(site.join("data/sub")).unwrap();
    let server = layout.serve_in_place();
    let admin = server.admin.expect("the harness starts an admin listener");

    let wrote = call(&server, "quota", "/write?dir=/tmp&name=part&max=262144");
    assert_eq!(wrote["written"], 262144, "{wrote}");
    let refused = call(&server, "quota", "/write?dir=/tmp&name=big");
    assert_eq!(refused["error"], "EIO", "a stream write: {refused}");

    let status = get(admin, "127.0.0.1", "/status.json");
    assert_eq!(status.status, 200, "{}", status.text());
    let status = status.json();
    let quota = site_status(&status, "quota");
    let tmp = storage(quota, "/tmp");
    assert_eq!(tmp["bytes"], MIB, "{tmp}");
    assert_eq!(tmp["files"], 2, "{tmp}");
    assert_eq!(tmp["max_bytes"], MIB);
    assert_eq!(tmp["max_files"], 10_000, "the built-in default");
    assert!(tmp["refused"].as_u64().unwrap() >= 1, "{tmp}");
    let data = storage(quota, "/data");
    assert_eq!(data["bytes"], 3000, "{data}");
    assert_eq!(data["files"], 2, "{data}");
    assert_eq!(data["max_files"], 50);
    assert_eq!(data["max_bytes"], 1024 * MIB, "the built-in default");
    assert_eq!(data["partial"], false);

    let page = get(admin, "127.0.0.1", "/").text();
    assert!(
        page.contains("/tmp 1.0 / 1.0 MiB, 2 / 10000 files"),
        "{page}"
    );
}

#[test]
fn quota_tmp_is_removed_at_a_clean_stop() {
    let layout = Layout::new();
    add_site(&layout, "quota", "");
    let mut server = layout.serve_in_place();
    let wrote = call(&server, "quota", "/write?dir=/tmp&name=left&max=65536");
    assert_eq!(wrote["written"], 65536, "{wrote}");
    let pid = server.pid();
    let folders = scratch_folders(pid);
    assert!(
        folders.iter().any(|f| Path::new(f).join("left").is_file()),
        "the site's /tmp is a scratch folder of this process: {folders:?}"
    );

    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "{status:?}\n{}", server.log());
    let left = scratch_folders(pid);
    assert!(left.is_empty(), "left behind: {left:?}\n{}", server.log());
}
