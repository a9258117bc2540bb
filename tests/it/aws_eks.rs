//! The EKS provider against cloudsim (in process, time sped up 600×: a 9-minute cluster takes
//! 0.9 s): create with the plan's settings and ownership tags, adopt on resume, refuse a cluster
//! someone else made, node groups, add-ons, access entries, teardown order, FAILED resources
//! named with their health issues, throttling, and the plan's bound on every wait.

use crate::aws_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eks::types::{AccessScopeType, AuthenticationMode as SdkAuth, CapacityTypes};
use cloudsim::eks::kube_backend::KubeBackend;
use cutover::plan::*;
use cutover::providers::aws::eks::EksClusters;
use cutover::providers::aws::poll::PollConfig;
use cutover::providers::{
    ClusterProvider, ClusterStatus, ErrorKind, Ownership, TAG_PLAN, TAG_RUN_ID,
};

const SCALE: f64 = 600.0;

struct Sim {
    server: cloudsim::RunningServer,
    sdk: aws_sdk_eks::Client,
    eks: EksClusters,
}

impl Sim {
    async fn start() -> Sim {
        Sim::with_timeouts(Timeouts::default()).await
    }

    async fn with_timeouts(timeouts: Timeouts) -> Sim {
        let mut cfg = cloudsim::Config::new(Arc::new(KubeBackend));
        cfg.time_scale = SCALE;
        let server = cloudsim::Server::start(cfg).await.expect("cloudsim starts");
        let config = aws_common::sdk_config(&server.url()).await;
        let eks = EksClusters::new(&config, &timeouts).with_poll(PollConfig::scaled(SCALE));
        Sim {
            sdk: aws_sdk_eks::Client::new(&config),
            server,
            eks,
        }
    }

    /// Kinds of cloudsim's events about `cluster`, in order.
    fn events(&self, cluster: &str) -> Vec<String> {
        self.server
            .env()
            .events
            .snapshot()
            .into_iter()
            .filter(|e| e.cluster.as_deref() == Some(cluster))
            .map(|e| e.kind)
            .collect()
    }

    fn count(&self, cluster: &str, kind: &str) -> usize {
        self.events(cluster).iter().filter(|k| *k == kind).count()
    }

    fn faults(&self, change: impl FnOnce(&mut cloudsim::faults::Faults)) {
        change(&mut self.server.env().faults.write().unwrap());
    }
}

fn own() -> Ownership {
    Ownership {
        run_id: "20260301T090000Z-ab12".into(),
        plan: "payments-prod".into(),
    }
}

fn spec(name: &str) -> ClusterSpec {
    ClusterSpec {
        name: name.into(),
        version: KubeVersion {
            major: 1,
            minor: 32,
        },
        role_arn: "arn:aws:iam::111122223333:role/eks-cluster".into(),
        subnets: vec!["subnet-aaa".into(), "subnet-bbb".into()],
        security_groups: vec!["sg-123".into()],
        endpoint: EndpointAccess {
            public: true,
            private: true,
            public_cidrs: vec!["203.0.113.0/24".into()],
        },
        authentication_mode: AuthenticationMode::Api,
        addons: vec![],
        nodegroups: vec![],
        access: vec![],
        tags: BTreeMap::from([("team".to_string(), "platform".to_string())]),
        identity: Default::default(),
    }
}

fn nodegroup(name: &str) -> NodeGroup {
    NodeGroup {
        name: name.into(),
        instance_types: vec!["m6i.large".into()],
        scaling: Scaling {
            min: 2,
            desired: 3,
            max: 5,
        },
        labels: BTreeMap::from([("role".to_string(), "general".to_string())]),
        taints: vec![Taint {
            key: "dedicated".into(),
            value: Some("payments".into()),
            effect: TaintEffect::NoSchedule,
        }],
        node_role_arn: "arn:aws:iam::111122223333:role/eks-node".into(),
        subnets: vec!["subnet-aaa".into(), "subnet-bbb".into()],
        capacity_type: CapacityType::Spot,
        disk_size_gib: Some(50),
    }
}

fn addon(name: &str, version: Option<&str>) -> Addon {
    Addon {
        name: name.into(),
        version: version.map(str::to_string),
        ..Addon::default()
    }
}

