//! The health provider against cloudsim clusters: nodesReady, workloadsReady, releasesDeployed,
//! http (through green's load balancer with the production Host, before DNS exists; 5xx faults;
//! the latency budget) and command checks — each passing and failing for the right reason, with
//! the reason in one line.

use crate::kube_support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cloudsim::profile::Latencies;
use cutover::plan::{Check, Plan, Release};
use cutover::providers::health::ClusterHealth;
use cutover::providers::{
    CheckOutcome, CheckTarget, HealthProvider, Ownership, ProviderError, ReleaseInfo,
    ReleaseProvider, ReleaseStatus,
};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, DeleteParams, PostParams};
use kube_support::*;
use serde_json::json;

const GREEN: &str = "green";
const BLUE: &str = "blue";

fn plan_yaml(dir: &Path) -> String {
    let chart = Path::new(env!("CARGO_MANIFEST_DIR")).join("infra/charts");
    std::fs::write(
        dir.join("smoke.sh"),
        "#!/bin/sh\necho checking\nexit \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.join("smoke.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    format!(
        r#"apiVersion: cutover.dev/v1
kind: Upgrade
metadata: {{name: shop-prod, owner: platform@example.com}}
spec:
  aws: {{region: us-east-1}}
  state: {{backend: local, path: .cutover}}
  blue: {{cluster: {BLUE}}}
  green:
    cluster: {GREEN}
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks-cluster
    subnets: [subnet-aaa, subnet-bbb]
    nodegroups:
      - {{name: general, instanceTypes: [m6i.large], scaling: {{min: 2, desired: 2, max: 3}}, nodeRoleArn: arn:aws:iam::111122223333:role/eks-node}}
  helm: {{version: "3.19.0"}}
  releases:
    - {{name: web, namespace: shop, chart: {{path: {web}, version: 1.0.0}}}}
    - {{name: api, namespace: shop, chart: {{path: {api}, version: 2.4.1}}}}
  checks:
    - {{name: nodes, nodesReady: {{min: 2}}}}
    - {{name: workloads, workloadsReady: {{namespaces: [shop]}}}}
    - {{name: releases, releasesDeployed: {{}}}}
    - name: smoke
      http:
        url: http://api.example.test:8080/healthz
        bodyContains: '"host":"api.example.test:8080"'
        latencyBudget: 250ms
    - name: smoke-blue
      http: {{url: "http://api.example.test:8080/healthz", via: blue}}
    - {{name: script-ok, command: {{run: [./smoke.sh, "3"], expectExit: 3}}}}
    - {{name: script-fails, command: {{run: [./smoke.sh, "3"]}}}}
    - {{name: script-hangs, command: {{run: [sleep, "30"]}}, timeout: 1s}}
  traffic:
    zoneId: Z0123456789
    records:
      - {{name: api.example.test, type: CNAME, ttl: 60, blue: {{service: shop/web}}, green: {{service: shop/web}}}}
    steps: [{{weight: 100, bake: 1m}}]
    gates: [smoke]
"#,
        web = chart.join("web-1.0.0").display(),
        api = chart.join("api").display(),
    )
}

/// Release states set by the test.
#[derive(Default)]
struct FakeReleases(Mutex<HashMap<String, ReleaseInfo>>);

impl FakeReleases {
    fn set(&self, name: &str, status: ReleaseStatus, version: &str, revision: u32) {
        self.0.lock().unwrap().insert(
            name.into(),
            ReleaseInfo {
                name: name.into(),
                namespace: "shop".into(),
                revision,
                status,
                chart_version: version.into(),
                run_id: None,
            },
        );
    }
}

#[async_trait]
impl ReleaseProvider for FakeReleases {
    async fn verify_chart(&self, _: &Release) -> Result<(), ProviderError> {
        unreachable!("checks never verify charts")
    }
    async fn status(
        &self,
        _: &str,
        name: &str,
        _: &str,
    ) -> Result<Option<ReleaseInfo>, ProviderError> {
        Ok(self.0.lock().unwrap().get(name).cloned())
    }
    async fn install(
        &self,
        _: &str,
        _: &Release,
        _: &Ownership,
    ) -> Result<ReleaseInfo, ProviderError> {
        unreachable!("checks never install")
    }
    async fn render(&self, _: &Release, _: &str) -> Result<String, ProviderError> {
        unreachable!("checks never render")
    }
    async fn uninstall(&self, _: &str, _: &str, _: &str) -> Result<(), ProviderError> {
        unreachable!("checks never uninstall")
    }
}

struct World {
    sim: Sim,
    plan: Arc<Plan>,
    health: ClusterHealth,
    releases: Arc<FakeReleases>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(nodes: u32, latencies: Latencies) -> World {
        let dir = tempfile::tempdir().unwrap();
        let plan = plan(dir.path(), &plan_yaml(dir.path()));
        let sim = Sim::start(&[(GREEN, "1.32"), (BLUE, "1.31")], nodes, latencies).await;
        let releases = Arc::new(FakeReleases::default());
        let health = ClusterHealth::new(plan.clone(), sim.clients.clone(), releases.clone());
        World {
            sim,
            plan,
            health,
            releases,
            _dir: dir,
        }
    }

    fn check(&self, name: &str) -> &Check {
        self.plan.checks.iter().find(|c| c.name == name).unwrap()
    }

    async fn run_on(&self, cluster: &str, name: &str) -> CheckOutcome {
        let target = CheckTarget {
            green_cluster: cluster.into(),
            blue_cluster: Some(BLUE.into()),
            plan: "payments-prod".into(),
            run_id: "run".into(),
            step: "verify.check.x".into(),
            weight: None,
        };
        self.health
            .check(&target, self.check(name))
            .await
            .unwrap_or_else(|e| panic!("check {name} errored: {e}"))
    }

    async fn run(&self, name: &str) -> CheckOutcome {
        self.run_on(GREEN, name).await
    }

    async fn until(&self, name: &str, passed: bool) -> CheckOutcome {
        eventually(
            &format!("check {name} to pass={passed}"),
            Duration::from_secs(10),
            async || {
                let o = self.run(name).await;
                (o.passed == passed).then_some(o)
            },
        )
        .await
    }
}

async fn namespace(client: &kube::Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await;
}

async fn deployment(
    client: &kube::Client,
    name: &str,
    replicas: i32,
    annotations: serde_json::Value,
) {
    let api: Api<Deployment> = Api::namespaced(client.clone(), "shop");
    let d = serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "web"}]}}}})).unwrap();
    api.create(&PostParams::default(), &d).await.unwrap();
}

