//! Metric and alert gates through the binary on the stand-ins, with the real Prometheus and
//! Alertmanager: Prometheus scrapes cloudsim's load balancer metrics while the test sends requests
//! to green's load balancer; when green starts answering 5xx during the 50% bake, the error-ratio
//! gate fails and all traffic goes back to blue in one batch. The same with an alert posted to
//! Alertmanager during the bake.

use crate::support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::json;
use support::stack::Stack;
use support::stack::proxy::Change;
use support::stack::run::{checkpoint, journal};
use support::stack::upgrade::{BLUE_SET, GREEN, GREEN_SET, PlanSpec, RECORD};
use testkit::alertmanager::Alertmanager;
use testkit::prometheus::{Prometheus, ScrapeTarget};

/// Green's load balancer address (`ip:8080`), once its ingress Service has one.
async fn green_lb(stack: &Stack) -> String {
    let kubeconfig = stack.kubeconfig(GREEN);
    for _ in 0..200 {
        let out = stack.kubectl(&kubeconfig, &["get", "service", "-n", "ingress", "ingress-nginx-controller", "-o", "json"]);
        if let Ok(svc) = serde_json::from_slice::<serde_json::Value>(&out.stdout)
            && let Some(ip) = svc["status"]["loadBalancer"]["ingress"][0]["ip"].as_str()
        {
            return format!("{ip}:8080");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("green's load balancer has no address");
}

/// Requests to `addr` every 20 ms until dropped: the traffic whose error ratio the gate watches.
struct Traffic(Arc<AtomicBool>);

impl Traffic {
    fn start(addr: String) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let _ = testkit::net::http("GET", &format!("http://{addr}/healthz"), b"");
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Traffic(stop)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

fn rolled_back_in_one_batch(stack: &Stack) {
    let batches = stack.route53.change_batches();
    assert_eq!(batches[3], vec![Change::upsert(BLUE_SET, 100), Change::upsert(GREEN_SET, 0)], "{batches:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greens_error_ratio_rising_in_a_bake_rolls_traffic_back_through_a_prometheus_gate() {
    let stack = Stack::start(600.0).await;
    let cloudsim_addr = stack.cloudsim_url.trim_start_matches("http://").to_string();
    let prom = Prometheus::start(&[ScrapeTarget::new("cloudsim", cloudsim_addr)], Duration::from_secs(1));
    // `or vector(0)`: with no 5xx yet the numerator has no series, and `nothing / x` is nothing.
    let ratio = r#"(sum(rate(cloudsim_lb_requests_total{cluster="{green}",code=~"5.."}[4s])) or vector(0)) / sum(rate(cloudsim_lb_requests_total{cluster="{green}"}[4s]))"#;
    let spec = PlanSpec {
        bakes: ["1s", "15s", "1s"],
        extra_checks: format!(
            "    - name: errors\n      timeout: 1m\n      prometheus: {{url: \"{}\", query: '{ratio}', expect: {{max: 0.1}}, for: 2s}}\n",
            prom.url()
        ),
        gates: "[errors]",
        ..PlanSpec::default()
    };
    let up = stack.prepare_upgrade(spec).await;
    let runs = up.runs_dir();
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    run.wait_until(&stack, "checkpoint releases-ready", || async { checkpoint(&journal(&runs), "releases-ready").then_some(()) })
        .await;
    let _traffic = Traffic::start(green_lb(&stack).await);
    run.wait_until(&stack, "checkpoint traffic-10", || async { checkpoint(&journal(&runs), "traffic-10").then_some(()) }).await;
    stack.patch_faults(json!({"lbErrorRate": {format!("{GREEN}/ingress/ingress-nginx-controller"): 0.6}})).await;
    let run = run.finish(&stack).await;
    run.expect_code(4, "the error-ratio gate failed during the 50% bake");
    assert!(run.stdout.contains("CUT-CHK-002"), "{}", run.stdout);
    assert!(run.stderr.contains("errors") && run.stderr.contains("not at most 0.1"), "{}", run.stderr);
    assert_eq!(stack.weights(&up.zone_id, RECORD).await, BTreeMap::from([(BLUE_SET.to_string(), 100)]));
    rolled_back_in_one_batch(&stack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_firing_for_green_in_a_bake_rolls_traffic_back_through_an_alertmanager_gate() {
    let stack = Stack::start(600.0).await;
    let am = Alertmanager::start();
    let spec = PlanSpec {
        bakes: ["1s", "10s", "1s"],
        extra_checks: format!(
            "    - name: alerts\n      alertmanager: {{url: \"{}\", matchers: ['severity=\"critical\"', 'cluster=\"{{green}}\"']}}\n",
            am.url()
        ),
        gates: "[alerts]",
        ..PlanSpec::default()
    };
    let up = stack.prepare_upgrade(spec).await;
    let runs = up.runs_dir();
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    run.wait_until(&stack, "checkpoint traffic-10", || async { checkpoint(&journal(&runs), "traffic-10").then_some(()) }).await;
    am.post_alert(&[("alertname", "GreenHighErrorRate"), ("severity", "critical"), ("cluster", GREEN)], &[], None, None);
    let run = run.finish(&stack).await;
    run.expect_code(4, "the alert gate failed during the 50% bake");
    assert!(run.stderr.contains("GreenHighErrorRate"), "{}", run.stderr);
    assert_eq!(stack.weights(&up.zone_id, RECORD).await, BTreeMap::from([(BLUE_SET.to_string(), 100)]));
    rolled_back_in_one_batch(&stack);
}
