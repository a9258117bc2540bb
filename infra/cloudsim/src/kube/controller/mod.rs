//! The kwok-style controller: one level-triggered loop per cluster that makes stored objects move
//! the way a real cluster's controllers and kubelets would (garbage collection and namespaces,
//! Deployments → ReplicaSets → Pods, StatefulSets and their claims, DaemonSets, Jobs, persistent
//! volumes (binding and protection, attachments, and a fake EBS CSI driver on EC2), scheduling
//! onto Ready nodes, pods turning Running/Ready, nodes turning Ready, load balancers provisioning
//! and releasing), telling what goes wrong in Events.
//!
//! Every pass reconciles everything (a cluster holds hundreds of objects, not millions) and writes
//! only what changes, so the loop settles. It wakes on store changes, on API writes, on the earliest
//! pending deadline, and at least every half second (faults can change without a write).
//!
//! Delays are absolute wall-clock deadlines (milliseconds since the epoch) kept in `cloudsim.dev/*`
//! annotations on the objects themselves, so they survive restarts and finish on schedule.

pub mod attach;
pub mod ebs;
pub mod events;
pub mod gc;
pub mod nodes;
pub mod pods;
pub mod services;
pub mod statefulsets;
pub mod volumes;
pub mod workloads;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::ClusterState;
use super::discovery::GroupResource;
use super::obj;
use super::store::{Commit, StoreError, Tx};

/// Longest the loop sleeps without a reason to wake.
const MAX_IDLE: Duration = Duration::from_millis(500);

/// Annotation holding when something pending becomes true (ms since the epoch).
pub const READY_AT: &str = "cloudsim.dev/ready-at";

pub fn gr(group: &str, resource: &str) -> GroupResource {
    GroupResource::new(group, resource)
}

/// The earliest of the deadlines seen in a pass.
#[derive(Debug, Default)]
pub struct Next(Option<i64>);

impl Next {
    pub fn at(&mut self, millis: i64) {
        self.0 = Some(self.0.map_or(millis, |m| m.min(millis)));
    }
}

/// The deadline in annotation `key`, if set.
pub fn deadline(o: &Value, key: &str) -> Option<i64> {
    obj::annotation(o, key).and_then(|s| s.parse().ok())
}

pub async fn run(cs: Arc<ClusterState>) {
    let mut changes = cs.store.subscribe();
    let mut shutdown = cs.shutdown.clone();
    loop {
        let next = match reconcile(&cs) {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(cluster = %cs.name, error = %e, "controller pass failed");
                Next(None)
            }
        };
        // The EBS driver talks to EC2, so it runs between passes, outside any store lock.
        ebs::run(&cs).await;
        let sleep = next
            .0
            .map(|at| Duration::from_millis(u64::try_from(at - obj::now_millis()).unwrap_or(0)))
            .map_or(MAX_IDLE, |d| d.min(MAX_IDLE));
        tokio::select! {
            _ = changes.recv() => {
                // Coalesce a burst of changes into one pass.
                while changes.try_recv().is_ok() {}
            }
            _ = cs.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass over everything. Each step is its own write so API requests interleave.
pub fn reconcile(cs: &ClusterState) -> Result<Next, StoreError> {
    let mut next = Next::default();
    let now = obj::now_millis();
    cs.store.write(Commit::Lazy, |tx| gc::collect(cs, tx))?;
    cs.store.write(Commit::Lazy, workloads::deployments)?;
    cs.store.write(Commit::Lazy, workloads::replica_sets)?;
    cs.store.write(Commit::Lazy, statefulsets::stateful_sets)?;
    cs.store.write(Commit::Lazy, workloads::daemon_sets)?;
    cs.store.write(Commit::Lazy, workloads::jobs)?;
    cs.store.write(Commit::Lazy, volumes::bind)?;
    cs.store.write(Commit::Lazy, attach::sync)?;
    cs.store
        .write(Commit::Lazy, |tx| nodes::readiness(cs, tx, now, &mut next))?;
    cs.store
        .write(Commit::Lazy, |tx| pods::run(cs, tx, now, &mut next))?;
    cs.store.write(Commit::Lazy, |tx| {
        services::load_balancers(cs, tx, now, &mut next)
    })?;
    cs.store.write(Commit::Lazy, |tx| {
        events::expire(tx, now);
        Ok::<(), StoreError>(())
    })?;
    Ok(next)
}

/// Stores `new` in place of `old` only if it differs (the loop settles when nothing changes).
pub fn put_if_changed(tx: &mut Tx, gr: &GroupResource, old: &Value, new: Value) {
    if *old != new {
        tx.put(gr, new);
    }
}

/// Replaces the conditions of `status` with `wanted`, keeping the timestamps of those that did not change.
pub fn set_conditions(status: &mut Value, old_status: &Value, wanted: Vec<Value>) {
    let now = obj::now_time();
    let old = old_status["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let merged: Vec<Value> = wanted
        .into_iter()
        .map(|mut c| match old.iter().find(|o| o["type"] == c["type"]) {
            Some(o)
                if o["status"] == c["status"]
                    && o["reason"] == c["reason"]
                    && o["message"] == c["message"] =>
            {
                o.clone()
            }
            Some(o) if o["status"] == c["status"] => {
                c["lastTransitionTime"] = o["lastTransitionTime"].clone();
                c["lastUpdateTime"] = json!(now);
                c
            }
            _ => {
                c["lastTransitionTime"] = json!(now);
                c["lastUpdateTime"] = json!(now);
                c
            }
        })
        .collect();
    status["conditions"] = Value::Array(merged);
}

/// A pod made from `template` for `owner`, not yet stored.
pub fn pod_from_template(
    owner: &Value,
    template: &Value,
    name: &str,
    extra_labels: &[(&str, String)],
) -> Value {
    let mut labels = template["metadata"]["labels"].clone();
    if !labels.is_object() {
        labels = json!({});
    }
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    let mut spec = template["spec"].clone();
    for (k, v) in [
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
    ] {
        if spec[k].is_null() {
            spec[k] = json!(v);
        }
    }
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": obj::namespace(owner), "labels": labels,
            "uid": obj::new_uid(), "creationTimestamp": obj::now_time(), "generation": 1,
            "ownerReferences": [obj::controller_ref(owner)],
        },
        "spec": spec,
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    });
    if let Some(a) = template["metadata"]["annotations"].as_object() {
        pod["metadata"]["annotations"] = Value::Object(a.clone());
    }
    pod
}

