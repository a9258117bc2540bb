//! The proof of issue 5 against cloudsim with the real helm 3.19: charts installed by hand with
//! helm (one from the HTTP repository, one from OCI, one with a subchart) are captured with
//! `cutover capture`, the repository and registry are stopped, a plan taking its releases from the
//! lock file replays them onto a fresh cluster from the exported charts, and the manifests rendered
//! on both clusters are identical. Then `cutover drift` catches a manual `helm upgrade --set`, a
//! manual uninstall and an extra release; a corrupt release Secret is reported by name while
//! capture carries on; and no secret value reaches the lock file.

use crate::support;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cutover::providers::helm::{HelmConfig, HelmReleases};
use cutover::providers::kube::KubeClients;
use cutover::providers::{Ownership, ReleaseProvider};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::Value;
use support::stack::{ACCESS_KEY, REGION, SECRET_KEY, Stack};
use testkit::registry::OciRegistry;

const SECRET: &str = "hunter2-very-secret";

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An EKS cluster with one node group, and nothing installed.
async fn create_cluster(stack: &Stack, name: &str) {
    let eks = stack.eks().await;
    eks.create_cluster()
        .name(name)
        .version("1.32")
        .role_arn("arn:aws:iam::111122223333:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-a").subnet_ids("subnet-b").build(),
        )
        .send()
        .await
        .expect("create cluster");
    stack
        .wait_for(&format!("cluster {name} ACTIVE"), || async {
            let c = eks.describe_cluster().name(name).send().await.ok()?;
            (c.cluster()?.status()? == &aws_sdk_eks::types::ClusterStatus::Active).then_some(())
        })
        .await;
    eks.create_nodegroup()
        .cluster_name(name)
        .nodegroup_name("general")
        .node_role("arn:aws:iam::111122223333:role/eks-node")
        .subnets("subnet-a")
        .instance_types("m6i.large")
        .scaling_config(aws_sdk_eks::types::NodegroupScalingConfig::builder().min_size(2).desired_size(2).max_size(3).build())
        .send()
        .await
        .expect("create node group");
    stack
        .wait_for("node group ACTIVE", || async {
            let n = eks.describe_nodegroup().cluster_name(name).nodegroup_name("general").send().await.ok()?;
            (n.nodegroup()?.status()? == &aws_sdk_eks::types::NodegroupStatus::Active).then_some(())
        })
        .await;
}

