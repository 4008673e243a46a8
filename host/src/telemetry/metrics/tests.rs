//! The metrics end to end: requests and builds recorded, the exposition of a scrape
//! (`registry.rs`) and the status page's summary (`summary.rs`).

use std::time::Duration;

use http::StatusCode;

use super::labels::Breach;
use super::registry::{Live, Metrics};

#[test]
fn metrics_exposition_names_labels_and_gauges() {
    let metrics = Metrics::new();
    metrics.observe_request(Some("blog"), StatusCode::OK, Duration::from_millis(3), None);
    metrics.observe_request(
        Some("blog"),
        StatusCode::GATEWAY_TIMEOUT,
        Duration::from_secs(2),
        Some(Breach::Timeout),
    );
    metrics.observe_request(None, StatusCode::BAD_REQUEST, Duration::ZERO, None);
    metrics.observe_build("blog", Duration::from_millis(40), true);
    metrics.observe_build("shop", Duration::from_secs(3), false);
    let live = [Live {
        site: "blog".into(),
        instances: 2,
        memory: 1024,
        memory_cap: 4096,
        state: "serving",
    }];
    let text = metrics.encode(&live);
    for line in [
        "wsgi_wasm_requests_total{site=\"blog\",class=\"2xx\"} 1",
        "wsgi_wasm_requests_total{site=\"blog\",class=\"5xx\"} 1",
        "wsgi_wasm_requests_total{site=\"blog\",class=\"4xx\"} 0",
        "wsgi_wasm_requests_total{site=\"-\",class=\"4xx\"} 1",
        "wsgi_wasm_limit_breaches_total{site=\"blog\",kind=\"timeout\"} 1",
        "wsgi_wasm_limit_breaches_total{site=\"blog\",kind=\"memory\"} 0",
        "wsgi_wasm_request_duration_seconds_bucket{le=\"0.005\",site=\"blog\"} 1",
        "wsgi_wasm_request_duration_seconds_count{site=\"blog\"} 2",
        "wsgi_wasm_build_duration_seconds_count{site=\"shop\"} 1",
        "wsgi_wasm_build_failures_total{site=\"shop\"} 1",
        "wsgi_wasm_build_failures_total{site=\"blog\"} 0",
        "wsgi_wasm_instances{site=\"blog\"} 2",
        "wsgi_wasm_memory_bytes{site=\"blog\"} 1024",
        "wsgi_wasm_memory_budget_bytes{site=\"blog\"} 4096",
        "wsgi_wasm_site_state{site=\"blog\",state=\"serving\"} 1",
        "wsgi_wasm_site_state{site=\"blog\",state=\"failed\"} 0",
        "# EOF",
    ] {
        assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
    }
    assert!(!text.contains("class=\"1xx\""), "{text}");
    // A site gone from the catalog loses its gauges, keeps its counters.
    let text = metrics.encode(&[]);
    assert!(
        !text.contains("wsgi_wasm_instances{site=\"blog\"}"),
        "{text}"
    );
    assert!(text.contains("wsgi_wasm_requests_total{site=\"blog\",class=\"2xx\"} 1"));

    let summary = metrics.summary("blog");
    assert_eq!((summary.requests, summary.errors), (2, 1));
    assert_eq!(summary.breaches, [1, 0, 0, 0]);
    assert_eq!(summary.series.last().map(|p| p.requests), Some(2));
    assert!(summary.request_rate > 0.0);
    assert_eq!(metrics.summary("nobody").requests, 0);
}
