//! Keeps cloudsim's EKS wire format honest: the same aws-sdk-eks call sequence runs against cloudsim
//! and against moto server (a third-party EKS emulator), and the shapes the SDK parsed — which
//! optional fields are present — must match, except for the differences listed (and explained)
//! below. Field *types* need no comparison: the SDK refuses to parse a mistyped field, so a parsed
//! response already has the right types; enum fields are checked to be values the SDK knows.
//!
//! moto comes from scripts/install-tools.sh; without it this test fails (it does not skip).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::*;
use crate::support::moto::Moto;
use aws_sdk_eks::types::{Cluster, Nodegroup, NodegroupScalingConfig};

/// Which optional fields of a parsed value are present, as `path → present`.
type Shape = BTreeMap<String, bool>;

macro_rules! shape {
    ($shape:ident, $prefix:literal, $v:expr; $($field:ident),* $(,)?) => {
        $( $shape.insert(format!("{}.{}", $prefix, stringify!($field)), $v.$field.is_some()); )*
    };
}

fn cluster_shape(c: &Cluster) -> Shape {
    let mut s = Shape::new();
    shape!(s, "cluster", c; name, arn, created_at, version, endpoint, role_arn, resources_vpc_config,
        kubernetes_network_config, logging, identity, status, certificate_authority, client_request_token,
        platform_version, tags, encryption_config, connector_config, id, health, outpost_config, access_config,
        upgrade_policy, zonal_shift_config, remote_network_config, compute_config, storage_config,
        deletion_protection, control_plane_scaling_config);
    if let Some(v) = &c.resources_vpc_config {
        shape!(s, "cluster.resourcesVpcConfig", v; subnet_ids, security_group_ids, cluster_security_group_id, vpc_id, public_access_cidrs);
    }
    if let Some(n) = &c.kubernetes_network_config {
        shape!(s, "cluster.kubernetesNetworkConfig", n; service_ipv4_cidr, service_ipv6_cidr, ip_family, elastic_load_balancing);
    }
    if let Some(st) = &c.status {
        assert!(
            aws_sdk_eks::types::ClusterStatus::values().contains(&st.as_str()),
            "unknown cluster status {st:?}"
        );
    }
    s
}

fn nodegroup_shape(n: &Nodegroup) -> Shape {
    let mut s = Shape::new();
    shape!(s, "nodegroup", n; nodegroup_name, nodegroup_arn, cluster_name, version, release_version, created_at,
        modified_at, status, capacity_type, scaling_config, instance_types, subnets, remote_access, ami_type,
        node_role, labels, taints, resources, disk_size, health, update_config, node_repair_config, launch_template, tags);
    if let Some(r) = &n.resources {
        shape!(s, "nodegroup.resources", r; auto_scaling_groups, remote_access_security_group);
    }
    use aws_sdk_eks::types::{AmiTypes, CapacityTypes, NodegroupStatus};
    for (what, value, known) in [
        (
            "status",
            n.status.as_ref().map(|v| v.as_str()),
            NodegroupStatus::values(),
        ),
        (
            "capacityType",
            n.capacity_type.as_ref().map(|v| v.as_str()),
            CapacityTypes::values(),
        ),
        (
            "amiType",
            n.ami_type.as_ref().map(|v| v.as_str()),
            AmiTypes::values(),
        ),
    ] {
        assert!(
            value.is_none_or(|v| known.contains(&v)),
            "nodegroup {what} {value:?} is not a value the SDK knows"
        );
    }
    s
}

/// What one run of the call sequence observed.
#[derive(Debug, Default)]
struct Transcript {
    shapes: Shape,
    /// Values both emulators must agree on (statuses, sizes, names, error codes).
    facts: BTreeMap<&'static str, String>,
}

