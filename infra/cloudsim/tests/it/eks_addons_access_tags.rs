//! aws-sdk-eks against cloudsim: add-ons, access entries with access policies, and tags by ARN —
//! the calls cutover makes to set a green cluster up and to tear blue down.

use std::time::Duration;

use crate::support::*;
use aws_sdk_eks::types::{AccessScope, AccessScopeType};

const SCALE: f64 = 1000.0;
const ROLE: &str = "arn:aws:iam::123456789012:role/deployer";
const ADMIN: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

async fn active_cluster() -> (cloudsim::RunningServer, aws_sdk_eks::Client) {
    let (server, _) = start(SCALE).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, "c", "1.32").send().await.unwrap();
    wait_cluster(&eks, "c", "ACTIVE").await;
    (server, eks)
}

#[tokio::test]
async fn addons_are_created_described_listed_and_deleted() {
    let (server, eks) = active_cluster().await;
    let a = eks
        .create_addon()
        .cluster_name("c")
        .addon_name("vpc-cni")
        .send()
        .await
        .unwrap()
        .addon
        .unwrap();
    assert_eq!(a.status.unwrap().as_str(), "CREATING");
    assert!(a.addon_version.unwrap().contains("eksbuild"));
    let kp = eks
        .create_addon()
        .cluster_name("c")
        .addon_name("kube-proxy")
        .send()
        .await
        .unwrap()
        .addon
        .unwrap();
    assert_eq!(
        kp.addon_version.as_deref(),
        Some("v1.32.0-eksbuild.1"),
        "kube-proxy follows the cluster version"
    );

    let err = eks
        .create_addon()
        .cluster_name("c")
        .addon_name("vpc-cni")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    let err = eks
        .create_addon()
        .cluster_name("c")
        .addon_name("not-an-addon")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error()
            .unwrap()
            .is_invalid_parameter_exception(),
        "{err:?}"
    );

    eventually("vpc-cni ACTIVE", Duration::from_secs(10), || async {
        let a = eks
            .describe_addon()
            .cluster_name("c")
            .addon_name("vpc-cni")
            .send()
            .await
            .ok()?
            .addon?;
        (a.status?.as_str() == "ACTIVE").then_some(())
    })
    .await;
    let mut names = eks
        .list_addons()
        .cluster_name("c")
        .send()
        .await
        .unwrap()
        .addons
        .unwrap();
    names.sort();
    assert_eq!(names, ["kube-proxy", "vpc-cni"]);

    let err = eks.delete_cluster().name("c").send().await.unwrap_err();
    assert!(format!("{err:?}").contains("add-ons attached"), "{err:?}");
    eventually("kube-proxy ACTIVE", Duration::from_secs(10), || async {
        let a = eks
            .describe_addon()
            .cluster_name("c")
            .addon_name("kube-proxy")
            .send()
            .await
            .ok()?
            .addon?;
        (a.status?.as_str() == "ACTIVE").then_some(())
    })
    .await;
    for name in ["vpc-cni", "kube-proxy"] {
        let a = eks
            .delete_addon()
            .cluster_name("c")
            .addon_name(name)
            .send()
            .await
            .unwrap()
            .addon
            .unwrap();
        assert_eq!(a.status.unwrap().as_str(), "DELETING");
    }
    eventually("add-ons gone", Duration::from_secs(10), || async {
        let names = eks
            .list_addons()
            .cluster_name("c")
            .send()
            .await
            .ok()?
            .addons?;
        names.is_empty().then_some(())
    })
    .await;
    eks.delete_cluster().name("c").send().await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn access_entries_and_policies_round_trip() {
    let (server, eks) = active_cluster().await;
    // bootstrapClusterCreatorAdminPermissions defaults to true: the creator already has an entry.
    let before = eks
        .list_access_entries()
        .cluster_name("c")
        .send()
        .await
        .unwrap()
        .access_entries
        .unwrap();
    assert_eq!(before, ["arn:aws:iam::000000000000:root"]);

    let entry = eks
        .create_access_entry()
        .cluster_name("c")
        .principal_arn(ROLE)
        .kubernetes_groups("deployers")
        .tags("cutover.dev/run-id", "r1")
        .send()
        .await
        .unwrap()
        .access_entry
        .unwrap();
    assert_eq!(entry.r#type.as_deref(), Some("STANDARD"));
    assert_eq!(
        entry.username.as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/deployer/{{SessionName}}")
    );
    let err = eks
        .create_access_entry()
        .cluster_name("c")
        .principal_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");
    let err = eks
        .create_access_entry()
        .cluster_name("c")
        .principal_arn("not-an-arn")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");

    let assoc = eks
        .associate_access_policy()
        .cluster_name("c")
        .principal_arn(ROLE)
        .policy_arn(ADMIN)
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(assoc.principal_arn.as_deref(), Some(ROLE));
    assert_eq!(
        assoc
            .associated_access_policy
            .unwrap()
            .policy_arn
            .as_deref(),
        Some(ADMIN)
    );
    eks.associate_access_policy()
        .cluster_name("c")
        .principal_arn(ROLE)
        .policy_arn(VIEW)
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Namespace)
                .namespaces("payments")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = eks
        .associate_access_policy()
        .cluster_name("c")
        .principal_arn(ROLE)
        .policy_arn(VIEW)
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Namespace)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&err),
        "InvalidParameterException",
        "a namespace scope needs namespaces"
    );

    let listed = eks
        .list_associated_access_policies()
        .cluster_name("c")
        .principal_arn(ROLE)
        .send()
        .await
        .unwrap();
    let policies: Vec<_> = listed
        .associated_access_policies()
        .iter()
        .map(|p| p.policy_arn().unwrap().to_string())
        .collect();
    assert_eq!(policies, [ADMIN, VIEW]);
    let with_admin = eks
        .list_access_entries()
        .cluster_name("c")
        .associated_policy_arn(ADMIN)
        .send()
        .await
        .unwrap()
        .access_entries
        .unwrap();
    assert_eq!(
        with_admin.len(),
        2,
        "the creator and the deployer: {with_admin:?}"
    );

    eks.disassociate_access_policy()
        .cluster_name("c")
        .principal_arn(ROLE)
        .policy_arn(ADMIN)
        .send()
        .await
        .unwrap();
    let err = eks
        .disassociate_access_policy()
        .cluster_name("c")
        .principal_arn(ROLE)
        .policy_arn(ADMIN)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let described = eks
        .describe_access_entry()
        .cluster_name("c")
        .principal_arn(ROLE)
        .send()
        .await
        .unwrap()
        .access_entry
        .unwrap();
    assert_eq!(described.kubernetes_groups(), ["deployers"]);
    assert_eq!(described.tags.unwrap()["cutover.dev/run-id"], "r1");

    eks.delete_access_entry()
        .cluster_name("c")
        .principal_arn(ROLE)
        .send()
        .await
        .unwrap();
    let err = eks
        .describe_access_entry()
        .cluster_name("c")
        .principal_arn(ROLE)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    server.shutdown().await;
}

