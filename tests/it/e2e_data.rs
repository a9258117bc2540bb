//! Persistent data through the binary on the stand-ins: blue runs the `ledger` StatefulSet (two
//! replicas, a claim and an EBS volume each, made in moto's EC2 by cloudsim's EBS driver). An
//! upgrade with `spec.data` (quiesce) gives each of green's pods a volume made from a snapshot of
//! the matching blue volume — the chain PV → volume → SnapshotId → snapshot → VolumeId read back
//! with boto3 — and reports the downtime; a failed upgrade deletes what it made and starts blue's
//! writers again on their own volumes; `cutover backup` then drills restore the newest snapshot
//! and judge its age against `rpoTarget`.

use crate::support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::stack::upgrade::{BLUE, ENV, GREEN, PlanSpec, Upgrade};
use support::stack::{REGION, Stack};

const SCALE: f64 = 600.0;
const NS: &str = "ledger";
const CLAIMS: [&str; 2] = ["data-ledger-0", "data-ledger-1"];

/// The ledger release, installed on green by the plan (its chart makes the gp3 class too).
fn ledger_release(stack: &Stack) -> String {
    let digest = stack.charts.package("ledger", "0.1.0").digest.clone();
    format!(
        "    - name: ledger\n      namespace: {NS}\n      chart: {{repo: \"{}\", name: ledger, version: 0.1.0, digest: \"{digest}\"}}\n      values: {{storageClass: {{create: true}}}}\n      timeout: 2m\n",
        stack.charts.url()
    )
}

fn data_spec(quiesce: bool) -> String {
    format!("  data:\n    mode: snapshot\n    claims: [{{namespace: {NS}, selector: {{app.kubernetes.io/name: ledger}}}}]\n    quiesce: {quiesce}\n")
}

