//! Workload controllers: Deployments (ReplicaSet per template, old ones scaled down once the new
//! one is available), ReplicaSets (pods to the replica count), DaemonSets (a pod per eligible Ready node)
//! and Jobs (pods until `completions` succeed or `backoffLimit` failures). Each fills in the status
//! fields helm's and kstatus' readiness checks read. StatefulSets are [`super::statefulsets`].

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    gr, owned_pods, pod_from_template, pod_ready, put_if_changed, set_conditions, template_hash,
};
use crate::kube::obj;
use crate::kube::selectors::LabelSelector;
use crate::kube::store::{StoreError, Tx};

const REVISION: &str = "deployment.kubernetes.io/revision";

pub(super) fn replicas(o: &Value) -> i64 {
    o["spec"]["replicas"].as_i64().unwrap_or(1).max(0)
}

pub(super) fn count(pods: &[Arc<Value>], f: impl Fn(&Value) -> bool) -> i64 {
    pods.iter().filter(|p| f(p)).count() as i64
}

/// `25%` or `1` of `total`, rounded as Kubernetes rounds maxUnavailable (down).
fn int_or_percent(v: &Value, total: i64, default: i64) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(default),
        Value::String(s) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map_or(default, |p| total * p / 100),
        _ => default,
    }
}

pub fn deployments(tx: &mut Tx) -> Result<(), StoreError> {
    let rs_gr = gr("apps", "replicasets");
    for d in tx.list(&gr("apps", "deployments"), None) {
        if obj::is_deleting(&d) {
            continue;
        }
        let ns = obj::namespace(&d).to_string();
        let want = replicas(&d);
        let template = &d["spec"]["template"];
        let hash = template_hash(template);
        let owned: Vec<Arc<Value>> = tx
            .list(&rs_gr, Some(&ns))
            .into_iter()
            .filter(|rs| obj::is_controlled_by(rs, obj::uid(&d)) && !obj::is_deleting(rs))
            .collect();
        let max_revision = owned
            .iter()
            .filter_map(|rs| obj::annotation(rs, REVISION).and_then(|r| r.parse::<i64>().ok()))
            .max()
            .unwrap_or(0);
        let new_rs = match owned
            .iter()
            .find(|rs| obj::label(rs, "pod-template-hash") == Some(hash.as_str()))
        {
            Some(rs) => {
                let mut updated = (**rs).clone();
                updated["spec"]["replicas"] = json!(want);
                put_if_changed(tx, &rs_gr, rs, updated);
                tx.get(&rs_gr, &ns, obj::name(rs))
                    .unwrap_or_else(|| rs.clone())
            }
            None => {
                let name = format!("{}-{hash}", obj::name(&d));
                let mut tmpl = template.clone();
                tmpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
                let mut selector = d["spec"]["selector"].clone();
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let rs = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": name, "namespace": ns, "labels": tmpl["metadata"]["labels"],
                                 "annotations": {REVISION: (max_revision + 1).to_string()},
                                 "uid": obj::new_uid(), "creationTimestamp": obj::now_time(), "generation": 1,
                                 "ownerReferences": [obj::controller_ref(&d)]},
                    "spec": {"replicas": want, "selector": selector, "template": tmpl},
                    "status": {"replicas": 0, "observedGeneration": 0},
                });
                tx.put(&rs_gr, rs)
            }
        };
        let new_available = new_rs["status"]["availableReplicas"].as_i64().unwrap_or(0);
        let recreate = d["spec"]["strategy"]["type"] == "Recreate";
        let olds: Vec<Arc<Value>> = owned
            .iter()
            .filter(|rs| obj::uid(rs) != obj::uid(&new_rs))
            .cloned()
            .collect();
        // Old pods keep serving until the new ReplicaSet can take the traffic (rolling update).
        if recreate || new_available >= want {
            for old in &olds {
                let mut scaled = (**old).clone();
                scaled["spec"]["replicas"] = json!(0);
                put_if_changed(tx, &rs_gr, old, scaled);
            }
        }
        let all: Vec<Arc<Value>> = std::iter::once(new_rs.clone())
            .chain(olds.iter().cloned())
            .collect();
        let sum = |f: &str| {
            all.iter()
                .map(|rs| rs["status"][f].as_i64().unwrap_or(0))
                .sum::<i64>()
        };
        let (total, ready, available) = (
            sum("replicas"),
            sum("readyReplicas"),
            sum("availableReplicas"),
        );
        let updated = new_rs["status"]["replicas"].as_i64().unwrap_or(0);
        let max_unavailable = if recreate {
            0
        } else {
            int_or_percent(
                &d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"],
                want,
                0,
            )
        };
        let old_left: i64 = olds
            .iter()
            .map(|rs| rs["status"]["replicas"].as_i64().unwrap_or(0))
            .sum();
        let rs_name = obj::name(&new_rs);
        let complete = new_available >= want && updated == want && old_left == 0;
        let available_cond = if available >= want - max_unavailable {
            json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable", "message": "Deployment has minimum availability."})
        } else {
            json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "Deployment does not have minimum availability."})
        };
        let progressing = if complete {
            json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed.")})
        } else {
            json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated", "message": format!("ReplicaSet \"{rs_name}\" is progressing.")})
        };
        let mut new = (*d).clone();
        let mut status = json!({
            "observedGeneration": obj::generation(&d), "replicas": total, "updatedReplicas": updated,
            "readyReplicas": ready, "availableReplicas": available,
        });
        if want - available > 0 {
            status["unavailableReplicas"] = json!(want - available);
        }
        set_conditions(&mut status, &d["status"], vec![available_cond, progressing]);
        new["status"] = status;
        if let Some(rev) = obj::annotation(&new_rs, REVISION).map(str::to_string) {
            obj::set_annotation(&mut new, REVISION, &rev);
        }
        put_if_changed(tx, &gr("apps", "deployments"), &d, new);
    }
    Ok(())
}

