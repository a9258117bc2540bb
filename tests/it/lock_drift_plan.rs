//! `cutover drift --against PLAN` end to end on the stand-ins: a DevCluster plan whose releases
//! take values from a values file and inline values (the inline ones overriding the file, as helm
//! merges them) is brought up by the engine with `cutover dev up`; drift against that plan finds
//! nothing; a manual `helm upgrade --set` is reported with the release and the changed value
//! (exit 8), and a manual uninstall as `missing`.

use crate::support;

use std::process::Output;

use serde_json::{Value, json};
use support::stack::{REGION, Stack};

const SCALE: f64 = 600.0;
const CLUSTER: &str = "shop-dev";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The plan, beside its values file in the test's directory.
fn plan(stack: &Stack) -> std::path::PathBuf {
    let dir = stack.dir.path();
    std::fs::create_dir_all(dir.join("values")).unwrap();
    // The file says 3 replicas; the plan's inline values say 1 and must win.
    std::fs::write(
        dir.join("values/ingress.yaml"),
        "controller:\n  replicaCount: 3\n  image:\n    tag: \"1.11.3-patched\"\n",
    )
    .unwrap();
    let path = dir.join("shop.yaml");
    let plan = format!(
        r#"apiVersion: cutover.dev/v1
kind: DevCluster
metadata: {{name: {CLUSTER}, owner: shop-team@example.com}}
spec:
  aws: {{region: {REGION}}}
  state: {{backend: local, path: .cutover}}
  green:
    cluster: {CLUSTER}
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks-cluster
    subnets: [subnet-d6289388dc55347e2, subnet-b94dd1f189237c89c]
    nodegroups:
      - name: dev
        instanceTypes: [t3.large]
        scaling: {{min: 1, desired: 2, max: 3}}
        nodeRoleArn: arn:aws:iam::111122223333:role/eks-node
  helm: {{version: "3.19.0"}}
  releases:
    - name: ingress
      namespace: ingress
      chart: {{repo: {repo}, name: ingress, version: 4.11.3}}
      valuesFiles: [values/ingress.yaml]
      values: {{controller: {{replicaCount: 1}}}}
    - name: worker
      namespace: jobs
      chart: {{repo: {repo}, name: worker, version: 0.3.0}}
      values: {{concurrency: 8, queue: {{replicaCount: 2}}}}
  checks:
    - {{name: nodes, nodesReady: {{min: 2}}, timeout: 2m}}
  onFailure: rollback
  ttl: 8h
"#,
        repo = stack.charts.url()
    );
    std::fs::write(&path, plan).unwrap();
    path
}

fn cutover(stack: &Stack, args: &[&str]) -> Output {
    stack.cutover(args).env("CUTOVER_TIME_SCALE", SCALE.to_string()).output().expect("run cutover")
}

fn helm_ok(stack: &Stack, args: &[&str]) {
    let out = stack.helm(&stack.dir.path().join(format!("{CLUSTER}.kubeconfig")), args);
    assert!(out.status.success(), "helm {args:?}: {}", text(&out.stderr));
}

/// `cutover drift -o json` against the plan: its exit code and report.
fn drift_json(stack: &Stack, plan: &str) -> (Option<i32>, Value) {
    let out = cutover(stack, &["drift", "--cluster", CLUSTER, "--against", plan, "-o", "json"]);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("drift -o json printed no report ({e}): {}", text(&out.stderr)));
    (out.status.code(), report)
}

/// The differences of each drifted release, by `namespace/name`.
fn drifted(report: &Value) -> std::collections::BTreeMap<String, Value> {
    report["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["release"].as_str().unwrap().to_string(), d["differences"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_against_a_plan_is_silent_after_the_engine_installs_it_and_names_manual_changes() {
    let stack = Stack::start(SCALE).await;
    let plan = plan(&stack);
    let plan = plan.to_str().unwrap();

    let up = cutover(&stack, &["dev", "up", plan, "--yes", "--plain"]);
    assert!(up.status.success(), "dev up: {}\n{}", text(&up.stdout), text(&up.stderr));

    // Exactly what the plan says: the file's values under the inline ones.
    let out = cutover(&stack, &["drift", "--cluster", CLUSTER, "--against", plan]);
    assert_eq!(out.status.code(), Some(0), "drift: {}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!("no drift: the 2 release(s) on cluster {CLUSTER} match")),
        "{}",
        text(&out.stdout)
    );
    let (code, report) = drift_json(&stack, plan);
    assert_eq!(code, Some(0));
    assert_eq!(report["in_sync"], json!(["ingress/ingress", "jobs/worker"]), "{report:#}");
    assert_eq!(report["drifted"], json!([]));

    // Someone turns a knob by hand, keeping everything else.
    helm_ok(&stack, &[
        "upgrade", "worker", "worker", "--repo", stack.charts.url(), "--version", "0.3.0", "-n", "jobs",
        "--reuse-values", "--set", "concurrency=16", "--wait", "--timeout", "2m",
    ]);
    let (code, report) = drift_json(&stack, plan);
    assert_eq!(code, Some(8), "drift exits 8: {report:#}");
    assert_eq!(report["cluster"], CLUSTER);
    assert_eq!(report["in_sync"], json!(["ingress/ingress"]), "{report:#}");
    assert_eq!(
        drifted(&report)["jobs/worker"],
        json!([{"kind": "values", "changes": [{"path": "concurrency", "pinned": 8, "live": 16}]}]),
        "only the changed value is reported: {report:#}"
    );
    let out = cutover(&stack, &["drift", "--cluster", CLUSTER, "--against", plan]);
    assert_eq!(out.status.code(), Some(8));
    assert!(text(&out.stdout).contains("jobs/worker  values:\n      concurrency: 8 → 16"), "{}", text(&out.stdout));

    // Someone removes a release.
    helm_ok(&stack, &["uninstall", "ingress", "-n", "ingress", "--wait"]);
    let (code, report) = drift_json(&stack, plan);
    assert_eq!(code, Some(8));
    let drifted = drifted(&report);
    assert_eq!(drifted.len(), 2, "{report:#}");
    assert_eq!(drifted["ingress/ingress"], json!([{"kind": "missing", "chart": "ingress", "version": "4.11.3"}]));
    assert_eq!(drifted["jobs/worker"][0]["kind"], "values");
    assert_eq!(report["in_sync"], json!([]));

    let down = cutover(&stack, &["dev", "down", CLUSTER, "--yes", "--region", REGION]);
    assert!(down.status.success(), "dev down: {}", text(&down.stderr));
    assert!(stack.eks().await.list_clusters().send().await.unwrap().clusters().is_empty());
    assert!(stack.events("lb-leaked").is_empty(), "a load balancer outlived its cluster");
}
