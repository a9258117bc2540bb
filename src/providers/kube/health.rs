//! Cluster-side health checks, one attempt each: `nodesReady` (enough Ready nodes whose kubelet
//! runs the plan's Kubernetes minor) and `workloadsReady` (every Deployment, StatefulSet and
//! DaemonSet in the given namespaces rolled out and available at its latest generation, judged the
//! way `kubectl rollout status` judges it). Outcomes say in one line what is not ready and why.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Node;
use kube::ResourceExt as _;
use kube::api::{Api, ListParams};

use super::client::KubeClients;
use crate::plan::KubeVersion;
use crate::providers::{CheckOutcome, ProviderError};

/// At most this many problems are named in an outcome; the rest are counted.
const SHOWN: usize = 3;

fn outcome(passed: bool, detail: String) -> CheckOutcome {
    CheckOutcome { passed, detail }
}

/// `v1.32.5-eks-1234` → (1, 32).
fn kubelet_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.trim().trim_start_matches(['v', 'V']);
    let mut parts = v.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn summarize(problems: &[String]) -> String {
    let mut s = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        s.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    s
}

/// At least `min` nodes Ready, counting only nodes whose kubelet is at `version`'s minor.
pub async fn nodes_ready(
    clients: &KubeClients,
    cluster: &str,
    min: u32,
    version: KubeVersion,
) -> Result<CheckOutcome, ProviderError> {
    let api: Api<Node> = Api::all(clients.client(cluster).await?);
    let nodes = api
        .list(&ListParams::default())
        .await
        .map_err(|e| clients.error(cluster, "list nodes", e))?
        .items;
    let want = (version.major, version.minor);
    let mut ready = 0u32;
    let mut problems = Vec::new();
    for node in &nodes {
        let name = node.name_any();
        let status = node.status.as_ref();
        let kubelet = status
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.kubelet_version.clone())
            .unwrap_or_default();
        let condition = status
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
        let is_ready = condition.is_some_and(|c| c.status == "True");
        if kubelet_minor(&kubelet) != Some(want) {
            problems.push(format!(
                "node {name} runs kubelet {kubelet:?}, not {version}"
            ));
        } else if !is_ready {
            let why = condition
                .and_then(|c| c.reason.clone().or(c.message.clone()))
                .unwrap_or_else(|| "no Ready condition yet".into());
            problems.push(format!("node {name} is not Ready ({why})"));
        } else {
            ready += 1;
        }
    }
    if ready >= min {
        let mut detail = format!(
            "{ready} of {} nodes Ready at {version} (need {min})",
            nodes.len()
        );
        if !problems.is_empty() {
            detail.push_str(&format!("; also: {}", summarize(&problems)));
        }
        return Ok(outcome(true, detail));
    }
    let mut detail = format!("{ready} nodes Ready at {version}, need {min}");
    if nodes.is_empty() {
        detail.push_str("; the cluster has no nodes yet");
    } else if !problems.is_empty() {
        detail.push_str(&format!(": {}", summarize(&problems)));
    }
    Ok(outcome(false, detail))
}

fn behind(
    kind: &str,
    ns: &str,
    name: &str,
    generation: Option<i64>,
    observed: Option<i64>,
) -> Option<String> {
    let generation = generation.unwrap_or(0);
    let observed = observed.unwrap_or(0);
    (observed < generation).then(|| {
        format!("{kind} {ns}/{name}: controller has seen generation {observed} of {generation}")
    })
}

fn deployment_problem(ns: &str, d: &Deployment) -> Option<String> {
    let name = d.name_any();
    let status = d.status.clone().unwrap_or_default();
    if let Some(p) = behind(
        "deployment",
        ns,
        &name,
        d.metadata.generation,
        status.observed_generation,
    ) {
        return Some(p);
    }
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let total = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    let stalled = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    let why = if updated < want {
        format!("{updated} of {want} replicas updated")
    } else if total > updated {
        format!("{} old replicas still running", total - updated)
    } else if available < updated {
        format!("{available} of {want} replicas available")
    } else {
        return None;
    };
    let stalled = if stalled {
        ", progress deadline exceeded"
    } else {
        ""
    };
    Some(format!("deployment {ns}/{name}: {why}{stalled}"))
}

