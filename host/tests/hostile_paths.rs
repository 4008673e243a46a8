//! Hostile tenants against the site folder: a folder checked once and then swapped for a
//! symlink, symlinked configuration files, and hard links to files that are not the
//! tenant's (docs/security.md, "Site folders").
//!
//! Each test serves or builds a real hostile site with the real server.

use std::path::Path;
use std::time::Duration;

use crate::common::{Layout, Server};

/// A WSGI app that lists, reads and writes the paths it is given, and imports modules: what
/// a hostile tenant's code would try.
const PROBE_APP: &str = r#"
import importlib, json, os
from urllib.parse import unquote

def application(environ, start_response):
    path = environ["PATH_INFO"]
    arg = unquote(environ.get("QUERY_STRING", ""))
    try:
        if path == "/list":
            body = json.dumps(sorted(os.listdir(arg)))
        elif path == "/read":
            body = open(arg).read()
        elif path == "/write":
            name, _, text = arg.partition("=")
            with open(name, "w") as f:
                f.write(text)
            body = "written"
        elif path == "/import":
            body = str(importlib.import_module(arg).SECRET)
        else:
            body = "probe app"
        status = "200 OK"
    except Exception as error:
        status, body = "500 Internal Server Error", f"{type(error).__name__}: {error}"
    start_response(status, [("Content-Type", "text/plain")])
    return [body.encode()]
"#;

/// Writes the probe app as site `name`, with `extra` lines in its `[app]` table.
fn probe_site(layout: &Layout, name: &str, app_extra: &str, rest: &str) {
    layout.write(
        &format!("sites/{name}/site.toml"),
        format!("server_names = [\"{name}.test\"]\n{rest}\n[app]\n{app_extra}\n"),
    );
    layout.write(&format!("sites/{name}/app.py"), PROBE_APP);
}

/// How long a reload's or a rebuild's refusal may take to reach the log.
const REFUSAL: Duration = Duration::from_secs(60);

#[test]
fn hostile_paths_data_folder_swapped_for_a_symlink_stays_the_folder_checked() {
    let layout = Layout::new();
    layout.write("outside/host-file.txt", "a host file");
    probe_site(
        &layout,
        "tenant",
        "data = [\"data\"]\ndata_lock = \"none\"",
        "[limits]\nmax_requests = 1",
    );
    layout.write("sites/tenant/data/mine.txt", "the tenant's own");
    let outside = layout.path("outside");
    let server = layout.serve();
    assert_eq!(
        server.get_ok("tenant.test", "/list?/data").text(),
        "[\"mine.txt\"]"
    );
    // The tenant swaps its data folder for a symlink to a host folder. Every request gets a
    // fresh instance (`max_requests = 1`), which mounts `/data` again.
    swap_for_symlink_at(&server, "sites/tenant/data", &outside);
    let listed = server.get_ok("tenant.test", "/list?/data").text();
    assert_eq!(
        listed, "[\"mine.txt\"]",
        "the guest still sees the folder it was given"
    );
    let written = server.get_ok("tenant.test", "/write?/data/new.txt=hello");
    assert_eq!(written.text(), "written");
    assert!(
        !outside.join("new.txt").exists(),
        "nothing was written to the host folder"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("host-file.txt")).unwrap(),
        "a host file"
    );
    // A reload sees the symlink and refuses the site's new configuration; it keeps serving.
    server.signal(libc::SIGHUP);
    server.log_until("refusal", REFUSAL, |log| {
        log.contains("site refused") && log.contains("`data` leads outside the site folder")
    });
    assert_eq!(
        server.get_ok("tenant.test", "/list?/data").text(),
        "[\"mine.txt\", \"new.txt\"]"
    );
}

/// Replaces `relative` (`sites/...`) of a running server's sites folder with a symlink to
/// `target`, keeping the original as `<relative>-old`.
fn swap_for_symlink_at(server: &Server, relative: &str, target: &Path) {
    let sites = server.sites_dir();
    let relative = relative.strip_prefix("sites/").unwrap();
    let path = sites.join(relative);
    std::fs::rename(&path, sites.join(format!("{relative}-old"))).unwrap();
    std::os::unix::fs::symlink(target, &path).unwrap();
}

#[test]
fn hostile_paths_static_root_swapped_for_a_symlink_is_never_served() {
    let layout = Layout::new();
    layout.write("outside/secret.txt", "HOST-SECRET");
    probe_site(&layout, "tenant", "", "[static]\nroot = \"public\"");
    layout.write("sites/tenant/public/index.html", "public page");
    let outside = layout.path("outside");
    let server = layout.serve();
    assert_eq!(server.get_ok("tenant.test", "/").text(), "public page");
    swap_for_symlink_at(&server, "sites/tenant/public", &outside);
    let secret = server.get("tenant.test", "/secret.txt");
    assert_ne!(secret.text(), "HOST-SECRET");
    // A code change rebuilds the site: the new version opens its root again, beneath the
    // site folder, and the symlink out is refused; the old version keeps serving.
    let app = server.sites_dir().join("tenant/app.py");
    let mut code = std::fs::read_to_string(&app).unwrap();
    code.push_str("\n# changed\n");
    std::fs::write(&app, code).unwrap();
    server.log_until("refused static root", REFUSAL, |log| {
        log.contains("cannot open the static root") && log.contains("tenant/public")
    });
    let secret = server.get("tenant.test", "/secret.txt");
    assert_ne!(secret.text(), "HOST-SECRET", "{}", server.log());
    assert_eq!(server.get_ok("tenant.test", "/").text(), "public page");
}

