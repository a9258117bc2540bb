//! Persistent volumes: a StatefulSet's claim templates become claims, the fake EBS CSI driver makes
//! their volumes in EC2 (moto, read back with aws-sdk-ec2) in the zone of the node the scheduler
//! chose, pods wait for their claims and go where their volumes are, and reclaim policies decide
//! what deleting a claim deletes.

use std::time::Duration;

use crate::kube_support::*;
use crate::support::moto::Moto;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

const ZONES: [&str; 2] = ["us-east-1a", "us-east-1b"];

fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
    let http = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    let conf = aws_sdk_ec2::Config::builder()
        .http_client(http)
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(moto.url())
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

/// A cluster with two Ready nodes, one in each of [`ZONES`], and a `gp3` class of the CSI driver.
async fn cluster_with_nodes(name: &str, env: &cloudsim::env::Env) -> (std::sync::Arc<cloudsim::kube::KubeCluster>, kube::Client) {
    let kc = cluster(name, env).await;
    kc.sync_addons(&["aws-ebs-csi-driver".to_string()]);
    let mut ng = nodegroup("general", 2);
    ng.zones = ZONES.iter().map(|z| z.to_string()).collect();
    kc.sync_nodegroup(&ng);
    let client = client(&kc).await;
    let nodes: Api<Node> = Api::all(client.clone());
    eventually("two nodes, one per zone", Duration::from_secs(10), async || {
        let list = nodes.list(&ListParams::default()).await.unwrap().items;
        let mut zones: Vec<String> = list.iter().filter_map(|n| n.metadata.labels.as_ref()?.get("topology.ebs.csi.aws.com/zone").cloned()).collect();
        zones.sort();
        (zones == ZONES).then_some(())
    })
    .await;
    let classes: Api<StorageClass> = Api::all(client.clone());
    let gp3 = serde_json::from_value(json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"},
        "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"},
        "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
    }))
    .unwrap();
    classes.create(&PostParams::default(), &gp3).await.unwrap();
    (kc, client)
}

fn ledger(replicas: i32) -> StatefulSet {
    serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "ledger", "namespace": "default"},
        "spec": {
            "replicas": replicas, "serviceName": "ledger",
            "selector": {"matchLabels": {"app": "ledger"}},
            "template": {"metadata": {"labels": {"app": "ledger"}},
                         "spec": {"containers": [{"name": "db", "image": "postgres:16", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                      "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "resources": {"requests": {"storage": "1Gi"}}}}],
        },
    }))
    .unwrap()
}

async fn ready(sets: &Api<StatefulSet>, n: i32) {
    eventually(&format!("ledger with {n} ready replicas"), Duration::from_secs(20), async || {
        let s = sets.get("ledger").await.unwrap();
        (s.status.and_then(|s| s.ready_replicas).unwrap_or(0) == n).then_some(())
    })
    .await;
}

