//! Workload identity steps: green's Pod Identity associations and IAM OIDC provider, and the
//! trust policies of the IRSA roles its workloads use — green's issuer added before the releases
//! are installed, blue's removed only once blue is gone (until then it is the way back).
//!
//! Every trust edit is journaled with the document before and after it. A role whose live document
//! is neither what cutover read nor what it wrote was changed by someone else: the step stops
//! (interlock) rather than overwrite it, as the traffic steps do for hand-edited DNS. The undo
//! restores the exact document cutover read.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Cx;
use super::provision::missing;
use crate::engine::error::StepError;
use crate::engine::ids;
use crate::engine::preflight::irsa::IrsaReading;
use crate::engine::retry::Bound;
use crate::engine::trust;

pub(super) async fn pod_identity(cx: &Cx<'_>, index: usize) -> Result<Value, StepError> {
    let plan = cx.plan();
    let pi = plan.green.identity.pod_identities.get(index).ok_or_else(|| missing("pod identity", &index.to_string()))?;
    let token = cx.token("create");
    let p = &cx.p().pod_identities;
    let info = cx
        .call(
            &format!("associate {}/{} with {}", pi.namespace, pi.service_account, pi.role_arn),
            Bound::Call,
            || p.ensure_pod_identity(&plan.green.name, pi, cx.own(), &token),
        )
        .await?;
    Ok(json!({ "associationId": info.id, "serviceAccount": format!("{}/{}", pi.namespace, pi.service_account), "roleArn": pi.role_arn }))
}

pub(super) async fn undo_pod_identity(cx: &Cx<'_>, index: usize) -> Result<(), StepError> {
    let plan = cx.plan();
    let pi = plan.green.identity.pod_identities.get(index).ok_or_else(|| missing("pod identity", &index.to_string()))?;
    let p = &cx.p().pod_identities;
    cx.call(
        &format!("delete the pod identity association of {}/{}", pi.namespace, pi.service_account),
        Bound::Call,
        || p.delete_pod_identity(&plan.green.name, &pi.namespace, &pi.service_account, cx.own()),
    )
    .await
}

/// Green's OIDC issuer, from EKS (the cluster is ACTIVE by now).
async fn green_issuer(cx: &Cx<'_>) -> Result<String, StepError> {
    let name = &cx.plan().green.name;
    let clusters = &cx.p().clusters;
    let info = cx.call(&format!("describe cluster {name}"), Bound::Call, || clusters.describe_cluster(name)).await?;
    info.and_then(|i| i.oidc_issuer)
        .ok_or_else(|| StepError::Precondition(format!("cluster {name} has no OIDC issuer yet; EKS gives every ACTIVE cluster one")))
}

pub(super) async fn oidc_provider(cx: &Cx<'_>) -> Result<Value, StepError> {
    let issuer = green_issuer(cx).await?;
    let iam = &cx.p().iam;
    let provider = cx
        .call(&format!("create the IAM OIDC provider for {issuer}"), Bound::Call, || iam.ensure_oidc_provider(&issuer, cx.own()))
        .await?;
    if !provider.ours {
        tracing::warn!(provider = %provider.arn, "an IAM OIDC provider for green's issuer exists already; using it, never deleting it");
    }
    Ok(json!({ "issuer": issuer, "arn": provider.arn, "ours": provider.ours }))
}

/// Deletes green's provider if this run made it (the provider checks the tags again).
pub(super) async fn undo_oidc_provider(cx: &Cx<'_>) -> Result<(), StepError> {
    let issuer = match cx.output(ids::PROVISION_OIDC).and_then(|o| o["issuer"].as_str().map(str::to_string)) {
        Some(issuer) => issuer,
        None => match green_issuer(cx).await {
            Ok(issuer) => issuer,
            // No cluster, no issuer: nothing can have been made for it.
            Err(_) => return Ok(()),
        },
    };
    let iam = &cx.p().iam;
    cx.call(&format!("delete the IAM OIDC provider for {issuer}"), Bound::Call, || iam.delete_oidc_provider(&issuer, cx.own()))
        .await
}

/// One role's edit, as journaled.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustEdit {
    role_arn: String,
    before: String,
    after: String,
}

/// The journaled outcome of a trust step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustEdits {
    blue_issuer: String,
    green_issuer: String,
    roles: Vec<TrustEdit>,
}

/// What the `irsa` gate read, if it read any role.
fn reading(cx: &Cx<'_>) -> Option<IrsaReading> {
    let out = cx.output(&ids::preflight(crate::plan::PreflightGate::Irsa))?;
    serde_json::from_value(out.get("irsa")?.clone()).ok()
}

