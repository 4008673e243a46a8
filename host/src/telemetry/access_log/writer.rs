//! The access log's writer thread: it takes the entries the handle (`handle.rs`) queued,
//! formats each line (`line.rs`) and writes it to the server's log and the site's own file
//! (`files.rs`), off the request path.
//!
//! An idle writer writes a line as soon as it comes; a busy one wakes once per 20 ms tick,
//! writes everything queued and flushes, so lines appear within a tick and a busy server
//! pays neither a wake-up nor a write per request.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{AccessTarget, LogFormat};

use super::files::{open_site, open_target, Sink};
use super::line::{combined, json, Entry};

/// How long a busy writer lets lines gather between two writes: lines appear within it.
const TICK: Duration = Duration::from_millis(20);

/// Warnings about dropped lines or failing writes: at most one per this period.
pub(super) const WARN_EVERY: Duration = Duration::from_secs(60);

pub(super) enum Message {
    Entry(Box<Entry>),
    /// Nothing to write: look at the reopen flag.
    Wake,
    /// Flush, then answer: every line queued before is written.
    Flush(mpsc::Sender<()>),
}

/// The writer thread's state.
pub(super) struct Writer {
    pub(super) format: LogFormat,
    pub(super) target: Option<AccessTarget>,
    /// The server's log; `None` when off, or when reopening it failed.
    pub(super) server: Option<Sink>,
    pub(super) sites_folder: Option<PathBuf>,
    /// Each site's open log; `None` when it could not be opened (tried again at the next
    /// reopen).
    pub(super) sites: HashMap<String, Option<BufWriter<File>>>,
    /// The line being written, reused.
    pub(super) line: Vec<u8>,
    pub(super) reopen: Arc<AtomicBool>,
    pub(super) warned: Option<Instant>,
}

impl Writer {
    /// Idle, the writer waits for a line and writes it at once. Busy (a line came within
    /// a [`TICK`] of the last write), it takes what was queued once per tick, writes it and
    /// flushes: requests queue their lines without waking it, and each file sees about one
    /// write per tick whatever the request rate.
    pub(super) fn run(mut self, receiver: Receiver<Message>) {
        'idle: loop {
            let Ok(first) = receiver.recv() else { break };
            self.handle(first);
            loop {
                loop {
                    match receiver.try_recv() {
                        Ok(message) => self.handle(message),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => break 'idle,
                    }
                }
                self.flush();
                std::thread::sleep(TICK);
                match receiver.try_recv() {
                    Ok(message) => self.handle(message),
                    Err(TryRecvError::Empty) => continue 'idle,
                    Err(TryRecvError::Disconnected) => break 'idle,
                }
            }
        }
        self.flush();
    }

    fn handle(&mut self, message: Message) {
        match message {
            Message::Entry(entry) => self.write(&entry),
            Message::Wake => {}
            Message::Flush(done) => {
                self.flush();
                let _ = done.send(());
            }
        }
        if self.reopen.swap(false, Ordering::Acquire) {
            self.reopen_all();
        }
    }

    fn write(&mut self, entry: &Entry) {
        self.line.clear();
        match self.format {
            LogFormat::Combined => combined(&mut self.line, entry),
            LogFormat::Json => json(&mut self.line, entry),
        }
        self.line.push(b'\n');
        if let Some(server) = &mut self.server {
            if let Err(error) = server.write_all(&self.line) {
                warn_throttled(&mut self.warned, "the server's access log", &error);
            }
        }
        let (Some(folder), Some(site)) = (&self.sites_folder, &entry.site) else {
            return;
        };
        let file = self
            .sites
            .entry(site.clone())
            .or_insert_with(|| open_site(folder, site));
        if let Some(file) = file {
            if let Err(error) = file.write_all(&self.line) {
                let what = format!("the access log of site `{site}`");
                warn_throttled(&mut self.warned, &what, &error);
            }
        }
    }

    fn flush(&mut self) {
        if let Some(server) = &mut self.server {
            if let Err(error) = server.flush() {
                warn_throttled(&mut self.warned, "the server's access log", &error);
            }
        }
        for (site, file) in &mut self.sites {
            if let Some(Err(error)) = file.as_mut().map(|f| f.flush()) {
                let what = format!("the access log of site `{site}`");
                warn_throttled(&mut self.warned, &what, &error);
            }
        }
    }

    /// Closes every file and opens the server's again; sites' files reopen at their next
    /// line.
    fn reopen_all(&mut self) {
        self.flush();
        self.sites.clear();
        self.server = None;
        if let Some(target) = &self.target {
            match open_target(target) {
                Ok(sink) => self.server = Some(sink),
                Err(reason) => tracing::error!("access log not reopened: {reason}"),
            }
        }
        tracing::debug!("access logs reopened");
    }
}

fn warn_throttled(last: &mut Option<Instant>, what: &str, error: &std::io::Error) {
    if last.is_none_or(|at| at.elapsed() >= WARN_EVERY) {
        *last = Some(Instant::now());
        tracing::warn!(
            "cannot write {what}: {error} (further failures are not logged for a minute)"
        );
    }
}
