//! The StatefulSet controller: ordinal pods `<set>-<i>`, started in order (or all at once under
//! `Parallel`), scaled down from the highest ordinal, replaced one at a time from the highest when
//! the template changes; a claim per `volumeClaimTemplates` entry and ordinal, made before the pod
//! and named in its volumes, kept or deleted as `persistentVolumeClaimRetentionPolicy` says; and
//! the status fields helm's and kstatus' readiness checks read.

use std::sync::Arc;

use serde_json::{Value, json};

use super::workloads::{count, replicas};
use super::{gr, owned_pods, pod_from_template, pod_ready, put_if_changed, template_hash};
use crate::kube::obj;
use crate::kube::store::{StoreError, Tx};

pub fn stateful_sets(tx: &mut Tx) -> Result<(), StoreError> {
    let pods_gr = gr("", "pods");
    let sts_gr = gr("apps", "statefulsets");
    for sts in tx.list(&sts_gr, None) {
        if obj::is_deleting(&sts) {
            continue;
        }
        let ns = obj::namespace(&sts).to_string();
        let name = obj::name(&sts).to_string();
        let want = replicas(&sts);
        let revision = format!("{name}-{}", template_hash(&sts["spec"]["template"]));
        let ordered = sts["spec"]["podManagementPolicy"] != "Parallel";
        let mut pods = owned_pods(tx, &ns, obj::uid(&sts));
        // Scale down from the highest ordinal; the claims of the ordinals that go stay unless
        // `persistentVolumeClaimRetentionPolicy.whenScaled` is Delete.
        let delete_when_scaled = sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenScaled"] == "Delete";
        for p in pods
            .iter()
            .filter(|p| ordinal(&name, p).is_none_or(|i| i >= want))
        {
            tx.remove(&pods_gr, &ns, obj::name(p));
            if let Some(i) = ordinal(&name, p).filter(|_| delete_when_scaled) {
                for claim in claim_names(&sts, i) {
                    if let Some(c) = tx.get(&gr("", "persistentvolumeclaims"), &ns, &claim) {
                        super::gc::collect_one(tx, &gr("", "persistentvolumeclaims"), &c);
                    }
                }
            }
        }
        for i in 0..want {
            own_claims(tx, &sts, i);
        }
        pods.retain(|p| ordinal(&name, p).is_some_and(|i| i < want));
        let all_ready = |pods: &[Arc<Value>]| pods.iter().all(|p| pod_ready(p));
        for i in 0..want {
            if pods.iter().any(|p| ordinal(&name, p) == Some(i)) {
                // A claim deleted under a running pod is made again (its volume is not).
                claims_for(tx, &sts, i);
                continue;
            }
            if ordered && !(pods.len() as i64 == i && all_ready(&pods)) {
                break;
            }
            // A claim still being deleted (a scale-down under `whenScaled: Delete`) must go first.
            let dying = claim_names(&sts, i).iter().any(|c| {
                tx.get(&gr("", "persistentvolumeclaims"), &ns, c).is_some_and(|c| obj::is_deleting(&c))
            });
            if dying {
                if ordered {
                    break;
                }
                continue;
            }
            let pod_name = format!("{name}-{i}");
            let claims = claims_for(tx, &sts, i);
            let labels = [
                ("controller-revision-hash", revision.clone()),
                ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                ("apps.kubernetes.io/pod-index", i.to_string()),
            ];
            let mut pod = pod_from_template(&sts, &sts["spec"]["template"], &pod_name, &labels);
            pod["spec"]["hostname"] = json!(pod_name);
            for (volume, claim) in claims {
                let volumes = pod["spec"]["volumes"].as_array().cloned().unwrap_or_default();
                if !volumes.iter().any(|v| v["name"] == volume) {
                    let mut volumes = volumes;
                    volumes.push(json!({"name": volume, "persistentVolumeClaim": {"claimName": claim}}));
                    pod["spec"]["volumes"] = Value::Array(volumes);
                }
            }
            pods.push(tx.put(&pods_gr, pod));
        }
        // Rolling update: replace one outdated pod at a time, highest ordinal first, when all are ready.
        let outdated: Vec<&Arc<Value>> = pods
            .iter()
            .filter(|p| obj::label(p, "controller-revision-hash") != Some(revision.as_str()))
            .collect();
        if pods.len() as i64 == want
            && all_ready(&pods)
            && let Some(p) = outdated.iter().max_by_key(|p| ordinal(&name, p))
        {
            tx.remove(&pods_gr, &ns, obj::name(p));
        }
        let pods: Vec<Arc<Value>> = owned_pods(tx, &ns, obj::uid(&sts));
        let updated = count(&pods, |p| {
            obj::label(p, "controller-revision-hash") == Some(revision.as_str())
        });
        let ready = count(&pods, pod_ready);
        let current_revision = if updated == want && pods.len() as i64 == want {
            revision.clone()
        } else {
            sts["status"]["currentRevision"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| revision.clone())
        };
        let current = count(&pods, |p| {
            obj::label(p, "controller-revision-hash") == Some(current_revision.as_str())
        });
        let mut new = (*sts).clone();
        new["status"] = json!({
            "observedGeneration": obj::generation(&sts), "replicas": pods.len(), "readyReplicas": ready,
            "availableReplicas": ready, "currentReplicas": current, "updatedReplicas": updated,
            "currentRevision": current_revision, "updateRevision": revision, "collisionCount": 0,
        });
        put_if_changed(tx, &sts_gr, &sts, new);
    }
    Ok(())
}

