//! The fake EBS CSI driver (`ebs.csi.aws.com`): its controller's CreateVolume, DeleteVolume and
//! ControllerPublishVolume against EC2 (moto in tests), so the volumes cutover reads back are EC2's.
//!
//! It runs only while the cluster has the CSIDriver `ebs.csi.aws.com`, which the EKS
//! `aws-ebs-csi-driver` add-on installs when it turns ACTIVE and removes when it is deleted (a
//! self-managed install's chart makes one too). Without it claims wait (`ExternalProvisioning`)
//! and EBS volumes never attach, as on EKS since 1.23, where the in-tree plugin is migrated to it.
//!
//! - Provisioning: claims the PersistentVolume controller handed to `ebs.csi.aws.com` or
//!   `kubernetes.io/aws-ebs` get a volume in the selected node's zone (`WaitForFirstConsumer`) or
//!   the first of the nodes' zones (`Immediate`), tagged as the real driver tags it, and a bound
//!   PersistentVolume `pvc-<claim uid>` (CSI source, or the in-tree shape for in-tree classes).
//! - Reclaim: a Released volume it provisioned under policy `Delete` is deleted in EC2, then the
//!   PersistentVolume goes. `Retain` keeps both.
//! - Attach: each VolumeAttachment the attach/detach controller made is checked against EC2 (the
//!   volume exists, in the node's zone) and marked attached, or given the error EC2 would give.
//!
//! Every EC2 call happens here, between controller passes, outside any store lock.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};

use super::events::{self, Kind};
use super::nodes::{EBS_ZONE_LABEL, ZONE_LABEL};
use super::volumes::{self, EBS_CSI, IN_TREE, MIGRATED_TO, PROVISIONED_BY, PROVISIONING, PV_PROTECTION, STORAGE_PROVISIONER, pvcs, pvs};
use super::{deadline, gr};
use crate::ec2::{Ec2Link, NewVolume};
use crate::kube::discovery::GroupResource;
use crate::kube::store::{Commit, StoreError, Tx};
use crate::kube::{ClusterState, obj};

/// The add-on whose CSIDriver turns the driver on.
pub const ADDON: &str = "aws-ebs-csi-driver";
/// How the driver signs its Events (its controller pod's provisioner identity).
const COMPONENT: &str = "ebs.csi.aws.com_ebs-csi-controller-cloudsim";
/// When a failed CreateVolume or attachment is tried again (ms since the epoch).
const RETRY_AT: &str = "cloudsim.dev/retry-at";
/// Simulated seconds between retries of a failed EC2 call (the sidecars back off similarly).
const RETRY_SECS: f64 = 10.0;

fn csidrivers() -> GroupResource {
    gr("storage.k8s.io", "csidrivers")
}

pub fn attachments() -> GroupResource {
    gr("storage.k8s.io", "volumeattachments")
}

/// Whether the driver is installed (its CSIDriver exists).
pub fn driver_running(tx: &Tx) -> bool {
    tx.get(&csidrivers(), "", EBS_CSI).is_some_and(|d| !obj::is_deleting(&d))
}

/// Installs or removes the driver's CSIDriver as the add-on is ACTIVE or not. Only the add-on's own
/// object is removed: one a self-managed install made stays.
pub fn sync_addon(cs: &ClusterState, active: bool) -> Result<(), StoreError> {
    cs.store.write(Commit::Durable, |tx| {
        let current = tx.get(&csidrivers(), "", EBS_CSI);
        match (active, current) {
            (true, None) => {
                tx.put(&csidrivers(), json!({
                    "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
                    "metadata": {"name": EBS_CSI, "uid": obj::new_uid(), "creationTimestamp": obj::now_time(),
                                 "labels": {"app.kubernetes.io/name": ADDON, "app.kubernetes.io/managed-by": "EKS"}},
                    "spec": {"attachRequired": true, "podInfoOnMount": false, "fsGroupPolicy": "File", "requiresRepublish": false,
                             "storageCapacity": false, "seLinuxMount": false, "volumeLifecycleModes": ["Persistent"]},
                }));
            }
            (false, Some(d)) if obj::label(&d, "app.kubernetes.io/managed-by") == Some("EKS") => {
                tx.remove(&csidrivers(), "", EBS_CSI);
            }
            _ => {}
        }
        Ok(())
    })
}

