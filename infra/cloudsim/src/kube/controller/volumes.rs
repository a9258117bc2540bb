//! Persistent volumes: the PersistentVolume controller (binding claims to volumes, releasing them
//! when their claim goes) and a fake EBS CSI driver that provisions and deletes the volumes in EC2
//! (moto in tests) as the real `ebs.csi.aws.com` does, so what cutover reads back is EC2's.
//!
//! - Static binding: a claim naming a volume (`spec.volumeName`), or a volume reserved for a claim
//!   (`spec.claimRef`), or an Available volume of the claim's class that is big enough.
//! - Dynamic provisioning, for classes whose provisioner is `ebs.csi.aws.com` or the in-tree
//!   `kubernetes.io/aws-ebs` (migrated to the CSI driver on EKS): `Immediate` claims at once in the
//!   first node's zone; `WaitForFirstConsumer` ones once the scheduler picked a node for a pod that
//!   uses them (`volume.kubernetes.io/selected-node`), in that node's zone.
//! - Reclaim: a bound volume whose claim is gone is `Released`; with policy `Delete` a volume the
//!   driver provisioned is deleted in EC2 and the PersistentVolume goes; `Retain` keeps both.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::nodes::{EBS_ZONE_LABEL, ZONE_LABEL};
use super::{gr, put_if_changed};
use crate::kube::store::{Commit, StoreError, Tx};
use crate::kube::{ClusterState, obj};

/// The node the scheduler chose for a claim's first consumer.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Why a claim waits (cloudsim's stand-in for the claim's Events).
pub const PROVISIONING: &str = "cloudsim.dev/provisioning";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const EBS_CSI: &str = "ebs.csi.aws.com";
const IN_TREE: &str = "kubernetes.io/aws-ebs";

fn pvcs() -> crate::kube::discovery::GroupResource {
    gr("", "persistentvolumeclaims")
}
fn pvs() -> crate::kube::discovery::GroupResource {
    gr("", "persistentvolumes")
}
fn classes() -> crate::kube::discovery::GroupResource {
    gr("storage.k8s.io", "storageclasses")
}

/// EKS creates every cluster with the in-tree `gp2` class as the default.
pub fn ensure_default_class(cs: &ClusterState) -> Result<(), StoreError> {
    cs.store.write(Commit::Durable, |tx| {
        if tx.get(&classes(), "", "gp2").is_none() {
            tx.put(&classes(), json!({
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "gp2", "uid": obj::new_uid(), "creationTimestamp": obj::now_time(),
                             "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": IN_TREE,
                "parameters": {"fsType": "ext4", "type": "gp2"},
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "WaitForFirstConsumer",
                "allowVolumeExpansion": true,
            }));
        }
        Ok::<(), StoreError>(())
    })
}

/// The claim's storage class: named, or the default one.
pub fn class_of(tx: &Tx, pvc: &Value) -> Option<Arc<Value>> {
    match pvc["spec"]["storageClassName"].as_str() {
        Some("") => None,
        Some(name) => tx.get(&classes(), "", name),
        None => tx
            .list(&classes(), None)
            .into_iter()
            .find(|c| obj::annotation(c, "storageclass.kubernetes.io/is-default-class") == Some("true")),
    }
}

fn is_ebs(class: &Value) -> bool {
    matches!(class["provisioner"].as_str(), Some(EBS_CSI | IN_TREE))
}

/// Whether the claim's class waits for a pod to be scheduled before provisioning.
pub fn waits_for_consumer(tx: &Tx, pvc: &Value) -> bool {
    class_of(tx, pvc).is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer")
}

pub fn is_bound(pvc: &Value) -> bool {
    pvc["status"]["phase"] == "Bound" && pvc["spec"]["volumeName"].as_str().is_some_and(|v| !v.is_empty())
}

/// `10Gi`, `500Mi`, `1G`, `1073741824` → bytes.
fn bytes(q: &str) -> Option<u128> {
    let units: [(&str, u128); 8] =
        [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000)];
    for (suffix, mult) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u128>().ok().map(|n| n * mult);
        }
    }
    q.parse().ok()
}

fn requested(pvc: &Value) -> u128 {
    pvc["spec"]["resources"]["requests"]["storage"].as_str().and_then(bytes).unwrap_or(0)
}

