//! Prometheus metrics at `GET /metrics` on the main listener, in the text exposition format 0.0.4:
//! `cloudsim_lb_requests_total{cluster, service="ns/name", code}`, every answer a load balancer gave
//! (faults and 503s included), so a test or a demo's Prometheus can see where traffic went.
//!
//! Counters live with each cluster's load balancers ([`RequestCounts`]) and are in memory only: they
//! start at zero when cloudsim starts, as every exporter's do (Prometheus's `rate` and `increase`
//! treat a drop as a reset), and go with their cluster. `cloudsim_start_time_seconds` says when
//! they last started from zero.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Requests answered by one cluster's load balancers, by Service (`ns/name`) and HTTP status.
#[derive(Debug, Default)]
pub struct RequestCounts(Mutex<BTreeMap<(String, u16), u64>>);

impl RequestCounts {
    pub fn count(&self, service: &str, code: u16) {
        let mut counts = self.0.lock().expect("metrics lock poisoned");
        *counts.entry((service.to_string(), code)).or_default() += 1;
    }

    /// `((service, code), count)`, sorted.
    pub fn snapshot(&self) -> Vec<((String, u16), u64)> {
        let counts = self.0.lock().expect("metrics lock poisoned");
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// Renders the exposition: `clusters` is `(cluster name, its counts)`; `started_secs` the start
/// time (Unix seconds).
pub fn render(clusters: &[(String, Vec<((String, u16), u64)>)], started_secs: f64) -> String {
    let mut out = String::new();
    out.push_str("# HELP cloudsim_lb_requests_total Requests answered by cloudsim's load balancers, by cluster, Service and HTTP status.\n");
    out.push_str("# TYPE cloudsim_lb_requests_total counter\n");
    for (cluster, counts) in clusters {
        for ((service, code), n) in counts {
            let _ = writeln!(
                out,
                "cloudsim_lb_requests_total{{cluster=\"{}\",service=\"{}\",code=\"{code}\"}} {n}",
                escape(cluster),
                escape(service)
            );
        }
    }
    out.push_str("# HELP cloudsim_start_time_seconds When this cloudsim started (its counters count from then).\n");
    out.push_str("# TYPE cloudsim_start_time_seconds gauge\n");
    let _ = writeln!(out, "cloudsim_start_time_seconds {started_secs:.3}");
    out
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_one_sample_per_cluster_service_and_code() {
        let counts = RequestCounts::default();
        counts.count("apps/web", 200);
        counts.count("apps/web", 200);
        counts.count("apps/web", 502);
        let text = render(&[("blue\"x".into(), counts.snapshot())], 12.5);
        assert!(text.contains("cloudsim_lb_requests_total{cluster=\"blue\\\"x\",service=\"apps/web\",code=\"200\"} 2\n"));
        assert!(text.contains("code=\"502\"} 1\n"));
        assert!(text.contains("# TYPE cloudsim_lb_requests_total counter\n"));
        assert!(text.ends_with("cloudsim_start_time_seconds 12.500\n"));
    }
}