/// One pass of the driver (nothing when it is not installed).
pub async fn run(cs: &ClusterState) {
    let running = cs.store.write(Commit::DryRun, |tx| Ok::<_, StoreError>(driver_running(tx))).unwrap_or(false);
    if !running {
        return;
    }
    provision(cs).await;
    reclaim(cs).await;
    attach(cs).await;
}

/// Writes what the driver learnt; a failed write is logged and redone next pass.
fn write(cs: &ClusterState, commit: Commit, f: impl FnOnce(&mut Tx)) {
    if let Err(e) = cs.store.write(commit, |tx| {
        f(tx);
        Ok::<(), StoreError>(())
    }) {
        tracing::warn!(cluster = %cs.name, error = %e, "the EBS driver could not store a change; retrying next pass");
    }
}

fn retry_due(o: &Value, now: i64) -> bool {
    deadline(o, RETRY_AT).is_none_or(|at| at <= now)
}

/// A claim to make a volume for, and how.
struct Wanted {
    pvc: Arc<Value>,
    class: Arc<Value>,
    zone: String,
}

fn wanted(tx: &Tx, region: &str, now: i64) -> Vec<Wanted> {
    let nodes = tx.list(&gr("", "nodes"), None);
    let mut zones: Vec<&str> = nodes.iter().filter_map(|n| obj::label(n, ZONE_LABEL)).collect();
    zones.sort_unstable();
    let volumes = tx.list(&pvs(), None);
    let mut out = Vec::new();
    for pvc in tx.list(&pvcs(), None) {
        let mine = matches!(obj::annotation(&pvc, STORAGE_PROVISIONER), Some(EBS_CSI | IN_TREE));
        if !mine || obj::is_deleting(&pvc) || volumes::is_bound(&pvc) || !retry_due(&pvc, now) {
            continue;
        }
        if pvc["spec"]["volumeName"].as_str().is_some_and(|v| !v.is_empty()) {
            continue;
        }
        // A volume reserved for it is bound by the PersistentVolume controller, not provisioned.
        let reserved = volumes.iter().any(|pv| pv["spec"]["claimRef"]["name"] == obj::name(&pvc) && pv["spec"]["claimRef"]["namespace"] == obj::namespace(&pvc));
        let Some(class) = volumes::class_of(tx, &pvc) else { continue };
        if reserved {
            continue;
        }
        let zone = if class["volumeBindingMode"] == "WaitForFirstConsumer" {
            let Some(node) = obj::annotation(&pvc, volumes::SELECTED_NODE).and_then(|n| tx.get(&gr("", "nodes"), "", n)) else { continue };
            obj::label(&node, ZONE_LABEL).map(str::to_string)
        } else {
            zones.first().map(|z| z.to_string())
        };
        out.push(Wanted { pvc, class, zone: zone.unwrap_or_else(|| format!("{region}a")) });
    }
    out
}

