//! The `ledger` chart fixture (`infra/charts/ledger`: a StatefulSet with a claim per replica, a
//! headless Service, a `gp3` class) through the real helm 3 and 4 and kubectl: `install --wait`
//! returns once every claim is bound and every replica ready, and times out when the claims cannot
//! bind (no EBS CSI add-on), as on EKS; `kubectl get pv,pvc,sc` prints kubectl's columns,
//! `kubectl describe pvc` the claim's Events, and `kubectl patch pv` changes a reclaim policy.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::kube_support::storage::*;
use crate::kube_support::*;
use crate::support::moto::Moto;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::Api;

fn chart() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/ledger")
}

fn helm(name: &str, kubeconfig: &Path, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(tool(name));
    c.args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"));
    c
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(tool("kubectl"));
    c.arg("--kubeconfig").arg(kubeconfig).args(args);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_wait_of_the_ledger_chart_returns_with_bound_claims_and_ready_replicas() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (kc, client) = cluster_with_nodes("helm-vol-c1", &env, true).await;
    // The chart makes its own gp3 class: drop the one the helper made.
    let classes: Api<k8s_openapi::api::storage::v1::StorageClass> = Api::all(client.clone());
    classes.delete("gp3", &Default::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &kc);
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let home = dir.path().join("helm");
    let ns_args = |ns: &'static str| ["-n", ns, "--create-namespace", "--wait", "--timeout", "60s"];
    let mut install = vec!["install", "ledger", chart, "--set", "storageClass.create=true"];
    install.extend(ns_args("books"));
    ok(helm("helm3", &kubeconfig, &home, &install)).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "books");
    let status = sets.get("ledger").await.unwrap().status.unwrap();
    assert_eq!(status.ready_replicas, Some(2), "helm 3's --wait returned before the replicas were ready");
    // helm 4 waits with kstatus (watches), on a release that uses the class helm 3's made.
    let mut install = vec!["install", "journal", chart, "--set", "replicas=1"];
    install.extend(ns_args("journal"));
    ok(helm("helm4", &kubeconfig, &home, &install)).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "journal");
    assert_eq!(sets.get("journal").await.unwrap().status.unwrap().ready_replicas, Some(1));

    let table = ok(kubectl(&kubeconfig, &["get", "pv,pvc", "-A"])).await;
    assert!(table.contains("CAPACITY") && table.contains("ACCESS MODES") && table.contains("RECLAIM POLICY"), "{table}");
    for claim in ["books/data-ledger-0", "books/data-ledger-1", "journal/data-journal-0"] {
        let row = table.lines().find(|l| l.contains(claim)).unwrap_or_else(|| panic!("no volume for {claim}:\n{table}"));
        assert!(row.contains("1Gi") && row.contains("RWO") && row.contains("Delete") && row.contains("Bound") && row.contains("gp3"), "{row}");
    }
    let claims = table.lines().filter(|l| l.contains("persistentvolumeclaim/")).count();
    assert_eq!(claims, 3, "{table}");
    let classes = ok(kubectl(&kubeconfig, &["get", "sc"])).await;
    assert!(classes.lines().any(|l| l.starts_with("gp2 (default)") && l.contains("kubernetes.io/aws-ebs") && l.contains("WaitForFirstConsumer")), "{classes}");
    assert!(classes.lines().any(|l| l.starts_with("gp3 ") && l.contains("ebs.csi.aws.com")), "{classes}");
    let described = ok(kubectl(&kubeconfig, &["describe", "pvc", "data-ledger-0", "-n", "books"])).await;
    assert!(described.contains("ProvisioningSucceeded") && described.contains("ExternalProvisioning"), "{described}");

    let pv = ok(kubectl(&kubeconfig, &["get", "pvc", "data-ledger-0", "-n", "books", "-o", "jsonpath={.spec.volumeName}"])).await;
    ok(kubectl(&kubeconfig, &["patch", "pv", &pv, "-p", r#"{"spec":{"persistentVolumeReclaimPolicy":"Retain"}}"#])).await;
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    assert_eq!(volumes.get(&pv).await.unwrap().spec.unwrap().persistent_volume_reclaim_policy.as_deref(), Some("Retain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_wait_times_out_when_the_claims_cannot_bind() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (kc, client) = cluster_with_nodes("helm-vol-c2", &env, false).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &kc);
    let chart = chart();
    let mut cmd = helm("helm3", &kubeconfig, &dir.path().join("helm"), &["install", "ledger", chart.to_str().unwrap(), "-n", "books", "--create-namespace", "--wait", "--timeout", "3s"]);
    let out = tokio::task::spawn_blocking(move || run(&mut cmd, Duration::from_secs(60))).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "helm --wait succeeded with claims that cannot bind");
    assert!(stderr.contains("context deadline exceeded") || stderr.contains("timed out"), "{stderr}");
    let why = event(&client, "books", "data-ledger-0", "ExternalProvisioning").await;
    assert!(why.contains("'ebs.csi.aws.com'"), "{why}");
}