/// Pods of `namespace` controlled by the object with `owner_uid`, not being deleted.
pub fn owned_pods(tx: &Tx, namespace: &str, owner_uid: &str) -> Vec<Arc<Value>> {
    tx.list(&gr("", "pods"), Some(namespace))
        .into_iter()
        .filter(|p| obj::is_controlled_by(p, owner_uid) && !obj::is_deleting(p))
        .collect()
}

pub fn pod_ready(p: &Value) -> bool {
    p["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// A short stable hash of a JSON value in Kubernetes' name-safe alphabet (pod-template-hash).
pub fn template_hash(v: &Value) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = Sha256::digest(serde_json::to_vec(v).expect("serialisable"));
    digest
        .iter()
        .take(10)
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    NeverReady,
    CrashLoop,
}

/// The workload fault that applies to a pod: from the cluster's Faults (by the top-level workload's
/// `namespace/name`) or the `cloudsim.dev/fault` annotation on the pod, its owner, or the owner's owner.
pub fn fault_for(cs: &ClusterState, tx: &Tx, pod: &Value) -> Option<Fault> {
    let ns = obj::namespace(pod);
    let mut chain: Vec<Arc<Value>> = Vec::new();
    let mut cur: Option<Arc<Value>> = None;
    let mut probe = pod.clone();
    for _ in 0..3 {
        let Some(owner) = obj::owner_refs(&probe).into_iter().find(|r| r.controller) else {
            break;
        };
        let Some(rt) = cs.registry.by_kind(&owner.api_version, &owner.kind) else {
            break;
        };
        let Some(o) = tx.get(&rt.group_resource(), ns, &owner.name) else {
            break;
        };
        probe = (*o).clone();
        chain.push(o.clone());
        cur = Some(o);
    }
    let annotated = |o: &Value| match obj::annotation(o, crate::faults::FAULT_ANNOTATION) {
        Some("never-ready") => Some(Fault::NeverReady),
        Some("crash-loop") => Some(Fault::CrashLoop),
        _ => None,
    };
    if let Some(f) = annotated(pod).or_else(|| chain.iter().find_map(|o| annotated(o))) {
        return Some(f);
    }
    let faults = cs.env.faults();
    let names: Vec<String> = std::iter::once(obj::name(pod).to_string())
        .chain(cur.iter().map(|o| obj::name(o).to_string()))
        .chain(chain.iter().map(|o| obj::name(o).to_string()))
        .collect();
    for n in &names {
        if faults.is_crash_loop(&cs.name, ns, n) {
            return Some(Fault::CrashLoop);
        }
        if faults.is_never_ready(&cs.name, ns, n) {
            return Some(Fault::NeverReady);
        }
    }
    None
}
