//! The server's log as an operator's tools meet it: plain text when stderr is a file or a
//! pipe (journald, `2> server.log`, a container runtime), ANSI colours only on a terminal,
//! and never with `NO_COLOR` set (no-color.org). A terminal is a real pseudo-terminal here,
//! made by util-linux's `script`.

use std::process::{Command, Stdio};

const ESC: char = '\u{1b}';

/// `wsgi-wasm serve` over a sites folder that does not exist: it logs one error line and
/// exits at once.
fn failing_serve(dir: &std::path::Path) -> Vec<String> {
    let missing = dir.join("no-such-sites");
    let state = dir.join("state");
    [
        env!("CARGO_BIN_EXE_wsgi-wasm"),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--sites",
        missing.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The output of `args` run on a pseudo-terminal, with `no_color` as `NO_COLOR`.
fn on_terminal(args: &[String], no_color: Option<&str>) -> String {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let mut script = Command::new("script");
    script
        .args(["-q", "-e", "-c", &quoted.join(" "), "/dev/null"])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    if let Some(value) = no_color {
        script.env("NO_COLOR", value);
    }
    let output = script.output().expect("util-linux's `script` runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn logging_is_plain_text_on_a_pipe_and_coloured_only_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let args = failing_serve(dir.path());
    let piped = Command::new(&args[0])
        .args(&args[1..])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("the wsgi-wasm binary runs");
    let log = String::from_utf8_lossy(&piped.stderr);
    assert!(!piped.status.success(), "{log}");
    assert!(log.contains("ERROR"), "an error line: {log}");
    assert!(log.contains("no-such-sites"), "{log}");
    assert!(!log.contains(ESC), "no colour codes on a pipe: {log:?}");

    let terminal = on_terminal(&args, None);
    assert!(terminal.contains("no-such-sites"), "{terminal}");
    assert!(
        terminal.contains(ESC),
        "colours on a terminal: {terminal:?}"
    );
    let asked = on_terminal(&args, Some("1"));
    assert!(asked.contains("no-such-sites"), "{asked}");
    assert!(
        !asked.contains(ESC),
        "NO_COLOR is honoured on a terminal: {asked:?}"
    );
}
