//! Provision steps: the green cluster, its access entries, add-ons and node groups, and how each
//! is undone.

use serde_json::{Value, json};

use crate::plan::NodeGroup;
use crate::providers::{ClusterInfo, TAG_PLAN, TAG_RUN_ID};

use super::Cx;
use crate::engine::error::StepError;
use crate::engine::retry::Bound;

pub(super) async fn cluster(cx: &Cx<'_>) -> Result<Value, StepError> {
    let spec = &cx.plan().green;
    let clusters = &cx.p().clusters;
    let existing = cx
        .call(
            &format!("describe cluster {}", spec.name),
            Bound::Call,
            || clusters.describe_cluster(&spec.name),
        )
        .await?;
    if let Some(info) = &existing {
        if !cx.own().owns(&info.tags) {
            return Err(StepError::Precondition(format!(
                "cluster {} already exists and was not created by this run ({}); choose another \
                 green cluster name, or delete that cluster if it is a leftover",
                spec.name,
                describe_owner(info)
            )));
        }
        tracing::info!(cluster = %spec.name, "adopting the cluster this run already created");
    }
    let token = cx.token("create");
    let timeout = cx.plan().timeouts.cluster_active;
    let info = cx
        .call(
            &format!("create cluster {}", spec.name),
            Bound::Wait(timeout),
            || clusters.create_cluster(spec, cx.own(), &token),
        )
        .await?;
    Ok(json!({
        "cluster": info.name,
        "adopted": existing.is_some(),
        "version": info.version,
        "endpoint": info.endpoint,
    }))
}

/// Who a cluster's tags say made it, for messages.
pub(super) fn describe_owner(info: &ClusterInfo) -> String {
    match (info.tags.get(TAG_PLAN), info.tags.get(TAG_RUN_ID)) {
        (Some(plan), Some(run)) => format!("tagged as made by run {run} of plan {plan}"),
        _ => "it has no cutover ownership tags".to_string(),
    }
}

/// Deletes green only if this run made it; a cluster someone else made is left alone (the
/// create that would have made it failed, so there is nothing of ours to undo).
pub(super) async fn undo_cluster(cx: &Cx<'_>) -> Result<(), StepError> {
    let name = &cx.plan().green.name;
    let clusters = &cx.p().clusters;
    let info = cx
        .call(&format!("describe cluster {name}"), Bound::Call, || {
            clusters.describe_cluster(name)
        })
        .await?;
    match info {
        None => Ok(()),
        Some(info) if !cx.own().owns(&info.tags) => {
            tracing::warn!(cluster = %name, owner = %describe_owner(&info), "not ours; left alone");
            Ok(())
        }
        Some(info) => release_and_delete(cx, &info).await,
    }
}

/// Tears the cluster down by the one teardown rule ([`crate::engine::teardown`]). Callers have
/// already passed the ownership / traffic interlock.
pub(super) async fn release_and_delete(cx: &Cx<'_>, info: &ClusterInfo) -> Result<(), StepError> {
    let (clusters, workloads) = (&cx.p().clusters, &cx.p().workloads);
    for action in crate::engine::teardown::actions(&info.name, info.status, &cx.plan().timeouts) {
        cx.call(&action.what, Bound::Wait(action.limit), || action.run(clusters.as_ref(), workloads.as_ref())).await?;
    }
    Ok(())
}

pub(super) async fn addon(cx: &Cx<'_>, name: &str) -> Result<Value, StepError> {
    let plan = cx.plan();
    let addon = plan
        .green
        .addons
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| missing("add-on", name))?;
    let token = cx.token("create");
    let clusters = &cx.p().clusters;
    cx.call(
        &format!("install add-on {name}"),
        Bound::Wait(plan.timeouts.addon_active),
        || clusters.ensure_addon(&plan.green.name, addon, cx.own(), &token),
    )
    .await?;
    Ok(json!({ "addon": name, "version": addon.version }))
}

pub(super) async fn undo_addon(cx: &Cx<'_>, name: &str) -> Result<(), StepError> {
    let plan = cx.plan();
    let clusters = &cx.p().clusters;
    cx.call(
        &format!("delete add-on {name}"),
        Bound::Wait(plan.timeouts.addon_active),
        || clusters.delete_addon(&plan.green.name, name),
    )
    .await
}

pub(super) async fn nodegroup(cx: &Cx<'_>, name: &str) -> Result<Value, StepError> {
    let plan = cx.plan();
    let mut ng: NodeGroup = plan
        .green
        .nodegroups
        .iter()
        .find(|n| n.name == name)
        .cloned()
        .ok_or_else(|| missing("node group", name))?;
    if ng.subnets.is_empty() {
        ng.subnets = plan.green.subnets.clone();
    }
    let token = cx.token("create");
    let clusters = &cx.p().clusters;
    cx.call(
        &format!("create node group {name}"),
        Bound::Wait(plan.timeouts.nodegroup_active),
        || clusters.ensure_nodegroup(&plan.green.name, &ng, cx.own(), &token),
    )
    .await?;
    Ok(json!({ "nodegroup": name }))
}

pub(super) async fn undo_nodegroup(cx: &Cx<'_>, name: &str) -> Result<(), StepError> {
    let plan = cx.plan();
    let clusters = &cx.p().clusters;
    cx.call(
        &format!("delete node group {name}"),
        Bound::Wait(plan.timeouts.nodegroup_active),
        || clusters.delete_nodegroup(&plan.green.name, name),
    )
    .await
}

pub(super) async fn access(cx: &Cx<'_>, index: usize) -> Result<Value, StepError> {
    let plan = cx.plan();
    let entry = plan
        .green
        .access
        .get(index)
        .ok_or_else(|| missing("access entry", &index.to_string()))?;
    let clusters = &cx.p().clusters;
    cx.call(
        &format!("grant access to {}", entry.principal_arn),
        Bound::Call,
        || clusters.ensure_access_entry(&plan.green.name, entry, cx.own()),
    )
    .await?;
    Ok(json!({ "principal": entry.principal_arn }))
}

pub(super) async fn undo_access(cx: &Cx<'_>, index: usize) -> Result<(), StepError> {
    let plan = cx.plan();
    let entry = plan
        .green
        .access
        .get(index)
        .ok_or_else(|| missing("access entry", &index.to_string()))?;
    let clusters = &cx.p().clusters;
    cx.call(
        &format!("delete access entry {}", entry.principal_arn),
        Bound::Call,
        || clusters.delete_access_entry(&plan.green.name, &entry.principal_arn),
    )
    .await
}

/// The plan lost something a journaled step names: only possible with a bug (resume checks the
/// plan digest).
pub(super) fn missing(what: &str, name: &str) -> StepError {
    StepError::Internal(format!("the plan has no {what} {name}"))
}
