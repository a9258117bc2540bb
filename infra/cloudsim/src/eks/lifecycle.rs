//! Completes in-flight transitions when their deadlines pass (CREATING → ACTIVE, UPDATING → ACTIVE,
//! DELETING → gone) and carries the consequences to each cluster's Kubernetes half: start its API,
//! sync node groups, set the version, record leaked load balancers, shut it down.
//!
//! Deadlines are absolute wall-clock times stored with the resource, so after a restart overdue
//! transitions complete at once and the rest on their original schedule.

use std::sync::Arc;

use serde_json::json;

use super::Eks;
use super::backend::{ClusterApi, ClusterSpec, NodeGroupNodes};
use super::model::{Change, Issue, LeakedLoadBalancer, Nodegroup, NodegroupChange, ResourceRef};

/// Runs until the task is aborted (server shutdown).
pub fn spawn(eks: Arc<Eks>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let next = run_due(&eks).await;
            match next {
                Some(ms) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(eks.time.instant_at(ms)) => {}
                        _ = eks.wake.notified() => {}
                    }
                }
                None => eks.wake.notified().await,
            }
        }
    })
}

/// Completes every transition that is due; returns the next deadline.
pub async fn run_due(eks: &Eks) -> Option<u64> {
    loop {
        let now = eks.time.now_ms();
        let (mut due, next) = {
            let st = eks.state();
            let all: Vec<_> = st
                .clusters
                .values()
                .flat_map(|c| c.pending_refs())
                .collect();
            let next = all
                .iter()
                .filter(|(_, ms)| *ms > now)
                .map(|(_, ms)| *ms)
                .min();
            (
                all.into_iter()
                    .filter(|(_, ms)| *ms <= now)
                    .collect::<Vec<_>>(),
                next,
            )
        };
        if due.is_empty() {
            return next;
        }
        due.sort_by_key(|(_, ms)| *ms);
        for (what, _) in due {
            complete(eks, what).await;
        }
    }
}

async fn complete(eks: &Eks, what: ResourceRef) {
    let change = {
        let st = eks.state();
        match &what {
            ResourceRef::Cluster(c) => st.clusters.get(c).and_then(|c| c.pending.clone()),
            ResourceRef::Nodegroup(c, n) => st
                .clusters
                .get(c)
                .and_then(|c| c.nodegroups.get(n))
                .and_then(|n| n.pending.clone()),
            ResourceRef::Addon(c, a) => st
                .clusters
                .get(c)
                .and_then(|c| c.addons.get(a))
                .and_then(|a| a.pending.clone()),
        }
    };
    let Some(pending) = change else { return };
    // Starting a cluster's API takes a while and changes no EKS state: do it before closing the gate.
    let started = match (&what, &pending.change) {
        (ResourceRef::Cluster(c), Change::Create) => start_cluster_api(eks, c).await,
        _ => None,
    };
    // Under the gate no request sees the change before it is on disk, so a kill never takes back
    // something a client has seen.
    let _gate = eks.gate.write().await;
    match (what, pending.change) {
        (ResourceRef::Cluster(c), Change::Create) => cluster_created(eks, &c, started),
        (ResourceRef::Cluster(c), Change::Delete) => cluster_deleted(eks, &c).await,
        (ResourceRef::Cluster(c), Change::Version { update_id, version }) => {
            version_updated(eks, &c, &update_id, &version)
        }
        (ResourceRef::Nodegroup(c, n), Change::Create) => nodegroup_created(eks, &c, &n),
        (ResourceRef::Nodegroup(c, n), Change::Delete) => nodegroup_deleted(eks, &c, &n),
        (ResourceRef::Nodegroup(c, n), Change::NodegroupConfig { update_id, change }) => {
            nodegroup_updated(eks, &c, &n, &update_id, &change)
        }
        (ResourceRef::Addon(c, a), Change::Create) => addon_done(eks, &c, &a, false),
        (ResourceRef::Addon(c, a), Change::Delete) => addon_done(eks, &c, &a, true),
        (what, change) => {
            tracing::error!(
                ?what,
                ?change,
                "transition does not apply to this resource; dropping it"
            );
            clear_pending(eks, &what);
        }
    }
    // A failed write is logged by persist(); memory stays right and the next change retries it.
    let _ = eks.persist().await;
}

