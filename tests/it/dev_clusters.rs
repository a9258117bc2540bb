//! Dev clusters end to end on the stand-ins (cloudsim for EKS and Kubernetes, moto for STS):
//! `cutover dev up` twice at once from one plan, `list`, `extend`, `down`; and the reaper, which
//! deletes an expired dev cluster and nothing else.

use crate::support;

use std::process::Output;

use serde_json::Value;
use support::stack::{REGION, Stack};

const SCALE: f64 = 600.0;

fn dev_plan(stack: &Stack) -> std::path::PathBuf {
    let path = stack.dir.path().join("dev.yaml");
    let plan = format!(
        r#"apiVersion: cutover.dev/v1
kind: DevCluster
metadata: {{name: shop-dev, owner: shop-team@example.com}}
spec:
  aws: {{region: {REGION}}}
  state: {{backend: local, path: .cutover}}
  green:
    cluster: shop-dev
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

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn list(stack: &Stack) -> Vec<Value> {
    let out = cutover(stack, &["dev", "list", "-o", "json", "--region", REGION]);
    serde_json::from_str::<Value>(&ok(&out, "dev list")).unwrap().as_array().unwrap().clone()
}

async fn cluster_names(stack: &Stack) -> Vec<String> {
    let mut names = stack.eks().await.list_clusters().send().await.unwrap().clusters().to_vec();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_clusters_come_up_side_by_side_are_listed_extended_and_brought_down() {
    let stack = Stack::start(SCALE).await;
    let plan = dev_plan(&stack);
    let plan = plan.to_str().unwrap();

    // Two developers, one plan, at the same time: separate clusters, locks and journals.
    let spawn = |name: &str, owner: &str| {
        stack
            .cutover(&["dev", "up", plan, "--name", name, "--owner", owner, "--ttl", "8h", "--yes", "--plain"])
            .env("CUTOVER_TIME_SCALE", SCALE.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (ana, bo) = (spawn("ana-dev", "ana"), spawn("bo-dev", "bo"));
    let (ana, bo) = (ana.wait_with_output().unwrap(), bo.wait_with_output().unwrap());
    let ana_out = ok(&ana, "dev up ana-dev");
    ok(&bo, "dev up bo-dev");
    assert!(ana_out.contains("dev cluster ana-dev is ready"), "{ana_out}");
    assert!(ana_out.contains("cutover token --cluster ana-dev"), "{ana_out}");
    assert!(stack.dir.path().join("ana-dev.kubeconfig").exists(), "dev up writes a kubeconfig");
    let journals = stack.dir.path().join(".cutover");
    assert!(journals.join("ana-dev").is_dir() && journals.join("bo-dev").is_dir(), "one environment per dev cluster");

    // The release is on the cluster: helm through the written kubeconfig sees it.
    let helm = stack.helm(&stack.dir.path().join("ana-dev.kubeconfig"), &["list", "-A", "-o", "json"]);
    let releases: Value = serde_json::from_slice(&helm.stdout).unwrap();
    assert_eq!(releases[0]["name"], "ingress", "{}", String::from_utf8_lossy(&helm.stderr));

    let listed = list(&stack);
    assert_eq!(listed.len(), 2, "{listed:?}");
    let ana = &listed[0];
    assert_eq!((ana["name"].as_str(), ana["owner"].as_str()), (Some("ana-dev"), Some("ana")));
    assert_eq!(ana["nodes"], 2);
    assert_eq!(ana["instance_types"], serde_json::json!(["t3.large"]));
    let left = ana["expires_in_secs"].as_i64().unwrap();
    assert!((7 * 3600..=8 * 3600).contains(&left), "expires in about 8h: {left}s");
    let text = ok(&cutover(&stack, &["dev", "list", "--region", REGION]), "dev list");
    assert!(text.contains("ana-dev") && text.contains("bo-dev") && text.contains("t3.large"), "{text}");

    // Extend moves the expiry tag; asking for less than is left changes nothing.
    ok(&cutover(&stack, &["dev", "extend", "ana-dev", "--ttl", "48h", "--region", REGION]), "dev extend");
    let left = list(&stack)[0]["expires_in_secs"].as_i64().unwrap();
    assert!(left > 47 * 3600, "extended to about 48h: {left}s");
    let out = ok(&cutover(&stack, &["dev", "extend", "ana-dev", "--ttl", "1h", "--region", REGION]), "dev extend shorter");
    assert!(out.contains("unchanged"), "{out}");

    // Down deletes one, leaves the other, and leaks no load balancer.
    ok(&cutover(&stack, &["dev", "down", "ana-dev", "--yes", "--region", REGION]), "dev down");
    assert_eq!(cluster_names(&stack).await, ["bo-dev"]);
    ok(&cutover(&stack, &["dev", "down", "bo-dev", "--yes", "--region", REGION]), "dev down");
    assert!(cluster_names(&stack).await.is_empty());
    assert!(stack.events("lb-leaked").is_empty(), "a load balancer outlived its cluster");
}

/// A cluster made with the SDK, tagged as given, with a node group so deleting it needs the
/// safe order.
pub async fn make_cluster(stack: &Stack, name: &str, tags: &[(&str, &str)]) {
    let eks = stack.eks().await;
    let mut create = eks
        .create_cluster()
        .name(name)
        .version("1.32")
        .role_arn("arn:aws:iam::111122223333:role/eks-cluster")
        .resources_vpc_config(aws_sdk_eks::types::VpcConfigRequest::builder().subnet_ids("subnet-a").subnet_ids("subnet-b").build());
    for (k, v) in tags {
        create = create.tags(*k, *v);
    }
    create.send().await.expect("create cluster");
    stack
        .wait_for(&format!("{name} ACTIVE"), || async {
            let c = eks.describe_cluster().name(name).send().await.ok()?;
            (c.cluster()?.status()? == &aws_sdk_eks::types::ClusterStatus::Active).then_some(())
        })
        .await;
    eks.create_nodegroup()
        .cluster_name(name)
        .nodegroup_name("general")
        .node_role("arn:aws:iam::111122223333:role/eks-node")
        .subnets("subnet-a")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_deletes_expired_dev_clusters_and_nothing_else() {
    let stack = Stack::start(SCALE).await;
    let dev = |plan: &'static str, expires: &'static str| {
        [
            ("cutover.dev/kind", "dev"),
            ("cutover.dev/plan", plan),
            ("cutover.dev/run-id", "20260101T000000Z-abcd"),
            ("cutover.dev/owner", "ana"),
            ("cutover.dev/expires-at", expires),
        ]
    };
    make_cluster(&stack, "expired-dev", &dev("expired-dev", "2020-01-01T00:00:00Z")).await;
    make_cluster(&stack, "fresh-dev", &dev("fresh-dev", "2999-01-01T00:00:00Z")).await;
    // A green cluster of an upgrade: cutover's ownership tags, but no dev tag.
    make_cluster(&stack, "payments-1-32", &[("cutover.dev/plan", "payments-prod"), ("cutover.dev/run-id", "r1")]).await;
    // Someone else's cluster that merely claims to be a dev cluster.
    make_cluster(&stack, "not-ours", &[("cutover.dev/kind", "dev"), ("cutover.dev/expires-at", "2020-01-01T00:00:00Z")]).await;
    make_cluster(&stack, "untagged", &[]).await;
    let all = ["expired-dev", "fresh-dev", "not-ours", "payments-1-32", "untagged"];

    let out = ok(&cutover(&stack, &["dev", "reap", "--dry-run", "--region", REGION]), "dev reap --dry-run");
    assert!(out.contains("would delete expired-dev"), "{out}");
    assert_eq!(cluster_names(&stack).await, all, "a dry run deletes nothing");

    // A scheduled dry run tells a plan's sinks which clusters are about to go, and how to keep one.
    let hook = testkit::receiver::Receiver::start(testkit::receiver::Script::always(200, "ok"));
    let plan = dev_plan(&stack);
    let text = std::fs::read_to_string(&plan).unwrap();
    let with_sink = text.replace("  ttl: 8h\n", &format!("  ttl: 8h\n  notify: [{{name: owners, url: \"{}/hook\", format: json, events: [dev-expiring]}}]\n", hook.url()));
    std::fs::write(&plan, with_sink).unwrap();
    let args = ["dev", "reap", "--dry-run", "--region", REGION, "--notify", plan.to_str().unwrap()];
    ok(&cutover(&stack, &args), "dev reap --dry-run --notify");
    let told: Vec<serde_json::Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert_eq!(told.len(), 1, "one expired dev cluster: {told:?}");
    assert_eq!(told[0]["event"], "dev-expiring");
    assert!(told[0]["summary"].as_str().unwrap().contains("expired-dev"), "{}", told[0]);
    assert_eq!(told[0]["nextCommand"], format!("cutover dev extend expired-dev --ttl 8h --region {REGION}"));

    // down and reap refuse what is not a dev cluster, whatever its name.
    let refused = cutover(&stack, &["dev", "down", "payments-1-32", "--yes", "--region", REGION]);
    assert_eq!(refused.status.code(), Some(8), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a cutover dev cluster"));

    let out = ok(&cutover(&stack, &["dev", "reap", "--yes", "--region", REGION]), "dev reap");
    assert!(out.contains("deleted expired-dev"), "{out}");
    for kept in ["fresh-dev", "payments-1-32", "not-ours", "untagged"] {
        assert!(out.contains(&format!("kept {kept}")), "{kept} is reported as kept: {out}");
    }
    assert_eq!(cluster_names(&stack).await, ["fresh-dev", "not-ours", "payments-1-32", "untagged"]);
    let deleted: Vec<_> = stack.events("cluster-deleted").into_iter().filter_map(|e| e.cluster).collect();
    assert_eq!(deleted, ["expired-dev"]);
}