async fn lb_service(client: &kube::Client, name: &str) {
    let api: Api<Service> = Api::namespaced(client.clone(), "shop");
    let s = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": 8080}]}}))
    .unwrap();
    api.create(&PostParams::default(), &s).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ready_counts_ready_nodes_at_greens_version() {
    let w = World::start(
        0,
        Latencies {
            node_ready_secs: 1500.0,
            ..Default::default()
        },
    )
    .await;
    let none = w.run("nodes").await;
    assert!(!none.passed);
    assert_eq!(
        none.detail,
        "0 nodes Ready at 1.32, need 2; the cluster has no nodes yet"
    );

    w.sim
        .cluster(GREEN)
        .sync_nodegroup(&nodegroup("general", 2));
    let booting = w.run("nodes").await;
    assert!(!booting.passed);
    assert!(
        booting
            .detail
            .starts_with("0 nodes Ready at 1.32, need 2: node "),
        "{}",
        booting.detail
    );
    assert!(
        booting.detail.contains("is not Ready (KubeletNotReady)"),
        "{}",
        booting.detail
    );

    let ready = w.until("nodes", true).await;
    assert_eq!(ready.detail, "2 of 2 nodes Ready at 1.32 (need 2)");

    // Blue's nodes are Ready but run the old kubelet: they do not count for green's version.
    w.sim.cluster(BLUE).sync_nodegroup(&nodegroup("general", 3));
    let old = eventually("blue's nodes Ready", Duration::from_secs(10), async || {
        let o = w.run_on(BLUE, "nodes").await;
        o.detail.contains("v1.31").then_some(o)
    })
    .await;
    assert!(!old.passed);
    assert!(
        old.detail
            .contains("runs kubelet \"v1.31.5-eks-cloudsim\", not 1.32"),
        "{}",
        old.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_ready_names_the_workload_that_is_not_and_why() {
    let w = World::start(2, Latencies::default()).await;
    let client = w.sim.client(GREEN).await;
    namespace(&client, "shop").await;
    deployment(&client, "web", 2, json!({})).await;
    let sts: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"replicas": 1, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}}, "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "pg"}]}}}})).unwrap();
    Api::<StatefulSet>::namespaced(client.clone(), "shop")
        .create(&PostParams::default(), &sts)
        .await
        .unwrap();
    let ok = w.until("workloads", true).await;
    assert_eq!(ok.detail, "2 workloads ready in shop");

    deployment(
        &client,
        "stuck",
        1,
        json!({"cloudsim.dev/fault": "never-ready"}),
    )
    .await;
    let stuck = w.until("workloads", false).await;
    assert!(
        stuck
            .detail
            .starts_with("1 of 3 workloads not ready: deployment shop/stuck: "),
        "{}",
        stuck.detail
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let still = w.run("workloads").await;
    assert_eq!(
        still.detail,
        "1 of 3 workloads not ready: deployment shop/stuck: 0 of 1 replicas available"
    );

    Api::<Deployment>::namespaced(client.clone(), "shop")
        .delete("stuck", &DeleteParams::default())
        .await
        .unwrap();
    w.until("workloads", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probes_reach_greens_load_balancer_with_the_production_host() {
    let w = World::start(
        2,
        Latencies {
            lb_provision_secs: 300.0,
            ..Default::default()
        },
    )
    .await;
    let client = w.sim.client(GREEN).await;
    namespace(&client, "shop").await;
    deployment(&client, "web", 1, json!({})).await;
    lb_service(&client, "web").await;

    let early = w.run("smoke").await;
    assert!(!early.passed);
    assert_eq!(
        early.detail,
        "service shop/web on green cluster green has no load balancer address yet"
    );

    // api.example.test has no DNS at all: passing proves the request went to the load balancer,
    // and the body echoes the Host header it was sent with.
    let ok = w.until("smoke", true).await;
    let lb = w.sim.cluster(GREEN).load_balancers().pop().unwrap();
    assert!(
        ok.detail.starts_with(&format!(
            "GET http://api.example.test:8080/healthz via green load balancer {}: 200 in ",
            lb.hostname
        )),
        "{}",
        ok.detail
    );

    // Every answer a 5xx.
    w.sim
        .env
        .faults
        .write()
        .unwrap()
        .lb_error_rate
        .insert(format!("{GREEN}/shop/web"), 1.0);
    let failing = w.run("smoke").await;
    assert!(!failing.passed);
    assert!(
        (500..600).any(|c| failing.detail.contains(&format!(": {c} (expected 200)"))),
        "{}",
        failing.detail
    );
    w.sim.env.faults.write().unwrap().lb_error_rate.clear();
    w.until("smoke", true).await;

    // Slower than the 250 ms budget.
    w.sim.env.faults.write().unwrap().lb_latency_ms = 600;
    let slow = w.run("smoke").await;
    assert!(!slow.passed);
    assert!(
        slow.detail.ends_with("no answer within 250 ms"),
        "{}",
        slow.detail
    );
    w.sim.env.faults.write().unwrap().lb_latency_ms = 0;
    w.until("smoke", true).await;

    // `via: blue` goes to the load balancer of blue's side of the same record, on blue's cluster.
    let blue_err = w
        .health
        .check(
            &CheckTarget {
                green_cluster: GREEN.into(),
                blue_cluster: Some(BLUE.into()),
                plan: "payments-prod".into(),
                run_id: "run".into(),
                step: "verify.check.x".into(),
                weight: None,
            },
            w.check("smoke-blue"),
        )
        .await
        .unwrap_err();
    assert!(
        blue_err
            .message
            .contains("service shop/web does not exist on cluster blue"),
        "{}",
        blue_err.message
    );
    let blue = w.sim.client(BLUE).await;
    namespace(&blue, "shop").await;
    deployment(&blue, "web", 1, json!({})).await;
    lb_service(&blue, "web").await;
    let via_blue = eventually(
        "blue's load balancer answers",
        Duration::from_secs(10),
        async || {
            let o = w.run("smoke-blue").await;
            o.passed.then_some(o)
        },
    )
    .await;
    let blue_lb = w.sim.cluster(BLUE).load_balancers().pop().unwrap();
    assert!(
        via_blue
            .detail
            .contains(&format!("via blue load balancer {}: 200", blue_lb.hostname)),
        "{}",
        via_blue.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_deployed_needs_every_plan_release_deployed_at_its_version() {
    let w = World::start(0, Latencies::default()).await;
    let none = w.run("releases").await;
    assert_eq!(
        none.detail,
        "2 of 2 releases not deployed on green: web is not installed; api is not installed"
    );
    w.releases.set("web", ReleaseStatus::Deployed, "1.0.0", 1);
    w.releases
        .set("api", ReleaseStatus::PendingUpgrade, "2.4.1", 3);
    let pending = w.run("releases").await;
    assert_eq!(
        pending.detail,
        "1 of 2 releases not deployed on green: api is pending-upgrade (revision 3)"
    );
    w.releases.set("api", ReleaseStatus::Deployed, "2.4.0", 4);
    let stale = w.run("releases").await;
    assert_eq!(
        stale.detail,
        "1 of 2 releases not deployed on green: api runs chart version 2.4.0, the plan pins 2.4.1"
    );
    w.releases.set("api", ReleaseStatus::Deployed, "2.4.1", 5);
    let ok = w.run("releases").await;
    assert!(ok.passed, "{}", ok.detail);
    assert_eq!(ok.detail, "2 releases deployed on green");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_checks_pass_on_the_expected_exit_code_and_are_bounded() {
    let w = World::start(0, Latencies::default()).await;
    let ok = w.run("script-ok").await;
    assert!(ok.passed, "{}", ok.detail);
    assert_eq!(ok.detail, "./smoke.sh exited 3");
    let bad = w.run("script-fails").await;
    assert!(!bad.passed);
    assert_eq!(
        bad.detail,
        "./smoke.sh exited 3 (expected 0); its output is in the run log"
    );
    let started = std::time::Instant::now();
    let hung = w.run("script-hangs").await;
    assert!(!hung.passed);
    assert_eq!(
        hung.detail,
        "sleep did not finish within 1 s and was stopped"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}
