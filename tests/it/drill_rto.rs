//! Disaster-recovery drills end to end on the stand-ins: a drill that meets its RTO target, one
//! that misses it on a slow cloud (cloudsim with slow cluster creation), and one whose rebuild
//! fails. Each writes its report (Markdown and JSON), exits with the documented code, and leaves
//! nothing behind: no cluster, no leaked load balancer.

use crate::support;

use std::process::Output;

use serde_json::Value;
use support::stack::{REGION, Stack};

const SCALE: f64 = 600.0;

fn drill_plan(stack: &Stack, rto: &str, min_nodes: u32) -> std::path::PathBuf {
    drill_plan_with(stack, rto, min_nodes, "")
}

/// `extra`: more checks and spec sections, indented for `checks:` then `spec:`.
fn drill_plan_with(stack: &Stack, rto: &str, min_nodes: u32, extra: &str) -> std::path::PathBuf {
    let path = stack.dir.path().join("drill.yaml");
    let plan = format!(
        r#"apiVersion: cutover.dev/v1
kind: Drill
metadata: {{name: shop-dr, owner: platform@example.com}}
spec:
  aws: {{region: {REGION}}}
  state: {{backend: local, path: .cutover}}
  green:
    cluster: shop-dr
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks-cluster
    subnets: [subnet-d6289388dc55347e2, subnet-b94dd1f189237c89c]
    addons: [{{name: vpc-cni}}, {{name: coredns}}]
    nodegroups:
      - name: general
        instanceTypes: [m6i.large]
        scaling: {{min: 2, desired: 2, max: 3}}
        nodeRoleArn: arn:aws:iam::111122223333:role/eks-node
  helm: {{version: "3.19.0"}}
  releases:
    - name: ingress
      namespace: ingress
      chart: {{repo: {repo}, name: ingress, version: 4.11.3}}
  checks:
    - {{name: nodes, nodesReady: {{min: {min_nodes}}}, timeout: 3s}}
    - {{name: releases, releasesDeployed: {{}}}}
{extra}  onFailure: pause
  rtoTarget: {rto}
"#,
        repo = stack.charts.url()
    );
    std::fs::write(&path, plan).unwrap();
    path
}

fn drill(stack: &Stack, plan: &std::path::Path) -> (Output, Value, String) {
    let reports = stack.dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let out = stack
        .cutover(&["drill", plan.to_str().unwrap(), "--yes", "--plain", "--report-dir", reports.to_str().unwrap()])
        .env("CUTOVER_TIME_SCALE", SCALE.to_string())
        .output()
        .unwrap();
    let file = |ext: &str| {
        let found = std::fs::read_dir(&reports)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} report; stderr: {}", String::from_utf8_lossy(&out.stderr)));
        std::fs::read_to_string(found).unwrap()
    };
    let json: Value = serde_json::from_str(&file("json")).unwrap();
    let md = file("md");
    (out, json, md)
}

async fn assert_nothing_left(stack: &Stack) {
    let clusters = stack.eks().await.list_clusters().send().await.unwrap().clusters().to_vec();
    assert!(clusters.is_empty(), "the drill left clusters behind: {clusters:?}");
    assert!(stack.events("lb-leaked").is_empty(), "a load balancer outlived the drill's cluster");
    assert!(!stack.events("cluster-deleted").is_empty(), "the drill's cluster was deleted");
}

