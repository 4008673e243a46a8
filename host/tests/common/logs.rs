//! Waiting for and reading what the server logged: lines arrive asynchronously, from
//! threads that copy its stderr and stdout.

use std::time::{Duration, Instant};

use super::Server;

impl Server {
    /// Waits until the log contains `needle` (log lines arrive asynchronously).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The log split into events: a line starting with a timestamp, and the lines after it
/// that do not (a multi-line message, such as a trap's wasm frames).
pub fn log_events(log: &str) -> Vec<String> {
    let mut events: Vec<String> = Vec::new();
    for line in log.lines() {
        let starts_event = line.len() > 4 && line[..4].bytes().all(|b| b.is_ascii_digit());
        match events.last_mut() {
            Some(event) if !starts_event => {
                event.push('\n');
                event.push_str(line);
            }
            _ => events.push(line.to_owned()),
        }
    }
    events
}

/// Waits for a log event that `matches` and is tagged with `site=<site>` and a request id;
/// returns the event's text.
pub fn tagged_event(server: &Server, site: &str, matches: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let log = server.log();
        let found = log_events(&log).into_iter().find(|event| {
            matches(event)
                && event.contains(&format!(" site={site} "))
                && request_id(event).is_some()
        });
        if let Some(event) = found {
            return event;
        }
        assert!(
            Instant::now() < deadline,
            "no log event tagged with site={site} and a request id matches; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `request=<id>` field of a log event (fields follow the message).
pub fn request_id(event: &str) -> Option<u64> {
    let rest = &event[event.rfind(" request=")? + " request=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