/// The zone a persistent volume's node affinity pins it to.
pub fn volume_zone(pv: &Value) -> Option<String> {
    pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"].as_array()?.iter().find_map(|t| {
        t["matchExpressions"].as_array()?.iter().find_map(|e| {
            let key = e["key"].as_str()?;
            (key == ZONE_LABEL || key == EBS_ZONE_LABEL || key == "failure-domain.beta.kubernetes.io/zone")
                .then(|| e["values"][0].as_str().map(str::to_string))
                .flatten()
        })
    })
}

/// Binds a claim and a volume to each other, as the PersistentVolume controller does.
fn bind_pair(tx: &mut Tx, pv: &Value, pvc: &Value) {
    let mut v = pv.clone();
    v["spec"]["claimRef"] = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": obj::namespace(pvc),
                                   "name": obj::name(pvc), "uid": obj::uid(pvc), "resourceVersion": obj::resource_version(pvc).to_string()});
    v["status"] = json!({"phase": "Bound", "lastPhaseTransitionTime": obj::now_time()});
    put_if_changed(tx, &pvs(), pv, v.clone());
    let mut c = pvc.clone();
    let by_controller = pvc["spec"]["volumeName"].as_str().is_none_or(str::is_empty);
    c["spec"]["volumeName"] = json!(obj::name(pv));
    obj::set_annotation(&mut c, "pv.kubernetes.io/bind-completed", "yes");
    if by_controller {
        obj::set_annotation(&mut c, "pv.kubernetes.io/bound-by-controller", "yes");
    }
    obj::remove_annotation(&mut c, PROVISIONING);
    c["status"] = json!({"phase": "Bound", "accessModes": pv["spec"]["accessModes"], "capacity": pv["spec"]["capacity"]});
    put_if_changed(tx, &pvcs(), pvc, c);
}

fn fits(pv: &Value, pvc: &Value) -> bool {
    let class = |o: &Value, at: &str| o[at]["storageClassName"].as_str().unwrap_or_default().to_string();
    let size_ok = pv["spec"]["capacity"]["storage"].as_str().and_then(bytes).unwrap_or(0) >= requested(pvc);
    let modes: Vec<&Value> = pv["spec"]["accessModes"].as_array().map(|m| m.iter().collect()).unwrap_or_default();
    let modes_ok = pvc["spec"]["accessModes"].as_array().is_none_or(|want| want.iter().all(|m| modes.contains(&m)));
    class(pv, "spec") == class(pvc, "spec") && size_ok && modes_ok
}

/// The synchronous half, each pass: binding and releasing.
pub fn bind(tx: &mut Tx) -> Result<(), StoreError> {
    let volumes = tx.list(&pvs(), None);
    for pvc in tx.list(&pvcs(), None) {
        if obj::is_deleting(&pvc) || is_bound(&pvc) {
            continue;
        }
        let (ns, name) = (obj::namespace(&pvc), obj::name(&pvc));
        let reserved_for = |pv: &Value| pv["spec"]["claimRef"]["namespace"] == ns && pv["spec"]["claimRef"]["name"] == name;
        let free = |pv: &Value| pv["spec"]["claimRef"].is_null() && pv["status"]["phase"] != "Released";
        let named = pvc["spec"]["volumeName"].as_str().filter(|v| !v.is_empty());
        let chosen = match named {
            Some(vn) => volumes.iter().find(|pv| obj::name(pv) == vn && (free(pv) || reserved_for(pv))),
            None => volumes
                .iter()
                .find(|pv| reserved_for(pv) && pv["status"]["phase"] != "Released")
                .or_else(|| volumes.iter().find(|pv| free(pv) && pv["metadata"]["annotations"][PROVISIONED_BY].is_null() && fits(pv, &pvc))),
        };
        if let Some(pv) = chosen {
            bind_pair(tx, pv, &pvc);
        } else if pvc["status"]["phase"].is_null() {
            let mut c = (*pvc).clone();
            c["status"] = json!({"phase": "Pending"});
            put_if_changed(tx, &pvcs(), &pvc, c);
        }
    }
    for pv in tx.list(&pvs(), None) {
        let claim = &pv["spec"]["claimRef"];
        if claim.is_null() || obj::is_deleting(&pv) {
            if pv["status"]["phase"].is_null() {
                let mut v = (*pv).clone();
                v["status"] = json!({"phase": "Available"});
                put_if_changed(tx, &pvs(), &pv, v);
            }
            continue;
        }
        let live = tx.get(&pvcs(), claim["namespace"].as_str().unwrap_or_default(), claim["name"].as_str().unwrap_or_default());
        let gone = match (&live, claim["uid"].as_str()) {
            (None, Some(_)) => true,
            (Some(c), Some(uid)) => obj::uid(c) != uid,
            _ => false,
        };
        if gone && pv["status"]["phase"] != "Released" {
            let mut v = (*pv).clone();
            v["status"] = json!({"phase": "Released", "lastPhaseTransitionTime": obj::now_time()});
            put_if_changed(tx, &pvs(), &pv, v);
        } else if !gone && pv["status"]["phase"].is_null() {
            let mut v = (*pv).clone();
            v["status"] = json!({"phase": "Available"});
            put_if_changed(tx, &pvs(), &pv, v);
        }
    }
    Ok(())
}