pub fn replica_sets(tx: &mut Tx) -> Result<(), StoreError> {
    let pods_gr = gr("", "pods");
    let rs_gr = gr("apps", "replicasets");
    for rs in tx.list(&rs_gr, None) {
        if obj::is_deleting(&rs) {
            continue;
        }
        let ns = obj::namespace(&rs).to_string();
        let want = replicas(&rs);
        let mut pods = owned_pods(tx, &ns, obj::uid(&rs));
        for _ in pods.len() as i64..want {
            let name = format!("{}-{}", obj::name(&rs), obj::random_suffix(5));
            pods.push(tx.put(
                &pods_gr,
                pod_from_template(&rs, &rs["spec"]["template"], &name, &[]),
            ));
        }
        if pods.len() as i64 > want {
            // Remove the least useful first: unscheduled, then not ready, then the newest.
            pods.sort_by_key(|p| {
                (
                    p["spec"]["nodeName"].is_string(),
                    pod_ready(p),
                    std::cmp::Reverse(
                        p["metadata"]["creationTimestamp"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    ),
                )
            });
            let extra = pods.len() - want as usize;
            for p in pods.drain(..extra) {
                tx.remove(&pods_gr, &ns, obj::name(&p));
            }
        }
        let selector = LabelSelector::from_label_selector(&rs["spec"]["selector"]);
        let ready = count(&pods, pod_ready);
        let mut new = (*rs).clone();
        new["status"] = json!({
            "replicas": pods.len(), "fullyLabeledReplicas": count(&pods, |p| selector.matches(p)),
            "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": obj::generation(&rs),
        });
        put_if_changed(tx, &rs_gr, &rs, new);
    }
    Ok(())
}

pub fn daemon_sets(tx: &mut Tx) -> Result<(), StoreError> {
    let pods_gr = gr("", "pods");
    let ds_gr = gr("apps", "daemonsets");
    let nodes = tx.list(&gr("", "nodes"), None);
    for ds in tx.list(&ds_gr, None) {
        if obj::is_deleting(&ds) {
            continue;
        }
        let ns = obj::namespace(&ds).to_string();
        let template = &ds["spec"]["template"];
        let hash = template_hash(template);
        let eligible: Vec<&Arc<Value>> = nodes
            .iter()
            .filter(|n| super::nodes::is_ready(n) && super::pods::fits(&template["spec"], n))
            .collect();
        let pods = owned_pods(tx, &ns, obj::uid(&ds));
        for p in &pods {
            let node = p["spec"]["nodeName"].as_str().unwrap_or_default();
            let stale = obj::label(p, "controller-revision-hash") != Some(hash.as_str());
            if stale || !eligible.iter().any(|n| obj::name(n) == node) {
                tx.remove(&pods_gr, &ns, obj::name(p));
            }
        }
        let pods = owned_pods(tx, &ns, obj::uid(&ds));
        for n in &eligible {
            if pods.iter().any(|p| p["spec"]["nodeName"] == obj::name(n)) {
                continue;
            }
            let name = format!("{}-{}", obj::name(&ds), obj::random_suffix(5));
            let mut pod = pod_from_template(
                &ds,
                template,
                &name,
                &[("controller-revision-hash", hash.clone())],
            );
            pod["spec"]["nodeName"] = json!(obj::name(n));
            tx.put(&pods_gr, pod);
        }
        let pods = owned_pods(tx, &ns, obj::uid(&ds));
        let ready = count(&pods, pod_ready);
        let desired = eligible.len() as i64;
        let mut new = (*ds).clone();
        new["status"] = json!({
            "observedGeneration": obj::generation(&ds), "desiredNumberScheduled": desired,
            "currentNumberScheduled": pods.len(), "numberReady": ready, "numberAvailable": ready,
            "updatedNumberScheduled": count(&pods, |p| obj::label(p, "controller-revision-hash") == Some(hash.as_str())),
            "numberMisscheduled": 0,
        });
        if desired - ready > 0 {
            new["status"]["numberUnavailable"] = json!(desired - ready);
        }
        put_if_changed(tx, &ds_gr, &ds, new);
    }
    Ok(())
}

pub fn jobs(tx: &mut Tx) -> Result<(), StoreError> {
    let pods_gr = gr("", "pods");
    let job_gr = gr("batch", "jobs");
    for job in tx.list(&job_gr, None) {
        if obj::is_deleting(&job) {
            continue;
        }
        let finished = job["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        });
        if finished {
            continue;
        }
        let ns = obj::namespace(&job).to_string();
        let completions = job["spec"]["completions"].as_i64().unwrap_or(1);
        let parallelism = job["spec"]["parallelism"].as_i64().unwrap_or(1);
        let backoff_limit = job["spec"]["backoffLimit"].as_i64().unwrap_or(6);
        let pods = owned_pods(tx, &ns, obj::uid(&job));
        let phase = |p: &Value, ph: &str| p["status"]["phase"] == ph;
        let succeeded = count(&pods, |p| phase(p, "Succeeded"));
        let failed = count(&pods, |p| phase(p, "Failed"));
        let mut active = count(&pods, |p| !phase(p, "Succeeded") && !phase(p, "Failed"));
        let now = obj::now_time();
        let mut status = json!({"startTime": job["status"]["startTime"].as_str().unwrap_or(&now), "succeeded": succeeded, "failed": failed,
                                "ready": count(&pods, pod_ready), "terminating": 0, "uncountedTerminatedPods": {}});
        let mut conditions = Vec::new();
        if succeeded >= completions {
            status["completionTime"] = json!(now);
            conditions.push(json!({"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}));
            conditions.push(json!({"type": "Complete", "status": "True", "reason": "CompletionsReached", "message": "Reached expected number of succeeded pods"}));
        } else if failed > backoff_limit {
            for p in pods
                .iter()
                .filter(|p| !phase(p, "Succeeded") && !phase(p, "Failed"))
            {
                tx.remove(&pods_gr, &ns, obj::name(p));
            }
            active = 0;
            conditions.push(json!({"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}));
            conditions.push(json!({"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}));
        } else {
            let want = parallelism.min(completions - succeeded);
            while active < want {
                let name = format!("{}-{}", obj::name(&job), obj::random_suffix(5));
                tx.put(
                    &pods_gr,
                    pod_from_template(&job, &job["spec"]["template"], &name, &[]),
                );
                active += 1;
            }
        }
        status["active"] = json!(active);
        if !conditions.is_empty() {
            set_conditions(&mut status, &job["status"], conditions);
        }
        let mut new = (*job).clone();
        new["status"] = status;
        put_if_changed(tx, &job_gr, &job, new);
    }
    Ok(())
}
