//! Alertmanager takes alerts and silences through its v2 API and reports them back, and
//! Prometheus's alerting rules reach it.

use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use testkit::alertmanager::Alertmanager;
use testkit::prometheus::Prometheus;

fn alert_named<'a>(alerts: &'a Value, name: &str) -> Option<&'a Value> {
    alerts
        .as_array()
        .unwrap()
        .iter()
        .find(|alert| alert["labels"]["alertname"] == name)
}

#[test]
fn posted_alerts_are_active_until_silenced_and_resolved_ones_are_not_listed() {
    let alertmanager = Alertmanager::start();
    assert_eq!(alertmanager.alerts(), Value::Array(vec![]));

    alertmanager.post_alert(
        &[("alertname", "GateFailed"), ("env", "green")],
        &[("summary", "p99 latency above 500ms")],
        None,
        None,
    );
    let alerts = alertmanager.alerts();
    let alert = alert_named(&alerts, "GateFailed").expect("the posted alert is listed");
    assert_eq!(alert["status"]["state"], "active", "{alert}");
    assert_eq!(alert["annotations"]["summary"], "p99 latency above 500ms");

    let id = alertmanager.silence(&[("env", "green")]);
    let alerts = alertmanager.alerts();
    let alert = alert_named(&alerts, "GateFailed").unwrap();
    assert_eq!(alert["status"]["state"], "suppressed", "{alert}");
    assert_eq!(alert["status"]["silencedBy"][0], id.as_str());
    assert_eq!(alertmanager.silences()[0]["id"], id.as_str());

    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    alertmanager.post_alert(
        &[("alertname", "OldNews")],
        &[],
        Some(an_hour_ago),
        Some(an_hour_ago + Duration::from_secs(60)),
    );
    assert!(alert_named(&alertmanager.alerts(), "OldNews").is_none());
}

#[test]
fn prometheus_alerting_rules_reach_alertmanager() {
    let alertmanager = Alertmanager::start();
    let _prometheus = Prometheus::builder(&[], Duration::from_secs(1))
        .rules(
            "groups:\n  - name: gates\n    rules:\n      - alert: AlwaysFiring\n        \
             expr: vector(1)\n        labels: {severity: page}\n",
        )
        .alertmanager(alertmanager.addr())
        .start();

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(alert) = alert_named(&alertmanager.alerts(), "AlwaysFiring") {
            assert_eq!(alert["labels"]["severity"], "page");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no alert from Prometheus within 30s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