/// A claim the driver should make a volume for, and where.
struct Wanted {
    pvc: Arc<Value>,
    zone: String,
    csi: bool,
    volume_type: String,
    fs_type: String,
    reclaim: String,
}

fn set_waiting(cs: &ClusterState, pvc: &Value, why: &str) {
    let _ = cs.store.write(Commit::Lazy, |tx| {
        if let Some(live) = tx.get(&pvcs(), obj::namespace(pvc), obj::name(pvc))
            && obj::annotation(&live, PROVISIONING) != Some(why)
            && !is_bound(&live)
        {
            let mut c = (*live).clone();
            obj::set_annotation(&mut c, PROVISIONING, why);
            tx.put(&pvcs(), c);
        }
        Ok::<(), StoreError>(())
    });
}

/// The asynchronous half, each pass: the driver's CreateVolume and DeleteVolume in EC2.
pub async fn provision(cs: &ClusterState) {
    let wanted: Vec<Wanted> = cs
        .store
        .write(Commit::DryRun, |tx| {
            let nodes = tx.list(&gr("", "nodes"), None);
            let mut out = Vec::new();
            for pvc in tx.list(&pvcs(), None) {
                if obj::is_deleting(&pvc) || is_bound(&pvc) || pvc["spec"]["volumeName"].as_str().is_some_and(|v| !v.is_empty()) {
                    continue;
                }
                // A volume reserved for it is bound by the controller, not provisioned.
                if tx.list(&pvs(), None).iter().any(|pv| pv["spec"]["claimRef"]["name"] == obj::name(&pvc) && pv["spec"]["claimRef"]["namespace"] == obj::namespace(&pvc)) {
                    continue;
                }
                let Some(class) = class_of(tx, &pvc).filter(|c| is_ebs(c)) else { continue };
                let zone = if class["volumeBindingMode"] == "WaitForFirstConsumer" {
                    let Some(node) = obj::annotation(&pvc, SELECTED_NODE).and_then(|n| tx.get(&gr("", "nodes"), "", n)) else { continue };
                    obj::label(&node, ZONE_LABEL).map(str::to_string)
                } else {
                    nodes.first().and_then(|n| obj::label(n, ZONE_LABEL).map(str::to_string))
                };
                let csi = class["provisioner"] == EBS_CSI;
                out.push(Wanted {
                    pvc: pvc.clone(),
                    zone: zone.unwrap_or_else(|| format!("{}a", cs.env.region)),
                    csi,
                    volume_type: class["parameters"]["type"].as_str().unwrap_or(if csi { "gp3" } else { "gp2" }).to_string(),
                    fs_type: class["parameters"]["csi.storage.k8s.io/fstype"].as_str().or(class["parameters"]["fsType"].as_str()).unwrap_or("ext4").to_string(),
                    reclaim: class["reclaimPolicy"].as_str().unwrap_or("Delete").to_string(),
                });
            }
            Ok::<_, StoreError>(out)
        })
        .unwrap_or_default();
    let doomed: Vec<Arc<Value>> = cs
        .store
        .list(&pvs(), None)
        .0
        .into_iter()
        .filter(|pv| {
            pv["status"]["phase"] == "Released"
                && pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
                && obj::annotation(pv, PROVISIONED_BY).is_some()
        })
        .collect();
    if wanted.is_empty() && doomed.is_empty() {
        return;
    }
    let Some(ec2) = cs.env.ec2.as_ref() else {
        for w in &wanted {
            set_waiting(cs, &w.pvc, "cloudsim has no EC2 endpoint (AWS_ENDPOINT_URL_EC2) to make the volume in");
        }
        return;
    };
    for w in wanted {
        let (ns, name, uid) = (obj::namespace(&w.pvc), obj::name(&w.pvc), obj::uid(&w.pvc));
        let pv_name = format!("pvc-{uid}");
        let gib = requested(&w.pvc).div_ceil(1 << 30).max(1) as i32;
        let tags = BTreeMap::from([
            ("kubernetes.io/created-for/pvc/name".to_string(), name.to_string()),
            ("kubernetes.io/created-for/pvc/namespace".to_string(), ns.to_string()),
            ("kubernetes.io/created-for/pv/name".to_string(), pv_name.clone()),
            ("CSIVolumeName".to_string(), pv_name.clone()),
            (format!("kubernetes.io/cluster/{}", cs.name), "owned".to_string()),
            ("ebs.csi.aws.com/cluster".to_string(), "true".to_string()),
        ]);
        let volume = match ec2.create_volume(&w.zone, gib, &w.volume_type, &tags, &pv_name).await {
            Ok(v) => v,
            Err(e) => {
                set_waiting(cs, &w.pvc, &format!("ProvisioningFailed: {e}"));
                continue;
            }
        };
        let (source, key) = if w.csi {
            (json!({"csi": {"driver": EBS_CSI, "volumeHandle": volume.id, "fsType": w.fs_type,
                            "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": "cloudsim-ebs-csi"}}}), EBS_ZONE_LABEL)
        } else {
            (json!({"awsElasticBlockStore": {"volumeID": format!("aws://{}/{}", volume.zone, volume.id), "fsType": w.fs_type}}), ZONE_LABEL)
        };
        let mut spec = json!({
            "capacity": {"storage": format!("{gib}Gi")},
            "accessModes": w.pvc["spec"]["accessModes"],
            "persistentVolumeReclaimPolicy": w.reclaim,
            "storageClassName": w.pvc["spec"]["storageClassName"].as_str().map(str::to_string).unwrap_or_default(),
            "volumeMode": "Filesystem",
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": [volume.zone]}]}]}},
        });
        if let (Some(s), Some(src)) = (spec.as_object_mut(), source.as_object()) {
            s.extend(src.clone());
        }
        let provisioner = if w.csi { EBS_CSI } else { IN_TREE };
        let result = cs.store.write(Commit::Durable, |tx| {
            let Some(pvc) = tx.get(&pvcs(), ns, name).filter(|p| obj::uid(p) == uid && !is_bound(p)) else { return Ok::<(), StoreError>(()) };
            if tx.get(&pvs(), "", &pv_name).is_some() {
                return Ok(());
            }
            let pv = tx.put(&pvs(), json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {"name": pv_name, "uid": obj::new_uid(), "creationTimestamp": obj::now_time(),
                             "annotations": {PROVISIONED_BY: provisioner, "volume.kubernetes.io/provisioner-deletion-secret-name": "", "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""}},
                "spec": spec,
                "status": {"phase": "Pending"},
            }));
            bind_pair(tx, &pv, &pvc);
            Ok(())
        });
        if let Err(e) = result {
            tracing::warn!(cluster = %cs.name, error = %e, "could not store a provisioned volume");
        }
    }
    for pv in doomed {
        let id = pv["spec"]["csi"]["volumeHandle"]
            .as_str()
            .map(str::to_string)
            .or_else(|| pv["spec"]["awsElasticBlockStore"]["volumeID"].as_str().and_then(|v| v.rsplit('/').next()).map(str::to_string));
        if let Some(id) = id
            && let Err(e) = ec2.delete_volume(&id).await
        {
            tracing::warn!(cluster = %cs.name, volume = %id, error = %e, "DeleteVolume failed; retrying next pass");
            continue;
        }
        let _ = cs.store.write(Commit::Durable, |tx| {
            if let Some(live) = tx.get(&pvs(), "", obj::name(&pv)) {
                tx.remove(&pvs(), "", obj::name(&live));
            }
            Ok::<(), StoreError>(())
        });
    }
}
