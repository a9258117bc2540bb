//! The attach/detach controller, and the kubelet's wait for attached volumes.
//!
//! Each EBS persistent volume a scheduled pod uses gets a VolumeAttachment (`storage.k8s.io/v1`)
//! for the pod's node, named as Kubernetes names them: `csi-<sha256(volume handle, driver, node)>`
//! (in-tree EBS volumes are migrated, so their handle is the bare `vol-…` id). The driver
//! ([`super::ebs`]) attaches it or records EC2's error; a VolumeAttachment no running pod needs any
//! more goes (detach). Pods whose volumes are not attached stay `ContainerCreating`, with a
//! `FailedAttachVolume` Event saying why.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ebs::{self, attachments};
use super::events::{self, Kind};
use super::gr;
use super::volumes::{self, EBS_CSI, pvcs, pvs};
use crate::kube::obj;
use crate::kube::store::{StoreError, Tx};

const COMPONENT: &str = "attachdetach-controller";

/// The VolumeAttachment name Kubernetes gives `volume_handle` of `driver` on `node`.
pub fn attachment_name(volume_handle: &str, driver: &str, node: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("csi-{}", hex::encode(Sha256::digest(format!("{volume_handle}{driver}{node}").as_bytes())))
}

/// A pod's EBS volumes: `(persistent volume name, EBS volume id)`; `None` if a claim is not bound yet.
fn ebs_volumes(tx: &Tx, pod: &Value) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for claim in volumes::claim_names(pod) {
        let pvc = tx.get(&pvcs(), obj::namespace(pod), claim)?;
        if !volumes::is_bound(&pvc) {
            return None;
        }
        let pv = tx.get(&pvs(), "", pvc["spec"]["volumeName"].as_str().unwrap_or_default())?;
        if let Some(id) = volumes::ebs_volume_id(&pv) {
            out.push((obj::name(&pv).to_string(), id));
        }
    }
    Some(out)
}

fn needs_volumes(p: &Value) -> bool {
    p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty()) && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
}

/// Each pass: the VolumeAttachments scheduled pods need, and no others; Events for the stuck ones.
pub fn sync(tx: &mut Tx) -> Result<(), StoreError> {
    let mut wanted: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    let pods: Vec<_> = tx.list(&gr("", "pods"), None).into_iter().filter(|p| needs_volumes(p)).collect();
    for p in &pods {
        let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
        for (pv, id) in ebs_volumes(tx, p).unwrap_or_default() {
            wanted.insert(attachment_name(&id, EBS_CSI, node), (pv, id, node.to_string()));
        }
    }
    for va in tx.list(&attachments(), None) {
        if va["spec"]["attacher"] == EBS_CSI && !wanted.contains_key(obj::name(&va)) {
            tx.remove(&attachments(), "", obj::name(&va));
        }
    }
    for (name, (pv, _, node)) in &wanted {
        if tx.get(&attachments(), "", name).is_none() {
            tx.put(&attachments(), json!({
                "apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment",
                "metadata": {"name": name, "uid": obj::new_uid(), "creationTimestamp": obj::now_time()},
                "spec": {"attacher": EBS_CSI, "nodeName": node, "source": {"persistentVolumeName": pv}},
                "status": {"attached": false},
            }));
        }
    }
    let running = ebs::driver_running(tx);
    for p in pods.iter().filter(|p| p["status"]["phase"] == "Pending") {
        let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
        for (pv, id) in ebs_volumes(tx, p).unwrap_or_default() {
            let Some(va) = tx.get(&attachments(), "", &attachment_name(&id, EBS_CSI, node)) else { continue };
            let why = match va["status"]["attachError"]["message"].as_str() {
                Some(m) => m.to_string(),
                None if !running && va["status"]["attached"] != true => {
                    format!("timed out waiting for external-attacher of {EBS_CSI} CSI driver to attach volume {id}")
                }
                None => continue,
            };
            events::record(tx, p, Kind::Warning, "FailedAttachVolume", &format!("AttachVolume.Attach failed for volume \"{pv}\" : {why}"), COMPONENT);
        }
    }
    Ok(())
}

/// Whether every EBS volume of a scheduled pod is attached to its node (the kubelet waits for that).
pub fn attached(tx: &Tx, pod: &Value) -> bool {
    let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    ebs_volumes(tx, pod).is_some_and(|vs| {
        vs.iter().all(|(_, id)| tx.get(&attachments(), "", &attachment_name(id, EBS_CSI, node)).is_some_and(|va| va["status"]["attached"] == true))
    })
}