fn hand_edited(role: &str, live: &str, expected: &[&str]) -> StepError {
    StepError::Interlock(format!(
        "the trust policy of role {role} changed since cutover read it (edited by hand?), so cutover \
         changed nothing. Expected {} but IAM has {live}. Put the expected document back and run \
         `cutover resume`, or take the role over by hand",
        expected.join(" or ")
    ))
}

async fn live_trust(cx: &Cx<'_>, role: &str) -> Result<String, StepError> {
    let iam = &cx.p().iam;
    cx.call(&format!("read the trust policy of role {role}"), Bound::Call, || iam.trust_policy(role))
        .await?
        .ok_or_else(|| StepError::Interlock(format!("role {role} was deleted since cutover read it; recreate it or take over by hand")))
}

async fn write_trust(cx: &Cx<'_>, role: &str, document: &str) -> Result<(), StepError> {
    let iam = &cx.p().iam;
    cx.call(&format!("update the trust policy of role {role}"), Bound::Call, || iam.set_trust_policy(role, document)).await
}

fn invalid(role: &str, e: trust::TrustError) -> StepError {
    StepError::Precondition(format!("role {role}: {e}"))
}

/// The edits that add green's issuer to each role the gate read (before = as read).
fn planned_additions(reading: &IrsaReading, green_issuer: &str) -> Result<Vec<TrustEdit>, StepError> {
    reading
        .roles
        .iter()
        .map(|r| {
            let after = trust::add_issuer(&r.trust_policy, &reading.blue_issuer, green_issuer).map_err(|e| invalid(&r.role_arn, e))?;
            Ok(TrustEdit { role_arn: r.role_arn.clone(), before: r.trust_policy.clone(), after })
        })
        .collect()
}

/// Applies each edit unless it is in place already; stops at a document that is neither side.
async fn apply_edits(cx: &Cx<'_>, edits: &[TrustEdit]) -> Result<(), StepError> {
    for e in edits {
        let live = live_trust(cx, &e.role_arn).await?;
        if trust::same(&live, &e.after) {
            continue;
        }
        if !trust::same(&live, &e.before) {
            return Err(hand_edited(&e.role_arn, &live, &[&e.before, &e.after]));
        }
        write_trust(cx, &e.role_arn, &e.after).await?;
    }
    Ok(())
}

pub(super) async fn irsa_trust(cx: &Cx<'_>) -> Result<Value, StepError> {
    let Some(reading) = reading(cx) else { return Ok(json!({ "roles": [] })) };
    let green_issuer = green_issuer(cx).await?;
    let roles = planned_additions(&reading, &green_issuer)?;
    apply_edits(cx, &roles).await?;
    let edits = TrustEdits { blue_issuer: reading.blue_issuer, green_issuer, roles };
    Ok(serde_json::to_value(edits).expect("trust edits serialize"))
}

/// Puts back the exact documents read before green's issuer was added. Works whether the step
/// finished (its output), half-ran or never ran (recomputed from the gate's reading).
pub(super) async fn undo_irsa_trust(cx: &Cx<'_>) -> Result<(), StepError> {
    let edits = match cx.output(ids::PROVISION_IRSA_TRUST).and_then(|o| serde_json::from_value::<TrustEdits>(o).ok()) {
        Some(done) => done.roles,
        None => {
            let Some(reading) = reading(cx) else { return Ok(()) };
            let Ok(green_issuer) = green_issuer(cx).await else { return Ok(()) };
            planned_additions(&reading, &green_issuer)?
        }
    };
    for e in &edits {
        let live = live_trust(cx, &e.role_arn).await?;
        if live == e.before {
            continue;
        }
        if !trust::same(&live, &e.after) && !trust::same(&live, &e.before) {
            return Err(hand_edited(&e.role_arn, &live, &[&e.after]));
        }
        // Same meaning but other bytes is put back too: the way back is the exact document.
        write_trust(cx, &e.role_arn, &e.before).await?;
    }
    Ok(())
}

/// After blue is deleted: each role edited on the way in loses blue's statements.
pub(super) async fn retire_irsa_trust(cx: &Cx<'_>) -> Result<Value, StepError> {
    let Some(added) = cx.output(ids::PROVISION_IRSA_TRUST).and_then(|o| serde_json::from_value::<TrustEdits>(o).ok()) else {
        return Ok(json!({ "roles": [] }));
    };
    let roles = added
        .roles
        .iter()
        .map(|e| {
            let after = trust::remove_issuer(&e.after, &added.blue_issuer).map_err(|err| invalid(&e.role_arn, err))?;
            Ok(TrustEdit { role_arn: e.role_arn.clone(), before: e.after.clone(), after })
        })
        .collect::<Result<Vec<_>, StepError>>()?;
    apply_edits(cx, &roles).await?;
    let edits = TrustEdits { roles, ..added };
    Ok(serde_json::to_value(edits).expect("trust edits serialize"))
}
