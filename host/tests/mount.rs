//! An app mounted under a URL prefix (`[app] mount`), and the per-site environ options
//! `vars` (wsgi_var) and `pass_authorization` (wsgi_pass_authorization), over real HTTP
//! against copies of the `echo` fixture, which answers with its environ as JSON.

use crate::common::{Layout, Server};

/// A copy of `echo` answering `mounted.test`, with `lines` added to its `[app]` table.
fn mounted(lines: &str) -> Server {
    let layout = Layout::new();
    layout.app_fixture("echo", "mounted", lines, "");
    layout.serve()
}

fn mounted_app() -> Server {
    mounted(
        "mount = \"/app/\"\n\
         vars = { SITE_TIER = \"gold\", \"x.custom\" = \"yes\" }\n\
         pass_authorization = true\n",
    )
}

#[test]
fn mount_splits_script_name_and_path_info() {
    let server = mounted_app();
    for (path, path_info) in [
        ("/app", ""),
        ("/app/", "/"),
        ("/app/x", "/x"),
        ("/app/x/y?q=1", "/x/y"),
        ("/app/caf%C3%A9", "/caf\u{c3}\u{a9}"),
    ] {
        let response = server.get("mounted.test", path);
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        let environ = response.json();
        assert_eq!(environ["SCRIPT_NAME"], "/app", "{path}");
        assert_eq!(environ["PATH_INFO"], path_info, "{path}");
    }
}

#[test]
fn mount_paths_outside_the_prefix_are_404() {
    let server = mounted_app();
    for path in ["/apple", "/", "/ap", "/other/app", "/App/x", "/application"] {
        let response = server.get("mounted.test", path);
        assert_eq!(response.status, 404, "{path}: {}", response.text());
        assert!(!response.text().contains("SCRIPT_NAME"), "{path}");
    }
}

#[test]
fn mount_vars_appear_in_the_environ() {
    let server = mounted_app();
    let environ = server.get("mounted.test", "/app/").json();
    assert_eq!(environ["SITE_TIER"], "gold");
    assert_eq!(environ["x.custom"], "yes");
    // The site's env is os.environ, not the request environ, and vice versa.
    assert!(environ["os_environ"].get("SITE_TIER").is_none());
    assert_eq!(environ["os_environ"]["ECHO_SITE_VAR"], "from site.toml");
}

#[test]
fn mount_pass_authorization_when_enabled() {
    let server = mounted_app();
    let response = server.request(
        "GET /app/ HTTP/1.1\r\nHost: mounted.test\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\
         Connection: close\r\n\r\n",
        b"",
    );
    assert_eq!(response.json()["HTTP_AUTHORIZATION"], "Basic dXNlcjpwYXNz");
}

#[test]
fn mount_authorization_is_withheld_by_default() {
    let server = Server::start(&["echo"]);
    let response = server.request(
        "GET / HTTP/1.1\r\nHost: echo.test\r\nAuthorization: Bearer top-secret-token\r\n\
         Connection: close\r\n\r\n",
        b"",
    );
    assert_eq!(response.status, 200);
    let environ = response.json();
    assert!(environ.get("HTTP_AUTHORIZATION").is_none(), "{environ}");
    assert!(!response.text().contains("top-secret-token"));
    // Unmounted: everything is PATH_INFO.
    assert_eq!(environ["SCRIPT_NAME"], "");
    assert_eq!(environ["PATH_INFO"], "/");
    assert!(environ.get("SITE_TIER").is_none());
}
