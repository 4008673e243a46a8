//! Configuration mistakes as an operator meets them: `wsgi-wasm check` run as a process over
//! broken sites folders and server config files. Every message names the file, the key and
//! the reason; `check` lists every error at once and exits non-zero; one broken site never
//! stops `serve` from serving the others.

use crate::common::Layout;

/// A site folder `sites/<name>` with this `site.toml` and an empty `public/`.
fn site(layout: &Layout, name: &str, toml: &str) {
    layout.site_toml(name, toml);
    std::fs::create_dir_all(layout.path(&format!("sites/{name}/public"))).unwrap();
}

fn good_site(layout: &Layout, name: &str) {
    site(
        layout,
        name,
        &format!("server_names = [\"{name}.test\"]\n[static]\nroot = \"public\"\n"),
    );
}

#[test]
fn config_check_accepts_a_good_configuration() {
    let layout = Layout::new();
    good_site(&layout, "one");
    site(
        &layout,
        "two",
        "default = true\n[static]\nroot = \"public\"\nexpires = \"7d\"\n",
    );
    layout.write(
        "wsgi-wasm.toml",
        "listen = [\"127.0.0.1:8080\", \"[::1]:8080\"]\nunknown_host = 421\n\
         [defaults.static]\nexpires = \"1h\"\nprecompressed = false\n",
    );
    let out = layout.check(Some(&layout.path("wsgi-wasm.toml")));
    out.assert_exit(0)
        .assert_site_ok("one")
        .assert_site_ok("two");
    assert!(
        out.stdout.contains("2 site(s), no errors"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("error")),
        "{}",
        out.stdout
    );
}

#[test]
fn config_check_lists_every_error_at_once() {
    let layout = Layout::new();
    good_site(&layout, "fine");
    site(
        &layout,
        "typo",
        "server_names = [\"t.test\"]\n[app]\nmax_bdy = 3\n",
    );
    site(
        &layout,
        "expire",
        "server_names = [\"e.test\"]\n[static]\nroot = \"public\"\nexpire = \"1h\"\n",
    );
    site(
        &layout,
        "wrongtype",
        "server_names = [\"w.test\"]\ndefault = \"yes\"\n[static]\nroot = \"public\"\n",
    );
    site(&layout, "nonames", "[static]\nroot = \"public\"\n");
    site(
        &layout,
        "noroot",
        "server_names = [\"r.test\"]\n[static]\nindex = [\"a.html\"]\n",
    );
    site(
        &layout,
        "escape",
        "server_names = [\"x.test\"]\n[app]\npython_path = [\"../x\"]\n",
    );
    site(
        &layout,
        "mount",
        "server_names = [\"m.test\"]\n[app]\nmount = \"app\"\n",
    );
    site(
        &layout,
        "duration",
        "server_names = [\"d.test\"]\n[static]\nroot = \"public\"\nexpires = \"soon\"\n",
    );
    let out = layout.check(None);
    out.assert_exit(1).assert_site_ok("fine");
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        8,
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("8 error(s) in the configuration"),
        "{}",
        out.stderr
    );

    let typo = out.assert_site_error("typo", "app.max_bdy", "unknown field `max_bdy`");
    assert!(
        typo.contains("(line 3)") && typo.contains("`module`"),
        "{typo}"
    );
    let expire = out.assert_site_error("expire", "static.expire", "unknown field `expire`");
    assert!(
        expire.contains("`expires`"),
        "the right spelling is offered: {expire}"
    );
    out.assert_site_error("wrongtype", "default", "expected a boolean");
    out.assert_site_error(
        "nonames",
        "server_names",
        "at least one name, or `default = true`",
    );
    out.assert_site_error("noroot", "static.root", "missing");
    out.assert_site_error(
        "escape",
        "app.python_path",
        "`../x` must be a relative path inside the site folder",
    );
    out.assert_site_error("mount", "app.mount", "`app` is not a URL path prefix");
    out.assert_site_error("duration", "static.expires", "`soon` is not a duration");
}

#[test]
fn config_error_names_the_file() {
    let layout = Layout::new();
    site(
        &layout,
        "typo",
        "server_names = [\"t.test\"]\n[app]\nmax_bdy = 3\n",
    );
    let out = layout.check(None);
    let file = layout.sites().join("typo").join("site.toml");
    assert!(
        out.stdout
            .contains(&format!("error   {}: `app.max_bdy`: ", file.display())),
        "{}",
        out.stdout
    );
}

