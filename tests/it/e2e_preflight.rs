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

/// An upgrade-readiness insight as cloudsim's control API takes it (DescribeInsight's shape).
fn insight(status: &str) -> serde_json::Value {
    serde_json::json!({
        "id": "11111111-2222-3333-4444-555555555555",
        "name": "Deprecated APIs removed in Kubernetes v1.32",
        "category": "UPGRADE_READINESS",
        "kubernetesVersion": "1.32",
        "insightStatus": {"status": status, "reason": "Deprecated API usage detected within the last 30 days"},
        "recommendation": "Update manifests and API clients to use newer Kubernetes APIs",
        "categorySpecificSummary": {"deprecationDetails": [{
            "usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
            "replacedWith": "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
            "stopServingVersion": "1.32",
            "startServingReplacementVersion": "1.29",
            "clientStats": [{"userAgent": "legacy-operator/1.2", "numberOfRequestsLast30Days": 412, "lastRequestTime": 1764800000}]
        }]}
    })
}

fn findings(report: &serde_json::Value, gate: &str) -> Vec<serde_json::Value> {
    let gate = report["gates"].as_array().unwrap().iter().find(|g| g["gate"] == gate).expect("the gate ran");
    gate["findings"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blues_error_insight_and_an_incompatible_add_on_pin_refuse_and_a_warning_does_not() {
    let stack = Stack::start(600.0).await;
    let spec = PlanSpec { addons: "[{name: vpc-cni, version: v1.12.0-eksbuild.1}, {name: coredns}]", ..PlanSpec::default() };
    let up = stack.prepare_upgrade(spec).await;
    let insights = format!("{}/_cloudsim/clusters/{}/insights", stack.cloudsim().url(), support::stack::upgrade::BLUE);
    testkit::net::http_json("PUT", &insights, Some(&serde_json::json!([insight("ERROR")]))).unwrap();

    let out = stack.run_cutover(&["preflight", up.plan_arg(), "-o", "json"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ins = findings(&report, "insights");
    assert_eq!(ins[0]["code"], "PRE-INS-001", "{report}");
    assert_eq!(ins[1]["code"], "PRE-INS-003", "{report}");
    assert!(ins[1]["what"].as_str().unwrap().contains("legacy-operator/1.2"), "{report}");
    let add = findings(&report, "addons");
    assert_eq!(add[0]["code"], "PRE-ADD-001", "{report}");
    assert!(add[0]["what"].as_str().unwrap().contains("v1.12.0-eksbuild.1"), "{report}");
    assert_eq!(add[1]["code"], "PRE-ADD-002", "coredns is unpinned: {report}");

    // A warning is shown, not refused; an unpinned vpc-cni says which version it will get.
    testkit::net::http_json("PUT", &insights, Some(&serde_json::json!([insight("WARNING")]))).unwrap();
    let unpinned = up.plan.with_file_name("unpinned.yaml");
    let text = std::fs::read_to_string(&up.plan).unwrap().replace("{name: vpc-cni, version: v1.12.0-eksbuild.1}", "{name: vpc-cni}");
    std::fs::write(&unpinned, text).unwrap();
    let out = stack.run_cutover(&["preflight", unpinned.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("warning PRE-INS-002") && stdout.contains("note PRE-ADD-002"), "{stdout}");
    assert_eq!(stack.count_events("cluster-creating", GREEN), 0, "pre-flight never creates anything");
}
