//! Nodes of managed node groups: created and removed when the EKS half syncs a node group, labelled
//! as EKS labels them, sized by instance type, NotReady until `node_ready_secs` after they appear.

use crate::profile::LatencyKind;
use serde_json::{Value, json};

use super::{Next, READY_AT, deadline, gr, put_if_changed};
use crate::kube::store::{Commit, StoreError, Tx};
use crate::kube::{ClusterState, NodeGroupNodes, obj};

pub const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

pub fn is_ready(n: &Value) -> bool {
    !obj::is_deleting(n)
        && n["spec"]["unschedulable"] != true
        && n["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

/// (vCPUs, GiB of memory, max pods) for an EC2 instance type, from its size.
fn capacity(instance_type: &str) -> (u32, u32, u32) {
    let size = instance_type.rsplit('.').next().unwrap_or("large");
    match size {
        "nano" => (2, 1, 4),
        "micro" => (2, 1, 4),
        "small" => (2, 2, 11),
        "medium" => (2, 4, 17),
        "large" => (2, 8, 29),
        "xlarge" => (4, 16, 58),
        s => {
            let n: u32 = s
                .strip_suffix("xlarge")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            (4 * n, 16 * n, 234.min(58 * n))
        }
    }
}

/// The zone of a node: kept from its labels, or the next of the group's zones for a new one.
fn node_zone(cs: &ClusterState, ng: &NodeGroupNodes, existing: Option<&Value>, index: usize) -> String {
    existing
        .and_then(|n| obj::label(n, ZONE_LABEL).map(str::to_string))
        .or_else(|| (!ng.zones.is_empty()).then(|| ng.zones[index % ng.zones.len()].clone()))
        .unwrap_or_else(|| format!("{}a", cs.env.region))
}

/// Where a node is (well-known label), and the EBS CSI driver's own topology key.
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
pub const EBS_ZONE_LABEL: &str = "topology.ebs.csi.aws.com/zone";

fn node_labels(cs: &ClusterState, ng: &NodeGroupNodes, name: &str, zone: &str) -> Value {
    let mut labels = json!({
        NODEGROUP_LABEL: ng.nodegroup,
        "eks.amazonaws.com/capacityType": ng.capacity_type,
        "node.kubernetes.io/instance-type": ng.instance_type,
        "beta.kubernetes.io/instance-type": ng.instance_type,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": "amd64",
        "topology.kubernetes.io/region": cs.env.region,
        ZONE_LABEL: zone,
        EBS_ZONE_LABEL: zone,
        "failure-domain.beta.kubernetes.io/zone": zone,
    });
    for (k, v) in &ng.labels {
        labels[k] = json!(v);
    }
    labels
}

fn taints(ng: &NodeGroupNodes) -> Value {
    Value::Array(
        ng.taints
            .iter()
            .map(|(k, v, effect)| {
                let mut t = json!({"key": k, "effect": effect});
                if let Some(v) = v {
                    t["value"] = json!(v);
                }
                t
            })
            .collect(),
    )
}

fn new_node(cs: &ClusterState, ng: &NodeGroupNodes, name: &str, ip: &str, ready_at: i64, zone: &str) -> Value {
    let (cpu, mem, pods) = capacity(&ng.instance_type);
    let resources = json!({"cpu": cpu.to_string(), "memory": format!("{}Ki", mem as u64 * 1024 * 1024), "pods": pods.to_string(), "ephemeral-storage": "20959212Ki"});
    let instance = format!(
        "i-0{}",
        obj::new_uid().replace('-', "").get(..16).unwrap_or("0")
    );
    let mut node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(cs, ng, name, zone), "uid": obj::new_uid(),
                     "creationTimestamp": obj::now_time(), "annotations": {READY_AT: ready_at.to_string()}},
        "spec": {"providerID": format!("aws:///{zone}/{instance}")},
        "status": {
            "capacity": resources, "allocatable": resources,
            "conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime network not ready",
                            "lastHeartbeatTime": obj::now_time(), "lastTransitionTime": obj::now_time()}],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name},
                          {"type": "InternalDNS", "address": name}],
            "nodeInfo": {"kubeletVersion": cs.git_version(), "kubeProxyVersion": cs.git_version(),
                         "osImage": "Amazon Linux 2023", "operatingSystem": "linux", "architecture": "amd64",
                         "containerRuntimeVersion": "containerd://1.7.27", "kernelVersion": "6.1.0-cloudsim",
                         "machineID": obj::new_uid().replace('-', ""), "systemUUID": obj::new_uid(), "bootID": obj::new_uid()},
        },
    });
    let t = taints(ng);
    if t.as_array().is_some_and(|a| !a.is_empty()) {
        node["spec"]["taints"] = t;
    }
    node
}

