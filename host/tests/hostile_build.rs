//! Hostile tenants against the build: a site's `requirements.txt` is data, never a pip
//! command line (docs/security.md, "Builds").
//!
//! Each test writes a real hostile site and runs the real `wsgi-wasm build` on it.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};

use crate::common::Layout;

/// A site whose app imports nothing and whose requirements file is `requirements`.
fn site_with_requirements(layout: &Layout, name: &str, requirements: &str) {
    layout.write(
        &format!("sites/{name}/site.toml"),
        format!("server_names = [\"{name}.test\"]\n[app]\nrequirements = \"requirements.txt\"\n"),
    );
    layout.write(
        &format!("sites/{name}/app.py"),
        "def application(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n",
    );
    layout.write(&format!("sites/{name}/requirements.txt"), requirements);
}

#[test]
fn hostile_build_local_project_never_runs_its_build_backend_on_the_host() {
    let layout = Layout::new();
    let marker = layout.path("outside/MARKER");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    site_with_requirements(&layout, "evil", "./evil\n");
    // An in-tree build backend: pip imports it natively to build the project.
    layout.write(
        "sites/evil/evil/pyproject.toml",
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n",
    );
    layout.write(
        "sites/evil/evil/backend.py",
        format!(
            "open({:?}, 'w').write('native code ran on the host')\n\
             def get_requires_for_build_wheel(config_settings=None):\n    return []\n",
            marker.display().to_string()
        ),
    );
    let out = layout.build();
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        !marker.exists(),
        "the tenant's build backend ran on the host"
    );
    let failed = out.failed_line();
    assert!(
        failed.contains("site `evil`: `app.requirements` refused:"),
        "{}",
        out.all()
    );
    assert!(
        out.stdout.contains(
            "requirements.txt: line 1: `./evil`: paths and URLs are not accepted; name a package \
             on the package index"
        ),
        "{}",
        out.all()
    );
}

#[test]
fn hostile_build_option_lines_are_refused_with_file_line_and_reason() {
    let layout = Layout::new();
    // A host file the tenant names, and another tenant's files.
    let secret = layout.write("outside/secret.txt", "SECRET-TOKEN-4711\n");
    layout.write(
        "sites/victim/dist/victim-1.0-py3-none-any.whl",
        "not a wheel",
    );
    let requirements = format!(
        "# looks innocent\n\
         -r {secret}\n\
         -c {secret}\n\
         --index-url http://127.0.0.1:9/SECRET-TOKEN-4711/simple\n\
         --extra-index-url=http://127.0.0.1:9/x\n\
         --find-links ../victim/dist\n\
         --no-binary :all:\n\
         -e .\n\
         flask --index-url=http://127.0.0.1:9/y\n\
         victim @ file:///etc/passwd\n\
         {secret}\n",
        secret = secret.display()
    );
    site_with_requirements(&layout, "evil", &requirements);
    let out = layout.build();
    assert_ne!(out.code, Some(0), "{}", out.all());
    // The host file's content never reaches the build's error (status page, status.json).
    assert!(
        !out.all().contains("SECRET-TOKEN-4711\n") && !out.all().contains("'SECRET-TOKEN-4711'"),
        "{}",
        out.all()
    );
    for (line, reason) in [
        (2, "`-r`: option lines are not accepted"),
        (3, "`-c`: option lines are not accepted"),
        (4, "`--index-url`: option lines are not accepted"),
        (5, "`--extra-index-url`: option lines are not accepted"),
        (6, "`--find-links`: option lines are not accepted"),
        (7, "`--no-binary`: option lines are not accepted"),
        (8, "`-e`: option lines are not accepted"),
        (
            9,
            "`--index-url=http://127.0.0.1:9/y`: only `--hash` options may follow",
        ),
        (10, "direct references (`name @ URL`) are not accepted"),
        (11, "paths and URLs are not accepted"),
    ] {
        let needle = format!("requirements.txt: line {line}: ");
        let found = out
            .stdout
            .lines()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no error for line {line}:\n{}", out.all()));
        assert!(found.contains(reason), "line {line}: {found}");
    }
}

/// A package index that answers 404 to everything and records the request lines it got.
fn empty_index() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok() {
                record.lock().unwrap().push(line.trim_end().to_owned());
            }
            let mut stream = reader.into_inner();
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    (address, seen)
}

#[test]
fn hostile_build_requirements_resolve_from_the_configured_index_only() {
    let layout = Layout::new();
    let (index, seen) = empty_index();
    let config = layout.write(
        "wsgi-wasm.toml",
        format!("[build]\nindex_url = \"http://{index}/simple\"\n"),
    );
    site_with_requirements(&layout, "pinned", "idna==3.20\n");
    let sites = layout.sites();
    let state = common::state_dir();
    let out = common::run_cli(&[
        "build".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--sites".as_ref(),
        sites.as_os_str(),
        "--state".as_ref(),
        state.as_os_str(),
    ]);
    // The package exists on PyPI, but the configured index is the only one asked.
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.failed_line().contains("site `pinned`: vendoring"),
        "{}",
        out.all()
    );
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|line| line.starts_with("GET /simple/idna/")),
        "pip asked the configured index: {seen:?}\n{}",
        out.all()
    );
}