fn clear_pending(eks: &Eks, what: &ResourceRef) {
    let mut st = eks.state();
    match what {
        ResourceRef::Cluster(c) => st.clusters.get_mut(c).map(|c| c.pending = None),
        ResourceRef::Nodegroup(c, n) => st
            .clusters
            .get_mut(c)
            .and_then(|c| c.nodegroups.get_mut(n))
            .map(|n| n.pending = None),
        ResourceRef::Addon(c, a) => st
            .clusters
            .get_mut(c)
            .and_then(|c| c.addons.get_mut(a))
            .map(|a| a.pending = None),
    };
}

fn issue(code: &str, message: String, resource: &str) -> Issue {
    Issue {
        code: code.to_string(),
        message,
        resource_ids: vec![resource.to_string()],
    }
}

fn fail_cluster(eks: &Eks, name: &str, issue: Issue, detail: serde_json::Value) {
    let mut st = eks.state();
    if let Some(c) = st.clusters.get_mut(name) {
        c.status = "FAILED".into();
        c.pending = None;
        c.health_issues = vec![issue];
    }
    eks.env
        .events
        .record("cluster-create-failed", Some(name), detail);
}

/// Starts the Kubernetes API of a cluster whose creation is due; `None` when the creation is to
/// fail by fault (or the cluster is gone).
async fn start_cluster_api(eks: &Eks, name: &str) -> Option<anyhow::Result<Arc<dyn ClusterApi>>> {
    if eks.env.faults().cluster_create_fails(name) {
        return None;
    }
    let spec = {
        let st = eks.state();
        let c = st.clusters.get(name)?;
        ClusterSpec {
            name: name.to_string(),
            version: c.version.clone(),
            state_dir: eks.store.as_ref().map(|s| s.cluster_dir(name)),
        }
    };
    Some(eks.backend.start(spec, eks.env.clone()).await)
}

fn cluster_created(eks: &Eks, name: &str, started: Option<anyhow::Result<Arc<dyn ClusterApi>>>) {
    match started {
        None => {
            let message =
                "cloudsim fault failClusterCreate: the control plane did not come up".to_string();
            fail_cluster(
                eks,
                name,
                issue("InternalFailure", message, name),
                json!({"fault": "failClusterCreate"}),
            );
        }
        Some(Ok(api)) => {
            let endpoint = api.endpoint();
            let version = {
                let mut st = eks.state();
                let Some(c) = st.clusters.get_mut(name) else {
                    return;
                };
                c.status = "ACTIVE".into();
                c.pending = None;
                c.endpoint = Some(endpoint.clone());
                c.ca_pem = Some(api.ca_pem());
                c.version.clone()
            };
            eks.set_running(name, api);
            eks.env.events.record(
                "cluster-active",
                Some(name),
                json!({"endpoint": endpoint, "version": version}),
            );
        }
        Some(Err(e)) => {
            let message = format!("the Kubernetes API could not start: {e:#}");
            tracing::error!(cluster = name, error = %message, "cluster creation failed");
            fail_cluster(
                eks,
                name,
                issue("InternalFailure", message.clone(), name),
                json!({"error": message}),
            );
        }
    }
}

async fn cluster_deleted(eks: &Eks, name: &str) {
    if let Some(api) = eks.take_running(name) {
        let now = eks.time.now_ms();
        let leaked = api.load_balancers();
        for lb in &leaked {
            eks.env.events.record(
                "lb-leaked",
                Some(name),
                json!({"namespace": lb.namespace, "service": lb.service, "hostname": lb.hostname, "ip": lb.ip, "ports": lb.ports}),
            );
        }
        eks.state()
            .leaked_load_balancers
            .extend(leaked.into_iter().map(|lb| LeakedLoadBalancer {
                cluster: name.to_string(),
                lb,
                leaked_at_ms: now,
            }));
        api.shutdown().await;
    }
    eks.state().clusters.remove(name);
    if let Some(store) = &eks.store
        && let Err(e) = store.remove_cluster_dir(name)
    {
        tracing::warn!(cluster = name, error = %e, "could not remove the deleted cluster's state");
    }
    eks.env
        .events
        .record("cluster-deleted", Some(name), json!({}));
}

