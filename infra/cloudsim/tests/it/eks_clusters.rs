//! aws-sdk-eks against cloudsim: the cluster lifecycle (CREATING → ACTIVE → DELETING → gone),
//! clientRequestToken idempotency, AWS-shaped errors, version updates, and leaked load balancers.

use std::time::{Duration, Instant};

use crate::support::*;
use base64::Engine as _;
use cloudsim::eks::backend::{ClusterApi, LoadBalancerInfo};

/// Default latencies at 1000× : cluster creation 540 s → 0.54 s.
const SCALE: f64 = 1000.0;

#[tokio::test]
async fn cluster_is_creating_then_active_on_schedule_with_an_endpoint_and_ca() {
    let (server, backend) = start(SCALE).await;
    let eks = eks_client(&server.url());
    let started = Instant::now();

    let created = create_cluster(&eks, "blue", "1.31")
        .client_request_token("tok-1")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(created.status.unwrap().as_str(), "CREATING");
    assert_eq!(
        created.endpoint, None,
        "no API endpoint before the control plane is up"
    );
    assert_eq!(
        created.arn.as_deref(),
        Some("arn:aws:eks:us-east-1:000000000000:cluster/blue")
    );

    let active = wait_cluster(&eks, "blue", "ACTIVE").await;
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "ACTIVE after the scaled 540 s, not {:?}",
        started.elapsed()
    );
    let recorded = backend.cluster("blue");
    assert_eq!(
        active.endpoint.as_deref(),
        Some(recorded.endpoint().as_str())
    );
    let ca = base64::engine::general_purpose::STANDARD
        .decode(active.certificate_authority.unwrap().data.unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(ca).unwrap(), recorded.ca_pem());
    assert_eq!(
        recorded.spec.lock().unwrap().as_ref().unwrap().version,
        "1.31"
    );
    assert_eq!(active.created_at, created.created_at);

    let kinds = event_kinds(server.addr(), Some("blue")).await;
    assert_eq!(kinds, ["cluster-creating", "cluster-active"]);
    server.shutdown().await;
}

#[tokio::test]
async fn same_token_returns_the_same_cluster_and_another_token_is_refused() {
    let (server, _) = start(SCALE).await;
    let eks = eks_client(&server.url());
    let first = create_cluster(&eks, "c1", "1.32")
        .client_request_token("tok-a")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    let again = create_cluster(&eks, "c1", "1.32")
        .client_request_token("tok-a")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!((again.arn, again.created_at), (first.arn, first.created_at));

    let err = create_cluster(&eks, "c1", "1.32")
        .client_request_token("tok-b")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_in_use_exception(),
        "{err:?}"
    );
    // The SDK fills in a fresh token when none is given, so a plain retry of a create is refused too.
    let err = create_cluster(&eks, "c1", "1.32").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    let clusters = eks.list_clusters().send().await.unwrap().clusters.unwrap();
    assert_eq!(clusters, ["c1"]);
    server.shutdown().await;
}

#[tokio::test]
async fn bad_requests_get_aws_shaped_errors() {
    let (server, _) = start(SCALE).await;
    let eks = eks_client(&server.url());

    let err = eks
        .describe_cluster()
        .name("nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_not_found_exception()
    );
    assert!(
        err.as_service_error()
            .unwrap()
            .meta()
            .message()
            .unwrap()
            .contains("nope")
    );

    let err = create_cluster(&eks, "bad name!", "1.32")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );
    let err = create_cluster(&eks, "c", "1.12").send().await.unwrap_err();
    assert!(format!("{err:?}").contains("supported"), "{err:?}");
    let err = eks
        .create_cluster()
        .name("one-subnet")
        .role_arn("arn:aws:iam::123456789012:role/r")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-a")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    let err = eks
        .delete_nodegroup()
        .cluster_name("nope")
        .nodegroup_name("ng")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    server.shutdown().await;
}

