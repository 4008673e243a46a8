//! `GET /status.json`: the status page's survey (`survey.rs`) as JSON, which the page's
//! script polls every few seconds to refresh its numbers and charts.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::telemetry::metrics::{Breach, SERIES_STEP};

use super::survey::Status;

/// `/status.json`.
pub fn json(status: &Status) -> String {
    let sites: Vec<Value> = status
        .sites
        .iter()
        .map(|site| {
            let summary = &site.requests;
            let breaches: serde_json::Map<String, Value> = Breach::ALL
                .iter()
                .zip(summary.breaches)
                .map(|(kind, count)| (kind.label().to_owned(), count.into()))
                .collect();
            json!({
                "name": site.name,
                "server_names": site.server_names,
                "default": site.default,
                "state": site.state,
                "error": site.error.as_ref().map(|(text, _)| text),
                "error_at": site.error.as_ref().map(|(_, at)| unix(*at)),
                "serving_build": site.serving.as_ref().map(|(build, _)| build),
                "serving_since": site.serving.as_ref().map(|(_, at)| unix(*at)),
                "building_since": site.building.map(unix),
                "last_build_seconds": site.last_build.map(|d| d.as_secs_f64()),
                "instances": site.instances,
                "memory_bytes": site.memory,
                "memory_budget_bytes": site.memory_cap,
                "storage": site.storage.iter().map(|u| json!({
                    "mount": u.mount,
                    "bytes": u.bytes,
                    "max_bytes": u.max_bytes,
                    "files": u.files,
                    "max_files": u.max_files,
                    "refused": u.refused,
                    "partial": u.partial,
                })).collect::<Vec<_>>(),
                "requests": summary.requests,
                "errors": summary.errors,
                "classes": {
                    "1xx": summary.classes[0], "2xx": summary.classes[1],
                    "3xx": summary.classes[2], "4xx": summary.classes[3],
                    "5xx": summary.classes[4],
                },
                "breaches": breaches,
                "request_rate": summary.request_rate,
                "error_rate": summary.error_rate,
                "series": {
                    "requests": summary.series.iter().map(|p| p.requests).collect::<Vec<_>>(),
                    "errors": summary.series.iter().map(|p| p.errors).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let value = json!({
        "started": unix(status.started),
        "now": unix(SystemTime::now()),
        "stopping": status.stopping,
        "series_step_seconds": SERIES_STEP,
        "unrouted": {
            "requests": status.unrouted.requests,
            "errors": status.unrouted.errors,
        },
        "sites": sites,
    });
    value.to_string()
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}
