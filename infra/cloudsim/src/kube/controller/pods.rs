//! The scheduler and the kubelets: pods go onto a Ready node that fits them (nodeSelector,
//! taints/tolerations, pod capacity) or stay Pending as Unschedulable; `pod_ready_secs` after being
//! scheduled they run and turn Ready, unless a workload fault keeps them unready or crash-looping.
//! Job pods (restartPolicy Never/OnFailure) complete instead. Pods on vanished nodes are deleted
//! (their controllers replace them).
//!
//! Claims come first: a pod is scheduled once its claims are bound (or, waiting for their first
//! consumer, given a node), only onto nodes in its volumes' zone, and starts once its EBS volumes
//! are attached. Each reason a pod cannot be placed is also a `FailedScheduling` Event.

use crate::profile::LatencyKind;
use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Fault, Next, READY_AT, deadline, fault_for, gr, nodes, put_if_changed};
use crate::kube::store::{StoreError, Tx};
use crate::kube::{ClusterState, obj};

/// When a crash-looping container restarts next (ms since the epoch).
const RESTART_AT: &str = "cloudsim.dev/restart-at";
/// Simulated seconds between crash-loop restarts.
const CRASH_INTERVAL_SECS: f64 = 10.0;

fn tolerates(spec: &Value, taint: &Value) -> bool {
    let effect = taint["effect"].as_str().unwrap_or_default();
    if effect == "PreferNoSchedule" {
        return true;
    }
    spec["tolerations"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            let key_ok =
                t["key"].is_null() && t["operator"] == "Exists" || t["key"] == taint["key"];
            let value_ok = t["operator"] == "Exists"
                || t["value"].as_str().unwrap_or_default()
                    == taint["value"].as_str().unwrap_or_default();
            let effect_ok = t["effect"].is_null() || t["effect"].as_str() == Some(effect);
            key_ok && value_ok && effect_ok
        })
    })
}

/// Whether a pod with `spec` may run on `node` (ignoring capacity).
pub fn fits(spec: &Value, node: &Value) -> bool {
    let selector_ok = spec["nodeSelector"]
        .as_object()
        .is_none_or(|sel| sel.iter().all(|(k, v)| node["metadata"]["labels"][k] == *v));
    let taints_ok = node["spec"]["taints"]
        .as_array()
        .is_none_or(|ts| ts.iter().all(|t| tolerates(spec, t)));
    selector_ok && taints_ok
}

fn is_job_pod(p: &Value) -> bool {
    matches!(
        p["spec"]["restartPolicy"].as_str(),
        Some("Never" | "OnFailure")
    )
}