async fn provision(cs: &ClusterState) {
    let now = obj::now_millis();
    let wanted = cs.store.write(Commit::DryRun, |tx| Ok::<_, StoreError>(wanted(tx, &cs.env.region, now))).unwrap_or_default();
    for w in wanted {
        let class_name = obj::name(&w.class).to_string();
        let Some(ec2) = cs.env.ec2.as_ref() else {
            let why = "cloudsim has no EC2 endpoint (AWS_ENDPOINT_URL_EC2) to make the volume in";
            write(cs, Commit::Lazy, |tx| {
                failed(tx, &w.pvc, &format!("failed to provision volume with StorageClass \"{class_name}\": rpc error: code = Internal desc = {why}"), why, None);
            });
            continue;
        };
        let volume = make_volume(cs, ec2, &w).await;
        write(cs, Commit::Durable, |tx| {
            let Some(pvc) = tx.get(&pvcs(), obj::namespace(&w.pvc), obj::name(&w.pvc)).filter(|p| obj::uid(p) == obj::uid(&w.pvc) && !volumes::is_bound(p)) else {
                return;
            };
            events::record(tx, &pvc, Kind::Normal, "Provisioning", &format!("External provisioner is provisioning volume for claim \"{}/{}\"", obj::namespace(&pvc), obj::name(&pvc)), COMPONENT);
            match volume {
                Ok(pv) => {
                    if tx.get(&pvs(), "", obj::name(&pv)).is_some() {
                        return;
                    }
                    let message = format!("Successfully provisioned volume {}", obj::name(&pv));
                    let pv = tx.put(&pvs(), pv);
                    volumes::bind_pair(tx, &pv, &pvc);
                    if let Some(bound) = tx.get(&pvcs(), obj::namespace(&pvc), obj::name(&pvc)) {
                        let mut c = (*bound).clone();
                        obj::remove_annotation(&mut c, RETRY_AT);
                        super::put_if_changed(tx, &pvcs(), &bound, c);
                        events::record(tx, &bound, Kind::Normal, "ProvisioningSucceeded", &message, COMPONENT);
                    }
                }
                Err(e) => {
                    let message = format!("failed to provision volume with StorageClass \"{class_name}\": rpc error: code = Internal desc = Could not create volume \"pvc-{}\": {e}", obj::uid(&pvc));
                    let retry = now + cs.scaled_secs(RETRY_SECS).as_millis() as i64;
                    failed(tx, &pvc, &message, &format!("CreateVolume failed: {e}"), Some(retry));
                }
            }
        });
    }
}

/// A claim the driver could not provision: a `ProvisioningFailed` Event, why in one line, and when to retry.
fn failed(tx: &mut Tx, pvc: &Value, message: &str, why: &str, retry_at: Option<i64>) {
    let Some(live) = tx.get(&pvcs(), obj::namespace(pvc), obj::name(pvc)) else { return };
    events::record(tx, &live, Kind::Warning, "ProvisioningFailed", message, COMPONENT);
    let mut c = (*live).clone();
    obj::set_annotation(&mut c, PROVISIONING, why);
    if let Some(at) = retry_at {
        obj::set_annotation(&mut c, RETRY_AT, &at.to_string());
    }
    super::put_if_changed(tx, &pvcs(), &live, c);
}