fn version_updated(eks: &Eks, name: &str, update_id: &str, version: &str) {
    {
        let mut st = eks.state();
        let Some(c) = st.clusters.get_mut(name) else {
            return;
        };
        c.version = version.to_string();
        c.platform_version = "eks.1".into();
        c.status = "ACTIVE".into();
        c.pending = None;
        if let Some(u) = c.updates.get_mut(update_id) {
            u.status = "Successful".into();
        }
    }
    if let Some(api) = eks.cluster_api(name) {
        api.set_version(version);
    }
    eks.env.events.record(
        "cluster-updated",
        Some(name),
        json!({"version": version, "updateId": update_id}),
    );
}

/// What the Kubernetes half needs to know about a node group's Nodes.
pub(crate) fn nodes_of(env: &crate::env::SimEnv, ng: &Nodegroup) -> NodeGroupNodes {
    NodeGroupNodes {
        zones: if ng.zones.is_empty() { env.zones_of(&ng.subnets) } else { ng.zones.clone() },
        nodegroup: ng.name.clone(),
        count: ng.scaling.desired_size,
        instance_type: ng.instance_types.first().cloned().unwrap_or_default(),
        labels: ng.labels.clone(),
        taints: ng
            .taints
            .iter()
            .map(|t| {
                (
                    t.key.clone(),
                    t.value.clone(),
                    kube_effect(&t.effect).to_string(),
                )
            })
            .collect(),
        capacity_type: ng.capacity_type.clone(),
    }
}

fn kube_effect(eks_effect: &str) -> &'static str {
    match eks_effect {
        "NO_EXECUTE" => "NoExecute",
        "PREFER_NO_SCHEDULE" => "PreferNoSchedule",
        _ => "NoSchedule",
    }
}

fn sync(eks: &Eks, cluster: &str, nodes: Option<NodeGroupNodes>) {
    let Some(nodes) = nodes else { return };
    match eks.cluster_api(cluster) {
        Some(api) => api.sync_nodegroup(&nodes),
        None => tracing::warn!(
            cluster,
            nodegroup = nodes.nodegroup,
            "cluster API is not running; nodes not synced"
        ),
    }
}

fn nodegroup_created(eks: &Eks, cluster: &str, name: &str) {
    let fails = eks.env.faults().nodegroup_create_fails(cluster, name);
    let now = eks.time.now_ms();
    let nodes = {
        let mut st = eks.state();
        let Some(ng) = st
            .clusters
            .get_mut(cluster)
            .and_then(|c| c.nodegroups.get_mut(name))
        else {
            return;
        };
        ng.pending = None;
        ng.modified_at_ms = now;
        if fails {
            ng.status = "CREATE_FAILED".into();
            let message =
                "cloudsim fault failNodegroupCreate: instances failed to launch".to_string();
            ng.health_issues = vec![issue("AsgInstanceLaunchFailures", message, &ng.asg_name)];
            None
        } else {
            ng.status = "ACTIVE".into();
            Some(nodes_of(&eks.env, ng))
        }
    };
    if nodes.is_some() {
        eks.env.events.record(
            "nodegroup-active",
            Some(cluster),
            json!({"nodegroup": name}),
        );
    } else {
        eks.env.events.record(
            "nodegroup-create-failed",
            Some(cluster),
            json!({"nodegroup": name, "fault": "failNodegroupCreate"}),
        );
    }
    sync(eks, cluster, nodes);
}

fn nodegroup_updated(
    eks: &Eks,
    cluster: &str,
    name: &str,
    update_id: &str,
    change: &NodegroupChange,
) {
    let now = eks.time.now_ms();
    let nodes = {
        let mut st = eks.state();
        let Some(c) = st.clusters.get_mut(cluster) else {
            return;
        };
        if let Some(u) = c.updates.get_mut(update_id) {
            u.status = "Successful".into();
        }
        let Some(ng) = c.nodegroups.get_mut(name) else {
            return;
        };
        change.apply_to(ng);
        ng.status = "ACTIVE".into();
        ng.pending = None;
        ng.modified_at_ms = now;
        nodes_of(&eks.env, ng)
    };
    eks.env.events.record(
        "nodegroup-updated",
        Some(cluster),
        json!({"nodegroup": name, "updateId": update_id}),
    );
    sync(eks, cluster, Some(nodes));
}