#[tokio::test]
async fn creates_the_cluster_as_planned_tagged_and_reachable() {
    let sim = Sim::start().await;
    let info = sim
        .eks
        .create_cluster(&spec("green"), &own(), "tok-create")
        .await
        .unwrap();
    assert_eq!(info.status, ClusterStatus::Active);
    assert_eq!(info.version.as_deref(), Some("1.32"));
    assert_eq!(
        info.tags.get(TAG_RUN_ID).map(String::as_str),
        Some(own().run_id.as_str())
    );
    assert_eq!(
        info.tags.get(TAG_PLAN).map(String::as_str),
        Some("payments-prod")
    );
    assert_eq!(
        info.tags.get("team").map(String::as_str),
        Some("platform"),
        "the plan's tags are kept"
    );

    let raw = sim
        .sdk
        .describe_cluster()
        .name("green")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(
        raw.role_arn.as_deref(),
        Some("arn:aws:iam::111122223333:role/eks-cluster")
    );
    assert_eq!(raw.client_request_token.as_deref(), Some("tok-create"));
    let vpc = raw.resources_vpc_config.unwrap();
    assert_eq!(vpc.subnet_ids.unwrap(), ["subnet-aaa", "subnet-bbb"]);
    assert_eq!(
        raw.access_config.unwrap().authentication_mode,
        Some(SdkAuth::Api)
    );

    let access = sim.eks.cluster_access("green").await.unwrap();
    assert_eq!(Some(access.endpoint.as_str()), info.endpoint.as_deref());
    assert!(
        access.endpoint.starts_with("https://127.0.0.1:"),
        "{}",
        access.endpoint
    );
    assert!(!access.ca_data.is_empty());
    assert_eq!(access.region, aws_common::REGION);
    assert_eq!(sim.eks.describe_cluster("absent").await.unwrap(), None);
}

#[tokio::test]
async fn a_resumed_run_adopts_its_cluster_instead_of_making_a_second() {
    let sim = Sim::start().await;
    // The first attempt dies while the cluster is CREATING (the engine drops the future).
    let first = tokio::time::timeout(
        Duration::from_millis(100),
        sim.eks.create_cluster(&spec("green"), &own(), "tok"),
    )
    .await;
    assert!(first.is_err(), "still creating after 100 ms");
    let info = sim
        .eks
        .create_cluster(&spec("green"), &own(), "tok")
        .await
        .unwrap();
    assert_eq!(info.status, ClusterStatus::Active);
    let again = sim
        .eks
        .create_cluster(&spec("green"), &own(), "tok")
        .await
        .unwrap();
    assert_eq!(again.endpoint, info.endpoint);
    assert_eq!(
        sim.count("green", "cluster-creating"),
        1,
        "{:?}",
        sim.events("green")
    );
}

