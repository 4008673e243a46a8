//! The Django example site (`sites/django`, Django 5.2 LTS) driven over real HTTP the way a
//! browser drives it: a fresh data folder gets its migrations and the demo superuser on the
//! first request, the admin logs in through the CSRF-protected form, creates and edits a
//! guestbook entry, and finds it on the change list; the data survives a restart; passwords
//! are hashed with Django's default PBKDF2-SHA256 at its full iteration count, computed by
//! the host (`crypto` interface), and checked here against the host's own CPython (OpenSSL).
//!
//! Every test serves a copy of the site in a temporary folder with an empty `data/`, so the
//! repository's data folder is never written.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::common::{copy_dir, fixture, Response, Server};

const HOST: &str = "django.localhost";
const ADMIN: &str = "admin";
/// The demo superuser's password, from `sites/django/site.toml`.
const PASSWORD: &str = "wasm-demo-password";
/// `PBKDF2PasswordHasher.iterations` in Django 5.2 (the site pins a 5.2 release).
const DJANGO_ITERATIONS: u32 = 1_000_000;

/// A copy of `sites/django` under `<tmp>/sites/django` with an empty data folder; the temp
/// folder outlives the servers started on it (restarts serve the same files).
struct DjangoSite {
    root: tempfile::TempDir,
}

impl DjangoSite {
    fn new() -> DjangoSite {
        let root = tempfile::tempdir().expect("a temp dir");
        let site = root.path().join("sites/django");
        copy_dir(&fixture("django"), &site);
        // A developer's `serve` may have left a database in the repository's data folder.
        let data = site.join("data");
        std::fs::remove_dir_all(&data).unwrap();
        std::fs::create_dir(&data).unwrap();
        DjangoSite { root }
    }

    fn sites(&self) -> PathBuf {
        self.root.path().join("sites")
    }

    fn database(&self) -> PathBuf {
        self.sites().join("django/data/db.sqlite3")
    }

    fn serve(&self) -> Server {
        // The server's own temp dir is a placeholder: the sites live in `self.root`.
        let placeholder = tempfile::tempdir().expect("a temp dir");
        Server::launch(placeholder, &self.sites(), &[])
    }
}

/// A browser session: a cookie jar over `Server::request`.
struct Browser<'a> {
    server: &'a Server,
    cookies: BTreeMap<String, String>,
    /// Send form bodies chunked (`Transfer-Encoding: chunked`) instead of with a length.
    chunked: bool,
}

impl<'a> Browser<'a> {
    fn new(server: &'a Server) -> Browser<'a> {
        Browser {
            server,
            cookies: BTreeMap::new(),
            chunked: false,
        }
    }

    fn send(&mut self, method: &str, path: &str, form: Option<&[(&str, &str)]>) -> Response {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n");
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            head.push_str(&format!("Cookie: {}\r\n", jar.join("; ")));
        }
        let mut body = form.map(encode_form).unwrap_or_default();
        if form.is_some() {
            head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            if self.chunked {
                head.push_str("Transfer-Encoding: chunked\r\n");
                let mut framed = String::new();
                for piece in body.as_bytes().chunks(16) {
                    let piece = std::str::from_utf8(piece).expect("a form is ASCII");
                    framed.push_str(&format!("{:x}\r\n{piece}\r\n", piece.len()));
                }
                framed.push_str("0\r\n\r\n");
                body = framed;
            } else {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
        }
        head.push_str("\r\n");
        let response = self.server.request(&head, body.as_bytes());
        for (name, value) in &response.headers {
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (k, v) = pair.split_once('=').expect("a cookie");
                self.cookies
                    .insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
        response
    }

    fn get(&mut self, path: &str) -> Response {
        self.send("GET", path, None)
    }

    /// GET that must answer 200; returns the page.
    fn page(&mut self, path: &str) -> String {
        let response = self.get(path);
        assert_eq!(
            response.status,
            200,
            "GET {path}: {}\n{}",
            response.text(),
            self.server.log()
        );
        response.text()
    }

    fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        self.send("POST", path, Some(form))
    }

    /// POST that must redirect (Django's answer to a valid form); returns the Location.
    fn post_redirect(&mut self, path: &str, form: &[(&str, &str)]) -> String {
        let response = self.post(path, form);
        assert_eq!(
            response.status,
            302,
            "POST {path}: {}\n{}",
            response.text(),
            self.server.log()
        );
        response
            .header("location")
            .expect("a Location header")
            .to_owned()
    }

    /// Logs the demo superuser in through the admin's login form.
    fn log_in(&mut self) {
        let form = self.page("/admin/login/?next=/admin/");
        let token = csrf_token(&form);
        assert!(
            self.cookies.contains_key("csrftoken"),
            "the login page sets the CSRF cookie: {:?}",
            self.cookies
        );
        let location = self.post_redirect(
            "/admin/login/?next=/admin/",
            &[
                ("csrfmiddlewaretoken", &token),
                ("username", ADMIN),
                ("password", PASSWORD),
                ("next", "/admin/"),
            ],
        );
        assert_eq!(location, "/admin/");
        assert!(self.cookies.contains_key("sessionid"), "{:?}", self.cookies);
    }

    /// Adds a guestbook entry through the admin's add form; returns its id.
    fn add_entry(&mut self, name: &str, message: &str) -> u64 {
        let before = entry_ids(&self.page("/admin/guestbook/entry/"));
        let form = self.page("/admin/guestbook/entry/add/");
        let location = self.post_redirect(
            "/admin/guestbook/entry/add/",
            &[
                ("csrfmiddlewaretoken", &csrf_token(&form)),
                ("name", name),
                ("message", message),
                ("published", "on"),
                ("_save", "Save"),
            ],
        );
        assert_eq!(location, "/admin/guestbook/entry/");
        let list = self.page("/admin/guestbook/entry/");
        assert!(
            list.contains("was added successfully"),
            "the admin's message after the redirect: {list}"
        );
        let after = entry_ids(&list);
        let added: Vec<u64> = after
            .into_iter()
            .filter(|id| !before.contains(id))
            .collect();
        assert_eq!(added.len(), 1, "one new entry on the change list");
        added[0]
    }
}

fn encode_form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        let mut out = String::new();
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(byte as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
        out
    };
    let pairs: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    pairs.join("&")
}

