//! The standard-library surface frameworks take for granted, over real HTTP against the
//! `stdlib` fixture, whose code is plain unmodified Python: the sandbox user (`os.getuid`,
//! `pwd`, `grp`, `getpass`, `~`), which `pkg_resources` needs at import; the app's code
//! folder as the working directory at build time and at the start of every request;
//! `asyncio.run()` inside a view; and processes, still refused, with the sandbox's reason.

use serde_json::json;

use crate::common::{tagged_event, Server};

const HOST: &str = "stdlib.test";

#[test]
fn stdlib_sandbox_user_has_fixed_ids_and_database_entries() {
    let server = Server::start(&["stdlib"]);
    let users = server.get_ok(HOST, "/users").json();
    assert_eq!(users["ids"], json!([1000, 1000, 1000, 1000]));
    assert_eq!(users["groups"], json!([1000]));
    assert_eq!(
        users["passwd"],
        json!([
            "wsgi",
            "x",
            1000,
            1000,
            "wsgi-wasm sandbox user",
            "/tmp",
            "/sbin/nologin"
        ])
    );
    assert_eq!(users["by_name"], 1000);
    assert_eq!(users["group"], "wsgi");
    assert_eq!(users["getuser"], "wsgi");
    assert_eq!(users["home"], "/tmp");
    assert_eq!(
        users["root"],
        "KeyError: \"getpwnam(): name not found: 'root'\""
    );
    // setuptools' pkg_resources calls os.getuid() (its bundled platformdirs) at import.
    let versions = server.get_ok(HOST, "/pkg_resources").json();
    assert_eq!(versions["setuptools"], "80.9.0");
}

#[test]
fn stdlib_working_directory_is_the_code_folder_at_build_and_at_every_request() {
    let server = Server::start(&["stdlib"]);
    let expected = json!({
        "cwd": "/1",
        "data": "data next to the app",
        "build_cwd": "/1",
        "build_data": "data next to the app",
    });
    assert_eq!(server.get_ok(HOST, "/cwd").json(), expected);
    // A request that moves elsewhere does not move the next one.
    for _ in 0..3 {
        assert_eq!(server.get_ok(HOST, "/chdir").json()["cwd"], "/tmp");
        assert_eq!(server.get_ok(HOST, "/cwd").json(), expected);
    }
}

#[test]
fn stdlib_asyncio_run_works_inside_a_request() {
    let server = Server::start(&["stdlib"]);
    for _ in 0..3 {
        let result = server.get_ok(HOST, "/asyncio").json();
        assert_eq!(
            result,
            json!({
                "gathered": ["a", "b"],
                "timed_out": true,
                "queue": "queued",
                "second_loop": "again",
            })
        );
    }
}

#[test]
fn stdlib_processes_are_refused_with_the_sandbox_reason() {
    let server = Server::start(&["stdlib"]);
    let refused = server.get_ok(HOST, "/processes").json();
    let reason = "a guest cannot start processes in the wsgi-wasm sandbox";
    for (name, what) in [
        ("subprocess.run", "subprocess.Popen"),
        ("subprocess.check_output", "subprocess.Popen"),
        ("os.popen", "os.popen"),
        ("multiprocessing.Pool", "multiprocessing.Pool"),
        ("multiprocessing.Process", "multiprocessing.Process.start"),
        (
            "ProcessPoolExecutor",
            "concurrent.futures.ProcessPoolExecutor",
        ),
    ] {
        let entry = &refused[name];
        assert_eq!(entry[0], "OSError", "{name}: {refused}");
        let text = entry[1].as_str().unwrap_or_default();
        assert!(
            text.starts_with(&format!("[Errno 58] {what} is not available: {reason}")),
            "{name}: {text}"
        );
    }
    // Uncaught: a bare 500, the reason in the log with the site and the request.
    let response = server.get(HOST, "/subprocess");
    response.assert_body(500, "500 Internal Server Error\n");
    let event = tagged_event(&server, "stdlib", |e| e.contains(reason));
    assert!(
        event.contains("OSError: [Errno 58] subprocess.Popen is not available"),
        "{event}"
    );
}

/// `hashlib.scrypt` as the host's own CPython (OpenSSL) computes or refuses it.
fn cpython_scrypt(query: &str) -> serde_json::Value {
    let script = "import hashlib, json, sys\n\
        from urllib.parse import parse_qsl\n\
        args = dict(parse_qsl(sys.argv[1], keep_blank_values=True))\n\
        pw, salt = args.pop('password').encode(), args.pop('salt').encode()\n\
        try:\n    \
            print(json.dumps({'key': hashlib.scrypt(pw, salt=salt, \
            **{k: int(v) for k, v in args.items()}).hex()}))\n\
        except (ValueError, OverflowError, TypeError) as e:\n    \
            print(json.dumps({'error': [type(e).__name__, str(e)]}))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script, query])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from python3")
}

#[test]
fn stdlib_scrypt_matches_cpython_and_is_bounded() {
    let server = Server::start(&["stdlib"]);
    for query in [
        // Werkzeug's generate_password_hash default.
        "password=secret&salt=ZxYwVuTsRqPoNmLk&n=32768&r=8&p=1&maxmem=138412032",
        "password=&salt=&n=16&r=1&p=1",
        "password=pleaseletmein&salt=SodiumChloride&n=16384&r=8&p=1&dklen=20",
        // Refused by CPython, with CPython's words.
        "password=pw&salt=s&n=1000&r=8&p=1",
        "password=pw&salt=s&n=32768&r=8&p=1",
        "password=pw&salt=s&n=16&r=8&p=1&dklen=0",
        "password=pw&salt=s&n=16&r=0&p=1",
    ] {
        let guest = server.get_ok(HOST, &format!("/scrypt?{query}")).json();
        assert_eq!(guest, cpython_scrypt(query), "{query}");
    }
    // The server's own bound: at most 256 MiB of working memory, whatever maxmem allows.
    let big = server
        .get_ok(
            HOST,
            "/scrypt?password=pw&salt=s&n=524288&r=8&p=1&maxmem=2000000000",
        )
        .json();
    assert_eq!(big["error"][0], "ValueError");
    assert!(
        big["error"][1]
            .as_str()
            .unwrap()
            .contains("(at most 268435456 in the wsgi-wasm sandbox)"),
        "{big}"
    );
}

#[test]
fn stdlib_flask_login_with_werkzeug_default_password_hash() {
    const LOGIN: &str = "login.test";
    let server = Server::start(&["flask_login"]);
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let signup = server.post(LOGIN, "/signup", form, "name=ada&password=analytical");
    signup.assert_status(201);
    assert_eq!(
        signup.json(),
        json!({"name": "ada", "method": "scrypt:32768:8:1"})
    );
    server
        .post(LOGIN, "/login", form, "name=ada&password=wrong")
        .assert_status(401);
    server.get(LOGIN, "/me").assert_status(401);
    let login = server.post(LOGIN, "/login", form, "name=ada&password=analytical");
    login.assert_status(200);
    let cookie = login
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let me = server.get_with(LOGIN, "/me", &format!("Cookie: {cookie}\r\n"));
    me.assert_status(200);
    assert_eq!(me.json(), json!({"name": "ada"}));
}

#[test]
fn stdlib_requirements_resolve_for_the_guests_python() {
    // WebOb needs `legacy-cgi; python_version >= "3.13"`: there only for the guest's 3.14.
    let server = Server::start(&["webob"]);
    server
        .get("webob.test", "/?name=ada")
        .assert_body(200, "hello ada from cgi\n");
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    server
        .post("webob.test", "/", form, "name=grace")
        .assert_body(200, "posted grace\n");
}