/// CreateVolume in EC2, and the PersistentVolume for it (not stored yet).
async fn make_volume(cs: &ClusterState, ec2: &Ec2Link, w: &Wanted) -> Result<Value, crate::ec2::Ec2Error> {
    let (ns, name, uid) = (obj::namespace(&w.pvc), obj::name(&w.pvc), obj::uid(&w.pvc));
    let pv_name = format!("pvc-{uid}");
    let provisioner = w.class["provisioner"].as_str().unwrap_or(EBS_CSI);
    let csi = provisioner == EBS_CSI;
    let params = &w.class["parameters"];
    let gib = i32::try_from(volumes::requested(&w.pvc).div_ceil(1 << 30).max(1)).unwrap_or(i32::MAX);
    let fs_type = params["csi.storage.k8s.io/fstype"].as_str().or(params["fsType"].as_str()).unwrap_or("ext4").to_string();
    let request = NewVolume {
        zone: w.zone.clone(),
        size_gib: gib,
        volume_type: params["type"].as_str().unwrap_or(if csi { "gp3" } else { "gp2" }).to_string(),
        encrypted: params["encrypted"] == "true",
        kms_key_id: params["kmsKeyId"].as_str().map(str::to_string),
        iops: iops(params, gib),
        throughput: params["throughput"].as_str().and_then(|t| t.parse().ok()),
        tags: BTreeMap::from([
            ("kubernetes.io/created-for/pvc/name".to_string(), name.to_string()),
            ("kubernetes.io/created-for/pvc/namespace".to_string(), ns.to_string()),
            ("kubernetes.io/created-for/pv/name".to_string(), pv_name.clone()),
            ("CSIVolumeName".to_string(), pv_name.clone()),
            (format!("kubernetes.io/cluster/{}", cs.name), "owned".to_string()),
            ("ebs.csi.aws.com/cluster".to_string(), "true".to_string()),
        ]),
        token: pv_name.clone(),
    };
    let volume = ec2.create_volume(&request).await?;
    let (source, key) = if csi {
        let identity = format!("{}-{}-{EBS_CSI}", obj::now_millis(), fastrand::u16(1000..10000));
        (json!({"csi": {"driver": EBS_CSI, "volumeHandle": volume.id, "fsType": fs_type,
                        "volumeAttributes": {"storage.kubernetes.io/csiProvisionerIdentity": identity}}}), EBS_ZONE_LABEL)
    } else {
        (json!({"awsElasticBlockStore": {"volumeID": format!("aws://{}/{}", volume.zone, volume.id), "fsType": fs_type}}), ZONE_LABEL)
    };
    let mut spec = json!({
        "capacity": {"storage": format!("{gib}Gi")},
        "accessModes": w.pvc["spec"]["accessModes"],
        "persistentVolumeReclaimPolicy": w.class["reclaimPolicy"].as_str().unwrap_or("Delete"),
        "storageClassName": obj::name(&w.class),
        "volumeMode": w.pvc["spec"]["volumeMode"].as_str().unwrap_or("Filesystem"),
        "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": ns, "name": name, "uid": uid},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": key, "operator": "In", "values": [volume.zone]}]}]}},
    });
    if let Some(options) = w.class["mountOptions"].as_array() {
        spec["mountOptions"] = json!(options);
    }
    if let (Some(s), Some(src)) = (spec.as_object_mut(), source.as_object()) {
        s.extend(src.clone());
    }
    let mut annotations = json!({PROVISIONED_BY: provisioner});
    if csi {
        annotations["volume.kubernetes.io/provisioner-deletion-secret-name"] = json!("");
        annotations["volume.kubernetes.io/provisioner-deletion-secret-namespace"] = json!("");
    } else {
        annotations[MIGRATED_TO] = json!(EBS_CSI);
    }
    Ok(json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": pv_name, "uid": obj::new_uid(), "creationTimestamp": obj::now_time(),
                     "annotations": annotations, "finalizers": [PV_PROTECTION]},
        "spec": spec,
        "status": {"phase": "Pending"},
    }))
}

/// The IOPS a class asks for: `iops`, or `iopsPerGB` times the size (the driver's parameters).
fn iops(params: &Value, gib: i32) -> Option<i32> {
    let number = |k: &str| params[k].as_str().and_then(|v| v.parse::<i32>().ok());
    number("iops").or_else(|| number("iopsPerGB").map(|per| per.saturating_mul(gib)))
}

/// Deletes the EC2 volumes of Released `Delete` volumes the driver made, then their PersistentVolumes.
async fn reclaim(cs: &ClusterState) {
    let doomed: Vec<Arc<Value>> = cs
        .store
        .list(&pvs(), None)
        .0
        .into_iter()
        .filter(|pv| {
            pv["status"]["phase"] == "Released"
                && pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
                && matches!(obj::annotation(pv, PROVISIONED_BY), Some(EBS_CSI | IN_TREE))
        })
        .collect();
    for pv in doomed {
        let result = match (cs.env.ec2.as_ref(), volumes::ebs_volume_id(&pv)) {
            (Some(ec2), Some(id)) => ec2.delete_volume(&id).await.map_err(|e| format!("rpc error: code = Internal desc = Could not delete volume ID \"{id}\": {e}")),
            (None, _) => Err("cloudsim has no EC2 endpoint (AWS_ENDPOINT_URL_EC2) to delete the volume in".to_string()),
            (Some(_), None) => Ok(()),
        };
        write(cs, Commit::Durable, |tx| {
            let Some(live) = tx.get(&pvs(), "", obj::name(&pv)) else { return };
            match &result {
                Ok(()) => drop(tx.remove(&pvs(), "", obj::name(&live))),
                Err(e) => events::record(tx, &live, Kind::Warning, "VolumeFailedDelete", e, COMPONENT),
            }
        });
    }
}

