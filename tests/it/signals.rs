//! The signal checks against the real programs: Prometheus (Debian's) answering instant queries,
//! Alertmanager (Debian's) holding posted and silenced alerts, and a recording receiver standing
//! in for a confirm webhook. Each attempt's verdict and the reason it gives.

use std::time::Duration;

use cutover::plan::PrometheusCheck;
use cutover::providers::CheckTarget;
use cutover::providers::signals::{alertmanager, prometheus, webhook};
use testkit::alertmanager::Alertmanager;
use testkit::prometheus::Prometheus;
use testkit::receiver::{Receiver, Script};

fn target() -> CheckTarget {
    CheckTarget {
        green_cluster: "shop-1-32".into(),
        blue_cluster: Some("shop-1-31".into()),
        plan: "shop-prod".into(),
        run_id: "20261205T000000Z-abcd".into(),
        step: "traffic.shift.50".into(),
        weight: Some(50),
    }
}

fn query(url: &str, q: &str, min: Option<f64>, max: Option<f64>) -> PrometheusCheck {
    PrometheusCheck { url: url.into(), query: q.into(), min, max, hold: Duration::ZERO }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_check_needs_exactly_one_sample_within_bounds() {
    let prom = Prometheus::start(&[], Duration::from_secs(1));
    let url = prom.url();
    let ok = prometheus(&query(url, "vector(0.004)", None, Some(0.01)), &target()).await.unwrap();
    assert!(ok.passed, "{}", ok.detail);
    let high = prometheus(&query(url, "vector(0.2)", None, Some(0.01)), &target()).await.unwrap();
    assert!(!high.passed && high.detail.contains("= 0.2 (not at most 0.01)"), "{}", high.detail);
    let low = prometheus(&query(url, "scalar(vector(5))", Some(10.0), None), &target()).await.unwrap();
    assert!(!low.passed, "{}", low.detail);
    // `{green}` expands, so a query names the cluster; no series is a failure that says so.
    let none = prometheus(&query(url, r#"up{cluster="{green}"}"#, None, Some(1.0)), &target()).await.unwrap();
    assert!(!none.passed && none.detail.contains(r#"up{cluster="shop-1-32"}"#) && none.detail.contains("no series"), "{}", none.detail);
    let two = r#"label_replace(vector(1), "a", "x", "", "") or label_replace(vector(1), "a", "y", "", "")"#;
    let several = prometheus(&query(url, two, None, Some(2.0)), &target()).await.unwrap();
    assert!(!several.passed && several.detail.contains("2 series"), "{}", several.detail);
    let nan = prometheus(&query(url, "vector(0) / vector(0)", None, Some(1.0)), &target()).await.unwrap();
    assert!(!nan.passed, "NaN is out of bounds: {}", nan.detail);
    let bad = prometheus(&query(url, "sum(", None, Some(1.0)), &target()).await.unwrap();
    assert!(!bad.passed && bad.detail.contains("refused the query"), "{}", bad.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alertmanager_check_fails_while_a_matching_alert_fires_unless_it_is_silenced() {
    let am = Alertmanager::start();
    let matchers = vec![r#"severity="critical""#.to_string(), r#"cluster="{green}""#.to_string()];
    let quiet = alertmanager(am.url(), &matchers, &target()).await.unwrap();
    assert!(quiet.passed, "{}", quiet.detail);
    am.post_alert(&[("alertname", "OtherCluster"), ("severity", "critical"), ("cluster", "shop-1-31")], &[], None, None);
    am.post_alert(&[("alertname", "Warning"), ("severity", "warning"), ("cluster", "shop-1-32")], &[], None, None);
    let other = alertmanager(am.url(), &matchers, &target()).await.unwrap();
    assert!(other.passed, "alerts that do not match every matcher do not count: {}", other.detail);
    am.post_alert(&[("alertname", "GreenErrors"), ("severity", "critical"), ("cluster", "shop-1-32")], &[], None, None);
    let firing = alertmanager(am.url(), &matchers, &target()).await.unwrap();
    assert!(!firing.passed && firing.detail.contains("GreenErrors"), "{}", firing.detail);
    am.silence(&[("alertname", "GreenErrors")]);
    let silenced = alertmanager(am.url(), &matchers, &target()).await.unwrap();
    assert!(silenced.passed, "a silenced alert does not fail the gate: {}", silenced.detail);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_check_passes_on_2xx_only_and_a_hung_one_times_out() {
    let hook = Receiver::start(Script::always(200, "go"));
    let passed = webhook(&format!("{}/confirm", hook.url()), Duration::from_secs(2), &target()).await.unwrap();
    assert!(passed.passed, "{}", passed.detail);
    let sent = hook.requests()[0].json();
    assert_eq!(sent, serde_json::json!({"plan": "shop-prod", "run": "20261205T000000Z-abcd", "step": "traffic.shift.50", "weight": 50, "green": "shop-1-32", "blue": "shop-1-31"}));
    hook.set_script(Script::always(500, "change freeze"));
    let refused = webhook(&format!("{}/confirm?token=s3cret", hook.url()), Duration::from_secs(2), &target()).await.unwrap();
    assert!(!refused.passed && refused.detail.contains("change freeze"), "{}", refused.detail);
    assert!(!refused.detail.contains("s3cret"), "the URL's query is not shown: {}", refused.detail);
    hook.set_script(Script::never_answer());
    let started = std::time::Instant::now();
    let hung = webhook(&hook.url(), Duration::from_millis(500), &target()).await.unwrap();
    assert!(!hung.passed && started.elapsed() < Duration::from_secs(3), "{} after {:?}", hung.detail, started.elapsed());
}
