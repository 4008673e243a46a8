//! The `crypto` host interface as a guest sees it: `hashlib.pbkdf2_hmac`, which the guest's
//! CPython (built without OpenSSL) lacks and the bridge installs, computed by the host. A
//! small site written by the test calls it with the query's arguments over real HTTP; the
//! results are checked against RFC 6070 / RFC 7914 vectors and the host's own CPython
//! (OpenSSL), refusals against CPython's errors, and the host's work against the request's
//! `cpu_time`.

use std::process::Command;

use crate::common::{Layout, Server};

const HOST: &str = "pbkdf2.test";

const APP: &str = r#"
import hashlib
import json
from urllib.parse import parse_qs


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    try:
        key = hashlib.pbkdf2_hmac(
            q["hash"],
            q["password"].encode(),
            q["salt"].encode(),
            int(q["iterations"]),
            int(q["dklen"]) if "dklen" in q else None,
        )
        body = {"key": key.hex(), "from": hashlib.pbkdf2_hmac.__module__}
    except Exception as exc:
        body = {"error": type(exc).__name__, "message": str(exc)}
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [data]
"#;

/// Serves the test's site with `limits` as its `[limits]` table.
fn serve(limits: &str) -> Server {
    let layout = Layout::new();
    layout.write("sites/pbkdf2/app.py", APP);
    layout.write(
        "sites/pbkdf2/site.toml",
        format!("server_names = [\"{HOST}\"]\n\n[app]\nmodule = \"app\"\n\n[limits]\n{limits}"),
    );
    layout.serve()
}

/// The guest's answer for these query arguments.
fn derive(server: &Server, query: &str) -> serde_json::Value {
    server.get_ok(HOST, &format!("/?{query}")).json()
}

fn key(server: &Server, query: &str) -> String {
    let answer = derive(server, query);
    assert_eq!(answer["from"], "wsgi_bridge.crypto", "{answer}");
    answer["key"]
        .as_str()
        .unwrap_or_else(|| panic!("{query}: {answer}"))
        .to_owned()
}

#[test]
fn crypto_guest_pbkdf2_hmac_matches_the_rfc_vectors() {
    let server = serve("");
    // RFC 6070.
    assert_eq!(
        key(
            &server,
            "hash=sha1&password=password&salt=salt&iterations=1&dklen=20"
        ),
        "0c60c80f961f0e71f3a9b524af6012062fe037a6"
    );
    assert_eq!(
        key(
            &server,
            "hash=sha1&password=password&salt=salt&iterations=4096"
        ),
        "4b007901b765489abead49d926f721d065a429c1",
        "dklen None is the digest size"
    );
    // RFC 7914, section 11.
    assert_eq!(
        key(
            &server,
            "hash=sha256&password=Password&salt=NaCl&iterations=80000&dklen=64"
        ),
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56\
         a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
    );
}

#[test]
fn crypto_guest_pbkdf2_hmac_matches_the_hosts_cpython() {
    let server = serve("");
    for (hash, iterations, dklen) in [
        ("sha224", 1000, "None"),
        ("sha384", 1000, "None"),
        ("sha512", 1000, "None"),
        ("SHA256", 1_000_000, "None"),
        ("sha512", 3, "200"),
    ] {
        let dklen_query = if dklen == "None" {
            String::new()
        } else {
            format!("&dklen={dklen}")
        };
        let guest = key(
            &server,
            &format!(
                "hash={hash}&password=s3cret&salt=pepper&iterations={iterations}{dklen_query}"
            ),
        );
        let output = Command::new("python3")
            .args([
                "-c",
                &format!(
                    "import hashlib; print(hashlib.pbkdf2_hmac({hash:?}, b's3cret', b'pepper', \
                     {iterations}, {dklen}).hex(), end='')"
                ),
            ])
            .output()
            .expect("python3 runs");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(guest, String::from_utf8_lossy(&output.stdout), "{hash}");
    }
}

#[test]
fn crypto_guest_pbkdf2_hmac_refuses_bad_arguments_as_cpython_does() {
    let server = serve("");
    for (query, error, message) in [
        (
            "hash=md5&iterations=1",
            "ValueError",
            "unsupported hash type md5",
        ),
        (
            "hash=sha256&iterations=0",
            "ValueError",
            "iteration value must be greater than 0.",
        ),
        (
            "hash=sha256&iterations=1&dklen=0",
            "ValueError",
            "key length must be greater than 0.",
        ),
        (
            "hash=sha256&iterations=4294967296",
            "OverflowError",
            "iteration value is too great.",
        ),
        // The host's own bounds, tighter than CPython's.
        (
            "hash=sha256&iterations=20000000",
            "ValueError",
            "iteration value 20000000 is too great for a key of 1 block(s)",
        ),
        (
            "hash=sha256&iterations=6000000&dklen=64",
            "ValueError",
            "iteration value 6000000 is too great for a key of 2 block(s)",
        ),
        (
            "hash=sha256&iterations=1&dklen=5000",
            "ValueError",
            "key length 5000 is too great (at most 4096 bytes)",
        ),
    ] {
        let answer = derive(&server, &format!("{query}&password=pw&salt=salt"));
        assert_eq!(answer["error"], error, "{query}: {answer}");
        let text = answer["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {answer}");
    }
    assert!(!server.log().contains("Traceback"), "{}", server.log());
}

#[test]
fn crypto_host_work_counts_against_the_request_cpu_time() {
    // Ten million SHA-512 iterations take seconds of host CPU; the request may use 100 ms.
    let server = serve("cpu_time = \"100ms\"\ninstances = 1\n");
    let small = derive(&server, "hash=sha256&password=pw&salt=salt&iterations=10");
    assert!(small["key"].is_string(), "{small}");

    let heavy = server.get(
        HOST,
        "/?hash=sha512&password=pw&salt=salt&iterations=10000000",
    );
    assert_eq!(heavy.status, 504, "{}\n{}", heavy.text(), server.log());
    let log = server.wait_for_log("ran out of its cpu_time");
    assert!(log.contains("ran out of its cpu_time"), "{log}");

    // The site goes on with a fresh instance.
    let after = derive(&server, "hash=sha256&password=pw&salt=salt&iterations=10");
    assert_eq!(after["key"], small["key"]);
}
