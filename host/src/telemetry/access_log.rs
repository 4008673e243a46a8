//! Access logs: one line per request, written off the request path.
//!
//! Where it sits: when a response ends (`observe.rs`, the request-end hook), the request's
//! [`Entry`] is handed to [`AccessLog::log`], which only queues it: a bounded channel feeds
//! one writer thread that formats the line and writes it to the server's log (a file or
//! stdout, `[log] access`) and to the site's own `<site>.access.log` in the `[log] sites`
//! folder (opened at the site's first line). When the queue is full the line is dropped
//! and counted, with a warning at most once a minute: a slow disk never slows a request.
//! An idle writer writes a line as soon as it comes; a busy one wakes once per 20 ms tick,
//! writes everything queued and flushes, so lines appear within a tick and a busy server
//! pays neither a wake-up nor a write per request.
//!
//! Formats (`[log] format`):
//! - `combined`: nginx's combined line, then `site=`, `request=`, `duration=` (seconds) and
//!   `instance=`; `-` for what is unknown. Quotes, backslashes and control or non-ASCII
//!   bytes in the quoted fields are written `\xHH`, as nginx does.
//! - `json`: one object per line with the same values as named keys.
//!
//! [`AccessLog::reopen`] closes and reopens every file (after logrotate moved them); the
//! server calls it on every reload.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderValue, Method, Uri, Version};
use serde::Serialize;

use crate::config::{AccessTarget, ConfigError, LogConfig, LogFormat};

/// Lines queued for the writer at most; beyond, lines are dropped (and counted).
const QUEUED_LINES: usize = 8192;

/// How long a busy writer lets lines gather between two writes: lines appear within it.
const TICK: Duration = Duration::from_millis(20);

/// Room for the lines of a few ticks per file, so a busy tick is one write per file.
const FILE_BUFFER: usize = 64 * 1024;

/// Warnings about dropped lines or failing writes: at most one per this period.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// What the log says about one request.
#[derive(Debug)]
pub struct Entry {
    /// The client: the peer, or the address its trusted proxies name (as `REMOTE_ADDR`).
    pub remote_addr: IpAddr,
    /// The user name of `Authorization: Basic`.
    pub remote_user: Option<String>,
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub referer: Option<HeaderValue>,
    pub user_agent: Option<HeaderValue>,
    /// When the response ended.
    pub time: SystemTime,
    pub status: u16,
    /// Body bytes handed to the connection (0 for HEAD).
    pub bytes: u64,
    pub site: Option<String>,
    pub request_id: u64,
    pub duration: Duration,
    /// The instance that ran the app, for app requests.
    pub instance: Option<u64>,
}

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

