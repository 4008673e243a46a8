//! Waiting: for what the server logged (lines arrive asynchronously, from threads that copy
//! its stderr and stdout), and for any condition a test polls.

use std::time::{Duration, Instant};

use super::Server;

/// How long a wait for a log line lasts unless the test gives its own timeout: a line comes
/// within milliseconds of what caused it.
pub const LOG_WAIT: Duration = Duration::from_secs(20);

/// Polls `poll` every 20 ms until it returns `Ok`, and returns what that holds. After
/// `timeout`, panics with `what` and the last `Err`, which says what was seen instead (the
/// log, a file, a scrape), so that a failure shows why.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut poll: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match poll() {
            Ok(found) => return found,
            Err(seen) => assert!(
                Instant::now() < deadline,
                "timed out after {timeout:?} waiting for {what}; {seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Server {
    /// Waits up to [`LOG_WAIT`] until the log contains `needle`, and returns the log either
    /// way (asserting nothing: [`Server::assert_logged`] does).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let log = self.log();
            if log.contains(needle) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `timeout` until `ready` returns true; panics with `what` and the log if
    /// it never does.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
        wait_until(what, timeout, || {
            if ready() {
                Ok(())
            } else {
                Err(format!("log:\n{}", self.log()))
            }
        })
    }

    /// Waits up to `timeout` until `check` accepts the log, and returns that log; panics
    /// with `what` and the log if it never does.
    pub fn log_until(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        wait_until(what, timeout, || {
            let log = self.log();
            if check(&log) {
                Ok(log)
            } else {
                Err(format!("log:\n{log}"))
            }
        })
    }

    /// Waits up to `timeout` until the log holds `needle`, and returns the log; panics with
    /// the log if it never does.
    pub fn assert_logged_within(&self, needle: &str, timeout: Duration) -> String {
        self.log_until(&format!("`{needle}` in the log"), timeout, |log| {
            log.contains(needle)
        })
    }

    /// [`Server::assert_logged_within`] the usual [`LOG_WAIT`].
    pub fn assert_logged(&self, needle: &str) -> String {
        self.assert_logged_within(needle, LOG_WAIT)
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
    let what = format!("a log event tagged with site={site} and a request id that matches");
    wait_until(&what, LOG_WAIT, || {
        let log = server.log();
        log_events(&log)
            .into_iter()
            .find(|event| {
                matches(event)
                    && event.contains(&format!(" site={site} "))
                    && request_id(event).is_some()
            })
            .ok_or_else(|| format!("log:\n{log}"))
    })
}

/// The `request=<id>` field of a log event (fields follow the message).
pub fn request_id(event: &str) -> Option<u64> {
    let rest = &event[event.rfind(" request=")? + " request=".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}