#[tokio::test]
async fn a_cluster_with_node_groups_or_addons_cannot_be_deleted() {
    let (server, _) = start(SCALE).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, "c", "1.32").send().await.unwrap();
    let err = eks.delete_cluster().name("c").send().await.unwrap_err();
    assert_eq!(
        code(&err),
        "ResourceInUseException",
        "a CREATING cluster cannot be deleted"
    );
    wait_cluster(&eks, "c", "ACTIVE").await;

    eks.create_nodegroup()
        .cluster_name("c")
        .nodegroup_name("ng")
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-aaa")
        .send()
        .await
        .unwrap();
    let err = eks.delete_cluster().name("c").send().await.unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_resource_in_use_exception()
    );
    assert!(
        format!("{err:?}").contains("nodegroups attached"),
        "{err:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn deletion_completes_shuts_the_cluster_down_and_reports_leaked_load_balancers() {
    let (server, backend) = start(SCALE).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, "old", "1.31").send().await.unwrap();
    wait_cluster(&eks, "old", "ACTIVE").await;
    let lb = LoadBalancerInfo {
        namespace: "ingress".into(),
        service: "nginx".into(),
        hostname: "a1.elb.us-east-1.cloudsim.test".into(),
        ip: "127.9.8.7".into(),
        ports: vec![80, 443],
    };
    backend.cluster("old").lbs.lock().unwrap().push(lb.clone());

    let deleting = eks
        .delete_cluster()
        .name("old")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(deleting.status.unwrap().as_str(), "DELETING");
    let again = eks
        .delete_cluster()
        .name("old")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(
        again.status.unwrap().as_str(),
        "DELETING",
        "deleting twice is not an error"
    );
    eventually("cluster gone", Duration::from_secs(10), || async {
        let err = eks.describe_cluster().name("old").send().await.err()?;
        err.as_service_error()?
            .is_resource_not_found_exception()
            .then_some(())
    })
    .await;
    assert!(
        *backend.cluster("old").shut_down.lock().unwrap(),
        "the Kubernetes API was shut down"
    );

    let (status, leaked) = http(
        server.addr(),
        "GET",
        "/_cloudsim/leaked-load-balancers",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(leaked.as_array().unwrap().len(), 1);
    assert_eq!(leaked[0]["cluster"], "old");
    assert_eq!(leaked[0]["service"], "nginx");
    assert_eq!(leaked[0]["ip"], "127.9.8.7");
    assert_eq!(leaked[0]["ports"], serde_json::json!([80, 443]));
    let kinds = event_kinds(server.addr(), Some("old")).await;
    assert_eq!(kinds[kinds.len() - 2..], ["lb-leaked", "cluster-deleted"]);

    // The name is free again.
    create_cluster(&eks, "old", "1.32").send().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn version_update_goes_one_minor_at_a_time_and_is_described() {
    let (server, backend) = start(SCALE).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, "c", "1.31").send().await.unwrap();
    wait_cluster(&eks, "c", "ACTIVE").await;

    let err = eks
        .update_cluster_version()
        .name("c")
        .version("1.33")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );

    let update = eks
        .update_cluster_version()
        .name("c")
        .version("1.32")
        .client_request_token("u1")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(update.status.unwrap().as_str(), "InProgress");
    assert_eq!(update.r#type.unwrap().as_str(), "VersionUpdate");
    let id = update.id.unwrap();
    let same = eks
        .update_cluster_version()
        .name("c")
        .version("1.32")
        .client_request_token("u1")
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(
        same.id.as_deref(),
        Some(id.as_str()),
        "same token, same update"
    );
    let c = eks
        .describe_cluster()
        .name("c")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.status.unwrap().as_str(), "UPDATING");
    let err = eks
        .update_cluster_version()
        .name("c")
        .version("1.32")
        .client_request_token("u2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");

    let done = eventually("update successful", Duration::from_secs(20), || async {
        let u = eks
            .describe_update()
            .name("c")
            .update_id(&id)
            .send()
            .await
            .ok()?
            .update?;
        (u.status.as_ref()?.as_str() == "Successful").then_some(u)
    })
    .await;
    let params: Vec<_> = done
        .params()
        .iter()
        .map(|p| {
            (
                p.r#type().unwrap().as_str().to_string(),
                p.value().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        params.contains(&("Version".to_string(), "1.32".to_string())),
        "{params:?}"
    );
    let c = wait_cluster(&eks, "c", "ACTIVE").await;
    assert_eq!(c.version.as_deref(), Some("1.32"));
    assert_eq!(*backend.cluster("c").version.lock().unwrap(), "1.32");
    let ids = eks
        .list_updates()
        .name("c")
        .send()
        .await
        .unwrap()
        .update_ids
        .unwrap();
    assert_eq!(ids, std::slice::from_ref(&id));

    let err = eks
        .describe_update()
        .name("c")
        .update_id("no-such-update")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    server.shutdown().await;
}

/// A client that hangs up mid-change (a killed `cutover`) makes hyper drop its request's future.
/// The change must still reach disk and the lifecycle, or the cluster would stay CREATING forever
/// (found by cutover's kill -9 end-to-end test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_client_hangs_up_still_completes() {
    let dir = tempfile::tempdir().unwrap();
    let backend = std::sync::Arc::new(RecordingBackend::default());
    let mut cfg = cloudsim::Config::new(backend);
    cfg.time_scale = SCALE;
    cfg.state_dir = Some(dir.path().to_path_buf());
    let server = cloudsim::Server::start(cfg).await.unwrap();
    // Polled once, then dropped while the change is being written; tried again under another
    // name in the rare case the change finished within that one poll.
    let mut orphan = None;
    for attempt in 0..5 {
        let name = format!("orphan-{attempt}");
        let body = serde_json::json!({
            "name": name, "version": "1.32", "roleArn": "arn:aws:iam::000000000000:role/eks",
            "resourcesVpcConfig": {"subnetIds": ["subnet-a", "subnet-b"]},
        });
        let call = cloudsim::eks::api::call(
            server.eks(),
            cloudsim::eks::api::Op::CreateCluster,
            cloudsim::eks::api::Query::default(),
            body.to_string().into(),
        );
        if tokio::time::timeout(Duration::ZERO, call).await.is_err() {
            orphan = Some(name);
            break;
        }
    }
    let orphan = orphan.expect("a change still in flight when its caller went");

    let eks = eks_client(&server.url());
    wait_cluster(&eks, &orphan, "ACTIVE").await;
    server.shutdown().await;
    let persisted = std::fs::read_to_string(dir.path().join("eks.json")).unwrap();
    assert!(
        persisted.contains(&format!("\"{orphan}\"")),
        "the change is on disk"
    );
}
