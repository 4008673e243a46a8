//! `GET /`: the status page rendered from the survey (`survey.rs`), and its script and
//! style.
//!
//! The page is whole without JavaScript: a server-rendered table, every text escaped (a
//! failed build's error is a Python traceback, full of `<`). Its script (`status.js`,
//! served from `/status.js`, no external resources) draws each site's last five minutes as
//! a small SVG chart and refreshes the numbers from `/status.json` every few seconds; a
//! change of sites, states or errors reloads the page. The page's Content-Security-Policy
//! lets nothing run but that script.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::runtime::quota::Usage;
use crate::telemetry::metrics::Breach;

use super::survey::{SiteStatus, Status};

/// The page's script and style, served from `/status.js` and `/status.css`.
pub const SCRIPT: &str = include_str!("../assets/status.js");
pub const STYLE: &str = include_str!("../assets/status.css");

/// What the page may load and run: its own script, style and data, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `/`: the page, whole without its script.
pub fn html(status: &Status) -> String {
    let mut page = String::with_capacity(8 * 1024);
    let up = SystemTime::now()
        .duration_since(status.started)
        .unwrap_or_default();
    let failed = status.sites.iter().filter(|s| s.state == "failed").count();
    let _ = write!(
        page,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>wsgi-wasm status</title>\n<link rel=\"stylesheet\" href=\"/status.css\">\n\
         </head>\n<body>\n<header>\n<h1>wsgi-wasm</h1>\n<p class=\"meta\">\
         <span>up {up}</span> · <span>{count} site{s}</span>{failed} · \
         <span>{unrouted} request{us} no site took</span>{stopping} · \
         <span id=\"updated\">rendered by the server</span></p>\n</header>\n",
        up = humantime::format_duration(Duration::from_secs(up.as_secs())),
        count = status.sites.len(),
        s = if status.sites.len() == 1 { "" } else { "s" },
        failed = if failed > 0 {
            format!(" · <span class=\"bad\">{failed} failed</span>")
        } else {
            String::new()
        },
        unrouted = status.unrouted.requests,
        us = if status.unrouted.requests == 1 {
            ""
        } else {
            "s"
        },
        stopping = if status.stopping {
            " · <span class=\"bad\">stopping</span>"
        } else {
            ""
        },
    );
    page.push_str(
        "<main>\n<table id=\"sites\">\n<thead><tr><th>Site</th><th>Server names</th>\
         <th>State</th><th class=\"num\">Requests/s</th><th class=\"num\">Errors/s</th>\
         <th>Last 5 minutes</th><th class=\"num\">Requests</th><th>Limits hit</th>\
         <th class=\"num\">Instances</th><th class=\"num\">Memory</th><th>Storage</th><th>Build</th></tr></thead>\n<tbody>\n",
    );
    for site in &status.sites {
        row(&mut page, site);
    }
    if status.sites.is_empty() {
        page.push_str("<tr><td colspan=\"12\" class=\"empty\">No site is configured.</td></tr>\n");
    }
    page.push_str(
        "</tbody>\n</table>\n</main>\n<footer><a href=\"/metrics\">/metrics</a> · \
         <a href=\"/status.json\">/status.json</a> · <a href=\"/healthz\">/healthz</a></footer>\n\
         <script src=\"/status.js\"></script>\n</body>\n</html>\n",
    );
    page
}

fn row(page: &mut String, site: &SiteStatus) {
    let name = escape(&site.name);
    let summary = &site.requests;
    let mut names: Vec<String> = site.server_names.iter().map(|n| escape(n)).collect();
    if site.default {
        names.push("<em>default</em>".into());
    }
    let limits: Vec<String> = Breach::ALL
        .iter()
        .zip(summary.breaches)
        .filter(|(_, count)| *count > 0)
        .map(|(kind, count)| format!("{} {count}", kind.label()))
        .collect();
    let _ = writeln!(
        page,
        "<tr class=\"site\" data-site=\"{name}\" data-state=\"{state}\">\
         <td class=\"name\">{name}</td><td class=\"names\">{names}</td>\
         <td><span class=\"state {state}\" data-field=\"state\">{state}</span></td>\
         <td class=\"num\" data-field=\"request_rate\">{rate}</td>\
         <td class=\"num\" data-field=\"error_rate\">{error_rate}</td>\
         <td class=\"chart\" data-field=\"chart\"></td>\
         <td class=\"num\" data-field=\"requests\">{requests} <small>({errors} 5xx)</small></td>\
         <td data-field=\"limits\">{limits}</td>\
         <td class=\"num\" data-field=\"instances\">{instances}</td>\
         <td class=\"num\" data-field=\"memory\">{memory}</td>\
         <td class=\"storage\" data-field=\"storage\">{storage}</td>\
         <td class=\"build\" data-field=\"build\">{build}</td></tr>",
        state = site.state,
        names = if names.is_empty() {
            "—".into()
        } else {
            names.join(", ")
        },
        rate = rate(summary.request_rate),
        error_rate = rate(summary.error_rate),
        requests = summary.requests,
        errors = summary.errors,
        limits = if limits.is_empty() {
            "—".into()
        } else {
            limits.join(", ")
        },
        instances = site.instances,
        memory = memory(site.memory, site.memory_cap),
        storage = escape(&storage(&site.storage)),
        build = escape(&build(site)),
    );
    if let Some((error, _)) = &site.error {
        let _ = writeln!(
            page,
            // The newline after `<pre>` is dropped by HTML parsers, so an error that starts
            // with one keeps it.
            "<tr class=\"error-row\"><td colspan=\"12\"><pre class=\"error\" \
             data-error-of=\"{name}\">\n{}</pre></td></tr>",
            escape(error)
        );
    }
}

