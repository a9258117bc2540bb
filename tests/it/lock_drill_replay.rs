//! A disaster-recovery drill that rebuilds from a lock file: releases installed by hand on a blue
//! cluster are captured with `cutover capture --export-charts`, the chart repository is stopped,
//! and `cutover drill` on a plan with `releases: {lock: ...}` rebuilds them from the exported
//! packages (each verified against the digest the lock pins), passes its checks, reports every
//! phase, and tears down everything it built.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::stack::{REGION, Stack};

const SCALE: f64 = 600.0;
const SECRET: &str = "hunter2-drill-secret";
const SECRET_ENV: &str = "CUTOVER_SECRET_API_DB_PASSWORD";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn helm_ok(stack: &Stack, kubeconfig: &Path, args: &[&str]) {
    let out = stack.helm(kubeconfig, args);
    assert!(out.status.success(), "helm {args:?}: {}", text(&out.stderr));
}

/// The Drill plan, beside the lock file it replays.
fn drill_plan(pins: &Path) -> std::path::PathBuf {
    let path = pins.join("rebuild.yaml");
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
    nodegroups:
      - name: general
        instanceTypes: [m6i.large]
        scaling: {{min: 2, desired: 2, max: 3}}
        nodeRoleArn: arn:aws:iam::111122223333:role/eks-node
  helm: {{version: "3.19.0"}}
  releases: {{lock: releases.lock.yaml}}
  checks:
    - {{name: nodes, nodesReady: {{min: 2}}, timeout: 2m}}
    - {{name: releases, releasesDeployed: {{}}}}
  onFailure: pause
  rtoTarget: 10m
"#
    );
    std::fs::write(&path, plan).unwrap();
    path
}

/// `cutover drill` with the captured secret in its environment and the helm provider's logs as
/// JSON lines on stderr.
fn drill(stack: &Stack, plan: &Path, reports: &Path) -> Output {
    stack
        .cutover(&[
            "drill", plan.to_str().unwrap(), "--yes", "--plain", "--report-dir", reports.to_str().unwrap(),
            "-o", "json", "--log-format", "json",
        ])
        .env("CUTOVER_TIME_SCALE", SCALE.to_string())
        .env("RUST_LOG", "cutover::providers::helm=info")
        .env(SECRET_ENV, SECRET)
        .output()
        .expect("run cutover drill")
}

/// The hex sha256 of every chart the helm provider verified, by release.
fn verified_charts(stderr: &str) -> BTreeMap<String, String> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["message"] == "chart verified")
        .map(|l| (l["release"].as_str().unwrap().to_string(), l["sha256"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_replays_a_captured_lock_from_exported_charts_with_the_repository_gone() {
    let mut stack = Stack::start(SCALE).await;
    // Blue as a team built it: ingress (by create_blue), api with a secret, worker with a subchart.
    stack.create_blue("blue", "1.31").await;
    let blue_kc = stack.kubeconfig("blue");
    let repo = stack.charts.url().to_string();
    helm_ok(&stack, &blue_kc, &[
        "install", "api", "api", "--repo", &repo, "--version", "2.4.1", "-n", "apps", "--create-namespace",
        "--set", &format!("db.password={SECRET}"), "--set", "replicaCount=3", "--wait", "--timeout", "2m",
    ]);
    helm_ok(&stack, &blue_kc, &[
        "install", "worker", "worker", "--repo", &repo, "--version", "0.3.0", "-n", "jobs", "--create-namespace",
        "--set", "concurrency=8", "--wait", "--timeout", "2m",
    ]);

    let out = stack.run_cutover(&["capture", "--cluster", "blue", "-o", "pins/releases.lock.yaml", "--export-charts", "pins/charts"]);
    assert_eq!(out.status.code(), Some(0), "capture: {}", text(&out.stderr));
    let pins = stack.dir.path().join("pins");
    let lock: Value = serde_json::from_str(&std::fs::read_to_string(pins.join("releases.lock.yaml")).unwrap()).unwrap();
    // release → (exported package, pinned hex digest)
    let exported: BTreeMap<String, (std::path::PathBuf, String)> = lock["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let digest = r["chart"]["digest"].as_str().unwrap().trim_start_matches("sha256:").to_string();
            (r["name"].as_str().unwrap().to_string(), (pins.join(r["chart"]["path"].as_str().unwrap()), digest))
        })
        .collect();
    assert_eq!(exported.keys().collect::<Vec<_>>(), ["api", "ingress", "worker"]);

    // The disaster: the chart repository is gone.
    stack.charts.stop();
    let scratch = tempfile::tempdir().unwrap();
    let pull = stack.helm(&blue_kc, &[
        "pull", "ingress", "--repo", &repo, "--version", "4.11.3", "--destination", scratch.path().to_str().unwrap(),
    ]);
    assert!(!pull.status.success(), "the chart repository still answers");

    let plan = drill_plan(&pins);
    let reports = stack.dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();

    // The plan depends on the exported files: without one, the drill refuses before building anything.
    let (worker_pkg, _) = &exported["worker"];
    let aside = worker_pkg.with_extension("aside");
    std::fs::rename(worker_pkg, &aside).unwrap();
    let refused = drill(&stack, &plan, &reports);
    assert_eq!(refused.status.code(), Some(3), "an invalid plan: {}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("not found; paths are relative to the lock file"), "{}", text(&refused.stderr));
    assert!(stack.events("cluster-creating").iter().all(|e| e.cluster.as_deref() == Some("blue")), "nothing was built");
    std::fs::rename(&aside, worker_pkg).unwrap();

    let out = drill(&stack, &plan, &reports);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "drill: {stderr}");
    assert!(!stderr.contains(SECRET) && !text(&out.stdout).contains(SECRET), "a secret value reached the output");

    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "pass", "{report:#}");
    let phases: Vec<&str> = report["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(phases, ["preflight", "provision", "releases", "verify", "teardown"]);
    for p in report["phases"].as_array().unwrap() {
        assert_eq!(p["result"], "done", "{p}");
    }
    assert_eq!(report["checks"][0]["result"], "passed", "{}", report["checks"]);
    assert_eq!(report["checks"][1]["result"], "passed", "all three releases deployed: {}", report["checks"]);
    assert!(report["recovery_secs"].as_f64().unwrap() < 600.0);
    let md = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "md"))
        .expect("a Markdown report");
    assert!(std::fs::read_to_string(md).unwrap().contains("— PASS"));

    // Every release was installed from its exported package: the chart helm verified before
    // installing is, byte for byte, the one the lock pins.
    let verified = verified_charts(&stderr);
    let pinned: BTreeMap<String, String> = exported.iter().map(|(k, (_, d))| (k.clone(), d.clone())).collect();
    assert_eq!(verified, pinned, "charts verified by the drill vs. the lock's digests; stderr:\n{stderr}");
    for (pkg, digest) in exported.values() {
        assert_eq!(&testkit::charts::sha256_digest(pkg).trim_start_matches("sha256:").to_string(), digest);
    }

    // Nothing of the drill is left; blue was never touched.
    assert_eq!(report["aftermath"]["torn_down"], true, "{}", report["aftermath"]);
    let clusters = stack.eks().await.list_clusters().send().await.unwrap().clusters().to_vec();
    assert_eq!(clusters, ["blue"], "the drill left clusters behind");
    let deleted: Vec<_> = stack.events("cluster-deleted").into_iter().filter_map(|e| e.cluster).collect();
    assert_eq!(deleted, ["shop-dr"]);
    assert!(stack.events("lb-leaked").is_empty(), "a load balancer outlived the drill's cluster");
}