/// Creates or deletes the node group's Nodes so there are `ng.count`, and updates their labels and taints.
pub fn sync(cs: &ClusterState, ng: &NodeGroupNodes) -> Result<(), StoreError> {
    let nodes_gr = gr("", "nodes");
    // One draw per node group sync: its new Nodes turn Ready together.
    let ready_in = cs.scaled_draw(LatencyKind::NodeReady, &ng.nodegroup);
    let ready_at = obj::now_millis() + ready_in.as_millis() as i64;
    cs.store.write(Commit::Durable, |tx| {
        let all = tx.list(&nodes_gr, None);
        let mut mine: Vec<_> = all
            .iter()
            .filter(|n| obj::label(n, NODEGROUP_LABEL) == Some(ng.nodegroup.as_str()))
            .cloned()
            .collect();
        for n in &mine {
            let mut updated = (**n).clone();
            let zone = node_zone(cs, ng, Some(n), 0);
            let mut labels = node_labels(cs, ng, obj::name(n), &zone);
            // Labels others added (kubectl label) stay.
            if let (Some(l), Some(old)) =
                (labels.as_object_mut(), n["metadata"]["labels"].as_object())
            {
                for (k, v) in old {
                    l.entry(k.clone()).or_insert(v.clone());
                }
            }
            updated["metadata"]["labels"] = labels;
            let t = taints(ng);
            if t.as_array().is_some_and(|a| a.is_empty()) {
                if let Some(spec) = updated["spec"].as_object_mut() {
                    spec.remove("taints");
                }
            } else {
                updated["spec"]["taints"] = t;
            }
            put_if_changed(tx, &nodes_gr, n, updated);
        }
        let want = ng.count as usize;
        while mine.len() < want {
            let (a, b) = (fastrand::u8(0..=255), fastrand::u8(1..=254));
            let name = format!("ip-10-0-{a}-{b}.{}.compute.internal", cs.env.region);
            if all.iter().any(|n| obj::name(n) == name) || mine.iter().any(|n| obj::name(n) == name)
            {
                continue;
            }
            let zone = node_zone(cs, ng, None, mine.len());
            mine.push(tx.put(
                &nodes_gr,
                new_node(cs, ng, &name, &format!("10.0.{a}.{b}"), ready_at, &zone),
            ));
        }
        if mine.len() > want {
            mine.sort_by(|x, y| {
                y["metadata"]["creationTimestamp"]
                    .as_str()
                    .cmp(&x["metadata"]["creationTimestamp"].as_str())
            });
            for n in mine.drain(..mine.len() - want) {
                tx.remove(&nodes_gr, "", obj::name(&n));
            }
        }
        Ok(())
    })
}

/// Deletes every Node of a node group.
pub fn remove(cs: &ClusterState, nodegroup: &str) -> Result<(), StoreError> {
    let nodes_gr = gr("", "nodes");
    cs.store.write(Commit::Durable, |tx| {
        for n in tx.list(&nodes_gr, None) {
            if obj::label(&n, NODEGROUP_LABEL) == Some(nodegroup) {
                tx.remove(&nodes_gr, "", obj::name(&n));
            }
        }
        Ok(())
    })
}

/// Nodes whose ready-at deadline has passed turn Ready.
pub fn readiness(
    _cs: &ClusterState,
    tx: &mut Tx,
    now: i64,
    next: &mut Next,
) -> Result<(), StoreError> {
    let nodes_gr = gr("", "nodes");
    for n in tx.list(&nodes_gr, None) {
        let Some(at) = deadline(&n, READY_AT) else {
            continue;
        };
        if at > now {
            next.at(at);
            continue;
        }
        let mut ready = (*n).clone();
        obj::remove_annotation(&mut ready, READY_AT);
        let t = obj::now_time();
        ready["status"]["conditions"] = json!([
            {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": t, "lastTransitionTime": t},
            {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": t, "lastTransitionTime": t},
            {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": t, "lastTransitionTime": t},
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": t, "lastTransitionTime": t},
        ]);
        tx.put(&nodes_gr, ready);
    }
    Ok(())
}