/// A rate per second, as the script also writes it.
fn rate(per_second: f64) -> String {
    if per_second == 0.0 {
        "0".into()
    } else if per_second < 0.1 {
        format!("{per_second:.2}")
    } else if per_second < 10.0 {
        format!("{per_second:.1}")
    } else {
        format!("{per_second:.0}")
    }
}

fn memory(used: u64, cap: u64) -> String {
    if cap == 0 {
        return "—".into();
    }
    format!("{} / {} MiB", mib(used), mib(cap))
}

/// Each folder under a quota: `/tmp 1.5 / 256.0 MiB, 3 / 10000 files`, as the script also
/// writes it (`≥` when the load-time walk stopped at its bound).
fn storage(usage: &[Usage]) -> String {
    if usage.is_empty() {
        return "—".into();
    }
    let folders: Vec<String> = usage
        .iter()
        .map(|u| {
            let mib = |b: u64| format!("{:.1}", b as f64 / (1024.0 * 1024.0));
            format!(
                "{} {}{} / {} MiB, {} / {} files",
                u.mount,
                if u.partial { "≥" } else { "" },
                mib(u.bytes),
                mib(u.max_bytes),
                u.files,
                u.max_files
            )
        })
        .collect();
    folders.join("; ")
}

fn mib(bytes: u64) -> String {
    format!("{:.0}", bytes as f64 / (1024.0 * 1024.0))
}

/// The served build, and how long the last build took or since when one runs.
fn build(site: &SiteStatus) -> String {
    let mut parts = Vec::new();
    if let Some((hash, _)) = &site.serving {
        if !hash.is_empty() {
            parts.push(hash.chars().take(12).collect::<String>());
        }
    }
    if let Some(since) = site.building {
        let running = SystemTime::now().duration_since(since).unwrap_or_default();
        parts.push(format!("building for {}s", running.as_secs()));
    } else if let Some(took) = site.last_build {
        parts.push(format!("took {:.1}s", took.as_secs_f64()));
    }
    if parts.is_empty() {
        "—".into()
    } else {
        parts.join(" · ")
    }
}

/// `text` safe in HTML text and in quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::super::data::json;
    use super::*;
    use crate::telemetry::metrics::Summary;

    fn site(name: &str, error: Option<&str>) -> SiteStatus {
        SiteStatus {
            name: name.into(),
            server_names: vec![format!("{name}.test")],
            default: false,
            state: if error.is_some() { "failed" } else { "serving" },
            error: error.map(|e| (e.to_owned(), SystemTime::now())),
            serving: Some(("0123456789abcdef".into(), SystemTime::now())),
            building: None,
            last_build: Some(Duration::from_millis(1500)),
            instances: 1,
            memory: 64 << 20,
            memory_cap: 1 << 30,
            storage: vec![Usage {
                mount: "/tmp".into(),
                bytes: 3 << 19,
                files: 3,
                max_bytes: 256 << 20,
                max_files: 10_000,
                refused: 0,
                partial: false,
            }],
            requests: Summary::default(),
        }
    }

    #[test]
    fn status_page_escapes_errors_and_lists_sites() {
        let status = Status {
            started: SystemTime::now(),
            stopping: false,
            sites: vec![
                site("blog", None),
                site("shop", Some("Traceback:\n  <module> & \"x\"")),
            ],
            unrouted: Summary::default(),
        };
        let page = html(&status);
        assert!(page.contains("data-site=\"blog\""), "{page}");
        assert!(page.contains(
            "data-error-of=\"shop\">\nTraceback:\n  &lt;module&gt; &amp; &quot;x&quot;</pre>"
        ));
        assert!(!page.contains("<module>"));
        assert!(page.contains("0123456789ab · took 1.5s"));
        assert!(page.contains("64 / 1024 MiB"));
        assert!(
            page.contains("/tmp 1.5 / 256.0 MiB, 3 / 10000 files"),
            "{page}"
        );
        let data: Value = serde_json::from_str(&json(&status)).unwrap();
        assert_eq!(data["sites"][1]["state"], "failed");
        assert_eq!(data["sites"][1]["error"], "Traceback:\n  <module> & \"x\"");
        assert_eq!(data["sites"][0]["breaches"]["body_size"], 0);
        assert_eq!(data["sites"][0]["storage"][0]["mount"], "/tmp");
        assert_eq!(data["sites"][0]["storage"][0]["max_files"], 10_000);
    }

    #[test]
    fn status_page_rates_read_like_the_script_writes_them() {
        assert_eq!(rate(0.0), "0");
        assert_eq!(rate(0.05), "0.05");
        assert_eq!(rate(2.345), "2.3");
        assert_eq!(rate(123.4), "123");
    }
}