/// The `csrfmiddlewaretoken` of the first form in `page`.
fn csrf_token(page: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = page
        .find(marker)
        .unwrap_or_else(|| panic!("no CSRF token in the page:\n{page}"))
        + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

/// Ids of the entries linked from an admin change list.
fn entry_ids(page: &str) -> Vec<u64> {
    let marker = "/admin/guestbook/entry/";
    let mut ids = Vec::new();
    for (at, _) in page.match_indices(marker) {
        let rest = &page[at + marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with("/change/") {
            let id = digits.parse().unwrap();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// Runs `code` with the host's python3; returns its stdout.
fn python(code: &str) -> String {
    let output = Command::new("python3")
        .args(["-c", code])
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn django_fresh_data_folder_gets_migrations_and_the_demo_superuser() {
    let site = DjangoSite::new();
    assert!(!site.database().exists());
    let server = site.serve();
    let home = server.get_ok(HOST, "/");
    assert!(home.text().contains("Django 5.2."), "{}", home.text());
    assert!(home.text().contains("No entries yet."), "{}", home.text());
    let log = server.wait_for_log("created the superuser");
    for line in [
        "applying 19 migration(s) to /data/db.sqlite3",
        "Applying contenttypes.0001_initial",
        "Applying guestbook.0001_initial",
        "Applying sessions.0001_initial",
        "created the superuser 'admin'",
    ] {
        assert!(log.contains(line), "`{line}` missing from the log:\n{log}");
    }
    assert!(
        site.database().is_file(),
        "the database is in the site's data folder"
    );
    // Another request, maybe another instance: the database is up to date, nothing reruns.
    server.get_ok(HOST, "/admin/login/");
    assert_eq!(
        server.log().matches("migration(s) to").count(),
        1,
        "{}",
        server.log()
    );
}

#[test]
fn django_admin_login_create_edit_and_change_list() {
    let site = DjangoSite::new();
    let server = site.serve();
    let mut browser = Browser::new(&server);

    // Logged out, the admin sends us to its login page.
    let response = browser.get("/admin/");
    assert_eq!(response.status, 302, "{}", response.text());
    assert_eq!(
        response.header("location"),
        Some("/admin/login/?next=/admin/")
    );

    // A wrong password is refused with the form again, and no session.
    let form = browser.page("/admin/login/?next=/admin/");
    let refused = browser.post(
        "/admin/login/?next=/admin/",
        &[
            ("csrfmiddlewaretoken", &csrf_token(&form)),
            ("username", ADMIN),
            ("password", "not-the-password"),
            ("next", "/admin/"),
        ],
    );
    assert_eq!(refused.status, 200, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains("Please enter the correct username and password"),
        "{}",
        refused.text()
    );
    assert!(!browser.cookies.contains_key("sessionid"));

    browser.log_in();
    let index = browser.page("/admin/");
    assert!(index.contains("Site administration"), "{index}");
    assert!(index.contains("Guestbook"), "{index}");
    assert!(index.contains("/admin/guestbook/entry/"), "{index}");

    // Create through the add form.
    let id = browser.add_entry("Ada", "Hello from a WebAssembly sandbox");
    let list = browser.page("/admin/guestbook/entry/");
    assert!(list.contains("Ada"), "{list}");
    assert!(list.contains("Hello from a WebAssembly sandbox"), "{list}");

    // Edit through the change form, which shows the stored values.
    let change = format!("/admin/guestbook/entry/{id}/change/");
    let form = browser.page(&change);
    assert!(form.contains("value=\"Ada\""), "{form}");
    assert!(form.contains("Hello from a WebAssembly sandbox"), "{form}");
    let location = browser.post_redirect(
        &change,
        &[
            ("csrfmiddlewaretoken", &csrf_token(&form)),
            ("name", "Ada Lovelace"),
            ("message", "Edited: notes on the analytical engine"),
            ("published", "on"),
            ("_save", "Save"),
        ],
    );
    assert_eq!(location, "/admin/guestbook/entry/");
    let list = browser.page("/admin/guestbook/entry/");
    assert_eq!(entry_ids(&list), vec![id], "edited in place: {list}");
    assert!(list.contains("Ada Lovelace"), "{list}");
    assert!(
        list.contains("Edited: notes on the analytical engine"),
        "{list}"
    );
    assert!(!list.contains("Hello from a WebAssembly sandbox"), "{list}");
    assert!(list.contains("was changed successfully"), "{list}");

    // The change list's search goes through the database too.
    let found = browser.page("/admin/guestbook/entry/?q=analytical");
    assert_eq!(entry_ids(&found), vec![id], "{found}");
    let none = browser.page("/admin/guestbook/entry/?q=nowhere");
    assert!(entry_ids(&none).is_empty(), "{none}");

    // The public page shows it, logged out.
    let home = server.get_ok(HOST, "/").text();
    assert!(
        home.contains("<strong>Ada Lovelace</strong>: Edited: notes on the analytical engine"),
        "{home}"
    );
    assert!(!server.log().contains("Traceback"), "{}", server.log());
}

#[test]
fn django_chunked_form_posts_are_read() {
    // Django reads a body by CONTENT_LENGTH only; the site's `chunked_content_length` gives
    // chunked bodies theirs, so a chunked login and a chunked add form work (without it the
    // body would read as empty and the CSRF check would refuse the login with a 403).
    let site = DjangoSite::new();
    let server = site.serve();
    let mut browser = Browser::new(&server);
    browser.chunked = true;
    browser.log_in();
    let id = browser.add_entry("Chunky", "Sent in chunks of sixteen bytes");
    let list = browser.page("/admin/guestbook/entry/");
    assert!(list.contains("Sent in chunks of sixteen bytes"), "{list}");
    assert!(id > 0);
}

#[test]
fn django_post_without_the_csrf_token_is_refused() {
    let site = DjangoSite::new();
    let server = site.serve();

    // No cookie, no token: the login form refuses.
    let mut stranger = Browser::new(&server);
    let refused = stranger.post(
        "/admin/login/",
        &[("username", ADMIN), ("password", PASSWORD)],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(refused.text().contains("CSRF"), "{}", refused.text());
    assert!(!stranger.cookies.contains_key("sessionid"));

    // Logged in, with the cookie but a forged token: the add form refuses, nothing is saved.
    let mut browser = Browser::new(&server);
    browser.log_in();
    browser.page("/admin/guestbook/entry/add/");
    let forged = "x".repeat(64);
    let refused = browser.post(
        "/admin/guestbook/entry/add/",
        &[
            ("csrfmiddlewaretoken", &forged),
            ("name", "Mallory"),
            ("message", "forged"),
            ("_save", "Save"),
        ],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    // Without the token field at all.
    let refused = browser.post(
        "/admin/guestbook/entry/add/",
        &[
            ("name", "Mallory"),
            ("message", "forged"),
            ("_save", "Save"),
        ],
    );
    assert_eq!(refused.status, 403, "{}", refused.text());
    let list = browser.page("/admin/guestbook/entry/");
    assert!(entry_ids(&list).is_empty(), "nothing was saved: {list}");
    assert!(!list.contains("Mallory"), "{list}");

    // The same form with the real token goes through.
    browser.add_entry("Trent", "with the token");
    let log = server.log();
    assert!(
        log.contains("Forbidden (CSRF"),
        "Django logs the refusals:\n{log}"
    );
}

#[test]
fn django_password_hash_is_pbkdf2_sha256_at_djangos_default_iterations() {
    let requirements = std::fs::read_to_string(fixture("django").join("requirements.txt")).unwrap();
    assert!(
        requirements.lines().any(|l| l.starts_with("Django==5.2.")),
        "DJANGO_ITERATIONS is Django 5.2's default; update it with the pin:\n{requirements}"
    );
    let site = DjangoSite::new();
    let server = site.serve();
    let mut browser = Browser::new(&server);
    // Creates the superuser (a hash by the host) and checks the password (another one).
    browser.log_in();
    drop(server);

    // The stored hash, read with the host's CPython (sqlite3).
    let stored = python(&format!(
        "import sqlite3\n\
         db = sqlite3.connect({:?})\n\
         print('\\n'.join(row[0] for row in db.execute('SELECT password FROM auth_user')))\n",
        site.database().display().to_string()
    ));
    let hashes: Vec<&str> = stored.lines().collect();
    assert_eq!(hashes.len(), 1, "one user: {hashes:?}");
    let parts: Vec<&str> = hashes[0].split('$').collect();
    let [algorithm, iterations, salt, hash] = parts[..] else {
        panic!("Django's hash format: {}", hashes[0]);
    };
    assert_eq!(algorithm, "pbkdf2_sha256", "Django's default hasher");
    let iterations: u32 = iterations.parse().unwrap();
    assert_eq!(iterations, DJANGO_ITERATIONS);
    assert!(salt.len() >= 22, "Django's salt: {salt}");

    // The same derivation by the host's CPython (OpenSSL), independent of wsgi-wasm.
    let check = format!(
        "import base64, hashlib, sys\n\
         key = hashlib.pbkdf2_hmac('sha256', {PASSWORD:?}.encode(), {salt:?}.encode(), {iterations})\n\
         sys.stdout.write(base64.b64encode(key).decode())\n"
    );
    assert_eq!(
        python(&check),
        hash,
        "the guest's hash is PBKDF2-HMAC-SHA256 of the password"
    );
}

#[test]
fn django_data_survives_a_server_restart() {
    let site = DjangoSite::new();
    let id = {
        let server = site.serve();
        let mut browser = Browser::new(&server);
        browser.log_in();
        browser.add_entry("Grace", "written before the restart")
    };
    // The first server is gone; a new one serves the same sites folder.
    let server = site.serve();
    let home = server.get_ok(HOST, "/").text();
    assert!(
        home.contains("<strong>Grace</strong>: written before the restart"),
        "{home}"
    );
    let mut browser = Browser::new(&server);
    browser.log_in();
    let list = browser.page("/admin/guestbook/entry/");
    assert_eq!(entry_ids(&list), vec![id], "{list}");
    let log = server.log();
    assert!(
        !log.contains("migration(s) to") && !log.contains("created the superuser"),
        "the restarted server found the database up to date:\n{log}"
    );
}

#[test]
fn django_admin_static_files_come_from_the_vendored_package() {
    let site = DjangoSite::new();
    let server = site.serve();
    // The admin's pages link them under STATIC_URL.
    let login = server.get_ok(HOST, "/admin/login/").text();
    assert!(
        login.contains("href=\"/static/admin/css/base.css\""),
        "{login}"
    );

    let css = server.get_ok(HOST, "/static/admin/css/base.css");
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(css.header("etag").is_some(), "the static pipeline's ETag");
    assert!(
        css.text().contains("DJANGO Admin styles"),
        "Django's own stylesheet: {}",
        &css.text()[..css.text().len().min(200)]
    );
    let js = server.get_ok(HOST, "/static/admin/js/theme.js");
    assert!(
        js.header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript")),
        "{:?}",
        js.headers
    );
    let svg = server.get_ok(HOST, "/static/admin/img/icon-yes.svg");
    assert!(
        svg.header("content-type")
            .is_some_and(|t| t.starts_with("image/svg+xml")),
        "{:?}",
        svg.headers
    );
    // The site's own root is served too; a file the package lacks is a 404.
    assert!(server
        .get_ok(HOST, "/robots.txt")
        .text()
        .contains("Disallow: /admin/"));
    let missing = server.get(HOST, "/static/admin/css/no-such.css");
    assert_eq!(missing.status, 404, "{}", missing.text());
}