enum Message {
    Entry(Box<Entry>),
    /// Nothing to write: look at the reopen flag.
    Wake,
    /// Flush, then answer: every line queued before is written.
    Flush(mpsc::Sender<()>),
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

type Sink = Box<dyn Write + Send>;

/// Opens the server's log: stdout, or the file in append mode (its folder created).
fn open_target(target: &AccessTarget) -> Result<Sink, String> {
    match target {
        AccessTarget::Stdout => Ok(Box::new(BufWriter::with_capacity(
            FILE_BUFFER,
            std::io::stdout(),
        ))),
        AccessTarget::File(file) => open_append(&file.path)
            .map(|f| Box::new(BufWriter::with_capacity(FILE_BUFFER, f)) as Sink)
            .map_err(|error| {
                format!(
                    "cannot open `{}` ({}): {error}",
                    file.written,
                    file.path.display()
                )
            }),
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// The writer thread's state.
struct Writer {
    format: LogFormat,
    target: Option<AccessTarget>,
    /// The server's log; `None` when off, or when reopening it failed.
    server: Option<Sink>,
    sites_folder: Option<PathBuf>,
    /// Each site's open log; `None` when it could not be opened (tried again at the next
    /// reopen).
    sites: HashMap<String, Option<BufWriter<File>>>,
    /// The line being written, reused.
    line: Vec<u8>,
    reopen: Arc<AtomicBool>,
    warned: Option<Instant>,
}

impl Writer {
    /// Idle, the writer waits for a line and writes it at once. Busy (a line came within
    /// a [`TICK`] of the last write), it takes what was queued once per tick, writes it and
    /// flushes: requests queue their lines without waking it, and each file sees about one
    /// write per tick whatever the request rate.
    fn run(mut self, receiver: Receiver<Message>) {
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

/// The log of `site` in `folder`, or `None` (with an error logged) when it cannot be opened.
fn open_site(folder: &Path, site: &str) -> Option<BufWriter<File>> {
    let path = folder.join(format!("{site}.access.log"));
    match open_append(&path) {
        Ok(file) => Some(BufWriter::with_capacity(FILE_BUFFER, file)),
        Err(error) => {
            tracing::error!(
                site,
                "cannot open the site's access log `{}`: {error}; its lines are not written until the next reload",
                path.display()
            );
            None
        }
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

/// `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
/// "$http_referer" "$http_user_agent" site=… request=… duration=… instance=…`.
fn combined(out: &mut Vec<u8>, entry: &Entry) {
    let time = chrono::DateTime::<chrono::Local>::from(entry.time);
    let _ = write!(out, "{} - ", entry.remote_addr);
    match &entry.remote_user {
        Some(user) if !user.is_empty() => escape(out, user.as_bytes()),
        _ => out.push(b'-'),
    }
    let _ = write!(out, " [{}] \"", time.format("%d/%b/%Y:%H:%M:%S %z"));
    escape(out, entry.method.as_str().as_bytes());
    out.push(b' ');
    escape(out, target(entry).as_bytes());
    out.push(b' ');
    out.extend_from_slice(protocol(entry.version).as_bytes());
    let _ = write!(out, "\" {} {} \"", entry.status, entry.bytes);
    quoted_header(out, entry.referer.as_ref());
    out.extend_from_slice(b"\" \"");
    quoted_header(out, entry.user_agent.as_ref());
    out.extend_from_slice(b"\" site=");
    out.extend_from_slice(entry.site.as_deref().unwrap_or("-").as_bytes());
    let _ = write!(
        out,
        " request={} duration={:.6} instance=",
        entry.request_id,
        entry.duration.as_secs_f64()
    );
    match entry.instance {
        Some(id) => {
            let _ = write!(out, "{id}");
        }
        None => out.push(b'-'),
    }
}

fn quoted_header(out: &mut Vec<u8>, value: Option<&HeaderValue>) {
    match value {
        Some(value) if !value.is_empty() => escape(out, value.as_bytes()),
        _ => out.push(b'-'),
    }
}

/// nginx's default log escaping: `"`, `\`, control bytes and bytes past ASCII as `\xHH`.
fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        if byte == b'"' || byte == b'\\' || !(0x20..0x7f).contains(&byte) {
            let _ = write!(out, "\\x{byte:02X}");
        } else {
            out.push(byte);
        }
    }
}

/// The request target as the client sent it: origin form for HTTP/2 (whose URI hyper
/// rebuilds from `:scheme` and `:authority`), as written otherwise.
fn target(entry: &Entry) -> String {
    if entry.version == Version::HTTP_2 {
        if let Some(path) = entry.uri.path_and_query() {
            return path.as_str().to_owned();
        }
    }
    entry.uri.to_string()
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

/// The JSON line: the combined line's values under names.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    remote_addr: IpAddr,
    remote_user: Option<&'a str>,
    method: &'a str,
    uri: String,
    protocol: &'static str,
    status: u16,
    bytes: u64,
    referer: Option<std::borrow::Cow<'a, str>>,
    user_agent: Option<std::borrow::Cow<'a, str>>,
    site: Option<&'a str>,
    request_id: u64,
    duration: f64,
    instance: Option<u64>,
}

fn json(out: &mut Vec<u8>, entry: &Entry) {
    let time = chrono::DateTime::<chrono::Local>::from(entry.time);
    let header = |value: Option<&'_ HeaderValue>| {
        value.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned().into())
    };
    let line = JsonLine {
        time: time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        remote_addr: entry.remote_addr,
        remote_user: entry.remote_user.as_deref(),
        method: entry.method.as_str(),
        uri: target(entry),
        protocol: protocol(entry.version),
        status: entry.status,
        bytes: entry.bytes,
        referer: header(entry.referer.as_ref()),
        user_agent: header(entry.user_agent.as_ref()),
        site: entry.site.as_deref(),
        request_id: entry.request_id,
        duration: entry.duration.as_secs_f64(),
        instance: entry.instance,
    };
    // Serializing plain values into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &line);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            remote_addr: "203.0.113.7".parse().unwrap(),
            remote_user: None,
            method: Method::GET,
            uri: "/a?b=c".parse().unwrap(),
            version: Version::HTTP_11,
            referer: Some(HeaderValue::from_static("http://x/\"q\"")),
            user_agent: Some(HeaderValue::from_bytes(b"ua\\1\t\xe9").unwrap()),
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            status: 200,
            bytes: 12,
            site: Some("blog".into()),
            request_id: 41,
            duration: Duration::from_micros(1_234_567),
            instance: Some(3),
        }
    }

    #[test]
    fn access_log_combined_line_escapes_like_nginx() {
        let mut out = Vec::new();
        combined(&mut out, &entry());
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("203.0.113.7 - - ["), "{line}");
        assert!(
            line.ends_with(
                "] \"GET /a?b=c HTTP/1.1\" 200 12 \"http://x/\\x22q\\x22\" \"ua\\x5C1\\x09\\xE9\" \
                 site=blog request=41 duration=1.234567 instance=3"
            ),
            "{line}"
        );
    }