impl NodegroupChange {
    pub(crate) fn apply_to(&self, ng: &mut Nodegroup) {
        if let Some(s) = self.scaling {
            ng.scaling = s;
        }
        for k in &self.labels_remove {
            ng.labels.remove(k);
        }
        ng.labels.extend(self.labels_add.clone());
        ng.taints.retain(|t| {
            !self
                .taints_remove
                .iter()
                .any(|r| r.key == t.key && r.effect == t.effect)
        });
        for t in &self.taints_add {
            ng.taints
                .retain(|old| !(old.key == t.key && old.effect == t.effect));
            ng.taints.push(t.clone());
        }
        if self.max_unavailable.is_some() || self.max_unavailable_percentage.is_some() {
            ng.max_unavailable = self.max_unavailable;
            ng.max_unavailable_percentage = self.max_unavailable_percentage;
        }
    }
}

fn nodegroup_deleted(eks: &Eks, cluster: &str, name: &str) {
    let removed = eks
        .state()
        .clusters
        .get_mut(cluster)
        .and_then(|c| c.nodegroups.remove(name))
        .is_some();
    if !removed {
        return;
    }
    if let Some(api) = eks.cluster_api(cluster) {
        api.remove_nodegroup(name);
    }
    eks.env.events.record(
        "nodegroup-deleted",
        Some(cluster),
        json!({"nodegroup": name}),
    );
}

fn addon_done(eks: &Eks, cluster: &str, name: &str, deleted: bool) {
    let now = eks.time.now_ms();
    {
        let mut st = eks.state();
        let Some(c) = st.clusters.get_mut(cluster) else {
            return;
        };
        if deleted {
            c.addons.remove(name);
        } else if let Some(a) = c.addons.get_mut(name) {
            a.status = "ACTIVE".into();
            a.pending = None;
            a.modified_at_ms = now;
        }
    }
    sync_addons(eks, cluster);
    let kind = if deleted {
        "addon-deleted"
    } else {
        "addon-active"
    };
    eks.env
        .events
        .record(kind, Some(cluster), json!({"addon": name}));
}

/// Tells the cluster's Kubernetes half which add-ons are ACTIVE.
fn sync_addons(eks: &Eks, cluster: &str) {
    let active: Vec<String> = {
        let st = eks.state();
        let Some(c) = st.clusters.get(cluster) else { return };
        c.addons.values().filter(|a| a.status == "ACTIVE").map(|a| a.name.clone()).collect()
    };
    if let Some(api) = eks.cluster_api(cluster) {
        api.sync_addons(&active);
    }
}

/// After a restart: bring back the Kubernetes API of every cluster that had one, and make its node
/// groups' Nodes match (idempotent; covers a kill between an EKS change and the sync).
pub(crate) async fn restore_clusters(eks: &Eks) {
    let clusters: Vec<(String, String)> = {
        let st = eks.state();
        st.clusters
            .values()
            .filter(|c| c.endpoint.is_some())
            .map(|c| (c.name.clone(), c.version.clone()))
            .collect()
    };
    for (name, version) in clusters {
        let spec = ClusterSpec {
            name: name.clone(),
            version,
            state_dir: eks.store.as_ref().map(|s| s.cluster_dir(&name)),
        };
        match eks.backend.start(spec, eks.env.clone()).await {
            Ok(api) => {
                let nodes: Vec<NodeGroupNodes> = {
                    let mut st = eks.state();
                    let Some(c) = st.clusters.get_mut(&name) else {
                        continue;
                    };
                    c.endpoint = Some(api.endpoint());
                    c.ca_pem = Some(api.ca_pem());
                    c.nodegroups
                        .values()
                        .filter(|ng| matches!(ng.status.as_str(), "ACTIVE" | "UPDATING"))
                        .map(|ng| nodes_of(&eks.env, ng))
                        .collect()
                };
                for n in &nodes {
                    api.sync_nodegroup(n);
                }
                eks.set_running(&name, api);
                sync_addons(eks, &name);
                eks.env.events.record(
                    "cluster-restored",
                    Some(&name),
                    json!({"endpoint": eks.cluster_api(&name).map(|a| a.endpoint())}),
                );
            }
            Err(e) => {
                let message = format!("the Kubernetes API could not be restored: {e:#}");
                tracing::error!(cluster = name, error = %message, "cluster restore failed");
                if let Some(c) = eks.state().clusters.get_mut(&name) {
                    c.health_issues = vec![issue("ClusterUnreachable", message.clone(), &name)];
                }
                eks.env.events.record(
                    "cluster-restore-failed",
                    Some(&name),
                    json!({"error": message}),
                );
            }
        }
    }
}
