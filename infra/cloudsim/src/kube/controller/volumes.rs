//! The PersistentVolume controller and the storage-object-in-use protection: what kube-controller-
//! manager does with claims and volumes before and after a CSI driver acts ([`super::ebs`] is the
//! driver, [`super::attach`] the attach/detach controller).
//!
//! - Static binding: a claim naming a volume (`spec.volumeName`, which must fit it: class, size,
//!   access modes, else a `VolumeMismatch` Event), or a volume reserved for it (`spec.claimRef`,
//!   either created first), or an Available volume of its class that is big enough.
//! - Handing a claim to its provisioner: `WaitForFirstConsumer` claims wait for the scheduler to
//!   pick a node (`volume.kubernetes.io/selected-node`); then, as for `Immediate` claims, the claim
//!   is annotated `volume.kubernetes.io/storage-provisioner` (the driver's cue) and an
//!   `ExternalProvisioning` Event says who should make the volume. In-tree `kubernetes.io/aws-ebs`
//!   classes are migrated to `ebs.csi.aws.com`, as on EKS since 1.23.
//! - Release: a bound volume whose claim is gone goes `Released` (the driver reclaims it), or
//!   `Failed` under `Delete` when no provisioner made it (no plugin can delete a static volume).
//! - Protection: claims carry `kubernetes.io/pvc-protection` until no scheduled pod uses them, volumes
//!   `kubernetes.io/pv-protection` until they are no longer Bound.

use std::sync::Arc;

use serde_json::{Value, json};

use super::events::{self, Kind};
use super::nodes::{EBS_ZONE_LABEL, ZONE_LABEL};
use super::{gr, put_if_changed};
use crate::kube::discovery::GroupResource;
use crate::kube::store::{Commit, StoreError, Tx};
use crate::kube::{ClusterState, obj};

/// The node the scheduler chose for a claim's first consumer.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// Which provisioner should make a claim's volume (set when the claim is handed to it).
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
const STORAGE_PROVISIONER_BETA: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// The CSI driver an in-tree volume or claim is migrated to.
pub const MIGRATED_TO: &str = "pv.kubernetes.io/migrated-to";
/// Why a claim waits, in one line (cloudsim's own, beside the Events).
pub const PROVISIONING: &str = "cloudsim.dev/provisioning";
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
pub const EBS_CSI: &str = "ebs.csi.aws.com";
pub const IN_TREE: &str = "kubernetes.io/aws-ebs";
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
const COMPONENT: &str = "persistentvolume-controller";