fn kubectl_json(stack: &Stack, cluster: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = stack.kubectl(&stack.kubeconfig(cluster), &all);
    assert!(out.status.success(), "kubectl {args:?} on {cluster}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each claim's EBS volume on `cluster`.
fn volumes_of(stack: &Stack, cluster: &str) -> BTreeMap<String, String> {
    CLAIMS
        .iter()
        .map(|claim| {
            let pvc = kubectl_json(stack, cluster, &["get", "pvc", claim, "-n", NS]);
            let pv = kubectl_json(stack, cluster, &["get", "pv", pvc["spec"]["volumeName"].as_str().unwrap()]);
            (claim.to_string(), pv["spec"]["csi"]["volumeHandle"].as_str().expect("an EBS CSI volume").to_string())
        })
        .collect()
}

/// Blue has the EBS CSI driver add-on, as every EKS cluster with EBS volumes must.
async fn ebs_csi_on_blue(stack: &Stack) {
    let eks = stack.eks().await;
    eks.create_addon().cluster_name(BLUE).addon_name("aws-ebs-csi-driver").send().await.expect("create the EBS CSI add-on on blue");
    stack
        .wait_for("blue's EBS CSI add-on ACTIVE", || async {
            let a = eks.describe_addon().cluster_name(BLUE).addon_name("aws-ebs-csi-driver").send().await.ok()?;
            (a.addon()?.status()? == &aws_sdk_eks::types::AddonStatus::Active).then_some(())
        })
        .await;
}

/// Blue as a team runs it: the ledger chart installed with helm, its two volumes made in EC2.
async fn blue_with_ledger(stack: &Stack) -> BTreeMap<String, String> {
    let out = stack.helm(
        &stack.kubeconfig(BLUE),
        &["install", "ledger", "ledger", "--repo", stack.charts.url(), "--version", "0.1.0", "-n", NS, "--create-namespace",
          "--set", "storageClass.create=true", "--wait", "--timeout", "2m"],
    );
    assert!(out.status.success(), "helm install ledger on blue: {}", String::from_utf8_lossy(&out.stderr));
    volumes_of(stack, BLUE)
}

fn ledger_replicas(stack: &Stack, cluster: &str) -> (i64, i64) {
    let sts = kubectl_json(stack, cluster, &["get", "statefulset", "ledger", "-n", NS]);
    (sts["spec"]["replicas"].as_i64().unwrap_or(-1), sts["status"]["readyReplicas"].as_i64().unwrap_or(0))
}

/// EC2 as boto3 sees it: each volume's zone, state and snapshot, and each snapshot's volume.
fn ec2_by_boto3(stack: &Stack) -> Value {
    let script = r#"
import json, boto3
ec2 = boto3.client("ec2")
vols = {v["VolumeId"]: {"zone": v["AvailabilityZone"], "state": v["State"], "snapshot": v.get("SnapshotId", ""),
        "tags": {t["Key"]: t["Value"] for t in v.get("Tags", [])}} for v in ec2.describe_volumes()["Volumes"]}
snaps = {s["SnapshotId"]: {"volume": s["VolumeId"], "state": s["State"], "tags": {t["Key"]: t["Value"] for t in s.get("Tags", [])}}
         for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
print(json.dumps({"volumes": vols, "snapshots": snaps}))
"#;
    let out = std::process::Command::new(testkit::tools::python())
        .args(["-c", script])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ENDPOINT_URL", stack.moto.endpoint())
        .output()
        .expect("run boto3");
    assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("boto3's JSON")
}

async fn prepare(stack: &Stack, quiesce: bool, extra_checks: &str) -> (Upgrade, BTreeMap<String, String>) {
    let spec = PlanSpec {
        extra_releases: ledger_release(stack),
        spec_extra: data_spec(quiesce),
        steps: if quiesce { "[{weight: 100, bake: 1s}]".into() } else { String::new() },
        extra_checks: extra_checks.into(),
        // EBS volumes on EKS need the CSI driver add-on (green's static volumes too).
        addons: "[{name: vpc-cni}, {name: kube-proxy}, {name: coredns}, {name: aws-ebs-csi-driver}]",
        ..PlanSpec::default()
    };
    let up = stack.prepare_upgrade(spec).await;
    ebs_csi_on_blue(stack).await;
    let volumes = blue_with_ledger(stack).await;
    (up, volumes)
}

fn apply(stack: &Stack, up: &Upgrade) -> std::process::Output {
    stack.cutover(&["apply", up.plan_arg(), "--yes", "--plain"]).env("CUTOVER_TIME_SCALE", SCALE.to_string()).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_gives_each_green_replica_a_volume_made_from_a_snapshot_of_its_blue_volume() {
    let stack = Stack::start(SCALE).await;
    let (up, blue) = prepare(&stack, true, "").await;
    let plan = stack.run_cutover(&["plan", up.plan_arg()]);
    let plan_text = String::from_utf8_lossy(&plan.stdout);
    assert!(plan_text.contains("application-consistent") && plan_text.contains("data.snapshot"), "{plan_text}");

    // The gates through the binary: blue's claims are EBS in a zone green has. moto's Service
    // Quotas knows no EBS quota, so the quota check says it could not vouch, without refusing.
    let gates = stack.run_cutover(&["preflight", up.plan_arg(), "-o", "json"]);
    assert!(gates.status.success(), "{}", String::from_utf8_lossy(&gates.stderr));
    let gates: Value = serde_json::from_slice(&gates.stdout).unwrap();
    let data = gates["gates"].as_array().unwrap().iter().find(|g| g["gate"] == "data").expect("the data gate ran");
    let codes: Vec<(&str, &str)> = data["findings"].as_array().unwrap().iter().map(|f| (f["code"].as_str().unwrap(), f["severity"].as_str().unwrap())).collect();
    assert_eq!(codes, [("PRE-DATA-008", "warning")], "{data}");

    let out = apply(&stack, &up);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "apply: {stderr}");
    assert!(format!("{stdout}{stderr}").contains("quiesce downtime:"), "the downtime is reported: {stdout}{stderr}");

    let green = volumes_of(&stack, GREEN);
    let ec2 = ec2_by_boto3(&stack);
    for claim in CLAIMS {
        let vol = &ec2["volumes"][&green[claim]];
        let snap_id = vol["snapshot"].as_str().unwrap();
        assert!(snap_id.starts_with("snap-"), "green's {claim} comes from a snapshot: {vol}");
        let snap = &ec2["snapshots"][snap_id];
        assert_eq!(snap["volume"], blue[claim].as_str(), "the snapshot of blue's {claim}");
        assert_eq!(snap["tags"]["cutover.dev/claim"], format!("{NS}/{claim}"));
        assert_eq!(snap["tags"]["cutover.dev/plan"], ENV);
        assert_eq!(vol["tags"]["cutover.dev/plan"], ENV, "green's volume carries the run's ownership");
    }
    assert_eq!(ledger_replicas(&stack, GREEN), (2, 2), "green's ledger runs on the carried volumes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upgrade_deletes_what_it_made_and_blues_writers_run_again_on_their_own_volumes() {
    let stack = Stack::start(SCALE).await;
    // A check that cannot pass: the run fails in verify, after the data stage.
    let (up, blue) = prepare(&stack, true, "    - {name: impossible, nodesReady: {min: 99}, timeout: 2s}\n").await;
    let out = apply(&stack, &up);
    assert_eq!(out.status.code(), Some(4), "rolled back: {}", String::from_utf8_lossy(&out.stderr));

    assert_eq!(ledger_replicas(&stack, BLUE), (2, 2), "blue's writers are back, ready");
    assert_eq!(volumes_of(&stack, BLUE), blue, "on the very volumes they had");
    for claim in CLAIMS {
        let pvc = kubectl_json(&stack, BLUE, &["get", "pvc", claim, "-n", NS]);
        let pv = kubectl_json(&stack, BLUE, &["get", "pv", pvc["spec"]["volumeName"].as_str().unwrap()]);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Delete", "blue's reclaim policy is as it was");
    }
    let ec2 = ec2_by_boto3(&stack);
    let ours: Vec<&String> = ec2["volumes"].as_object().unwrap().iter().filter(|(_, v)| v["tags"]["cutover.dev/plan"] == ENV).map(|(k, _)| k).collect();
    assert!(ours.is_empty(), "green's volumes are deleted: {ours:?}");
    for id in blue.values() {
        // cloudsim does not attach volumes in EC2, so moto calls them available.
        assert_eq!(ec2["volumes"][id]["state"], "available", "blue's volume {id} is still there");
    }
    let kept = ec2["snapshots"].as_object().unwrap().values().filter(|s| s["tags"]["cutover.dev/plan"] == ENV).count();
    assert_eq!(kept, 2, "the run's snapshots are kept as backups");
}

fn drill_plan(stack: &Stack, name: &str, rpo: &str) -> std::path::PathBuf {
    let path = stack.dir.path().join(format!("{name}.yaml"));
    let plan = format!(
        r#"apiVersion: cutover.dev/v1
kind: Drill
metadata: {{name: {name}, owner: platform@example.com}}
spec:
  aws: {{region: {REGION}}}
  state: {{backend: local, path: .cutover}}
  green:
    cluster: {name}
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks-cluster
    subnets: [subnet-d6289388dc55347e2, subnet-b94dd1f189237c89c]
    addons: [{{name: vpc-cni}}, {{name: coredns}}, {{name: aws-ebs-csi-driver}}]
    nodegroups:
      - name: general
        instanceTypes: [m6i.large]
        scaling: {{min: 2, desired: 2, max: 3}}
        nodeRoleArn: arn:aws:iam::111122223333:role/eks-node
  helm: {{version: "3.19.0"}}
  releases:
{ledger}  checks:
    - {{name: ledger, workloadsReady: {{namespaces: [{NS}]}}, timeout: 1m}}
  data:
    mode: snapshot
    from: {ENV}
    claims: [{{namespace: {NS}, name: data-ledger-0}}, {{namespace: {NS}, name: data-ledger-1}}]
  rtoTarget: 1h
  rpoTarget: {rpo}
"#,
        ledger = ledger_release(stack)
    );
    std::fs::write(&path, plan).unwrap();
    path
}

fn drill(stack: &Stack, plan: &std::path::Path) -> (std::process::Output, Value) {
    let reports = stack.dir.path().join(format!("reports-{}", plan.file_stem().unwrap().to_string_lossy()));
    std::fs::create_dir_all(&reports).unwrap();
    let out = stack
        .cutover(&["drill", plan.to_str().unwrap(), "--yes", "--plain", "--report-dir", reports.to_str().unwrap(), "-o", "json"])
        .env("CUTOVER_TIME_SCALE", SCALE.to_string())
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (out, report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_the_newest_backup_and_one_from_a_stale_backup_misses_its_rpo() {
    let stack = Stack::start(SCALE).await;
    let (up, blue) = prepare(&stack, false, "").await;
    let backup = stack.run_cutover(&["backup", up.plan_arg(), "-o", "json"]);
    assert!(backup.status.success(), "backup: {}", String::from_utf8_lossy(&backup.stderr));
    let taken: Value = serde_json::from_slice(&backup.stdout).unwrap();
    assert_eq!(taken["cluster"], BLUE, "blue serves: no run completed yet");
    assert_eq!(taken["taken"].as_array().unwrap().len(), 2);

    let (out, report) = drill(&stack, &drill_plan(&stack, "shop-dr", "1h"));
    assert!(out.status.success(), "drill: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["verdict"], "pass");
    let ec2 = ec2_by_boto3(&stack);
    for v in report["volumes"].as_array().unwrap() {
        let snap = &ec2["snapshots"][v["snapshot"].as_str().unwrap()];
        let claim = v["claim"].as_str().unwrap().trim_start_matches("ledger/");
        assert_eq!(snap["volume"], blue[claim].as_str(), "restored from the backup of blue's {claim}");
        assert!(v["rpo_secs"].as_f64().unwrap() < 3600.0 && v["restore_secs"].as_f64().is_some(), "{v}");
    }
    assert_eq!(report["volumes"].as_array().unwrap().len(), 2);
    let left: Vec<&String> = ec2["volumes"].as_object().unwrap().iter().filter(|(_, v)| v["tags"]["cutover.dev/plan"] == "shop-dr").map(|(k, _)| k).collect();
    assert!(left.is_empty(), "the drill deleted the volumes it restored: {left:?}");

    // The same backup, a little later, against a target of one second.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let stale_plan = drill_plan(&stack, "shop-dr2", "1s");
    let (out, report) = drill(&stack, &stale_plan);
    // What the dashboard shows of it, judged from the journal alone: the RPO against its target.
    let records = support::stack::run::journal(&stack.dir.path().join(".cutover/shop-dr2/runs"));
    let judged = cutover::ops::drill::journaled_verdict(&cutover::plan::load(&stale_plan).unwrap(), &records).expect("a finished drill");
    assert_eq!(judged.verdict, cutover::drill::Verdict::MissedRpo);
    assert!(judged.rpo_secs.unwrap() > 1.0 && judged.rpo_target_secs == Some(1.0), "{judged:?}");
    assert_eq!(out.status.code(), Some(9), "missed RPO: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(report["verdict"], "missed-rpo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CUT-RPO-001") && stderr.contains("data-ledger-0"), "{stderr}");
    // The runbook's next command, run as printed, takes the fresh backup.
    let line = stderr.lines().map(str::trim).find(|l| l.starts_with("cutover backup ")).unwrap_or_else(|| panic!("a backup command: {stderr}"));
    assert_eq!(line, format!("cutover backup {}", up.plan_arg()), "the environment's own plan, found beside the drill's");
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let again = stack.run_cutover(&args);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_as_each_data_step_starts_then_resume_makes_each_snapshot_and_volume_once() {
    use support::stack::run::{journal, started};
    let stack = Stack::start(SCALE).await;
    let (up, blue) = prepare(&stack, true, "").await;
    let runs = up.runs_dir();
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    for (i, step) in ["data.retain-blue", "data.quiesce", "data.snapshot", "data.volumes", "data.claims"].iter().enumerate() {
        run.wait_until(&stack, &format!("{step} started"), || async { started(&journal(&runs), step).then_some(()) }).await;
        run.kill9();
        run = stack.spawn_cutover(&format!("resume-{i}"), &["resume", up.plan_arg(), "--yes"]);
    }
    run.finish(&stack).await.expect_code(0, "the last resume");

    let ec2 = ec2_by_boto3(&stack);
    let tagged = |kind: &str| ec2[kind].as_object().unwrap().values().filter(|v| v["tags"]["cutover.dev/plan"] == ENV).count();
    assert_eq!(tagged("snapshots"), 2, "one snapshot per claim, however often the run died");
    assert_eq!(tagged("volumes"), 2, "one green volume per claim");
    let green = volumes_of(&stack, GREEN);
    for claim in CLAIMS {
        let snap = ec2["volumes"][&green[claim]]["snapshot"].as_str().unwrap();
        assert_eq!(ec2["snapshots"][snap]["volume"], blue[claim].as_str());
    }
    assert_eq!(ledger_replicas(&stack, GREEN), (2, 2));
}