fn container_statuses(p: &Value, state: &Value, ready: bool, restarts: i64) -> Value {
    Value::Array(
        p["spec"]["containers"]
            .as_array()
            .map(|cs| {
                cs.iter()
                    .map(|c| {
                        json!({"name": c["name"], "image": c["image"], "imageID": format!("{}@sha256:cloudsim", c["image"].as_str().unwrap_or_default()),
                               "containerID": format!("containerd://{}", obj::uid(p).replace('-', "")),
                               "ready": ready, "started": state.get("running").is_some(), "restartCount": restarts, "state": state})
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

fn conditions(p: &Value, scheduled: bool, ready: bool) -> Value {
    let t = obj::now_time();
    let keep = |ty: &str, status: &str| -> Value {
        // Keep the transition time of a condition whose status did not change.
        let old = p["status"]["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == ty).cloned());
        match old {
            Some(c) if c["status"] == status => c,
            _ => {
                json!({"type": ty, "status": status, "lastProbeTime": null, "lastTransitionTime": t})
            }
        }
    };
    let s = |b: bool| if b { "True" } else { "False" };
    json!([
        keep("PodReadyToStartContainers", s(scheduled)),
        keep("Initialized", "True"),
        keep("Ready", s(ready)),
        keep("ContainersReady", s(ready)),
        keep("PodScheduled", s(scheduled))
    ])
}

pub fn run(cs: &ClusterState, tx: &mut Tx, now: i64, next: &mut Next) -> Result<(), StoreError> {
    let pods_gr = gr("", "pods");
    let nodes = tx.list(&gr("", "nodes"), None);
    let ready_nodes: Vec<&Value> = nodes
        .iter()
        .filter(|n| nodes::is_ready(n))
        .map(|n| &**n)
        .collect();
    let pods = tx.list(&pods_gr, None);
    let mut load: HashMap<String, usize> = HashMap::new();
    for p in &pods {
        if let Some(n) = p["spec"]["nodeName"].as_str() {
            *load.entry(n.to_string()).or_default() += 1;
        }
    }
    for p in pods {
        let ns = obj::namespace(&p).to_string();
        let name = obj::name(&p).to_string();
        if obj::is_deleting(&p) {
            if obj::finalizers(&p).is_empty() {
                tx.remove(&pods_gr, &ns, &name);
            }
            continue;
        }
        let mut new = (*p).clone();
        match p["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
            None => {
                // Volumes first: every claim bound (or, waiting for its first consumer, given a
                // node), and only nodes in the zone of the volumes already bound.
                let volumes = match volume_constraints(tx, &p) {
                    Ok(v) => v,
                    Err(why) => {
                        let message = format!("0/{} nodes are available: {why}.", nodes.len());
                        failed_scheduling(tx, &p, &message);
                        new["status"] = unschedulable(&p, &message);
                        put_if_changed(tx, &pods_gr, &p, new);
                        continue;
                    }
                };
                let capacity = |n: &Value| {
                    n["status"]["allocatable"]["pods"]
                        .as_str()
                        .and_then(|s| s.parse::<usize>().ok())
                        .unwrap_or(110)
                };
                let candidate = ready_nodes
                    .iter()
                    .filter(|n| {
                        fits(&p["spec"], n)
                            && load.get(obj::name(n)).copied().unwrap_or(0) < capacity(n)
                            && volumes.zone.as_ref().is_none_or(|z| obj::label(n, nodes::ZONE_LABEL) == Some(z.as_str()))
                    })
                    .min_by_key(|n| load.get(obj::name(n)).copied().unwrap_or(0));
                match candidate {
                    // Claims waiting for their first consumer get this node; the pod is scheduled
                    // once the driver has made their volumes there.
                    Some(node) if !volumes.to_select.is_empty() => {
                        for pvc in &volumes.to_select {
                            let chosen = obj::annotation(pvc, super::volumes::SELECTED_NODE);
                            if chosen.is_none_or(|c| !nodes.iter().any(|n| obj::name(n) == c)) {
                                let mut c = (**pvc).clone();
                                obj::set_annotation(&mut c, super::volumes::SELECTED_NODE, obj::name(node));
                                tx.put(&gr("", "persistentvolumeclaims"), c);
                            }
                        }
                        new["status"] = unschedulable(&p, "waiting for the pod's volumes to be provisioned (WaitForFirstConsumer)");
                    }
                    None if volumes.zone.is_some() => {
                        let message = format!(
                            "0/{} nodes are available: {} node(s) had volume node affinity conflict.",
                            nodes.len(),
                            nodes.len()
                        );
                        failed_scheduling(tx, &p, &message);
                        new["status"] = unschedulable(&p, &message);
                    }
                    Some(node) => {
                        let node_name = obj::name(node).to_string();
                        *load.entry(node_name.clone()).or_default() += 1;
                        new["spec"]["nodeName"] = json!(node_name);
                        new["status"] = json!({"phase": "Pending", "qosClass": "BestEffort", "hostIP": node["status"]["addresses"][0]["address"],
                                               "conditions": conditions(&p, true, false)});
                        let ready_in =
                            cs.scaled_draw(LatencyKind::PodReady, &format!("{ns}/{name}"));
                        let at = now + ready_in.as_millis() as i64;
                        obj::set_annotation(&mut new, READY_AT, &at.to_string());
                        next.at(at);
                    }
                    None => {
                        let message = format!(
                            "0/{} nodes are available: {} node(s) were not ready or did not match the pod's node selector or tolerations.",
                            nodes.len(),
                            nodes.len()
                        );
                        failed_scheduling(tx, &p, &message);
                        new["status"] = json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [
                            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastProbeTime": null,
                             "lastTransitionTime": p["status"]["conditions"][0]["lastTransitionTime"].as_str().map(str::to_string).unwrap_or_else(obj::now_time)}]});
                    }
                }
            }
            Some(node_name) => {
                if !nodes.iter().any(|n| obj::name(n) == node_name) {
                    // The node is gone (node group scaled in or deleted): the pod goes with it.
                    tx.remove(&pods_gr, &ns, &name);
                    continue;
                }
                let due = deadline(&p, READY_AT);
                if let Some(at) = due.filter(|at| *at > now) {
                    next.at(at);
                }
                // Containers start once the start-up delay has passed and, as the kubelet waits
                // for them, every EBS volume is attached to the node.
                let starting = p["status"]["phase"] == "Pending";
                if due.is_some_and(|at| at > now) || (starting && !super::attach::attached(tx, &p)) {
                    if p["status"]["containerStatuses"].is_null() {
                        new["status"]["containerStatuses"] = container_statuses(
                            &p,
                            &json!({"waiting": {"reason": "ContainerCreating"}}),
                            false,
                            0,
                        );
                    }
                    put_if_changed(tx, &pods_gr, &p, new);
                    continue;
                }
                kubelet(cs, tx, &p, &mut new, now, next);
            }
        }
        put_if_changed(tx, &pods_gr, &p, new);
    }
    Ok(())
}

/// What a pod's claims ask of scheduling.
struct VolumeConstraints {
    /// The zone of its bound volumes.
    zone: Option<String>,
    /// Claims that wait for a node to be chosen for them.
    to_select: Vec<std::sync::Arc<Value>>,
}

/// The pod's claims: `Err` with the scheduler's message when one is missing or not bindable yet.
fn volume_constraints(tx: &Tx, p: &Value) -> Result<VolumeConstraints, String> {
    use super::volumes;
    let ns = obj::namespace(p);
    let mut out = VolumeConstraints { zone: None, to_select: Vec::new() };
    for v in p["spec"]["volumes"].as_array().into_iter().flatten() {
        let Some(claim) = v["persistentVolumeClaim"]["claimName"].as_str() else { continue };
        let Some(pvc) = tx.get(&gr("", "persistentvolumeclaims"), ns, claim) else {
            return Err(format!("persistentvolumeclaim \"{claim}\" not found"));
        };
        if obj::is_deleting(&pvc) {
            return Err(format!("persistentvolumeclaim \"{claim}\" is being deleted"));
        }
        if volumes::is_bound(&pvc) {
            let volume_name = pvc["spec"]["volumeName"].as_str().unwrap_or_default();
            let Some(pv) = tx.get(&gr("", "persistentvolumes"), "", volume_name) else {
                return Err(format!("persistentvolume \"{volume_name}\" not found"));
            };
            let pv = Some(pv);
            if let Some(zone) = pv.as_deref().and_then(volumes::volume_zone) {
                if out.zone.as_ref().is_some_and(|z| *z != zone) {
                    return Err(format!("the pod's volumes are in different zones ({} and {zone}): node(s) had volume node affinity conflict", out.zone.unwrap_or_default()));
                }
                out.zone = Some(zone);
            }
        } else if volumes::waits_for_consumer(tx, &pvc) {
            out.to_select.push(pvc);
        } else {
            return Err(format!("pod has unbound immediate PersistentVolumeClaims (claim {claim} is {})", pvc["status"]["phase"].as_str().unwrap_or("Pending")));
        }
    }
    Ok(out)
}

/// The scheduler's Event for a pod it could not place (one per distinct reason).
fn failed_scheduling(tx: &mut Tx, p: &Value, message: &str) {
    super::events::record(tx, p, super::events::Kind::Warning, "FailedScheduling", message, "default-scheduler");
}

/// A Pending pod the scheduler could not place, and why.
fn unschedulable(p: &Value, message: &str) -> Value {
    json!({"phase": "Pending", "qosClass": "BestEffort", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message, "lastProbeTime": null,
         "lastTransitionTime": p["status"]["conditions"][0]["lastTransitionTime"].as_str().map(str::to_string).unwrap_or_else(obj::now_time)}]})
}

/// A scheduled pod whose start-up delay has passed: running, ready, crash-looping, or done.
fn kubelet(cs: &ClusterState, tx: &Tx, p: &Value, new: &mut Value, now: i64, next: &mut Next) {
    let phase = p["status"]["phase"].as_str().unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return;
    }
    let fault = fault_for(cs, tx, p);
    let started = p["status"]["startTime"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(obj::now_time);
    let pod_ip = p["status"]["podIP"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("10.0.{}.{}", fastrand::u8(0..=255), fastrand::u8(1..=254)));
    let base = json!({"qosClass": "BestEffort", "hostIP": p["status"]["hostIP"], "podIP": pod_ip, "podIPs": [{"ip": pod_ip}], "startTime": started});
    let mut status = base;
    let running = json!({"running": {"startedAt": started}});
    if is_job_pod(p) {
        let (phase, reason, code) = match fault {
            Some(Fault::NeverReady) => ("Running", "", 0),
            Some(Fault::CrashLoop) => ("Failed", "Error", 1),
            None => ("Succeeded", "Completed", 0),
        };
        status["phase"] = json!(phase);
        let state = if phase == "Running" {
            running
        } else {
            json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": obj::now_time()}})
        };
        status["containerStatuses"] = container_statuses(p, &state, false, 0);
        status["conditions"] = conditions(p, true, false);
        new["status"] = status;
        return;
    }
    status["phase"] = json!("Running");
    match fault {
        None => {
            status["containerStatuses"] = container_statuses(p, &running, true, 0);
            status["conditions"] = conditions(p, true, true);
            obj::remove_annotation(new, RESTART_AT);
        }
        Some(Fault::NeverReady) => {
            status["containerStatuses"] = container_statuses(p, &running, false, 0);
            status["conditions"] = conditions(p, true, false);
        }
        Some(Fault::CrashLoop) => {
            let restarts = p["status"]["containerStatuses"][0]["restartCount"]
                .as_i64()
                .unwrap_or(0);
            let due = deadline(p, RESTART_AT);
            let restarts = match due {
                Some(at) if at > now => {
                    next.at(at);
                    restarts
                }
                _ => {
                    let at = now + cs.scaled_secs(CRASH_INTERVAL_SECS).as_millis() as i64;
                    obj::set_annotation(new, RESTART_AT, &at.to_string());
                    next.at(at);
                    if due.is_some() {
                        restarts + 1
                    } else {
                        restarts
                    }
                }
            };
            let waiting = json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting failed container (cloudsim fault)"}});
            status["containerStatuses"] = container_statuses(p, &waiting, false, restarts);
            status["conditions"] = conditions(p, true, false);
        }
    }
    obj::remove_annotation(new, READY_AT);
    new["status"] = status;
}
