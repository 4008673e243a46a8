//! Hostile tenants against host names: a new site claiming another site's exact name, a
//! wildcard over it, or the default site, at a reload and across a restart; and the
//! operator's `[names]` bindings, which no site.toml overrides (docs/security.md, "Host
//! names").

use crate::common;

use std::time::Duration;

use crate::common::{Layout, Server};

/// How long a reload's outcome may take to reach the log.
const RELOAD: Duration = Duration::from_secs(60);

/// The body a host gets for `/`, or `closed` when no site answers.
fn page(server: &Server, host: &str) -> String {
    let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    let answer = server.exchange(raw.as_bytes());
    if answer.is_empty() {
        return "closed".into();
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    text.split("\r\n\r\n")
        .nth(1)
        .unwrap_or("")
        .trim()
        .to_owned()
}

#[test]
fn hostile_names_a_newcomer_never_takes_a_name_another_site_holds() {
    let layout = Layout::new();
    layout.static_site("victim", &["victim.localhost"], true, "");
    let sites = layout.sites();
    let server = layout.serve();
    assert_eq!(page(&server, "victim.localhost"), "site victim");
    assert_eq!(page(&server, "unknown.test"), "site victim");

    // Three newcomers, all sorting before the victim: its exact name, the default, and a
    // wildcard over its name (allowed: exact names win, so it takes only the others).
    let write = |name: &str, body: &str| {
        std::fs::create_dir_all(sites.join(name).join("public")).unwrap();
        std::fs::write(sites.join(name).join("site.toml"), body).unwrap();
        std::fs::write(
            sites.join(name).join("public/index.html"),
            format!("site {name}\n"),
        )
        .unwrap();
    };
    let static_root = "[static]\nroot = \"public\"\n";
    write(
        "aaa",
        &format!("server_names = [\"victim.localhost\"]\n{static_root}"),
    );
    write(
        "aab",
        &format!("server_names = [\"x.test\"]\ndefault = true\n{static_root}"),
    );
    write(
        "aac",
        &format!("server_names = [\"*.localhost\"]\n{static_root}"),
    );
    server.signal(libc::SIGHUP);
    let log =
        server.assert_logged_within("configuration reloaded but for the sites refused", RELOAD);
    assert!(
        log.contains(
            "aaa/site.toml: `server_names`: `victim.localhost` is already held by site \
             `victim`, which served it first"
        ),
        "{log}"
    );
    assert!(
        log.contains("aab/site.toml: `default`: site `victim` is already the default site"),
        "{log}"
    );
    assert_eq!(page(&server, "victim.localhost"), "site victim");
    assert_eq!(page(&server, "other.localhost"), "site aac");
    assert_eq!(page(&server, "unknown.test"), "site victim");
    assert_eq!(
        page(&server, "x.test"),
        "site victim",
        "aab was refused whole"
    );

    // At the next start the folder that sorts first does not win: the holder keeps its names.
    let server = server.restart(&[]);
    let log = server.log();
    assert!(
        log.contains("`victim.localhost` is already held by site `victim`"),
        "{log}"
    );
    assert_eq!(page(&server, "victim.localhost"), "site victim");
    assert_eq!(page(&server, "unknown.test"), "site victim");

    // A holder with a broken site.toml keeps its names (its last good configuration serves).
    std::fs::write(
        sites.join("victim/site.toml"),
        "server_names = [\"victim.localhost\"\n",
    )
    .unwrap();
    server.signal(libc::SIGHUP);
    server.assert_logged_within("victim/site.toml", RELOAD);
    assert_eq!(page(&server, "victim.localhost"), "site victim");

    // A narrower claim under the wildcard aac holds is refused too.
    write(
        "aad",
        &format!("server_names = [\"deep.other.localhost\"]\n{static_root}"),
    );
    let check = layout_check(&sites);
    assert!(
        check.contains("`deep.other.localhost` is under `*.localhost`, which site `aac` holds"),
        "{check}"
    );
}

/// `wsgi-wasm check` on a sites folder, with the tests' shared state (where names are held).
fn layout_check(sites: &std::path::Path) -> String {
    let state = common::state_dir();
    common::run_cli(&[
        "check".as_ref(),
        "--sites".as_ref(),
        sites.as_os_str(),
        "--state".as_ref(),
        state.as_os_str(),
    ])
    .all()
}

#[test]
fn hostile_names_operator_bindings_override_every_site_toml() {
    let layout = Layout::new();
    let config = layout.write(
        "wsgi-wasm.toml",
        "[names]\ndefault_site = \"main\"\n\
         bind = { \"shop.test\" = \"shop\", \"*.shop.test\" = \"shop\" }\n",
    );
    // The shop's site.toml names only a name of its own: the bindings add the rest.
    layout.static_site("shop", &["own.test"], false, "");
    layout.static_site("main", &["main.test"], false, "");
    // Tenants sorting first, each claiming what the operator gave another site.
    layout.static_site("aaa", &["shop.test"], false, "");
    layout.static_site("aab", &["deep.shop.test"], false, "");
    layout.static_site("aac", &["aac.test"], true, "");
    let check = layout.check(Some(&config)).all();
    let file = config.display().to_string();
    assert!(
        check.contains(&format!(
            "aaa/site.toml: `server_names`: `shop.test` is bound to site `shop` by `{file}` [names]"
        )),
        "{check}"
    );
    assert!(
        check.contains("`deep.shop.test` is bound to site `shop` (under `*.shop.test`)"),
        "{check}"
    );
    assert!(
        check.contains(&format!(
            "aac/site.toml: `default`: `{file}` [names] makes site `main` the default site"
        )),
        "{check}"
    );
    let server = layout.serve_with(&["--config".as_ref(), config.as_os_str()]);
    assert_eq!(page(&server, "shop.test"), "site shop");
    assert_eq!(page(&server, "deep.shop.test"), "site shop");
    assert_eq!(page(&server, "main.test"), "site main");
    assert_eq!(
        page(&server, "aac.test"),
        "site main",
        "aac was refused whole"
    );
    assert_eq!(page(&server, "nobody.test"), "site main");
}
