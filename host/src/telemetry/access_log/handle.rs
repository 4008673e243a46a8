//! The access log's handle ([`AccessLog`]): what the request path and `serve` hold. It
//! opens the logs and starts the writer thread (`writer.rs`); when a response ends
//! (`observe.rs`), [`AccessLog::log`] only queues the request's entry. When the queue is
//! full the line is dropped and counted, with a warning at most once a minute: a slow disk
//! never slows a request.
//!
//! [`AccessLog::reopen`] closes and reopens every file (after logrotate moved them); the
//! server calls it on every reload.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{ConfigError, LogConfig};

use super::files::open_target;
use super::line::Entry;
use super::writer::{Message, Writer, WARN_EVERY};

/// Lines queued for the writer at most; beyond, lines are dropped (and counted).
const QUEUED_LINES: usize = 8192;

/// A handle on the access logs; cheap to clone. The default handle logs nothing.
#[derive(Clone, Default)]
pub struct AccessLog {
    shared: Option<Arc<Shared>>,
}

struct Shared {
    /// `None` only while the last handle is dropped (so the writer sees the end).
    sender: Option<SyncSender<Message>>,
    reopen: Arc<AtomicBool>,
    dropped: AtomicU64,
    /// `dropped` when the last warning was given.
    reported: AtomicU64,
    warned: Throttle,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl AccessLog {
    /// Opens the files `config` names (creating missing folders) and starts the writer; an
    /// `off` configuration gives a handle that logs nothing. Errors name the config file,
    /// the key and the path.
    pub fn open(config: &LogConfig) -> Result<AccessLog, ConfigError> {
        if !config.enabled() {
            return Ok(AccessLog::default());
        }
        let server = match &config.access {
            None => None,
            Some(target) => Some(
                open_target(target)
                    .map_err(|reason| ConfigError::new(&config.file, "log.access", reason))?,
            ),
        };
        let sites = match &config.sites {
            None => None,
            Some(folder) => {
                std::fs::create_dir_all(&folder.path).map_err(|error| {
                    ConfigError::new(
                        &config.file,
                        "log.sites",
                        format!(
                            "cannot create the folder `{}` ({}): {error}",
                            folder.written,
                            folder.path.display()
                        ),
                    )
                })?;
                Some(folder.path.clone())
            }
        };
        let (sender, receiver) = mpsc::sync_channel(QUEUED_LINES);
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            format: config.format,
            target: config.access.clone(),
            server,
            sites_folder: sites,
            sites: HashMap::new(),
            line: Vec::with_capacity(512),
            reopen: reopen.clone(),
            warned: None,
        };
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run(receiver))
            .map_err(|error| {
                ConfigError::new(
                    &config.file,
                    "log",
                    format!("cannot start the access log writer: {error}"),
                )
            })?;
        Ok(AccessLog {
            shared: Some(Arc::new(Shared {
                sender: Some(sender),
                reopen,
                dropped: AtomicU64::new(0),
                reported: AtomicU64::new(0),
                warned: Throttle::new(),
                writer: Mutex::new(Some(thread)),
            })),
        })
    }

    /// Whether lines are written at all (request details are only gathered then).
    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Queues the line of one request; never waits. A full queue drops it.
    pub fn log(&self, entry: Box<Entry>) {
        let Some(shared) = &self.shared else { return };
        let Some(sender) = &shared.sender else { return };
        match sender.try_send(Message::Entry(entry)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let total = shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if shared.warned.due() {
                    let before = shared.reported.swap(total, Ordering::Relaxed);
                    tracing::warn!(
                        dropped = total - before,
                        "access log: lines dropped: the log writer cannot keep up (slow disk?)"
                    );
                }
            }
        }
    }

    /// Closes and reopens every log file (the server's and the sites'), after the lines
    /// queued before the call; for logrotate. Never waits.
    pub fn reopen(&self) {
        let Some(shared) = &self.shared else { return };
        shared.reopen.store(true, Ordering::Release);
        if let Some(sender) = &shared.sender {
            // A full queue means the writer is busy: it sees the flag after its next line.
            let _ = sender.try_send(Message::Wake);
        }
    }
}

impl AccessLog {
    /// Waits at most `within` until every line queued before the call is written and
    /// flushed; for the end of `serve`, so the last requests' lines are not lost at exit.
    /// Blocks the calling thread.
    pub fn flush(&self, within: Duration) {
        let Some(sender) = self.shared.as_ref().and_then(|s| s.sender.as_ref()) else {
            return;
        };
        let deadline = Instant::now() + within;
        let (done, flushed) = mpsc::channel();
        let mut message = Message::Flush(done);
        loop {
            match sender.try_send(message) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) if Instant::now() < deadline => {
                    message = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(_) => return,
            }
        }
        let _ = flushed.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

impl Drop for Shared {
    /// The last handle is gone: the writer writes what is queued, flushes and ends.
    fn drop(&mut self) {
        drop(self.sender.take());
        let thread = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// Says yes at most once per [`WARN_EVERY`], from any thread.
struct Throttle {
    start: Instant,
    /// Seconds since `start` of the last yes, plus one (0: never).
    last: AtomicU64,
}

impl Throttle {
    fn new() -> Throttle {
        Throttle {
            start: Instant::now(),
            last: AtomicU64::new(0),
        }
    }

    fn due(&self) -> bool {
        let now = self.start.elapsed().as_secs() + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now < last + WARN_EVERY.as_secs() {
            return false;
        }
        self.last
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    }
}