#[test]
fn config_keys_are_named_however_the_toml_spells_them() {
    let layout = Layout::new();
    site(
        &layout,
        "inline",
        "server_names = [\"i.test\"]\nstatic = { root = \"public\", expire = \"1h\" }\n",
    );
    site(
        &layout,
        "dotted",
        "server_names = [\"d.test\"]\nstatic.root = \"public\"\nstatic.expire = \"1h\"\n",
    );
    site(
        &layout,
        "table",
        "server_names = [\"l.test\"]\n[static]\nroot = \"public\"\n[limit]\nmemory = \"1GiB\"\n",
    );
    site(
        &layout,
        "subtable",
        "server_names = [\"s.test\"]\n[app.env]\nA = 1\n",
    );
    site(
        &layout,
        "toplevel",
        "server_name = \"x.test\"\n[static]\nroot = \"public\"\n",
    );
    site(
        &layout,
        "limits",
        "server_names = [\"m.test\"]\n[static]\nroot = \"public\"\n[limits]\nmax_bdy = \"1MiB\"\n",
    );
    site(
        &layout,
        "small",
        "server_names = [\"sm.test\"]\n[static]\nroot = \"public\"\n[limits]\nmemory = \"1\"\n",
    );
    site(&layout, "notables", "server_names = [\"n.test\"]\n");
    let out = layout.check(None);
    out.assert_exit(1);
    out.assert_site_error("inline", "static.expire", "unknown field `expire`");
    out.assert_site_error("dotted", "static.expire", "unknown field `expire`");
    out.assert_site_error("table", "limit", "unknown field `limit`");
    out.assert_site_error("limits", "limits.max_bdy", "unknown field `max_bdy`");
    out.assert_site_error("small", "limits.memory", "below the minimum");
    out.assert_site_error("subtable", "app.env.A", "expected a string");
    out.assert_site_error("toplevel", "server_name", "unknown field `server_name`");
    out.assert_site_error(
        "notables",
        "app",
        "an `[app]` table, a `[static]` table, or both",
    );
}

#[test]
fn config_two_sites_claiming_one_name() {
    let layout = Layout::new();
    good_site(&layout, "first");
    site(
        &layout,
        "second",
        "server_names = [\"other.test\", \"FIRST.test.\"]\n[static]\nroot = \"public\"\n",
    );
    let out = layout.check(None);
    out.assert_exit(1).assert_site_ok("first");
    out.assert_site_error(
        "second",
        "server_names",
        "`first.test` is already claimed by site `first`",
    );
}

#[test]
fn config_two_default_sites() {
    let layout = Layout::new();
    site(
        &layout,
        "a-default",
        "default = true\n[static]\nroot = \"public\"\n",
    );
    site(
        &layout,
        "b-default",
        "server_names = [\"b.test\"]\ndefault = true\n[static]\nroot = \"public\"\n",
    );
    let out = layout.check(None);
    out.assert_exit(1).assert_site_ok("a-default");
    out.assert_site_error(
        "b-default",
        "default",
        "site `a-default` is already the default site",
    );
}

#[test]
fn config_paths_may_not_leave_the_site_folder() {
    let layout = Layout::new();
    layout.write("outside/app.py", "application = None\n");
    site(
        &layout,
        "abs",
        "server_names = [\"a.test\"]\n[static]\nroot = \"/etc\"\n",
    );
    site(
        &layout,
        "req",
        "server_names = [\"r.test\"]\n[app]\nrequirements = \"../../outside/r.txt\"\n",
    );
    site(
        &layout,
        "linkroot",
        "server_names = [\"l.test\"]\n[static]\nroot = \"www\"\n",
    );
    layout.symlink("/etc", "sites/linkroot/www");
    site(
        &layout,
        "linkpath",
        "server_names = [\"p.test\"]\n[app]\npython_path = [\"src\"]\n",
    );
    layout.symlink(layout.path("outside"), "sites/linkpath/src");
    site(
        &layout,
        "inlink",
        "server_names = [\"in.test\"]\n[static]\nroot = \"www\"\n",
    );
    layout.symlink("public", "sites/inlink/www");
    let out = layout.check(None);
    out.assert_exit(1);
    out.assert_site_error(
        "abs",
        "static.root",
        "`/etc` must be a relative path inside the site folder",
    );
    out.assert_site_error(
        "req",
        "app.requirements",
        "must be a relative path inside the site folder",
    );
    out.assert_site_error(
        "linkroot",
        "static.root",
        "`www` leads outside the site folder through a symlink",
    );
    out.assert_site_error(
        "linkpath",
        "app.python_path",
        "`src` leads outside the site folder through a symlink",
    );
    assert!(
        out.stdout.contains("ok      inlink ("),
        "a symlink inside the site folder is fine:\n{}",
        out.stdout
    );
}