    #[test]
    fn access_log_combined_line_has_dashes_for_the_unknown() {
        let mut entry = entry();
        entry.referer = None;
        entry.user_agent = Some(HeaderValue::from_static(""));
        entry.site = None;
        entry.instance = None;
        entry.remote_user = Some("a\"b".into());
        let mut out = Vec::new();
        combined(&mut out, &entry);
        let line = String::from_utf8(out).unwrap();
        assert!(line.starts_with("203.0.113.7 - a\\x22b ["), "{line}");
        assert!(
            line.ends_with("\"-\" \"-\" site=- request=41 duration=1.234567 instance=-"),
            "{line}"
        );
    }

    #[test]
    fn access_log_json_line_has_the_same_values() {
        let mut out = Vec::new();
        json(&mut out, &entry());
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["remote_addr"], "203.0.113.7");
        assert_eq!(value["remote_user"], serde_json::Value::Null);
        assert_eq!(value["method"], "GET");
        assert_eq!(value["uri"], "/a?b=c");
        assert_eq!(value["protocol"], "HTTP/1.1");
        assert_eq!(value["status"], 200);
        assert_eq!(value["bytes"], 12);
        assert_eq!(value["referer"], "http://x/\"q\"");
        assert_eq!(value["site"], "blog");
        assert_eq!(value["request_id"], 41);
        assert_eq!(value["duration"], 1.234567);
        assert_eq!(value["instance"], 3);
        let time = value["time"].as_str().unwrap();
        let parsed = chrono::DateTime::parse_from_rfc3339(time).unwrap();
        assert_eq!(parsed.timestamp(), 1_700_000_000);
    }

    #[test]
    fn access_log_http2_target_is_the_path() {
        let mut entry = entry();
        entry.version = Version::HTTP_2;
        entry.uri = "http://example.com/x?y".parse().unwrap();
        assert_eq!(target(&entry), "/x?y");
        entry.version = Version::HTTP_11;
        assert_eq!(target(&entry), "http://example.com/x?y");
    }
}