async fn run_sequence(endpoint: &str) -> Transcript {
    let eks = eks_client(endpoint);
    let mut t = Transcript::default();

    let created = create_cluster(&eks, "conf", "1.31")
        .client_request_token("tok-1")
        .tags("cutover.dev/plan", "conformance")
        .send()
        .await
        .expect("CreateCluster")
        .cluster
        .unwrap();
    t.facts.insert("create.name", created.name.clone().unwrap());
    t.facts
        .insert("create.version", created.version.clone().unwrap());
    let active = wait_cluster(&eks, "conf", "ACTIVE").await;
    t.shapes.extend(cluster_shape(&active));
    t.facts.insert(
        "describe.tags",
        format!("{:?}", active.tags.unwrap_or_default()),
    );
    t.facts.insert(
        "describe.token",
        active.client_request_token.clone().unwrap_or_default(),
    );
    t.facts.insert(
        "list",
        format!(
            "{:?}",
            eks.list_clusters().send().await.unwrap().clusters.unwrap()
        ),
    );

    let err = create_cluster(&eks, "conf", "1.31")
        .client_request_token("tok-2")
        .send()
        .await
        .unwrap_err();
    t.facts.insert("error.create-duplicate", code(&err));
    let err = eks
        .describe_cluster()
        .name("missing")
        .send()
        .await
        .unwrap_err();
    t.facts.insert("error.describe-missing", code(&err));

    eks.create_nodegroup()
        .cluster_name("conf")
        .nodegroup_name("ng")
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-aaa")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .desired_size(2)
                .max_size(3)
                .build(),
        )
        .send()
        .await
        .expect("CreateNodegroup");
    let ng = wait_nodegroup(&eks, "conf", "ng", "ACTIVE").await;
    t.shapes.extend(nodegroup_shape(&ng));
    let sc = ng.scaling_config.unwrap();
    t.facts.insert(
        "nodegroup.scaling",
        format!("{:?}/{:?}/{:?}", sc.min_size, sc.desired_size, sc.max_size),
    );
    t.facts.insert(
        "nodegroup.list",
        format!(
            "{:?}",
            eks.list_nodegroups()
                .cluster_name("conf")
                .send()
                .await
                .unwrap()
                .nodegroups
                .unwrap()
        ),
    );

    let err = eks.delete_cluster().name("conf").send().await.unwrap_err();
    t.facts.insert("error.delete-with-nodegroup", code(&err));
    let err = eks
        .describe_nodegroup()
        .cluster_name("conf")
        .nodegroup_name("missing")
        .send()
        .await
        .unwrap_err();
    t.facts
        .insert("error.describe-missing-nodegroup", code(&err));

    let deleting = eks
        .delete_nodegroup()
        .cluster_name("conf")
        .nodegroup_name("ng")
        .send()
        .await
        .unwrap()
        .nodegroup
        .unwrap();
    t.facts.insert(
        "delete-nodegroup.status",
        deleting.status.unwrap().as_str().to_string(),
    );
    eventually("node group gone", Duration::from_secs(20), || async {
        let err = eks
            .describe_nodegroup()
            .cluster_name("conf")
            .nodegroup_name("ng")
            .send()
            .await
            .err()?;
        (code(&err) == "ResourceNotFoundException").then_some(())
    })
    .await;
    let deleted = eks
        .delete_cluster()
        .name("conf")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    t.facts.insert(
        "delete-cluster.status",
        deleted.status.unwrap().as_str().to_string(),
    );
    eventually("cluster gone", Duration::from_secs(20), || async {
        let err = eks.describe_cluster().name("conf").send().await.err()?;
        (code(&err) == "ResourceNotFoundException").then_some(())
    })
    .await;
    t
}

#[tokio::test]
async fn cloudsim_and_moto_answer_the_same_calls_with_the_same_shapes() {
    let moto = Moto::start().await;
    let (server, _) = start(1000.0).await;
    let ours = run_sequence(&server.url()).await;
    let theirs = run_sequence(&format!("http://{}", moto.addr)).await;
    server.shutdown().await;

    // Fields whose presence differs, each with why. `true` = cloudsim has it, moto does not.
    let expected: BTreeMap<&str, bool> = BTreeMap::from([
        // Real EKS reports health, access config, upgrade policy and node group update config; moto predates them.
        ("cluster.health", true),
        ("cluster.accessConfig", true),
        ("cluster.upgradePolicy", true),
        ("nodegroup.updateConfig", true),
        // Real EKS fills in the VPC, cluster security group and public CIDRs it chose; moto echoes only the subnets.
        ("cluster.resourcesVpcConfig.securityGroupIds", true),
        ("cluster.resourcesVpcConfig.clusterSecurityGroupId", true),
        ("cluster.resourcesVpcConfig.vpcId", true),
        ("cluster.resourcesVpcConfig.publicAccessCidrs", true),
        ("cluster.kubernetesNetworkConfig.ipFamily", true),
        ("cluster.kubernetesNetworkConfig.elasticLoadBalancing", true),
        // moto returns `encryptionConfig: []` when none was asked for; cloudsim (like EKS) leaves it out.
        ("cluster.encryptionConfig", false),
        // moto invents an SSH key ("eksKeypair") and its security group though none was configured.
        ("nodegroup.remoteAccess", false),
        ("nodegroup.resources.remoteAccessSecurityGroup", false),
    ]);
    // Field paths are compared case- and underscore-blind (Rust field names vs the JSON names above).
    let key = |k: &str| k.replace('_', "").to_lowercase();
    let all_fields: std::collections::BTreeSet<&String> =
        ours.shapes.keys().chain(theirs.shapes.keys()).collect();
    let found: BTreeMap<String, bool> = all_fields
        .into_iter()
        .filter_map(|f| {
            let (a, b) = (
                ours.shapes.get(f).copied().unwrap_or(false),
                theirs.shapes.get(f).copied().unwrap_or(false),
            );
            (a != b).then(|| (key(f), a))
        })
        .collect();
    let normalise = |m: &BTreeMap<&str, bool>| {
        m.iter()
            .map(|(k, v)| (key(k), *v))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        found,
        normalise(&expected),
        "shape differences changed; ours: {:#?}\ntheirs: {:#?}",
        ours.shapes,
        theirs.shapes
    );

    // Facts both must agree on, except where moto's emulation is known to be simpler.
    let mut ours_facts = ours.facts.clone();
    let mut theirs_facts = theirs.facts.clone();
    for key in [
        // moto deletes at once and reports ACTIVE/DELETING inconsistently; cloudsim says DELETING like EKS.
        "delete-nodegroup.status",
        "delete-cluster.status",
    ] {
        assert_eq!(ours_facts.remove(key).as_deref(), Some("DELETING"), "{key}");
        theirs_facts.remove(key);
    }
    assert_eq!(ours_facts, theirs_facts);
}
