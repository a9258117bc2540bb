//! Both halves with moto's EC2, as cutover meets them: a node group's nodes are labelled with the
//! zones EC2 gives its subnets, and the EBS CSI driver runs only while the `aws-ebs-csi-driver`
//! add-on is ACTIVE (its CSIDriver appears and goes with it).

use std::sync::Arc;
use std::time::Duration;

use crate::kube_support::storage::{claim, create, ec2, event, pod_with_claim};
use crate::kube_support::{self, eventually};
use crate::support::moto::Moto;
use crate::support::{active_cluster, eks_client, wait_nodegroup};
use aws_sdk_eks::types::NodegroupScalingConfig;
use cloudsim::eks::kube_backend::KubeBackend;
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::CSIDriver;
use kube::api::{Api, ListParams};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sit_in_their_subnets_zones_and_volumes_need_the_ebs_csi_add_on() {
    let moto = Moto::start().await;
    let ec2 = ec2(&moto);
    let vpc = ec2.create_vpc().cidr_block("10.0.0.0/16").send().await.unwrap().vpc.unwrap().vpc_id.unwrap();
    let mut subnets = Vec::new();
    for (cidr, zone) in [("10.0.1.0/24", "us-east-1b"), ("10.0.2.0/24", "us-east-1c")] {
        let s = ec2.create_subnet().vpc_id(&vpc).cidr_block(cidr).availability_zone(zone).send().await.unwrap();
        subnets.push(s.subnet.unwrap().subnet_id.unwrap());
    }
    let mut cfg = cloudsim::Config::new(Arc::new(KubeBackend));
    cfg.time_scale = 1000.0;
    cfg.ec2_endpoint = Some(moto.url());
    cfg.credentials = cloudsim::env::Credentials {
        access_key_id: kube_support::ACCESS_KEY.into(),
        secret_access_key: kube_support::SECRET_KEY.into(),
    };
    let server = cloudsim::Server::start(cfg).await.unwrap();
    let eks = eks_client(&server.url());
    active_cluster(&eks, "data", "1.32").await;
    eks.create_nodegroup()
        .cluster_name("data")
        .nodegroup_name("general")
        .node_role("arn:aws:iam::123456789012:role/node")
        .set_subnets(Some(subnets.clone()))
        .scaling_config(NodegroupScalingConfig::builder().min_size(2).desired_size(2).max_size(2).build())
        .send()
        .await
        .unwrap();
    wait_nodegroup(&eks, "data", "general", "ACTIVE").await;
    let c = eks.describe_cluster().name("data").send().await.unwrap().cluster.unwrap();
    let ca = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, c.certificate_authority().unwrap().data().unwrap()).unwrap();
    let client = kube_support::client_at(c.endpoint().unwrap(), &String::from_utf8(ca).unwrap(), Some(kube_support::token("data")));

    let nodes: Api<Node> = Api::all(client.clone());
    let mut zones = eventually("two Ready nodes", Duration::from_secs(10), async || {
        let list = nodes.list(&ListParams::default()).await.unwrap().items;
        let zones: Vec<(String, String)> = list
            .iter()
            .filter(|n| n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")))
            .filter_map(|n| {
                let l = n.metadata.labels.as_ref()?;
                Some((l.get("topology.kubernetes.io/zone")?.clone(), l.get("topology.ebs.csi.aws.com/zone")?.clone()))
            })
            .collect();
        (zones.len() == 2).then_some(zones)
    })
    .await;
    zones.sort();
    let want: Vec<(String, String)> = ["us-east-1b", "us-east-1c"].iter().map(|z| (z.to_string(), z.to_string())).collect();
    assert_eq!(zones, want, "one node in each subnet's zone, under both keys");

    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&claims, claim("data", None, "1Gi", None)).await;
    create(&pods, pod_with_claim("app", "data")).await;
    let message = event(&client, "default", "data", "ExternalProvisioning").await;
    assert!(message.contains("'ebs.csi.aws.com'"), "the in-tree gp2 default is migrated to the CSI driver: {message}");
    assert!(ec2.describe_volumes().send().await.unwrap().volumes().is_empty(), "no add-on, no volume");

    eks.create_addon().cluster_name("data").addon_name("aws-ebs-csi-driver").send().await.unwrap();
    let drivers: Api<CSIDriver> = Api::all(client.clone());
    eventually("the add-on's CSIDriver", Duration::from_secs(10), async || drivers.get_opt("ebs.csi.aws.com").await.unwrap()).await;
    let volume = eventually("the claim bound once the add-on is ACTIVE", Duration::from_secs(10), async || {
        claims.get("data").await.unwrap().spec?.volume_name
    })
    .await;
    assert!(volume.starts_with("pvc-"));
    let listed = ec2.describe_volumes().send().await.unwrap();
    let zone = listed.volumes()[0].availability_zone().unwrap().to_string();
    assert!(zone == "us-east-1b" || zone == "us-east-1c", "{zone}");

    eks.delete_addon().cluster_name("data").addon_name("aws-ebs-csi-driver").send().await.unwrap();
    eventually("the CSIDriver gone with the add-on", Duration::from_secs(10), async || {
        drivers.get_opt("ebs.csi.aws.com").await.unwrap().is_none().then_some(())
    })
    .await;
    server.shutdown().await;
}