pub fn pvcs() -> GroupResource {
    gr("", "persistentvolumeclaims")
}
pub fn pvs() -> GroupResource {
    gr("", "persistentvolumes")
}
pub fn classes() -> GroupResource {
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

/// The default class's name (the DefaultStorageClass admission plugin gives it to new claims).
pub fn default_class(tx: &Tx) -> Option<String> {
    tx.list(&classes(), None)
        .into_iter()
        .find(|c| obj::annotation(c, "storageclass.kubernetes.io/is-default-class") == Some("true"))
        .map(|c| obj::name(&c).to_string())
}

/// The claim's storage class, if it names one that exists.
pub fn class_of(tx: &Tx, pvc: &Value) -> Option<Arc<Value>> {
    pvc["spec"]["storageClassName"].as_str().filter(|n| !n.is_empty()).and_then(|n| tx.get(&classes(), "", n))
}

/// The driver that makes volumes for `provisioner` (the in-tree EBS plugin is migrated to the CSI one).
pub fn driver_for(provisioner: &str) -> &str {
    if provisioner == IN_TREE { EBS_CSI } else { provisioner }
}

/// Whether the claim's class waits for a pod to be scheduled before provisioning.
pub fn waits_for_consumer(tx: &Tx, pvc: &Value) -> bool {
    class_of(tx, pvc).is_some_and(|c| c["volumeBindingMode"] == "WaitForFirstConsumer")
}

pub fn is_bound(pvc: &Value) -> bool {
    pvc["status"]["phase"] == "Bound" && pvc["spec"]["volumeName"].as_str().is_some_and(|v| !v.is_empty())
}

/// `10Gi`, `500Mi`, `1G`, `1073741824` → bytes.
pub fn bytes(q: &str) -> Option<u128> {
    let units: [(&str, u128); 8] =
        [("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40), ("k", 1000), ("M", 1_000_000), ("G", 1_000_000_000), ("T", 1_000_000_000_000)];
    for (suffix, mult) in units {
        if let Some(n) = q.strip_suffix(suffix) {
            return n.parse::<u128>().ok().map(|n| n * mult);
        }
    }
    q.parse().ok()
}

pub fn requested(pvc: &Value) -> u128 {
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

/// The EBS volume id behind a persistent volume (CSI `volumeHandle`, or in-tree `aws://zone/vol-…`).
pub fn ebs_volume_id(pv: &Value) -> Option<String> {
    if pv["spec"]["csi"]["driver"] == EBS_CSI {
        return pv["spec"]["csi"]["volumeHandle"].as_str().map(str::to_string);
    }
    pv["spec"]["awsElasticBlockStore"]["volumeID"].as_str().and_then(|v| v.rsplit('/').next()).map(str::to_string)
}

/// Binds a claim and a volume to each other, as the PersistentVolume controller does.
pub fn bind_pair(tx: &mut Tx, pv: &Value, pvc: &Value) {
    let mut v = pv.clone();
    v["spec"]["claimRef"] = json!({"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": obj::namespace(pvc),
                                   "name": obj::name(pvc), "uid": obj::uid(pvc), "resourceVersion": obj::resource_version(pvc).to_string()});
    if pv["spec"]["claimRef"].is_null() {
        obj::set_annotation(&mut v, "pv.kubernetes.io/bound-by-controller", "yes");
    }
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

/// Why `pv` cannot serve `pvc` (the PersistentVolume controller's words), or `None` if it can.
fn mismatch(pv: &Value, pvc: &Value) -> Option<&'static str> {
    let class = |o: &Value| o["spec"]["storageClassName"].as_str().unwrap_or_default().to_string();
    let modes: Vec<&Value> = pv["spec"]["accessModes"].as_array().map(|m| m.iter().collect()).unwrap_or_default();
    if class(pv) != class(pvc) {
        Some("storageClassName does not match")
    } else if pv["spec"]["capacity"]["storage"].as_str().and_then(bytes).unwrap_or(0) < requested(pvc) {
        Some("requested PV is too small")
    } else if pvc["spec"]["accessModes"].as_array().is_some_and(|want| !want.iter().all(|m| modes.contains(&m))) {
        Some("incompatible accessMode")
    } else {
        None
    }
}

fn set_pending(tx: &mut Tx, pvc: &Value) {
    if pvc["status"]["phase"] != "Pending" {
        let mut c = pvc.clone();
        c["status"] = json!({"phase": "Pending"});
        put_if_changed(tx, &pvcs(), pvc, c);
    }
}

/// Each pass: binding, handing claims to provisioners, releasing, and the protection finalizers.
pub fn bind(tx: &mut Tx) -> Result<(), StoreError> {
    let volumes = tx.list(&pvs(), None);
    let default = default_class(tx);
    for pvc in tx.list(&pvcs(), None) {
        if obj::is_deleting(&pvc) || is_bound(&pvc) {
            continue;
        }
        // Retroactive default class assignment (Kubernetes 1.28+): a claim made with no class
        // before a default existed, or by a controller, gets the default one.
        let pvc = match (&default, pvc["spec"]["storageClassName"].is_null()) {
            (Some(d), true) => {
                let mut c = (*pvc).clone();
                c["spec"]["storageClassName"] = json!(d);
                tx.put(&pvcs(), c)
            }
            _ => pvc,
        };
        let (ns, name) = (obj::namespace(&pvc), obj::name(&pvc));
        let reserved_for = |pv: &Value| pv["spec"]["claimRef"]["namespace"] == ns && pv["spec"]["claimRef"]["name"] == name;
        let free = |pv: &Value| pv["spec"]["claimRef"].is_null() && pv["status"]["phase"] != "Released" && !obj::is_deleting(pv);
        if let Some(vn) = pvc["spec"]["volumeName"].as_str().filter(|v| !v.is_empty()) {
            // A named volume: it must exist, be free or reserved for this claim, and fit.
            match volumes.iter().find(|pv| obj::name(pv) == vn && (free(pv) || reserved_for(pv))) {
                Some(pv) => match mismatch(pv, &pvc) {
                    None => bind_pair(tx, pv, &pvc),
                    Some(why) => {
                        events::record(tx, &pvc, Kind::Warning, "VolumeMismatch", &format!("Cannot bind to requested volume \"{vn}\": {why}"), COMPONENT);
                        set_pending(tx, &pvc);
                    }
                },
                None => {
                    if volumes.iter().any(|pv| obj::name(pv) == vn) {
                        events::record(tx, &pvc, Kind::Warning, "FailedBinding", &format!("volume \"{vn}\" already bound to a different claim."), COMPONENT);
                    }
                    set_pending(tx, &pvc);
                }
            }
            continue;
        }
        let chosen = volumes
            .iter()
            .find(|pv| reserved_for(pv) && pv["status"]["phase"] != "Released" && !obj::is_deleting(pv))
            .or_else(|| volumes.iter().find(|pv| free(pv) && obj::annotation(pv, PROVISIONED_BY).is_none() && mismatch(pv, &pvc).is_none()));
        match chosen {
            Some(pv) => bind_pair(tx, pv, &pvc),
            None => {
                set_pending(tx, &pvc);
                if let Some(live) = tx.get(&pvcs(), ns, name) {
                    hand_to_provisioner(tx, &live);
                }
            }
        }
    }
    release(tx);
    protect(tx);
    Ok(())
}

/// A claim no volume serves: which provisioner should make one, or why none will yet.
fn hand_to_provisioner(tx: &mut Tx, pvc: &Value) {
    let class_name = pvc["spec"]["storageClassName"].as_str().unwrap_or_default();
    if class_name.is_empty() {
        events::record(tx, pvc, Kind::Normal, "FailedBinding", "no persistent volumes available for this claim and no storage class is set", COMPONENT);
        return;
    }
    let Some(class) = tx.get(&classes(), "", class_name) else {
        events::record(tx, pvc, Kind::Warning, "ProvisioningFailed", &format!("storageclass.storage.k8s.io \"{class_name}\" not found"), COMPONENT);
        return;
    };
    if class["volumeBindingMode"] == "WaitForFirstConsumer" && obj::annotation(pvc, SELECTED_NODE).is_none() {
        events::record(tx, pvc, Kind::Normal, "WaitForFirstConsumer", "waiting for first consumer to be created before binding", COMPONENT);
        return;
    }
    let provisioner = class["provisioner"].as_str().unwrap_or_default();
    let driver = driver_for(provisioner);
    let mut c = pvc.clone();
    obj::set_annotation(&mut c, STORAGE_PROVISIONER, provisioner);
    obj::set_annotation(&mut c, STORAGE_PROVISIONER_BETA, provisioner);
    if driver != provisioner {
        obj::set_annotation(&mut c, MIGRATED_TO, driver);
    }
    if driver == EBS_CSI && !super::ebs::driver_running(tx) {
        obj::set_annotation(&mut c, PROVISIONING, "no EBS CSI driver: the aws-ebs-csi-driver add-on is not ACTIVE (no CSIDriver ebs.csi.aws.com)");
    }
    put_if_changed(tx, &pvcs(), pvc, c);
    let message = format!(
        "Waiting for a volume to be created either by the external provisioner '{driver}' or manually by the system administrator. \
         If volume creation is delayed, please verify that the provisioner is running and correctly registered."
    );
    events::record(tx, pvc, Kind::Normal, "ExternalProvisioning", &message, COMPONENT);
}

/// Volumes whose claim is gone are Released; new ones with no claim are Available.
fn release(tx: &mut Tx) {
    for pv in tx.list(&pvs(), None) {
        let claim = &pv["spec"]["claimRef"];
        let live = tx.get(&pvcs(), claim["namespace"].as_str().unwrap_or_default(), claim["name"].as_str().unwrap_or_default());
        let gone = !claim.is_null()
            && match (&live, claim["uid"].as_str()) {
                (None, Some(_)) => true,
                (Some(c), Some(uid)) => obj::uid(c) != uid,
                _ => false,
            };
        // A volume nobody provisioned cannot be deleted by any plugin: under `Delete` it fails.
        let undeletable = pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete" && obj::annotation(&pv, PROVISIONED_BY).is_none();
        let phase = if gone && undeletable {
            if pv["status"]["phase"] != "Failed" {
                let message = format!("error getting deleter volume plugin for volume \"{}\": no deletable volume plugin matched", obj::name(&pv));
                events::record(tx, &pv, Kind::Warning, "VolumeFailedDelete", &message, COMPONENT);
                let mut v = (*pv).clone();
                v["status"] = json!({"phase": "Failed", "message": message, "lastPhaseTransitionTime": obj::now_time()});
                put_if_changed(tx, &pvs(), &pv, v);
            }
            continue;
        } else if gone {
            "Released"
        } else if claim.is_null() || claim["uid"].as_str().is_none_or(str::is_empty) {
            // Free, or reserved for a claim not bound yet (or freed by hand from a Released state).
            "Available"
        } else {
            continue;
        };
        if pv["status"]["phase"] != phase {
            let mut v = (*pv).clone();
            v["status"] = json!({"phase": phase, "lastPhaseTransitionTime": obj::now_time()});
            put_if_changed(tx, &pvs(), &pv, v);
        }
    }
}

/// Lets a deleted claim go once no pod uses it, and a deleted volume once it is not Bound.
fn protect(tx: &mut Tx) {
    for pvc in tx.list(&pvcs(), None) {
        if !obj::is_deleting(&pvc) || !obj::finalizers(&pvc).iter().any(|f| f == PVC_PROTECTION) {
            continue;
        }
        // Only scheduled pods hold a claim: the kubelet will not start one whose claim is deleting.
        let in_use = tx.list(&gr("", "pods"), Some(obj::namespace(&pvc))).iter().any(|p| {
            p["spec"]["nodeName"].as_str().is_some_and(|n| !n.is_empty())
                && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
                && claim_names(p).any(|c| c == obj::name(&pvc))
        });
        if !in_use {
            finish(tx, &pvcs(), &pvc, PVC_PROTECTION);
        }
    }
    for pv in tx.list(&pvs(), None) {
        if obj::is_deleting(&pv) && pv["status"]["phase"] != "Bound" && obj::finalizers(&pv).iter().any(|f| f == PV_PROTECTION) {
            finish(tx, &pvs(), &pv, PV_PROTECTION);
        }
    }
}

/// The claims a pod's volumes name.
pub fn claim_names(p: &Value) -> impl Iterator<Item = &str> {
    p["spec"]["volumes"].as_array().into_iter().flatten().filter_map(|v| v["persistentVolumeClaim"]["claimName"].as_str())
}

fn finish(tx: &mut Tx, g: &GroupResource, o: &Value, finalizer: &str) {
    let mut done = o.clone();
    obj::remove_finalizer(&mut done, finalizer);
    if obj::finalizers(&done).is_empty() {
        tx.remove(g, obj::namespace(o), obj::name(o));
    } else {
        tx.put(g, done);
    }
}
