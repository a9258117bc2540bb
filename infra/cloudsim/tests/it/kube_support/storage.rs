//! Support for the storage tests: an EC2 client on moto (to read volumes back as cutover does), a
//! cluster with a Ready node in each of two zones and the EBS CSI add-on, claims, pods and Events.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use k8s_openapi::api::core::v1::{Event, Node, PersistentVolume};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

use super::{ACCESS_KEY, REGION, SECRET_KEY, client, cluster, eventually, nodegroup};
use crate::support::moto::Moto;

/// The zones of the two nodes of [`cluster_with_nodes`].
pub const ZONES: [&str; 2] = ["us-east-1a", "us-east-1b"];

/// aws-sdk-ec2 on moto, with the test credentials.
pub fn ec2(moto: &Moto) -> aws_sdk_ec2::Client {
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

/// A cluster with two Ready nodes, one in each of [`ZONES`], a `gp3` class of the CSI driver, and
/// the `aws-ebs-csi-driver` add-on when `ebs_addon`.
pub async fn cluster_with_nodes(name: &str, env: &cloudsim::env::Env, ebs_addon: bool) -> (Arc<cloudsim::kube::KubeCluster>, kube::Client) {
    let kc = cluster(name, env).await;
    if ebs_addon {
        kc.sync_addons(&["aws-ebs-csi-driver".to_string()]);
    }
    let mut ng = nodegroup("general", 2);
    ng.zones = ZONES.iter().map(|z| z.to_string()).collect();
    kc.sync_nodegroup(&ng);
    let client = client(&kc).await;
    let nodes: Api<Node> = Api::all(client.clone());
    eventually("two Ready nodes, one per zone", Duration::from_secs(10), async || {
        let list = nodes.list(&ListParams::default()).await.unwrap().items;
        let ready = list.iter().all(|n| n.status.as_ref().and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")));
        let mut zones: Vec<String> = list.iter().filter_map(|n| n.metadata.labels.as_ref()?.get("topology.ebs.csi.aws.com/zone").cloned()).collect();
        zones.sort();
        (ready && zones == ZONES).then_some(())
    })
    .await;
    create(&Api::<StorageClass>::all(client.clone()), json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "gp3"},
        "provisioner": "ebs.csi.aws.com", "parameters": {"type": "gp3"},
        "reclaimPolicy": "Delete", "volumeBindingMode": "WaitForFirstConsumer",
    }))
    .await;
    (kc, client)
}

/// Creates an object from its JSON through `api`.
pub async fn create<K>(api: &Api<K>, object: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let typed: K = serde_json::from_value(object.clone()).unwrap_or_else(|e| panic!("{object} does not parse: {e}"));
    api.create(&PostParams::default(), &typed).await.unwrap_or_else(|e| panic!("create {object}: {e}"))
}

/// A claim of `size` in class `class` (`None`: no class named), optionally naming a volume.
pub fn claim(name: &str, class: Option<&str>, size: &str, volume: Option<&str>) -> serde_json::Value {
    let mut c = json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "default"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}},
    });
    if let Some(class) = class {
        c["spec"]["storageClassName"] = json!(class);
    }
    if let Some(v) = volume {
        c["spec"]["volumeName"] = json!(v);
    }
    c
}

/// A pod mounting claim `claim`.
pub fn pod_with_claim(name: &str, claim: &str) -> serde_json::Value {
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]},
    })
}

/// A static EBS persistent volume of the CSI driver, pinned to `zone`, optionally reserved for a claim.
pub fn static_volume(name: &str, volume_id: &str, zone: &str, claim: Option<&str>, policy: &str) -> serde_json::Value {
    let mut pv = json!({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": policy,
                 "storageClassName": "gp3",
                 "csi": {"driver": "ebs.csi.aws.com", "volumeHandle": volume_id, "fsType": "ext4"},
                 "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "topology.ebs.csi.aws.com/zone", "operator": "In", "values": [zone]}]}]}}},
    });
    if let Some(c) = claim {
        pv["spec"]["claimRef"] = json!({"namespace": "default", "name": c});
    }
    pv
}

/// The EBS volume id of a CSI persistent volume.
pub fn volume_id(pv: &PersistentVolume) -> String {
    pv.spec.as_ref().unwrap().csi.as_ref().expect("a CSI volume").volume_handle.clone()
}

/// Waits for an Event with `reason` about the object named `name` (in `namespace`), and returns its message.
pub async fn event(client: &kube::Client, namespace: &str, name: &str, reason: &str) -> String {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    eventually(&format!("a {reason} event about {name}"), Duration::from_secs(10), async || {
        let list = events.list(&ListParams::default().fields(&format!("involvedObject.name={name}"))).await.unwrap().items;
        list.into_iter().find(|e| e.reason.as_deref() == Some(reason)).and_then(|e| e.message)
    })
    .await
}
