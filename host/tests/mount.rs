//! An app mounted under a URL prefix (`[app] mount`), and the per-site environ options
//! `vars` (wsgi_var) and `pass_authorization` (wsgi_pass_authorization), over real HTTP
//! against copies of the `echo` fixture, which answers with its environ as JSON; and the
//! build-time directives `middleware` (wsgi_middleware) and `optimize`
//! (wsgi_python_optimize), against a small site written here.

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

/// A site whose app says what the compiler kept (asserts, docstrings) and which middleware
/// wrapped it, with `app_lines` in its `[app]` table.
fn directives_site(app_lines: &str) -> Layout {
    let layout = Layout::new();
    layout.write(
        "sites/directives/site.toml",
        format!("server_names = [\"directives.test\"]\n[app]\nmodule = \"app\"\n{app_lines}"),
    );
    layout.write(
        "sites/directives/app.py",
        "import json\n\n\
         def application(environ, start_response):\n    \
             \"The app's docstring.\"\n    \
             asserts = True\n    \
             try:\n        \
                 assert False\n    \
             except AssertionError:\n        \
                 asserts = 'ran'\n    \
             body = json.dumps({'assert': asserts, 'doc': application.__doc__, \
             'debug': __debug__, 'chain': environ.get('chain', [])}).encode()\n    \
             start_response('200 OK', [('Content-Type', 'application/json')])\n    \
             return [body]\n",
    );
    layout.write(
        "sites/directives/wrappers.py",
        "def tagging(name):\n    \
             def wrap(app):\n        \
                 def wrapped(environ, start_response):\n            \
                     environ['chain'] = environ.get('chain', []) + [name]\n            \
                     return app(environ, start_response)\n        \
                 return wrapped\n    \
             return wrap\n\n\
         inner = tagging('inner')\n\
         outer = tagging('outer')\n\
         class Holder:\n    \
             nested = staticmethod(tagging('nested'))\n",
    );
    layout
}

#[test]
fn mount_middleware_wraps_the_app_in_order_and_optimize_drops_asserts_and_docstrings() {
    let plain = directives_site("").serve();
    let facts = plain.get_ok("directives.test", "/").json();
    assert_eq!(
        facts,
        serde_json::json!({"assert": "ran", "doc": "The app's docstring.", "debug": true, "chain": []})
    );
    drop(plain);

    let server = directives_site(
        "middleware = [\"wrappers:inner\", \"wrappers:Holder.nested\", \"wrappers:outer\"]\n\
         optimize = 2\n",
    )
    .serve();
    let facts = server.get_ok("directives.test", "/").json();
    // The last is outermost: it runs first, and the app sees the chain in that order.
    assert_eq!(
        facts,
        serde_json::json!({
            "assert": true,
            "doc": null,
            "debug": false,
            "chain": ["outer", "nested", "inner"],
        })
    );
    let level_one = directives_site("optimize = 1\n").serve();
    let facts = level_one.get_ok("directives.test", "/").json();
    assert_eq!(facts["assert"], true, "-O drops asserts");
    assert_eq!(facts["doc"], "The app's docstring.", "-O keeps docstrings");
}

#[test]
fn mount_directives_mistakes_are_named() {
    let bad_level = directives_site("optimize = 3\n");
    bad_level.check(None).assert_site_error(
        "directives",
        "app.optimize",
        "`3` is not an optimization level: use 0, 1 (`-O`) or 2 (`-OO`)",
    );
    let bad_entry = directives_site("middleware = [\"wrappers.outer\"]\n");
    bad_entry.check(None).assert_site_error(
        "directives",
        "app.middleware",
        "`wrappers.outer` is not `module:callable`",
    );
    let missing = directives_site("middleware = [\"wrappers:nowhere\"]\n");
    let out = missing.build();
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.all()
            .contains("`app.middleware` entry `wrappers:nowhere` could not be imported"),
        "{}",
        out.all()
    );
}