fn volume_id(pv: &PersistentVolume) -> String {
    pv.spec.as_ref().unwrap().csi.as_ref().expect("a CSI volume").volume_handle.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_gets_a_claim_and_an_ebs_volume_in_its_nodes_zone_and_scaling_to_zero_keeps_them() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c1", &env).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &ledger(2)).await.unwrap();
    ready(&sets, 2).await;

    let ec2 = ec2(&moto);
    for i in 0..2 {
        let claim = claims.get(&format!("data-ledger-{i}")).await.unwrap();
        assert_eq!(claim.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
        assert_eq!(claim.metadata.labels.as_ref().unwrap()["app"], "ledger", "the set's selector labels");
        let pv = volumes.get(claim.spec.as_ref().unwrap().volume_name.as_ref().unwrap()).await.unwrap();
        let id = volume_id(&pv);
        let pod = pods.get(&format!("ledger-{i}")).await.unwrap();
        let node: Node = Api::<Node>::all(client.clone()).get(pod.spec.as_ref().unwrap().node_name.as_ref().unwrap()).await.unwrap();
        let node_zone = node.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone();
        let described = ec2.describe_volumes().volume_ids(&id).send().await.unwrap();
        let v = &described.volumes()[0];
        assert_eq!(v.availability_zone(), Some(node_zone.as_str()), "the volume is where its pod runs");
        assert_eq!(v.size(), Some(1));
        assert_eq!(v.volume_type().map(|t| t.as_str()), Some("gp3"));
        let tag = |k: &str| v.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string);
        assert_eq!(tag("kubernetes.io/created-for/pvc/name").as_deref(), Some(format!("data-ledger-{i}").as_str()));
        assert_eq!(tag("kubernetes.io/cluster/vol-c1").as_deref(), Some("owned"));
    }

    sets.patch("ledger", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}}))).await.unwrap();
    eventually("no ledger pod", Duration::from_secs(10), async || {
        pods.list(&ListParams::default().labels("app=ledger")).await.unwrap().items.is_empty().then_some(())
    })
    .await;
    let kept = claims.list(&ListParams::default().labels("app=ledger")).await.unwrap().items;
    assert_eq!(kept.len(), 2, "claims outlive a scale to zero");
    sets.patch("ledger", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    ready(&sets, 2).await;
    let again = claims.list(&ListParams::default().labels("app=ledger")).await.unwrap().items;
    let names = |cs: &[PersistentVolumeClaim]| cs.iter().map(|c| c.spec.as_ref().unwrap().volume_name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&again), names(&kept), "scaling back up reuses the same volumes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_claim_deletes_its_volume_under_delete_and_keeps_it_under_retain() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c2", &env).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    sets.create(&PostParams::default(), &ledger(2)).await.unwrap();
    ready(&sets, 2).await;
    sets.delete("ledger", &DeleteParams::default()).await.unwrap();
    let pv = |i: usize| {
        let claims = claims.clone();
        async move { claims.get(&format!("data-ledger-{i}")).await.unwrap().spec.unwrap().volume_name.unwrap() }
    };
    let (pv0, pv1) = (pv(0).await, pv(1).await);
    let (id0, id1) = (volume_id(&volumes.get(&pv0).await.unwrap()), volume_id(&volumes.get(&pv1).await.unwrap()));
    volumes.patch(&pv1, &PatchParams::default(), &Patch::Merge(json!({"spec": {"persistentVolumeReclaimPolicy": "Retain"}}))).await.unwrap();
    for i in 0..2 {
        claims.delete(&format!("data-ledger-{i}"), &DeleteParams::default()).await.unwrap();
    }
    let ec2 = ec2(&moto);
    eventually("the Delete volume gone from EC2 and its PV removed", Duration::from_secs(10), async || {
        let listed = ec2.describe_volumes().send().await.unwrap();
        let ids: Vec<&str> = listed.volumes().iter().filter_map(|v| v.volume_id()).collect();
        (!ids.contains(&id0.as_str()) && volumes.get_opt(&pv0).await.unwrap().is_none()).then_some(())
    })
    .await;
    let retained = volumes.get(&pv1).await.unwrap();
    assert_eq!(retained.status.unwrap().phase.as_deref(), Some("Released"));
    assert_eq!(ec2.describe_volumes().volume_ids(&id1).send().await.unwrap().volumes().len(), 1, "Retain keeps the EBS volume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_volume_reserved_for_a_claim_puts_its_pod_in_the_volumes_zone_and_no_node_there_leaves_it_pending() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c3", &env).await;
    let ec2 = ec2(&moto);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, zone) in [("restored", "us-east-1b"), ("elsewhere", "us-east-1c")] {
        let v = ec2.create_volume().availability_zone(zone).size(1).send().await.unwrap();
        let pv = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": format!("pv-{name}")},
            "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                     "storageClassName": "gp3", "claimRef": {"namespace": "default", "name": name},
                     "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": v.volume_id().unwrap(), "fsType": "ext4"},
                     "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [zone]}]}]}}},
        }))
        .unwrap();
        volumes.create(&PostParams::default(), &pv).await.unwrap();
        let pvc = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "volumeName": format!("pv-{name}"), "resources": {"requests": {"storage": "1Gi"}}},
        }))
        .unwrap();
        claims.create(&PostParams::default(), &pvc).await.unwrap();
        let pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": name}}]},
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let zone_of_node = async |node: &str| -> String {
        Api::<Node>::all(client.clone()).get(node).await.unwrap().metadata.labels.unwrap()["topology.kubernetes.io/zone"].clone()
    };
    let node = eventually("the restored pod scheduled", Duration::from_secs(10), async || {
        pods.get("restored").await.unwrap().spec.and_then(|s| s.node_name)
    })
    .await;
    assert_eq!(zone_of_node(&node).await, "us-east-1b", "the pod runs in its volume's zone");
    assert_eq!(claims.get("restored").await.unwrap().status.unwrap().phase.as_deref(), Some("Bound"));
    let message = eventually("the other pod unschedulable", Duration::from_secs(10), async || {
        let p = pods.get("elsewhere").await.unwrap();
        let c = p.status?.conditions?.into_iter().find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
        c.message.filter(|m| m.contains("volume node affinity conflict"))
    })
    .await;
    assert!(message.contains("0/2 nodes"), "{message}");
    assert!(pods.get("elsewhere").await.unwrap().spec.unwrap().node_name.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ec2_a_claim_that_needs_a_volume_stays_pending_and_says_why() {
    let env = env(None);
    let (_kc, client) = cluster_with_nodes("vol-c4", &env).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &ledger(1)).await.unwrap();
    let why = eventually("the claim says why it waits", Duration::from_secs(10), async || {
        let c = claims.get_opt("data-ledger-0").await.unwrap()?;
        c.metadata.annotations?.get("cloudsim.dev/provisioning").cloned()
    })
    .await;
    assert!(why.contains("AWS_ENDPOINT_URL_EC2"), "{why}");
    assert_eq!(claims.get("data-ledger-0").await.unwrap().status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(sets.get("ledger").await.unwrap().status.and_then(|s| s.ready_replicas).unwrap_or(0), 0);
}