#[tokio::test]
async fn tags_are_set_listed_and_removed_by_arn() {
    let (server, eks) = active_cluster().await;
    let arn = eks
        .describe_cluster()
        .name("c")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap()
        .arn
        .unwrap();
    eks.tag_resource()
        .resource_arn(&arn)
        .tags("cutover.dev/plan", "payments")
        .tags("owner", "platform")
        .send()
        .await
        .unwrap();
    let tags = eks
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.len(), 2);
    assert_eq!(tags["cutover.dev/plan"], "payments");

    eks.untag_resource()
        .resource_arn(&arn)
        .tag_keys("owner")
        .send()
        .await
        .unwrap();
    let tags = eks
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap()
        .tags
        .unwrap();
    assert_eq!(tags.keys().collect::<Vec<_>>(), ["cutover.dev/plan"]);
    let described = eks
        .describe_cluster()
        .name("c")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(
        described.tags.unwrap()["cutover.dev/plan"],
        "payments",
        "DescribeCluster shows the same tags"
    );

    // Node groups are tagged through their own ARN.
    let ng = eks
        .create_nodegroup()
        .cluster_name("c")
        .nodegroup_name("ng")
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-a")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    eks.tag_resource()
        .resource_arn(ng.nodegroup_arn.unwrap())
        .tags("k", "v")
        .send()
        .await
        .unwrap();

    let err = eks
        .list_tags_for_resource()
        .resource_arn("arn:aws:eks:us-east-1:000000000000:cluster/nope")
        .send()
        .await
        .unwrap_err();
    assert!(
        err.as_service_error().unwrap().is_not_found_exception(),
        "{err:?}"
    );
    let err = eks
        .tag_resource()
        .resource_arn("garbage")
        .tags("k", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadRequestException");
    let err = eks
        .tag_resource()
        .resource_arn(&arn)
        .tags("aws:reserved", "v")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "BadRequestException");
    server.shutdown().await;
}