/// A VolumeAttachment to attach: the EBS volume and the node it is for.
struct Pending {
    va: Arc<Value>,
    volume_id: Option<String>,
    node: Option<Arc<Value>>,
}

/// Marks each pending VolumeAttachment attached, or failed with EC2's reason.
async fn attach(cs: &ClusterState) {
    let now = obj::now_millis();
    let pending: Vec<Pending> = cs
        .store
        .write(Commit::DryRun, |tx| {
            let out = tx
                .list(&attachments(), None)
                .into_iter()
                .filter(|va| va["spec"]["attacher"] == EBS_CSI && va["status"]["attached"] != true && retry_due(va, now))
                .map(|va| {
                    let pv = va["spec"]["source"]["persistentVolumeName"].as_str().and_then(|n| tx.get(&pvs(), "", n));
                    let node = va["spec"]["nodeName"].as_str().and_then(|n| tx.get(&gr("", "nodes"), "", n));
                    Pending { volume_id: pv.as_deref().and_then(volumes::ebs_volume_id), va, node }
                })
                .collect();
            Ok::<_, StoreError>(out)
        })
        .unwrap_or_default();
    for Pending { va, volume_id, node } in pending {
        let Some(id) = volume_id else { continue };
        let node_zone = node.as_deref().and_then(|n| obj::label(n, ZONE_LABEL)).unwrap_or_default().to_string();
        let instance = node.as_deref().and_then(|n| n["spec"]["providerID"].as_str()).and_then(|p| p.rsplit('/').next()).unwrap_or_default().to_string();
        let outcome = match cs.env.ec2.as_ref() {
            // Nothing to check against: the volume is taken to be where it should be.
            None => Ok(()),
            Some(ec2) => match ec2.volume(&id).await {
                Ok(None) => Err(format!("rpc error: code = NotFound desc = Volume \"{id}\" not found")),
                Ok(Some(v)) if v.zone != node_zone => Err(format!(
                    "rpc error: code = Internal desc = Could not attach volume \"{id}\" to node \"{instance}\": api error InvalidVolume.ZoneMismatch: \
                     The volume '{id}' is not in the same availability zone as instance '{instance}' ({} is in {node_zone})",
                    v.zone
                )),
                Ok(Some(_)) => Ok(()),
                Err(e) => Err(format!("rpc error: code = Internal desc = Could not attach volume \"{id}\" to node \"{instance}\": {e}")),
            },
        };
        let retry = now + cs.scaled_secs(RETRY_SECS).as_millis() as i64;
        write(cs, Commit::Lazy, |tx| {
            let Some(live) = tx.get(&attachments(), "", obj::name(&va)).filter(|l| obj::uid(l) == obj::uid(&va)) else { return };
            let mut a = (*live).clone();
            match &outcome {
                Ok(()) => {
                    obj::remove_annotation(&mut a, RETRY_AT);
                    a["status"] = json!({"attached": true, "attachmentMetadata": {"devicePath": "/dev/xvdaa"}});
                }
                Err(message) => {
                    obj::set_annotation(&mut a, RETRY_AT, &retry.to_string());
                    a["status"] = json!({"attached": false, "attachError": {"time": obj::now_time(), "message": message}});
                }
            }
            super::put_if_changed(tx, &attachments(), &live, a);
        });
    }
}
