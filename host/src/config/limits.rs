//! The `[limits]` table: what one site may use. Shared by `site.toml` and the server's
//! `[defaults.limits]`; a site's own value wins over the default, the default over the
//! built-in value. A site over a limit gets its own 4xx/5xx; nobody else notices.
//!
//! ```toml
//! [limits]
//! memory = "256MiB"          # linear memory of each instance; Python sees MemoryError
//! request_timeout = "30s"    # wall-clock time of one request in the app → 504
//! cpu_time = "10s"           # guest CPU time of one request → 504
//! max_body = "10MiB"         # request body; larger → 413 before the app runs
//! body_timeout = "30s"       # time the client has to send the body → 408
//! instances = 4              # instances of this site running at once
//! queue = 64                 # requests waiting for an instance; more → 503
//! queue_timeout = "10s"      # longest wait for an instance → 503 with Retry-After
//! max_requests = 10000       # requests an instance serves before it is replaced; 0: no cap
//! idle_timeout = "60s"       # an instance idle this long is dropped
//! isolation = "instance"     # "instance": reuse instances; "request": a fresh one each time
//! write_buffer = "256KiB"    # response bytes held for a slow client before the app waits
//! tmp_size = "256MiB"        # bytes of files in the site's scratch /tmp; past it ENOSPC
//! tmp_files = 10000          # files and folders in /tmp
//! data_size = "1GiB"         # bytes of files in each data folder
//! data_files = 100000        # files and folders in each data folder
//! ```
//!
//! Host-side buffers held for a site (its request bodies and response buffers) count against
//! the site's memory budget, `memory × instances`, together with its instances' memories.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::parse::duration;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub memory: Option<String>,
    pub request_timeout: Option<String>,
    pub cpu_time: Option<String>,
    pub max_body: Option<String>,
    pub body_timeout: Option<String>,
    pub instances: Option<u32>,
    pub queue: Option<u32>,
    pub queue_timeout: Option<String>,
    pub max_requests: Option<u64>,
    pub idle_timeout: Option<String>,
    pub isolation: Option<String>,
    pub write_buffer: Option<String>,
    pub tmp_size: Option<String>,
    pub tmp_files: Option<u64>,
    pub data_size: Option<String>,
    pub data_files: Option<u64>,
}

/// Whether instances are reused across requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    /// Reuse warm instances, one request at a time each (the default).
    Instance,
    /// A fresh instance from the site's snapshot for every request.
    Request,
}

/// A site's validated limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub memory: u64,
    pub request_timeout: Duration,
    pub cpu_time: Duration,
    pub max_body: u64,
    pub body_timeout: Duration,
    pub instances: usize,
    pub queue: usize,
    pub queue_timeout: Duration,
    /// 0: no cap.
    pub max_requests: u64,
    pub idle_timeout: Duration,
    pub isolation: Isolation,
    pub write_buffer: u64,
    /// What the guest may keep in its scratch `/tmp` and in each data folder: bytes (the
    /// apparent sizes of its files) and entries (files, folders, links). See
    /// `runtime/quota.rs`.
    pub tmp: Quota,
    pub data: Quota,
}

/// A folder's quota: bytes of its files' lengths, and entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub bytes: u64,
    pub files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: 256 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            cpu_time: Duration::from_secs(10),
            max_body: 10 * 1024 * 1024,
            body_timeout: Duration::from_secs(30),
            instances: 4,
            queue: 64,
            queue_timeout: Duration::from_secs(10),
            max_requests: 10_000,
            idle_timeout: Duration::from_secs(60),
            isolation: Isolation::Instance,
            write_buffer: 256 * 1024,
            tmp: Quota {
                bytes: 256 * 1024 * 1024,
                files: 10_000,
            },
            data: Quota {
                bytes: 1024 * 1024 * 1024,
                files: 100_000,
            },
        }
    }
}

impl Limits {
    /// The bytes a site may hold at once: its instances' memories and its host buffers.
    pub fn memory_budget(&self) -> u64 {
        self.memory.saturating_mul(self.instances as u64)
    }

    /// `raw` applied over `base`; `table` names the table in messages (`limits`).
    pub fn resolve(
        raw: &RawLimits,
        base: &Limits,
        file: &Path,
        table: &str,
    ) -> Result<Limits, ConfigError> {
        let err =
            |key: &str, reason: String| ConfigError::new(file, format!("{table}.{key}"), reason);
        let size = |key: &str,
                    value: &Option<String>,
                    current: u64,
                    min: u64|
         -> Result<u64, ConfigError> {
            let Some(text) = value else {
                return Ok(current);
            };
            let parsed: bytesize::ByteSize = text.trim().parse().map_err(|_| {
                err(
                    key,
                    format!("`{text}` is not a size such as `64KiB` or `256MiB`"),
                )
            })?;
            if parsed.as_u64() < min {
                return Err(err(
                    key,
                    format!(
                        "`{text}` is below the minimum of {}",
                        bytesize::ByteSize(min)
                    ),
                ));
            }
            Ok(parsed.as_u64())
        };
        let time = |key: &str,
                    value: &Option<String>,
                    current: Duration|
         -> Result<Duration, ConfigError> {
            let Some(text) = value else {
                return Ok(current);
            };
            let parsed = duration(text).map_err(|reason| err(key, reason))?;
            if parsed.is_zero() {
                return Err(err(key, format!("`{text}` must be longer than zero")));
            }
            Ok(parsed)
        };
        let count = |key: &str,
                     value: Option<u32>,
                     current: usize,
                     min: u32|
         -> Result<usize, ConfigError> {
            match value {
                None => Ok(current),
                Some(n) if n < min => Err(err(key, format!("`{n}` is below the minimum of {min}"))),
                Some(n) => Ok(n as usize),
            }
        };
        let isolation = match raw.isolation.as_deref() {
            None => base.isolation,
            Some("instance") => Isolation::Instance,
            Some("request") => Isolation::Request,
            Some(other) => {
                return Err(err(
                    "isolation",
                    format!("`{other}`: expected \"instance\" or \"request\""),
                ))
            }
        };
        Ok(Limits {
            memory: size("memory", &raw.memory, base.memory, 16 * 1024 * 1024)?,
            request_timeout: time(
                "request_timeout",
                &raw.request_timeout,
                base.request_timeout,
            )?,
            cpu_time: time("cpu_time", &raw.cpu_time, base.cpu_time)?,
            max_body: size("max_body", &raw.max_body, base.max_body, 0)?,
            body_timeout: time("body_timeout", &raw.body_timeout, base.body_timeout)?,
            instances: count("instances", raw.instances, base.instances, 1)?,
            queue: count("queue", raw.queue, base.queue, 0)?,
            queue_timeout: time("queue_timeout", &raw.queue_timeout, base.queue_timeout)?,
            max_requests: raw.max_requests.unwrap_or(base.max_requests),
            idle_timeout: time("idle_timeout", &raw.idle_timeout, base.idle_timeout)?,
            isolation,
            write_buffer: size("write_buffer", &raw.write_buffer, base.write_buffer, 1024)?,
            tmp: Quota {
                bytes: size("tmp_size", &raw.tmp_size, base.tmp.bytes, 0)?,
                files: raw.tmp_files.unwrap_or(base.tmp.files),
            },
            data: Quota {
                bytes: size("data_size", &raw.data_size, base.data.bytes, 0)?,
                files: raw.data_files.unwrap_or(base.data.files),
            },
        })
    }
}