fn helm_ok(stack: &Stack, kubeconfig: &Path, args: &[&str]) -> String {
    let out = stack.helm(kubeconfig, args);
    assert!(out.status.success(), "helm {args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// `helm get manifest` of every release, by `namespace/name`.
fn manifests(stack: &Stack, kubeconfig: &Path, releases: &[(&str, &str)]) -> BTreeMap<String, String> {
    releases
        .iter()
        .map(|(ns, name)| (format!("{ns}/{name}"), helm_ok(stack, kubeconfig, &["get", "manifest", name, "-n", ns])))
        .collect()
}

async fn kube_clients(stack: &Stack) -> Arc<KubeClients> {
    let config = stack.sdk(&stack.cloudsim_url).await;
    Arc::new(KubeClients::for_aws(&config, REGION).expect("kube clients"))
}

fn helm_config(stack: &Stack) -> HelmConfig {
    let home = stack.dir.path().join("replay-helm-home");
    let env: Vec<(OsString, OsString)> = vec![
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("HELM_CACHE_HOME".into(), home.join("cache").into()),
        ("HELM_CONFIG_HOME".into(), home.join("config").into()),
        ("HELM_DATA_HOME".into(), home.join("data").into()),
    ];
    HelmConfig {
        binary: testkit::tools::helm3(),
        version: "3.19.0".into(),
        cutover: PathBuf::from(env!("CARGO_BIN_EXE_cutover")),
        region: REGION.into(),
        work_dir: stack.dir.path().join("replay-run"),
        env,
        plain_http_registries: Vec::new(),
        secret_env: Default::default(),
    }
}

/// A release Secret whose `release` value is not gzip'd JSON.
async fn plant_corrupt_release(clients: &KubeClients, cluster: &str) {
    let api: Api<Secret> = Api::namespaced(clients.client(cluster).await.unwrap(), "apps");
    let labels = [("owner", "helm"), ("name", "broken"), ("status", "deployed"), ("version", "1")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("sh.helm.release.v1.broken.v1".into()),
            labels: Some(labels),
            ..Default::default()
        },
        type_: Some("helm.sh/release.v1".into()),
        data: Some([("release".to_string(), ByteString(b"H4sIAAAAthis-is-not-gzip".to_vec()))].into()),
        ..Default::default()
    };
    api.create(&PostParams::default(), &secret).await.expect("create the corrupt release Secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_releases_replay_identically_without_their_repositories_and_drift_is_caught() {
    let mut stack = Stack::start(600.0).await;
    // Blue, with ingress installed from the HTTP repository by hand (as a team would have).
    stack.create_blue("blue", "1.31").await;
    let blue_kc = stack.kubeconfig("blue");
    let registry = OciRegistry::start();
    let api = registry.push(&stack.charts.package("api", "2.4.1").path);
    helm_ok(&stack, &blue_kc, &[
        "install", "api", &api.reference, "--version", "2.4.1", "--plain-http", "-n", "apps", "--create-namespace",
        "--set", &format!("db.password={SECRET}"), "--set", "replicaCount=2", "--wait", "--timeout", "2m",
    ]);
    helm_ok(&stack, &blue_kc, &[
        "install", "worker", "worker", "--repo", stack.charts.url(), "--version", "0.3.0", "-n", "jobs",
        "--create-namespace", "--set", "concurrency=8", "--wait", "--timeout", "2m",
    ]);
    let clients = kube_clients(&stack).await;
    plant_corrupt_release(&clients, "blue").await;

    // Capture: the corrupt record is named and skipped, the rest pinned with exported charts.
    let out = stack.run_cutover(&["capture", "--cluster", "blue", "-o", "pins/releases.lock.yaml", "--export-charts", "pins/charts"]);
    assert_eq!(out.status.code(), Some(0), "capture: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("captured 3 release(s) from cluster blue"), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("sh.helm.release.v1.broken.v1"), "{}", text(&out.stderr));
    let lock_path = stack.dir.path().join("pins/releases.lock.yaml");
    let lock_text = std::fs::read_to_string(&lock_path).unwrap();
    assert!(!lock_text.contains(SECRET), "a secret value reached the lock file:\n{lock_text}");
    let lock: Value = serde_json::from_str(&lock_text).unwrap();
    let names: Vec<&str> = lock["releases"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "ingress", "worker"]);
    assert_eq!(lock["problems"][0]["secret"], "sh.helm.release.v1.broken.v1");
    let api_pin = &lock["releases"][0];
    assert_eq!(api_pin["chart"]["version"], "2.4.1");
    assert_eq!(api_pin["values"]["replicaCount"], 2);
    assert_eq!(api_pin["secretValues"][0]["key"], "db.password");
    assert_eq!(api_pin["secretValues"][0]["fromEnv"], "CUTOVER_SECRET_API_DB_PASSWORD");
    // The digest in the lock is the exported package's.
    for r in lock["releases"].as_array().unwrap() {
        let pkg = lock_path.parent().unwrap().join(r["chart"]["path"].as_str().unwrap());
        assert_eq!(testkit::charts::sha256_digest(&pkg), r["chart"]["digest"].as_str().unwrap());
    }

    // The original sources disappear.
    stack.charts.stop();
    drop(registry);

    // A plan refuses a lock with unpinned releases until someone decides about them.
    let plan_path = stack.dir.path().join("pins/rebuild.yaml");
    let plan_yaml = "apiVersion: cutover.dev/v1\nkind: Drill\nmetadata: {name: rebuild, owner: platform@example.com}\nspec:\n  aws: {region: us-east-1}\n  state: {backend: local, path: state}\n  green:\n    cluster: green\n    version: \"1.32\"\n    roleArn: arn:aws:iam::111122223333:role/eks-cluster\n    subnets: [subnet-a, subnet-b]\n    nodegroups:\n      - {name: general, instanceTypes: [m6i.large], scaling: {min: 2, desired: 2, max: 3}, nodeRoleArn: arn:aws:iam::111122223333:role/eks-node}\n  helm: {version: \"3.19.0\"}\n  releases: {lock: releases.lock.yaml}\n  rtoTarget: 45m\n";
    std::fs::write(&plan_path, plan_yaml).unwrap();
    let refused = cutover::plan::load(&plan_path).unwrap_err().to_string();
    assert!(refused.contains("releases.lock.yaml:") && refused.contains("release apps/broken was not pinned"), "{refused}");
    let mut edited = lock.clone();
    edited["problems"] = Value::Array(vec![]);
    std::fs::write(&lock_path, serde_json::to_string_pretty(&edited).unwrap()).unwrap();
    let plan = cutover::plan::load(&plan_path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plan.releases.len(), 3);

    // Replay onto a fresh cluster through the helm release provider, as the engine's step does.
    create_cluster(&stack, "green").await;
    let mut config = helm_config(&stack);
    config.secret_env.insert("CUTOVER_SECRET_API_DB_PASSWORD".into(), SECRET.into());
    let helm = HelmReleases::new(config, clients.clone()).expect("helm provider");
    let own = Ownership { run_id: "r1".into(), plan: "rebuild".into() };
    for r in &plan.releases {
        helm.verify_chart(r).await.unwrap_or_else(|e| panic!("verify {}: {e}", r.name));
        helm.install("green", r, &own).await.unwrap_or_else(|e| panic!("install {}: {e}", r.name));
    }
    let green_kc = stack.kubeconfig("green");
    let all = [("apps", "api"), ("ingress", "ingress"), ("jobs", "worker")];
    let (on_blue, on_green) = (manifests(&stack, &blue_kc, &all), manifests(&stack, &green_kc, &all));
    assert!(on_blue["jobs/worker"].contains("# Source: worker/charts/queue/"), "the subchart rendered on blue");
    assert_eq!(on_blue, on_green, "green renders exactly what blue runs");
    let values = helm_ok(&stack, &green_kc, &["get", "values", "api", "-n", "apps", "-o", "json"]);
    assert!(values.contains(SECRET), "the secret was resolved at install time: {values}");

    // Green matches the pins...
    let out = stack.run_cutover(&["drift", "--cluster", "green", "--against", "pins/releases.lock.yaml"]);
    assert_eq!(out.status.code(), Some(0), "drift: {}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("no drift: the 3 release(s) on cluster green match"), "{}", text(&out.stdout));

    // ...until someone changes it by hand.
    let worker_pkg = lock_path.parent().unwrap().join(lock["releases"][2]["chart"]["path"].as_str().unwrap());
    let ingress_pkg = lock_path.parent().unwrap().join(lock["releases"][1]["chart"]["path"].as_str().unwrap());
    helm_ok(&stack, &green_kc, &[
        "upgrade", "worker", worker_pkg.to_str().unwrap(), "-n", "jobs", "--set", "concurrency=16",
        "--wait", "--timeout", "2m",
    ]);
    helm_ok(&stack, &green_kc, &["uninstall", "api", "-n", "apps", "--wait"]);
    helm_ok(&stack, &green_kc, &[
        "install", "edge", ingress_pkg.to_str().unwrap(), "-n", "edge", "--create-namespace", "--wait", "--timeout", "2m",
    ]);
    let out = stack.run_cutover(&["drift", "--cluster", "green", "--against", "pins/releases.lock.yaml", "-o", "json"]);
    assert_eq!(out.status.code(), Some(8), "drift exits 8: {}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let drifted: BTreeMap<&str, &Value> = report["drifted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["release"].as_str().unwrap(), &d["differences"][0]))
        .collect();
    assert_eq!(drifted.len(), 3, "{report:#}");
    assert_eq!(drifted["apps/api"]["kind"], "missing");
    assert_eq!(drifted["edge/edge"]["kind"], "extra");
    assert_eq!(drifted["jobs/worker"]["kind"], "values", "{report:#}");
    assert_eq!(
        drifted["jobs/worker"]["changes"],
        serde_json::json!([{"path": "concurrency", "pinned": 8, "live": 16}])
    );
    assert_eq!(report["in_sync"], serde_json::json!(["ingress/ingress"]));
    // As text, the stop code and the commands to go on; the one it gives runs (and finds the same).
    let out = stack.run_cutover(&["drift", "--cluster", "green", "--region", "us-east-1", "--against", "pins/releases.lock.yaml"]);
    let said = text(&out.stdout);
    assert!(said.contains("CUT-DRIFT-001"), "{said}");
    let again = said.lines().map(str::trim).find(|l| l.starts_with("cutover drift")).expect("a drift command");
    let words: Vec<&str> = again.split_whitespace().skip(1).collect();
    assert_eq!(stack.run_cutover(&words).status.code(), Some(8), "{again}");
    let out = stack.run_cutover(&["drift", "--cluster", "green", "--against", "pins/releases.lock.yaml"]);
    let shown = text(&out.stdout);
    assert!(shown.contains("jobs/worker  values:\n      concurrency: 8 → 16"), "{shown}");
    assert!(shown.contains("apps/api  missing: pinned api 2.4.1, not installed"), "{shown}");
}