#[test]
fn config_bad_values_are_explained() {
    let layout = Layout::new();
    site(
        &layout,
        "names",
        "server_names = [\"bad name.test\"]\n[static]\nroot = \"public\"\n",
    );
    site(
        &layout,
        "module",
        "server_names = [\"m.test\"]\n[app]\nmodule = \"my-app\"\n",
    );
    site(
        &layout,
        "index",
        "server_names = [\"i.test\"]\n[static]\nroot = \"public\"\nindex = [\"../x.html\"]\n",
    );
    site(
        &layout,
        "vars",
        "server_names = [\"v.test\"]\n[app]\nvars = { \"wsgi.input\" = \"x\" }\n",
    );
    site(
        &layout,
        "noroot",
        "server_names = [\"n.test\"]\n[static]\nroot = \"nothere\"\n",
    );
    site(
        &layout,
        "mount2",
        "server_names = [\"m2.test\"]\n[app]\nmount = \"/a/../b\"\n",
    );
    let out = layout.check(None);
    out.assert_exit(1);
    out.assert_site_error(
        "names",
        "server_names",
        "`bad name.test` is not a host name",
    );
    out.assert_site_error(
        "module",
        "app.module",
        "`my-app` is not a Python module name",
    );
    out.assert_site_error("index", "static.index", "`../x.html` is not a file name");
    out.assert_site_error("vars", "app.vars", "`wsgi.input` cannot be set by a site");
    out.assert_site_error(
        "noroot",
        "static.root",
        "`nothere` is not a folder in the site",
    );
    out.assert_site_error("mount2", "app.mount", "`/a/../b` is not a URL path prefix");
}

#[test]
fn config_server_file_errors_name_file_and_key() {
    let layout = Layout::new();
    good_site(&layout, "fine");
    for (text, key, reason) in [
        ("unknwn = 1\n", "unknwn", "unknown field `unknwn`"),
        (
            "unknown_host = 200\n",
            "unknown_host",
            "`200` is not a status from 400 to 599",
        ),
        (
            "unknown_host = \"drop\"\n",
            "unknown_host",
            "expected \"close\" or a status such as 421",
        ),
        (
            "listen = [\"localhost\"]\n",
            "listen",
            "`localhost` is not an address",
        ),
        (
            "listen = \"127.0.0.1:80\"\n",
            "listen",
            "expected a sequence",
        ),
        (
            "[defaults.static]\nexpire = \"1h\"\n",
            "defaults.static.expire",
            "unknown field `expire`",
        ),
        (
            "[defaults.static]\nexpires = \"later\"\n",
            "defaults.static.expires",
            "`later` is not a duration",
        ),
        (
            "[defaults.static]\nroot = \"public\"\n",
            "defaults.static.root",
            "each site names its own root",
        ),
    ] {
        let file = layout.write("server.toml", text);
        let out = layout.check(Some(&file));
        assert_eq!(out.code, Some(1), "{text:?}: {}", out.describe());
        out.assert_config_error(&file, key, reason);
    }
    let out = layout.check(Some(&layout.path("missing.toml")));
    out.assert_exit(1);
    assert!(
        out.stderr.contains("missing.toml") && out.stderr.contains("cannot read the file"),
        "{}",
        out.describe()
    );
}

#[test]
fn config_defaults_apply_under_each_site() {
    let layout = Layout::new();
    layout.static_site("inherits", &["inherits.test"], false, "");
    layout.write("sites/inherits/public/a.txt", "a\n");
    layout.static_site(
        "overrides",
        &["overrides.test"],
        false,
        "expires = \"10s\"\n",
    );
    layout.write("sites/overrides/public/a.txt", "a\n");
    let config = layout.write("wsgi-wasm.toml", "[defaults.static]\nexpires = \"2m\"\n");
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    server
        .get("inherits.test", "/a.txt")
        .assert_header("cache-control", Some("max-age=120"));
    server
        .get("overrides.test", "/a.txt")
        .assert_header("cache-control", Some("max-age=10"));
}

#[test]
fn config_serve_skips_a_broken_site_and_serves_the_others() {
    let layout = Layout::new();
    layout.static_site("good", &["good.test"], false, "");
    layout.static_site("bad", &["bad.test"], false, "expire = \"1h\"\n");
    let server = layout.serve();
    server.get("good.test", "/").assert_body(200, "site good\n");
    // The broken site is reported.
    server.assert_logged("bad/site.toml: `static.expire`: unknown field `expire`");
    // Its names are not served by anyone: no default site, so the connection is closed.
    assert!(server
        .exchange(b"GET / HTTP/1.1\r\nHost: bad.test\r\nConnection: close\r\n\r\n")
        .is_empty());
}
