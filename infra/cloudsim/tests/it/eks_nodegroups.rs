//! aws-sdk-eks against cloudsim: managed node groups (create → ACTIVE → Nodes synced to the
//! Kubernetes half, UpdateNodegroupConfig + DescribeUpdate, delete), and the create-failure faults.

use std::time::Duration;

use crate::support::*;
use aws_sdk_eks::types::{NodegroupScalingConfig, Taint, TaintEffect, UpdateLabelsPayload};

const SCALE: f64 = 1000.0;

async fn active_cluster(
    name: &str,
) -> (
    cloudsim::RunningServer,
    std::sync::Arc<RecordingBackend>,
    aws_sdk_eks::Client,
) {
    let (server, backend) = start(SCALE).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, name, "1.32").send().await.unwrap();
    wait_cluster(&eks, name, "ACTIVE").await;
    (server, backend, eks)
}

fn create_ng(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    ng: &str,
) -> aws_sdk_eks::operation::create_nodegroup::builders::CreateNodegroupFluentBuilder {
    eks.create_nodegroup()
        .cluster_name(cluster)
        .nodegroup_name(ng)
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-aaa")
        .subnets("subnet-bbb")
}

#[tokio::test]
async fn node_group_becomes_active_and_its_nodes_are_synced() {
    let (server, backend, eks) = active_cluster("c").await;
    let created = create_ng(&eks, "c", "general")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(2)
                .desired_size(3)
                .max_size(6)
                .build(),
        )
        .instance_types("m6i.large")
        .labels("team", "payments")
        .taints(
            Taint::builder()
                .key("dedicated")
                .value("payments")
                .effect(TaintEffect::NoSchedule)
                .build(),
        )
        .client_request_token("ng-tok")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(created.status.unwrap().as_str(), "CREATING");
    assert_eq!(
        created.version.as_deref(),
        Some("1.32"),
        "node groups default to the cluster's version"
    );
    let again = create_ng(&eks, "c", "general")
        .client_request_token("ng-tok")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(again.nodegroup_arn, created.nodegroup_arn);
    let err = create_ng(&eks, "c", "general").send().await.unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    assert!(
        backend.cluster("c").nodegroups.lock().unwrap().is_empty(),
        "no Nodes while CREATING"
    );

    let ng = wait_nodegroup(&eks, "c", "general", "ACTIVE").await;
    assert_eq!(ng.resources.unwrap().auto_scaling_groups.unwrap().len(), 1);
    let nodes = backend.cluster("c").nodegroups.lock().unwrap()["general"].clone();
    assert_eq!(nodes.count, 3);
    assert_eq!(nodes.instance_type, "m6i.large");
    assert_eq!(nodes.capacity_type, "ON_DEMAND");
    assert_eq!(nodes.labels["team"], "payments");
    assert_eq!(
        nodes.taints,
        [(
            "dedicated".to_string(),
            Some("payments".to_string()),
            "NoSchedule".to_string()
        )]
    );
    assert_eq!(
        eks.list_nodegroups()
            .cluster_name("c")
            .send()
            .await
            .unwrap()
            .nodegroups
            .unwrap(),
        ["general"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn scaling_a_node_group_is_an_update_that_resyncs_the_nodes() {
    let (server, backend, eks) = active_cluster("c").await;
    create_ng(&eks, "c", "ng").send().await.unwrap();
    wait_nodegroup(&eks, "c", "ng", "ACTIVE").await;

    let err = eks
        .update_nodegroup_config()
        .cluster_name("c")
        .nodegroup_name("ng")
        .scaling_config(NodegroupScalingConfig::builder().desired_size(9).build())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        "InvalidParameterException",
        "desired above the current max (2)"
    );

    let update = eks
        .update_nodegroup_config()
        .cluster_name("c")
        .nodegroup_name("ng")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .desired_size(5)
                .max_size(5)
                .build(),
        )
        .labels(
            UpdateLabelsPayload::builder()
                .add_or_update_labels("tier", "web")
                .build(),
        )
        .send()
        .await
        .unwrap()
        .update
        .unwrap();
    assert_eq!(update.r#type.unwrap().as_str(), "ConfigUpdate");
    let id = update.id.unwrap();
    let ng = eks
        .describe_nodegroup()
        .cluster_name("c")
        .nodegroup_name("ng")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(ng.status.unwrap().as_str(), "UPDATING");

    // A node group update is only found when the call names the node group, as in EKS.
    let err = eks
        .describe_update()
        .name("c")
        .update_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    eventually(
        "config update successful",
        Duration::from_secs(10),
        || async {
            let u = eks
                .describe_update()
                .name("c")
                .update_id(&id)
                .nodegroup_name("ng")
                .send()
                .await
                .ok()?
                .update?;
            (u.status.as_ref()?.as_str() == "Successful").then_some(())
        },
    )
    .await;
    let ng = wait_nodegroup(&eks, "c", "ng", "ACTIVE").await;
    assert_eq!(ng.scaling_config.unwrap().desired_size, Some(5));
    let nodes = backend.cluster("c").nodegroups.lock().unwrap()["ng"].clone();
    assert_eq!((nodes.count, nodes.labels["tier"].as_str()), (5, "web"));
    server.shutdown().await;
}

#[tokio::test]
async fn deleting_a_node_group_removes_its_nodes_then_the_cluster_can_go() {
    let (server, backend, eks) = active_cluster("c").await;
    create_ng(&eks, "c", "ng").send().await.unwrap();
    let err = eks
        .delete_nodegroup()
        .cluster_name("c")
        .nodegroup_name("ng")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        "ResourceInUseException",
        "a CREATING node group cannot be deleted yet"
    );
    wait_nodegroup(&eks, "c", "ng", "ACTIVE").await;

    let deleting = eks
        .delete_nodegroup()
        .cluster_name("c")
        .nodegroup_name("ng")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    assert_eq!(deleting.status.unwrap().as_str(), "DELETING");
    eventually("node group gone", Duration::from_secs(10), || async {
        let err = eks
            .describe_nodegroup()
            .cluster_name("c")
            .nodegroup_name("ng")
            .send()
            .await
            .err()?;
        err.as_service_error()?
            .is_resource_not_found_exception()
            .then_some(())
    })
    .await;
    assert_eq!(*backend.cluster("c").removed.lock().unwrap(), ["ng"]);
    eks.delete_cluster().name("c").send().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn injected_faults_fail_cluster_and_node_group_creation() {
    let (server, _backend, eks) = active_cluster("good").await;
    let (status, _) = http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"failClusterCreate": ["doomed"], "failNodegroupCreate": ["good/bad-ng"]}"#),
    )
    .await;
    assert_eq!(status, 200);

    create_cluster(&eks, "doomed", "1.32").send().await.unwrap();
    let failed = wait_cluster(&eks, "doomed", "FAILED").await;
    let issues = failed.health.unwrap().issues.unwrap();
    assert!(
        issues[0]
            .message
            .as_deref()
            .unwrap()
            .contains("failClusterCreate"),
        "{issues:?}"
    );
    assert_eq!(failed.endpoint, None);

    create_ng(&eks, "good", "bad-ng").send().await.unwrap();
    create_ng(&eks, "good", "fine-ng").send().await.unwrap();
    let bad = wait_nodegroup(&eks, "good", "bad-ng", "CREATE_FAILED").await;
    assert!(!bad.health.unwrap().issues.unwrap().is_empty());
    wait_nodegroup(&eks, "good", "fine-ng", "ACTIVE").await;

    // A FAILED cluster and a CREATE_FAILED node group can be cleaned up.
    eks.delete_cluster().name("doomed").send().await.unwrap();
    eks.delete_nodegroup()
        .cluster_name("good")
        .nodegroup_name("bad-ng")
        .send()
        .await
        .unwrap();
    let kinds = event_kinds(server.addr(), None).await;
    assert!(
        kinds.contains(&"cluster-create-failed".to_string())
            && kinds.contains(&"nodegroup-create-failed".to_string()),
        "{kinds:?}"
    );
    server.shutdown().await;
}
