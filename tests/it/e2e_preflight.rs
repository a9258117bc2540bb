//! Pre-flight through the binary against the stand-ins: a release whose chart, rendered by the
//! real helm at green's Kubernetes version, still has a PodDisruptionBudget at policy/v1beta1
//! (removed in 1.25) — `cutover preflight` reports it (exit 3, JSON for CI), and `cutover apply`
//! is refused the same way before any cloud change: no cluster created, Route53 untouched.

use crate::support;

use support::stack::Stack;
use support::stack::upgrade::{GREEN, PlanSpec, RECORD};

/// A chart made for the test: one PodDisruptionBudget at an API Kubernetes 1.25 removed.
fn legacy_chart(dir: &std::path::Path) -> std::path::PathBuf {
    let chart = dir.join("legacy");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(chart.join("Chart.yaml"), "apiVersion: v2\nname: legacy\nversion: 0.1.0\n").unwrap();
    std::fs::write(
        chart.join("templates/pdb.yaml"),
        "apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  minAvailable: 1\n  selector:\n    matchLabels: {app: legacy}\n",
    )
    .unwrap();
    chart
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_at_a_removed_api_is_refused_before_any_cloud_change() {
    let stack = Stack::start(600.0).await;
    let chart = legacy_chart(stack.dir.path());
    let spec = PlanSpec {
        extra_releases: format!(
            "    - name: legacy\n      namespace: payments\n      chart: {{path: \"{}\", version: 0.1.0}}\n",
            chart.display()
        ),
        ..PlanSpec::default()
    };
    let up = stack.prepare_upgrade(spec).await;
    let before = stack.weights(&up.zone_id, RECORD).await;

    let out = stack.run_cutover(&["preflight", up.plan_arg(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(report["refused"], true);
    let apis = report["gates"].as_array().unwrap().iter().find(|g| g["gate"] == "apis").expect("the apis gate ran");
    let finding = &apis["findings"][0];
    assert_eq!(finding["code"], "PRE-API-001", "{report}");
    assert!(finding["what"].as_str().unwrap().contains("policy/v1beta1"), "{finding}");
    assert!(finding["fix"].as_str().unwrap().contains("policy/v1"), "{finding}");
    assert!(finding["where"].as_str().unwrap().contains("release legacy"), "{finding}");

    let run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]).finish(&stack).await;
    run.expect_code(3, "cutover apply refused by pre-flight");
    assert!(run.stderr.contains("PRE-API-001"), "{}", run.stderr);
    assert_eq!(stack.count_events("cluster-creating", GREEN), 0, "no green cluster may be created");
    assert!(stack.route53.change_batches().is_empty(), "Route53 must be untouched");
    assert_eq!(stack.weights(&up.zone_id, RECORD).await, before);
}