/// The claim names of ordinal `i`: `<template>-<set>-<i>`, one per `volumeClaimTemplates` entry.
fn claim_names(sts: &Value, i: i64) -> Vec<String> {
    sts["spec"]["volumeClaimTemplates"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| format!("{}-{}-{i}", t["metadata"]["name"].as_str().unwrap_or("data"), obj::name(sts)))
        .collect()
}

/// Whether the set's claims go with it (`persistentVolumeClaimRetentionPolicy.whenDeleted: Delete`).
fn claims_die_with(sts: &Value) -> bool {
    sts["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"
}

/// Gives ordinal `i`'s claims an owner reference to the set when they should go with it, and takes
/// it away when they should not (the policy can change), as the StatefulSet controller does.
fn own_claims(tx: &mut Tx, sts: &Value, i: i64) {
    let pvcs = gr("", "persistentvolumeclaims");
    for claim in claim_names(sts, i) {
        let Some(c) = tx.get(&pvcs, obj::namespace(sts), &claim) else { continue };
        let owned = obj::owner_refs(&c).iter().any(|r| r.uid == obj::uid(sts));
        if owned == claims_die_with(sts) || obj::is_deleting(&c) {
            continue;
        }
        let mut updated = (*c).clone();
        let mut refs = updated["metadata"]["ownerReferences"].as_array().cloned().unwrap_or_default();
        refs.retain(|r| r["uid"] != obj::uid(sts));
        if !owned {
            refs.push(obj::controller_ref(sts));
        }
        match refs.is_empty() {
            true => drop(obj::meta_mut(&mut updated).remove("ownerReferences")),
            false => updated["metadata"]["ownerReferences"] = Value::Array(refs),
        }
        tx.put(&pvcs, updated);
    }
}

/// The claims of ordinal `i` from the StatefulSet's `volumeClaimTemplates`, made if missing
/// (`<template>-<set>-<i>`, with the template's labels and the set's selector labels). By default
/// (`persistentVolumeClaimRetentionPolicy` Retain) they are not owned by the set: they outlive it
/// and its scale-downs, as in Kubernetes.
fn claims_for(tx: &mut Tx, sts: &Value, i: i64) -> Vec<(String, String)> {
    let pvcs = gr("", "persistentvolumeclaims");
    let ns = obj::namespace(sts).to_string();
    let mut out = Vec::new();
    for t in sts["spec"]["volumeClaimTemplates"].as_array().into_iter().flatten() {
        let template = t["metadata"]["name"].as_str().unwrap_or("data").to_string();
        let claim = format!("{template}-{}-{i}", obj::name(sts));
        if tx.get(&pvcs, &ns, &claim).is_none() {
            let mut labels = t["metadata"]["labels"].clone();
            if !labels.is_object() {
                labels = json!({});
            }
            for (k, v) in sts["spec"]["selector"]["matchLabels"].as_object().into_iter().flatten() {
                labels[k] = v.clone();
            }
            let mut spec = t["spec"].clone();
            if spec["volumeMode"].is_null() {
                spec["volumeMode"] = json!("Filesystem");
            }
            let mut pvc = json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim, "namespace": ns, "labels": labels, "uid": obj::new_uid(),
                             "creationTimestamp": obj::now_time(), "finalizers": [super::volumes::PVC_PROTECTION]},
                "spec": spec,
                "status": {"phase": "Pending"},
            });
            if let Some(a) = t["metadata"]["annotations"].as_object() {
                pvc["metadata"]["annotations"] = Value::Object(a.clone());
            }
            if claims_die_with(sts) {
                pvc["metadata"]["ownerReferences"] = json!([obj::controller_ref(sts)]);
            }
            tx.put(&pvcs, pvc);
        }
        out.push((template, claim));
    }
    out
}

fn ordinal(sts_name: &str, pod: &Value) -> Option<i64> {
    obj::name(pod)
        .strip_prefix(sts_name)?
        .strip_prefix('-')?
        .parse()
        .ok()
}
