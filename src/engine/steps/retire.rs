//! Retiring blue (retention wait, blue's records, blue's cluster: the point of no return) and
//! the drill's teardown of its rebuilt cluster.
//!
//! Deleting a cluster is guarded here for every caller: cutover deletes a cluster only if this
//! run's ownership tags are on it, or if it is the plan's blue AND every blue record has weight 0
//! (or is gone) in Route53 right now.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::providers::{ChangeAction, RecordChange, WeightedRecord};

use super::provision::{describe_owner, release_and_delete};
use super::traffic::{hand_changed, read_live, resolve, set_ids, submit, traffic, weights_after_last_shift};
use super::{Cx, StepOutcome};
use crate::engine::error::StepError;
use crate::engine::retry::Bound;

/// Blue's record as deleted, kept in the journal so the deletion can be undone.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct DeletedRecord {
    record: String,
    set_id: String,
    target: String,
    ttl: u32,
    weight: u8,
}

pub(super) async fn wait_retention(cx: &Cx<'_>) -> Result<StepOutcome, StepError> {
    let last = traffic(cx)?.steps.last().map(|s| s.weight).unwrap_or(100);
    let shift = crate::engine::ids::shift(last);
    let reached: jiff::Timestamp = cx
        .output(&shift)
        .and_then(|o| serde_json::from_value(o["insync_at"].clone()).ok())
        .ok_or_else(|| {
            StepError::Internal(format!(
                "the journal has no time at which {shift} was INSYNC"
            ))
        })?;
    let retain = jiff::SignedDuration::try_from(cx.plan().teardown.retain_blue_for)
        .map_err(|e| StepError::Internal(format!("retention out of range: {e}")))?;
    let until = reached
        .checked_add(retain)
        .map_err(|e| StepError::Internal(format!("retention deadline out of range: {e}")))?;
    if cx.now() < until {
        return Ok(StepOutcome::Wait(until));
    }
    Ok(StepOutcome::Done(
        json!({ "green_full_since": reached, "until": until }),
    ))
}

pub(super) async fn blue_records(cx: &Cx<'_>) -> Result<Value, StepError> {
    let t = traffic(cx)?;
    let expected = weights_after_last_shift(cx)?;
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    let found = live.weights(t, &ids);
    let mut changes = Vec::new();
    let mut deleted = Vec::new();
    for (i, rec) in t.records.iter().enumerate() {
        let gone = crate::providers::weights::RecordWeights {
            blue: None,
            ..expected[i].clone()
        };
        if found[i] != expected[i] && found[i] != gone {
            return Err(hand_changed(rec, &ids[i], &[&expected[i], &gone], &found[i]));
        }
        if let Some(blue) = live.find(i, &ids[i].blue) {
            deleted.push(DeletedRecord {
                record: rec.name.clone(),
                set_id: blue.set_id.clone(),
                target: blue.target.clone(),
                ttl: blue.ttl,
                weight: blue.weight,
            });
            changes.push(RecordChange {
                action: ChangeAction::Delete,
                record: blue.clone(),
            });
        }
    }
    submit(cx, &live, changes).await?;
    Ok(json!({ "deleted": deleted }))
}

/// Puts blue's records back at weight 0 (green keeps the traffic).
pub(super) async fn undo_blue_records(cx: &Cx<'_>) -> Result<(), StepError> {
    let t = traffic(cx)?;
    let journaled: Option<Vec<DeletedRecord>> = cx
        .output(cx.step)
        .and_then(|o| serde_json::from_value(o["deleted"].clone()).ok());
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    let blue_cluster = cx
        .plan()
        .blue
        .as_ref()
        .map(|b| b.cluster.clone())
        .unwrap_or_default();
    let mut changes = Vec::new();
    for (i, rec) in t.records.iter().enumerate() {
        if live.find(i, &ids[i].blue).is_some() {
            continue;
        }
        // Without the journaled record (the step died mid-way), rebuild it from the plan.
        let known = journaled
            .iter()
            .flatten()
            .find(|d| d.record == rec.name && d.set_id == ids[i].blue);
        let target = match known {
            Some(d) => d.target.clone(),
            None => resolve(cx, &blue_cluster, &rec.blue).await?,
        };
        let record = WeightedRecord {
            name: rec.name.clone(),
            record_type: rec.record_type,
            set_id: ids[i].blue.clone(),
            target,
            ttl: known.map_or(rec.ttl, |d| d.ttl),
            weight: 0,
        };
        changes.push(RecordChange {
            action: ChangeAction::Upsert,
            record,
        });
    }
    submit(cx, &live, changes).await
}

pub(super) async fn blue_cluster(cx: &Cx<'_>) -> Result<Value, StepError> {
    let name = cx
        .plan()
        .blue
        .as_ref()
        .map(|b| b.cluster.clone())
        .ok_or_else(|| StepError::Internal("the plan names no blue cluster".into()))?;
    let deleted = delete_cluster_checked(cx, &name).await?;
    Ok(json!({ "cluster": name, "deleted": deleted }))
}

pub(super) async fn teardown_green(cx: &Cx<'_>) -> Result<Value, StepError> {
    let name = cx.plan().green.name.clone();
    let deleted = delete_cluster_checked(cx, &name).await?;
    Ok(json!({ "cluster": name, "deleted": deleted }))
}

/// The deletion interlock (see the module docs). `Ok(false)` when the cluster is already gone.
async fn delete_cluster_checked(cx: &Cx<'_>, name: &str) -> Result<bool, StepError> {
    let clusters = &cx.p().clusters;
    let info = cx
        .call(&format!("describe cluster {name}"), Bound::Call, || {
            clusters.describe_cluster(name)
        })
        .await?;
    let Some(info) = info else { return Ok(false) };
    if !cx.own().owns(&info.tags) {
        let is_blue = cx.plan().blue.as_ref().is_some_and(|b| b.cluster == name);
        if !is_blue {
            return Err(StepError::Interlock(format!(
                "refusing to delete cluster {name}: it was not created by this run ({}) and it is \
                 not this plan's blue cluster",
                describe_owner(&info)
            )));
        }
        ensure_blue_carries_nothing(cx, name).await?;
    }
    release_and_delete(cx, &info).await?;
    Ok(true)
}

/// Every blue record is gone or at weight 0 in Route53 right now.
async fn ensure_blue_carries_nothing(cx: &Cx<'_>, name: &str) -> Result<(), StepError> {
    let Some(t) = &cx.plan().traffic else {
        return Err(StepError::Interlock(format!(
            "refusing to delete blue cluster {name}: the plan lists no DNS records, so cutover \
             cannot prove that blue carries no traffic"
        )));
    };
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    for (i, rec) in t.records.iter().enumerate() {
        if let Some(blue) = live.find(i, &ids[i].blue).filter(|b| b.weight > 0) {
            return Err(StepError::Interlock(format!(
                "refusing to delete blue cluster {name}: record {} still sends weight {} to blue \
                 (set id {}); blue carries traffic. Move it to green, then `cutover resume`",
                rec.name, blue.weight, ids[i].blue
            )));
        }
    }
    Ok(())
}