fn phase_names(report: &Value) -> Vec<String> {
    report["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_within_its_rto_passes_reports_every_phase_and_tears_down() {
    let stack = Stack::start(SCALE).await;
    let plan = drill_plan(&stack, "10m", 2);
    let (out, report, md) = drill(&stack, &plan);
    assert!(out.status.success(), "drill: {}", String::from_utf8_lossy(&out.stderr));

    assert_eq!(report["verdict"], "pass");
    assert_eq!(phase_names(&report), ["preflight", "provision", "releases", "verify", "teardown"]);
    for p in report["phases"].as_array().unwrap() {
        assert_eq!(p["result"], "done", "{p}");
        assert!(p["secs"].as_f64().unwrap() >= 0.0 && p["ended_at"].is_string(), "{p}");
    }
    let recovery = report["recovery_secs"].as_f64().unwrap();
    assert!(recovery > 0.0 && recovery < 600.0, "{recovery}");
    assert_eq!(report["rto_target_secs"], 600.0);
    assert_eq!(report["checks"][0]["result"], "passed");
    assert_eq!(report["checks"][1]["result"], "passed");
    assert_eq!(report["helm_version"], "3.19.0");
    assert_eq!(report["cutover_version"], env!("CARGO_PKG_VERSION"));
    assert!(report["plan_digest"].as_str().unwrap().len() >= 64);
    assert!(!report["who"].as_str().unwrap().is_empty());
    assert_eq!(report["aftermath"]["torn_down"], true);
    assert!(md.contains("— PASS") && md.contains("| Provision the green cluster |"), "{md}");
    assert_nothing_left(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_on_a_slow_cloud_misses_its_rto_says_so_and_still_tears_down() {
    // Cluster creation takes 50 simulated minutes: ~5 s here, against a 3 s target.
    let mut slow = cloudsim::profile::Profile::default();
    slow.latencies.cluster_create_secs = 3000.0;
    let stack = Stack::start_with_profile(SCALE, slow).await;
    // Whoever is on call hears the verdict (and only it: the sink subscribes to nothing else).
    let hook = testkit::receiver::Receiver::start(testkit::receiver::Script::always(200, "ok"));
    let notify = format!("  notify: [{{name: oncall, url: \"{}/hook\", format: json, events: [drill-verdict]}}]\n", hook.url());
    let plan = drill_plan_with(&stack, "3s", 2, &notify);
    let (out, report, md) = drill(&stack, &plan);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "a missed RTO has its own exit code: {stderr}");
    assert!(stderr.contains("drill FAILED: recovery took"), "{stderr}");
    // The runbook: the report to read, and the drill to run again kept for inspection.
    assert!(stderr.contains("CUT-RTO-001"), "{stderr}");
    let plan_arg = plan.to_str().unwrap();
    assert!(stderr.lines().any(|l| l.trim() == format!("cutover drill {plan_arg} --keep --ttl 8h")), "{stderr}");
    assert!(stderr.lines().any(|l| l.trim().starts_with("less ") && l.contains(".md")), "{stderr}");
    let told: Vec<serde_json::Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["event"], "drill-verdict");
    assert_eq!(told[0]["code"], "CUT-RTO-001");
    assert!(told[0]["summary"].as_str().unwrap().contains("recovery took"), "{}", told[0]);

    assert_eq!(report["verdict"], "missed-rto");
    assert!(report["recovery_secs"].as_f64().unwrap() > 3.0);
    let provision = &report["phases"][1];
    assert_eq!(provision["name"], "provision");
    assert!(provision["secs"].as_f64().unwrap() >= 4.0, "the slow phase is measured: {provision}");
    assert!(md.contains("FAIL (missed the RTO target)"), "{md}");
    assert_eq!(report["aftermath"]["torn_down"], true);
    assert_nothing_left(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_drill_is_reported_and_rolled_back_to_nothing() {
    let stack = Stack::start(SCALE).await;
    // Five Ready nodes from a node group of two: the check cannot pass.
    let plan = drill_plan(&stack, "10m", 5);
    let (out, report, md) = drill(&stack, &plan);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "failed and torn down: {stderr}");

    assert_eq!(report["verdict"], "failed");
    assert!(report["recovery_secs"].is_null());
    assert_eq!(report["checks"][0]["result"], "failed");
    assert!(phase_names(&report).contains(&"rollback".to_string()), "{:?}", phase_names(&report));
    assert!(report["failure"].as_str().unwrap().contains("verify.check.nodes"), "{}", report["failure"]);
    assert!(md.contains("The rebuild failed"), "{md}");
    assert_eq!(report["aftermath"]["torn_down"], true, "{}", report["aftermath"]);
    assert_nothing_left(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_drill_becomes_a_dev_cluster_that_a_later_drill_leaves_alone() {
    let stack = Stack::start(SCALE).await;
    let plan = drill_plan(&stack, "10m", 2);
    let keep = stack
        .cutover(&["drill", plan.to_str().unwrap(), "--keep", "--ttl", "2h", "--yes", "--plain", "-o", "json"])
        .env("CUTOVER_TIME_SCALE", SCALE.to_string())
        .output()
        .unwrap();
    assert!(keep.status.success(), "drill --keep: {}", String::from_utf8_lossy(&keep.stderr));
    let report: Value = serde_json::from_slice(&keep.stdout).unwrap();
    assert_eq!(report["verdict"], "pass");
    assert_eq!(report["aftermath"]["torn_down"], false);
    assert!(report["aftermath"]["kept_until"].is_string());
    assert!(!phase_names(&report).contains(&"teardown".to_string()));

    let listed = stack.cutover(&["dev", "list", "-o", "json", "--region", REGION]).output().unwrap();
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["name"], "shop-dr", "the kept environment is a dev cluster: {listed}");
    let left = listed[0]["expires_in_secs"].as_i64().unwrap();
    assert!((3500..=7200).contains(&left), "with the TTL asked for: {left}s");

    // A drill run while the kept one exists cannot build its cluster, and must not delete the
    // kept one even though it carries the same plan tag.
    let (out, report, _) = drill(&stack, &plan);
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["verdict"], "failed");
    assert!(report["failure"].as_str().unwrap().contains("already exists"), "{}", report["failure"]);
    let clusters = stack.eks().await.list_clusters().send().await.unwrap().clusters().to_vec();
    assert_eq!(clusters, ["shop-dr"], "the kept cluster survives");

    let down = stack
        .cutover(&["dev", "down", "shop-dr", "--yes", "--region", REGION])
        .env("CUTOVER_TIME_SCALE", SCALE.to_string())
        .output()
        .unwrap();
    assert!(down.status.success(), "{}", String::from_utf8_lossy(&down.stderr));
    assert_nothing_left(&stack).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_sends_test_traffic_through_its_drill_record_and_puts_it_back() {
    let stack = Stack::start(SCALE).await;
    let record = "drill.shop.example.com";
    let zone = stack.create_zone_with_blue_record("shop.example.com", record, "drill-standby", "maintenance.example.net").await;
    let extra = format!(
        r#"    - name: smoke
      http: {{url: "http://{record}:8080/healthz", via: green, expectStatus: 200, successes: 2, interval: 1s}}
  traffic:
    zone: shop.example.com
    records:
      - name: {record}
        ttl: 1
        blue: maintenance.example.net
        green: {{service: ingress/ingress-nginx-controller}}
        setIdentifiers: {{blue: drill-standby, green: drill-recovered}}
    steps: [{{weight: 100, bake: 1s}}]
    gates: [smoke]
"#
    );
    let plan = drill_plan_with(&stack, "10m", 2, &extra);
    let (out, report, md) = drill(&stack, &plan);
    assert!(out.status.success(), "drill: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["verdict"], "pass");
    assert_eq!(phase_names(&report), ["preflight", "provision", "releases", "verify", "traffic", "teardown"]);
    assert_eq!(report["checks"][2]["result"], "passed", "{}", report["checks"]);
    // Recovery counts until the drill record served the rebuilt cluster, after verification.
    let traffic = &report["phases"][4];
    assert_eq!(traffic["result"], "done", "the drill record carried the rebuilt cluster: {traffic}");
    let verify_end: jiff::Timestamp = report["phases"][3]["ended_at"].as_str().unwrap().parse().unwrap();
    let started: jiff::Timestamp = report["started_at"].as_str().unwrap().parse().unwrap();
    let recovered = started.as_millisecond() as f64 / 1000.0 + report["recovery_secs"].as_f64().unwrap();
    assert!(recovered >= verify_end.as_millisecond() as f64 / 1000.0 - 0.001, "{traffic}");
    assert!(md.contains("the drill record sending all its traffic"), "{md}");

    // The record is back on its standby, with the rebuilt cluster's record gone.
    let weights = stack.weights(&zone, record).await;
    assert_eq!(weights, std::collections::BTreeMap::from([("drill-standby".to_string(), 100)]));
    assert_nothing_left(&stack).await;
}