#[test]
fn hostile_paths_python_path_swapped_for_another_site_is_not_built() {
    let layout = Layout::new();
    // Another tenant's site, with code of its own.
    layout.static_site("victim", &["victim.test"], false, "");
    layout.write(
        "sites/victim/src/app.py",
        "SECRET = 'the victim's code'\n\ndef application(environ, start_response):\n    \
         start_response('200 OK', [])\n    return [b\"the victim's app\"]\n",
    );
    probe_site(&layout, "tenant", "python_path = [\"src\"]", "");
    std::fs::create_dir_all(layout.path("sites/tenant/src")).unwrap();
    std::fs::rename(
        layout.path("sites/tenant/app.py"),
        layout.path("sites/tenant/src/app.py"),
    )
    .unwrap();
    let server = layout.serve();
    assert_eq!(server.get_ok("tenant.test", "/").text(), "probe app");
    // The tenant points its python path at the other site's code, and the change rebuilds.
    swap_for_symlink_at(&server, "sites/tenant/src", Path::new("../victim/src"));
    server.log_until("refused python path", REFUSAL, |log| {
        log.contains("site=tenant") && log.contains("leads outside the site folder")
    });
    assert_eq!(server.get_ok("tenant.test", "/").text(), "probe app");
    let imported = server.get("tenant.test", "/import?app");
    assert!(
        !imported.text().contains("victim"),
        "the other site's code is not in the tenant's component: {}",
        imported.text()
    );
}

#[test]
fn hostile_paths_symlinked_config_files_never_read_host_files() {
    let layout = Layout::new();
    let secret = layout.write("outside/secret.toml", "api_key_SECRET4711 = \"x\"\n");
    layout.write("outside/reqs.txt", "SECRET-REQUIREMENT-4711\n");
    // site.toml itself is a symlink to a host file.
    layout.symlink(&secret, "sites/linked/site.toml");
    // requirements.txt is a symlink to a host file.
    probe_site(&layout, "reqs", "requirements = \"requirements.txt\"", "");
    layout.symlink(
        layout.path("outside/reqs.txt"),
        "sites/reqs/requirements.txt",
    );
    // A whole site folder that is a symlink.
    layout.static_site("real", &["real.test"], false, "");
    layout.symlink(layout.path("sites/real"), "sites/alias");
    let check = layout.check(None);
    let all = check.all();
    assert!(!all.contains("SECRET4711"), "{all}");
    assert!(
        all.contains("linked/site.toml: `-`: cannot open the file: it is a symlink"),
        "{all}"
    );
    assert!(
        all.contains(
            "reqs/site.toml: `app.requirements`: `requirements.txt` leads outside the site \
             folder through a symlink"
        ),
        "{all}"
    );
    assert!(all.contains("`alias` is a symlink"), "{all}");
    assert!(all.contains("ok      real ("), "{all}");
}

/// Whether the test runs as root (needed to make files of another owner).
#[allow(unsafe_code)] // the `unsafe` block below says why it holds
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn hostile_paths_foreign_hard_links_are_neither_served_nor_built() {
    assert!(
        is_root(),
        "this test makes files of another owner: run the suite as root (as CI does)"
    );
    let layout = Layout::new();
    // A host file of another owner, hard-linked into the tenant's static root and code.
    let host_file = layout.write("outside/host-secret.txt", "HOST-SECRET");
    std::os::unix::fs::chown(&host_file, Some(65534), Some(65534)).unwrap();
    layout.static_site("tenant", &["tenant.test"], false, "");
    std::fs::hard_link(&host_file, layout.path("sites/tenant/public/linked.txt")).unwrap();
    // The tenant's own file with two links is fine.
    let own = layout.write("sites/tenant/public/own.txt", "the tenant's own");
    std::fs::hard_link(&own, layout.path("sites/tenant/public/own-too.txt")).unwrap();
    probe_site(&layout, "builder", "", "");
    std::fs::hard_link(&host_file, layout.path("sites/builder/stolen.py")).unwrap();
    let build = layout.build();
    assert_ne!(build.code, Some(0), "{}", build.all());
    assert!(
        build
            .failed_line()
            .contains("stolen.py` is a hard link to a file the site's owner does not own"),
        "{}",
        build.all()
    );
    std::fs::remove_dir_all(layout.path("sites/builder")).unwrap();
    let server = layout.serve();
    let linked = server.get("tenant.test", "/linked.txt");
    assert_eq!(linked.status, 403, "{}", linked.text());
    assert!(!linked.text().contains("HOST-SECRET"));
    assert_eq!(
        server.get_ok("tenant.test", "/own-too.txt").text(),
        "the tenant's own"
    );
}