#[tokio::test]
async fn a_cluster_cutover_did_not_create_is_refused_not_adopted() {
    let sim = Sim::start().await;
    sim.sdk
        .create_cluster()
        .name("theirs")
        .version("1.32")
        .role_arn("arn:aws:iam::111122223333:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-a")
                .subnet_ids("subnet-b")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = sim
        .eks
        .create_cluster(&spec("theirs"), &own(), "tok")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(
        err.message.contains("not created by this plan")
            && err.message.contains("no cutover ownership tags"),
        "{}",
        err.message
    );

    // Made by another run of the same plan: not ours either.
    sim.eks
        .create_cluster(&spec("other-run"), &own(), "tok-1")
        .await
        .unwrap();
    let other = Ownership {
        run_id: "20260302T090000Z-cd34".into(),
        ..own()
    };
    let err = sim
        .eks
        .create_cluster(&spec("other-run"), &other, "tok-2")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(
        err.message.contains("run 20260301T090000Z-ab12"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn node_groups_and_add_ons_are_created_once_with_the_plans_settings() {
    let sim = Sim::start().await;
    sim.eks
        .create_cluster(&spec("green"), &own(), "tok")
        .await
        .unwrap();
    let ng = nodegroup("general");
    for _ in 0..2 {
        sim.eks
            .ensure_nodegroup("green", &ng, &own(), "tok-ng")
            .await
            .unwrap();
        sim.eks
            .ensure_addon("green", &addon("vpc-cni", None), &own(), "tok-cni")
            .await
            .unwrap();
    }
    assert_eq!(sim.count("green", "nodegroup-creating"), 1);
    assert_eq!(sim.count("green", "addon-creating"), 1);

    let raw = sim
        .sdk
        .describe_nodegroup()
        .cluster_name("green")
        .nodegroup_name("general")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    let scaling = raw.scaling_config.unwrap();
    assert_eq!(
        (scaling.min_size, scaling.desired_size, scaling.max_size),
        (Some(2), Some(3), Some(5))
    );
    assert_eq!(raw.instance_types.unwrap(), ["m6i.large"]);
    assert_eq!(raw.capacity_type, Some(CapacityTypes::Spot));
    assert_eq!(raw.disk_size, Some(50));
    assert_eq!(
        raw.node_role.as_deref(),
        Some("arn:aws:iam::111122223333:role/eks-node")
    );
    assert_eq!(
        raw.labels.unwrap().get("role").map(String::as_str),
        Some("general")
    );
    let taint = &raw.taints.unwrap()[0];
    assert_eq!(
        (taint.key.as_deref(), taint.value.as_deref()),
        (Some("dedicated"), Some("payments"))
    );
    assert_eq!(raw.tags.unwrap().get(TAG_RUN_ID), Some(&own().run_id));

    let catalog_default = sim
        .sdk
        .describe_addon()
        .cluster_name("green")
        .addon_name("vpc-cni")
        .send()
        .await
        .unwrap()
        .addon
        .unwrap();
    assert!(
        catalog_default.addon_version.is_some(),
        "EKS picks a version when the plan gives none"
    );
    let pinned = catalog_default.addon_version.clone().unwrap();
    sim.eks
        .ensure_addon("green", &addon("kube-proxy", None), &own(), "tok-kp")
        .await
        .unwrap();
    sim.eks.delete_addon("green", "vpc-cni").await.unwrap();
    sim.eks
        .ensure_addon(
            "green",
            &addon("vpc-cni", Some(&pinned)),
            &own(),
            "tok-cni-2",
        )
        .await
        .unwrap();
    let raw = sim
        .sdk
        .describe_addon()
        .cluster_name("green")
        .addon_name("vpc-cni")
        .send()
        .await
        .unwrap()
        .addon
        .unwrap();
    assert_eq!(raw.addon_version.as_deref(), Some(pinned.as_str()));

    let err = sim
        .eks
        .ensure_addon("green", &addon("no-such-addon", None), &own(), "tok-x")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert!(
        err.message
            .contains("install add-on no-such-addon on green"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn access_entries_get_their_policies_once_and_go_away_on_delete() {
    let sim = Sim::start().await;
    sim.eks
        .create_cluster(&spec("green"), &own(), "tok")
        .await
        .unwrap();
    let entry = AccessEntry {
        principal_arn: "arn:aws:iam::111122223333:role/platform-admin".into(),
        kubernetes_groups: vec!["platform".into()],
        username: Some("platform-admin".into()),
        policies: vec![
            AccessPolicy {
                policy_arn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy".into(),
                scope: AccessScope::Cluster,
            },
            AccessPolicy {
                policy_arn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy".into(),
                scope: AccessScope::Namespaces(vec!["payments".into(), "ingress".into()]),
            },
        ],
    };
    sim.eks
        .ensure_access_entry("green", &entry, &own())
        .await
        .unwrap();
    sim.eks
        .ensure_access_entry("green", &entry, &own())
        .await
        .unwrap();
    assert_eq!(sim.count("green", "access-entry-created"), 1);
    assert_eq!(
        sim.count("green", "access-policy-associated"),
        2,
        "{:?}",
        sim.events("green")
    );

    let listed = sim
        .sdk
        .list_associated_access_policies()
        .cluster_name("green")
        .principal_arn(&entry.principal_arn)
        .send()
        .await
        .unwrap();
    let edit = listed
        .associated_access_policies()
        .iter()
        .find(|p| p.policy_arn.as_deref().unwrap().ends_with("EditPolicy"))
        .unwrap();
    let scope = edit.access_scope.as_ref().unwrap();
    assert_eq!(scope.r#type, Some(AccessScopeType::Namespace));
    let mut ns = scope.namespaces.clone().unwrap();
    ns.sort();
    assert_eq!(ns, ["ingress", "payments"]);

    sim.eks
        .delete_access_entry("green", &entry.principal_arn)
        .await
        .unwrap();
    sim.eks
        .delete_access_entry("green", &entry.principal_arn)
        .await
        .expect("absent is fine");
    assert_eq!(sim.count("green", "access-entry-deleted"), 1);
}

#[tokio::test]
async fn teardown_deletes_node_groups_then_add_ons_then_the_cluster() {
    let sim = Sim::start().await;
    sim.eks
        .create_cluster(&spec("green"), &own(), "tok")
        .await
        .unwrap();
    sim.eks
        .ensure_addon("green", &addon("vpc-cni", None), &own(), "t1")
        .await
        .unwrap();
    sim.eks
        .ensure_addon("green", &addon("coredns", None), &own(), "t2")
        .await
        .unwrap();
    sim.eks
        .ensure_nodegroup("green", &nodegroup("a"), &own(), "t3")
        .await
        .unwrap();
    sim.eks
        .ensure_nodegroup("green", &nodegroup("b"), &own(), "t4")
        .await
        .unwrap();

    sim.eks.delete_cluster("green").await.unwrap();
    assert_eq!(sim.eks.describe_cluster("green").await.unwrap(), None);
    let events = sim.events("green");
    let last = |kind: &str| {
        events
            .iter()
            .rposition(|k| k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
    };
    let first = |kind: &str| {
        events
            .iter()
            .position(|k| k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {events:?}"))
    };
    assert_eq!(sim.count("green", "nodegroup-deleted"), 2);
    assert_eq!(sim.count("green", "addon-deleted"), 2);
    assert!(
        last("nodegroup-deleted") < first("addon-deleting"),
        "{events:?}"
    );
    assert!(
        last("addon-deleted") < first("cluster-deleting"),
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("cluster-deleted"));

    sim.eks
        .delete_cluster("green")
        .await
        .expect("deleting an absent cluster succeeds");
    sim.eks
        .delete_nodegroup("green", "a")
        .await
        .expect("absent node group");
    sim.eks
        .delete_addon("green", "coredns")
        .await
        .expect("absent add-on");
}

#[tokio::test]
async fn a_rollback_while_the_cluster_is_still_creating_waits_then_deletes_it() {
    let sim = Sim::start().await;
    let _ = tokio::time::timeout(
        Duration::from_millis(50),
        sim.eks.create_cluster(&spec("green"), &own(), "tok"),
    )
    .await;
    sim.eks.delete_cluster("green").await.unwrap();
    assert_eq!(
        sim.events("green"),
        [
            "cluster-creating",
            "cluster-active",
            "cluster-deleting",
            "cluster-deleted"
        ]
    );
}

#[tokio::test]
async fn failed_resources_are_permanent_errors_naming_the_health_issues() {
    let sim = Sim::start().await;
    sim.faults(|f| {
        f.fail_cluster_create.insert("doomed".into());
        f.fail_nodegroup_create.insert("green/bad".into());
    });
    let err = sim
        .eks
        .create_cluster(&spec("doomed"), &own(), "tok")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Other);
    assert!(!err.retryable());
    assert!(
        err.message.starts_with("cluster doomed failed: "),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("failClusterCreate"),
        "the health issue is named: {}",
        err.message
    );
    // A FAILED cluster can still be torn down (the engine's compensation).
    sim.eks.delete_cluster("doomed").await.unwrap();

    sim.eks
        .create_cluster(&spec("green"), &own(), "tok")
        .await
        .unwrap();
    let err = sim
        .eks
        .ensure_nodegroup("green", &nodegroup("bad"), &own(), "tok-bad")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Other);
    assert!(
        err.message.starts_with("node group green/bad failed: "),
        "{}",
        err.message
    );
}

/// What the engine's retrier does with a retryable provider error (exponential backoff; the
/// engine's starts at 1 s, shortened here).
async fn like_the_engine<T, F, Fut>(mut call: F, throttled: &mut Vec<String>) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, cutover::providers::ProviderError>>,
{
    for attempt in 0..12 {
        match call().await {
            Ok(v) => return v,
            Err(e) if e.retryable() => {
                throttled.push(e.message);
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(5))).await;
            }
            Err(e) => panic!("not retryable: {e}"),
        }
    }
    panic!("still failing after 12 attempts: {throttled:?}")
}

#[tokio::test]
async fn throttled_calls_are_retryable_waits_ride_them_out_and_the_work_completes() {
    let sim = Sim::start().await;
    sim.faults(|f| f.eks_throttle_rps = Some(3.0));
    let (mut refused, green, own) = (Vec::new(), spec("green"), own());
    like_the_engine(|| sim.eks.create_cluster(&green, &own, "tok"), &mut refused).await;
    for ng in [nodegroup("a"), nodegroup("b")] {
        like_the_engine(
            || sim.eks.ensure_nodegroup("green", &ng, &own, &ng.name),
            &mut refused,
        )
        .await;
    }
    like_the_engine(|| sim.eks.delete_cluster("green"), &mut refused).await;
    assert_eq!(sim.eks.describe_cluster("green").await.unwrap(), None);
    assert_eq!(
        sim.count("green", "cluster-creating"),
        1,
        "retries adopt, never create twice"
    );
    assert_eq!(sim.count("green", "nodegroup-creating"), 2);
    let throttled = sim
        .server
        .env()
        .events
        .snapshot()
        .iter()
        .filter(|e| e.kind == "eks-throttled")
        .count();
    assert!(throttled > 0, "the test must actually hit the rate limit");
    for message in &refused {
        assert!(
            message.contains("ThrottlingException (HTTP 429): Rate exceeded"),
            "{message}"
        );
        assert!(
            !message.contains("headers"),
            "no raw response dump: {message}"
        );
    }
}

#[tokio::test]
async fn every_wait_is_bounded_by_the_plans_timeout() {
    // 2 s of AWS time is 3.3 ms here: far less than the 0.9 s a cluster takes.
    let timeouts = Timeouts {
        cluster_active: Duration::from_millis(200),
        ..Timeouts::default()
    };
    let sim = Sim::with_timeouts(timeouts).await;
    let started = std::time::Instant::now();
    let err = sim
        .eks
        .create_cluster(&spec("slow"), &own(), "tok")
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::WaitTimedOut);
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.message
            .contains("cluster slow to become ACTIVE did not happen within 200ms"),
        "{}",
        err.message
    );
    assert!(err.message.contains("status CREATING"), "{}", err.message);
    assert!(
        err.message.contains("`cutover resume` adopts the cluster"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn pod_identities_are_made_once_adopted_when_ours_refused_when_not_listed_and_only_ours_deleted() {
    use cutover::providers::PodIdentities as _;
    let sim = Sim::start().await;
    sim.eks.create_cluster(&spec("green"), &own(), "tok").await.unwrap();
    let lbc = PodIdentity {
        namespace: "kube-system".into(),
        service_account: "aws-load-balancer-controller".into(),
        role_arn: "arn:aws:iam::111122223333:role/lbc".into(),
    };
    let made = sim.eks.ensure_pod_identity("green", &lbc, &own(), "tok-lbc").await.unwrap();
    assert!(made.id.starts_with("a-"), "{made:?}");
    assert_eq!(made.role_arn, lbc.role_arn);
    let again = sim.eks.ensure_pod_identity("green", &lbc, &own(), "tok-lbc").await.unwrap();
    assert_eq!(again.id, made.id, "a resumed run adopts its own association");

    // One made by someone else for the same service account is never taken over.
    sim.sdk
        .create_pod_identity_association()
        .cluster_name("green")
        .namespace("kube-system")
        .service_account("external-dns")
        .role_arn("arn:aws:iam::111122223333:role/theirs")
        .send()
        .await
        .unwrap();
    let dns = PodIdentity { service_account: "external-dns".into(), ..lbc.clone() };
    let err = sim.eks.ensure_pod_identity("green", &dns, &own(), "tok-dns").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{err}");

    let listed = sim.eks.pod_identities("green").await.unwrap();
    assert_eq!(listed.len(), 2);
    sim.eks.delete_pod_identity("green", "kube-system", "aws-load-balancer-controller", &own()).await.unwrap();
    sim.eks.delete_pod_identity("green", "kube-system", "aws-load-balancer-controller", &own()).await.unwrap();
    // Nothing deletes what cutover did not make: theirs stays.
    sim.eks.delete_pod_identity("green", "kube-system", "external-dns", &own()).await.unwrap();
    let left: Vec<String> = sim.eks.pod_identities("green").await.unwrap().into_iter().map(|p| p.service_account).collect();
    assert_eq!(left, ["external-dns"]);
}