fn statefulset_problem(ns: &str, s: &StatefulSet) -> Option<String> {
    let name = s.name_any();
    let status = s.status.clone().unwrap_or_default();
    if let Some(p) = behind(
        "statefulset",
        ns,
        &name,
        s.metadata.generation,
        status.observed_generation,
    ) {
        return Some(p);
    }
    let spec = s.spec.as_ref();
    let want = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(ready);
    let rolling = spec
        .and_then(|s| s.update_strategy.as_ref())
        .is_none_or(|u| u.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate");
    let partitioned = spec
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .is_some_and(|p| p > 0);
    let why = if ready < want {
        format!("{ready} of {want} replicas ready")
    } else if available < want {
        format!("{available} of {want} replicas available")
    } else if rolling
        && !partitioned
        && status.update_revision.is_some()
        && status.current_revision != status.update_revision
    {
        let updated = status.updated_replicas.unwrap_or(0);
        format!("rolling update in progress ({updated} of {want} pods at the new revision)")
    } else {
        return None;
    };
    Some(format!("statefulset {ns}/{name}: {why}"))
}

fn daemonset_problem(ns: &str, d: &DaemonSet) -> Option<String> {
    let name = d.name_any();
    let status = d.status.clone().unwrap_or_default();
    if let Some(p) = behind(
        "daemonset",
        ns,
        &name,
        d.metadata.generation,
        status.observed_generation,
    ) {
        return Some(p);
    }
    let want = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    let available = status.number_available.unwrap_or(0);
    let why = if updated < want {
        format!("{updated} of {want} pods updated")
    } else if available < want {
        format!("{available} of {want} pods available")
    } else {
        return None;
    };
    Some(format!("daemonset {ns}/{name}: {why}"))
}

/// Every Deployment, StatefulSet and DaemonSet in `namespaces` rolled out and available.
pub async fn workloads_ready(
    clients: &KubeClients,
    cluster: &str,
    namespaces: &[String],
) -> Result<CheckOutcome, ProviderError> {
    let client = clients.client(cluster).await?;
    let lp = ListParams::default();
    let mut problems = Vec::new();
    let mut count = 0usize;
    for ns in namespaces {
        let list_err = |what: &str, e| clients.error(cluster, &format!("list {what} in {ns}"), e);
        let deployments = Api::<Deployment>::namespaced(client.clone(), ns)
            .list(&lp)
            .await
            .map_err(|e| list_err("deployments", e))?
            .items;
        let statefulsets = Api::<StatefulSet>::namespaced(client.clone(), ns)
            .list(&lp)
            .await
            .map_err(|e| list_err("statefulsets", e))?
            .items;
        let daemonsets = Api::<DaemonSet>::namespaced(client.clone(), ns)
            .list(&lp)
            .await
            .map_err(|e| list_err("daemonsets", e))?
            .items;
        count += deployments.len() + statefulsets.len() + daemonsets.len();
        problems.extend(deployments.iter().filter_map(|d| deployment_problem(ns, d)));
        problems.extend(
            statefulsets
                .iter()
                .filter_map(|s| statefulset_problem(ns, s)),
        );
        problems.extend(daemonsets.iter().filter_map(|d| daemonset_problem(ns, d)));
    }
    let where_ = namespaces.join(", ");
    if problems.is_empty() {
        return Ok(outcome(
            true,
            format!("{count} workloads ready in {where_}"),
        ));
    }
    Ok(outcome(
        false,
        format!(
            "{} of {count} workloads not ready: {}",
            problems.len(),
            summarize(&problems)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubelet_versions_compare_by_minor() {
        assert_eq!(kubelet_minor("v1.32.5-eks-cloudsim"), Some((1, 32)));
        assert_eq!(kubelet_minor("v1.31.0"), Some((1, 31)));
        assert_eq!(kubelet_minor("1.33"), Some((1, 33)));
        assert_eq!(kubelet_minor(""), None);
    }

    fn deployment(v: serde_json::Value) -> Deployment {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_deployment_is_ready_only_at_its_latest_generation_with_all_replicas_available() {
        let ok = deployment(json!({"metadata": {"name": "web", "generation": 2},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert_eq!(deployment_problem("apps", &ok), None);
        let stale = deployment(json!({"metadata": {"name": "web", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert_eq!(
            deployment_problem("apps", &stale).unwrap(),
            "deployment apps/web: controller has seen generation 2 of 3"
        );
        let rolling = deployment(json!({"metadata": {"name": "web", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}}));
        assert_eq!(
            deployment_problem("apps", &rolling).unwrap(),
            "deployment apps/web: 1 old replicas still running"
        );
        let unavailable = deployment(json!({"metadata": {"name": "web", "generation": 1},
            "spec": {"replicas": 2, "selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 0,
                       "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}}));
        assert_eq!(
            deployment_problem("apps", &unavailable).unwrap(),
            "deployment apps/web: 0 of 2 replicas available, progress deadline exceeded"
        );
    }

    #[test]
    fn a_daemonset_needs_every_scheduled_pod_updated_and_available() {
        let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent", "generation": 1},
            "spec": {"selector": {}, "template": {}},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                       "numberReady": 2, "numberAvailable": 2, "updatedNumberScheduled": 3, "numberMisscheduled": 0}})).unwrap();
        assert_eq!(
            daemonset_problem("kube-system", &ds).unwrap(),
            "daemonset kube-system/agent: 2 of 3 pods available"
        );
    }

    #[test]
    fn long_problem_lists_are_cut_short() {
        let problems: Vec<String> = (0..5).map(|i| format!("p{i}")).collect();
        assert_eq!(summarize(&problems), "p0; p1; p2; and 2 more");
    }
}
