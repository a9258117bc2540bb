//! Prometheus scrapes loopback targets at a one-second interval, evaluates recording rules, and
//! answers instant queries; a bad query fails loudly; the server dies with its guard.

use std::time::Duration;

use serde_json::Value;
use testkit::free_port;
use testkit::prometheus::{Prometheus, ScrapeTarget, sample_value};

use crate::support::serve;

const METRICS: &str = "# TYPE app_requests_total counter\n\
                       app_requests_total{code=\"200\"} 42\n\
                       app_requests_total{code=\"500\"} 3\n";

const RULES: &str = r#"
groups:
  - name: app
    rules:
      - record: app:error_ratio
        expr: sum(app_requests_total{code=~"5.."}) / sum(app_requests_total)
"#;

fn len(result: &Value) -> usize {
    result.as_array().map_or(0, Vec::len)
}

#[test]
fn prometheus_scrapes_targets_records_rules_and_answers_queries() {
    let app = serve("text/plain; version=0.0.4", METRICS);
    let nobody = format!("127.0.0.1:{}", free_port());
    let prometheus = Prometheus::builder(
        &[
            ScrapeTarget::new("app", app),
            ScrapeTarget::new("gone", nobody).metrics_path("/custom/metrics"),
        ],
        Duration::from_secs(1),
    )
    .rules(RULES)
    .start();

    prometheus.wait_for("up", |result| len(result) == 2, Duration::from_secs(20));
    assert_eq!(prometheus.value(r#"up{job="app"}"#), Some(1.0));
    assert_eq!(prometheus.value(r#"up{job="gone"}"#), Some(0.0));
    assert_eq!(prometheus.value("sum(app_requests_total)"), Some(45.0));
    assert_eq!(prometheus.value("no_such_metric"), None);

    let ratio = prometheus.wait_for(
        "app:error_ratio",
        |result| sample_value(result).is_some(),
        Duration::from_secs(20),
    );
    assert_eq!(sample_value(&ratio), Some(3.0 / 45.0));

    let targets = prometheus.targets();
    let gone = targets
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["labels"]["job"] == "gone")
        .expect("the unreachable job is listed");
    assert_eq!(gone["health"], "down", "{gone}");
    assert!(
        gone["scrapeUrl"]
            .as_str()
            .unwrap()
            .ends_with("/custom/metrics"),
        "{gone}"
    );
}

#[test]
fn a_bad_query_panics_with_prometheus_own_words_and_drop_stops_the_server() {
    let prometheus = Prometheus::start(&[], Duration::from_secs(1));
    let failure = std::panic::catch_unwind(|| prometheus.query("sum(")).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("400") && message.contains("parse error"),
        "{message}"
    );

    let addr = prometheus
        .url()
        .strip_prefix("http://")
        .unwrap()
        .parse()
        .unwrap();
    drop(prometheus);
    assert!(testkit::wait_for_port(addr, Duration::from_millis(200)).is_err());
}
