//! Traffic steps: preflight of blue's records, green's records at weight 0, each weight shift with
//! its DNS wait and bake, and their compensations.
//!
//! Before every weight change the live weights are compared with what the journal says they
//! should be; any difference means someone changed DNS by hand, and the step stops (needs
//! attention) naming the record, the expected and the found weights. A step whose change already
//! landed before a crash finds the live weights equal to its target and adopts them.

use serde_json::{Value, json};

use crate::plan::{RecordTarget, SetIds, Traffic, TrafficRecord};
use crate::providers::{ChangeAction, ClusterStatus, RecordChange, WeightedRecord};

use super::Cx;
use super::verify::bake;
use crate::engine::error::StepError;
use crate::engine::ids;
use crate::engine::progress::EngineEvent;
use crate::engine::retry::Bound;
use crate::providers::weights::{RecordWeights, check_change_keeps_traffic, type_name};

/// Every live record of each plan record's name, in plan order.
pub(super) struct Live {
    groups: Vec<Vec<WeightedRecord>>,
}

impl Live {
    pub fn find(&self, i: usize, set_id: &str) -> Option<&WeightedRecord> {
        self.groups[i].iter().find(|r| r.set_id == set_id)
    }

    /// Blue's and green's weights per plan record, under the run's set identifiers.
    pub fn weights(&self, traffic: &Traffic, ids: &[SetIds]) -> Vec<RecordWeights> {
        traffic
            .records
            .iter()
            .zip(ids)
            .enumerate()
            .map(|(i, (r, id))| RecordWeights {
                record: r.name.clone(),
                blue: self.find(i, &id.blue).map(|w| w.weight),
                green: self.find(i, &id.green).map(|w| w.weight),
            })
            .collect()
    }

    fn all(&self) -> Vec<WeightedRecord> {
        self.groups.concat()
    }
}

pub(super) fn traffic<'a>(cx: &Cx<'a>) -> Result<&'a Traffic, StepError> {
    cx.plan()
        .traffic
        .as_ref()
        .ok_or_else(|| StepError::Internal("the plan has no traffic section".into()))
}

/// The set identifiers this run uses, per plan record: those `preflight.blue` resolved and
/// journaled. A run journaled by a build from before that resolution used the plan's written ids
/// and otherwise `<plan>-blue` / `<plan>-green`, and keeps them.
pub(super) fn set_ids(cx: &Cx<'_>) -> Result<Vec<SetIds>, StepError> {
    let t = traffic(cx)?;
    if let Some(ids) = cx.output(ids::PREFLIGHT_BLUE).and_then(|o| o.get("setIds").cloned()) {
        return serde_json::from_value(ids)
            .map_err(|e| StepError::Internal(format!("output of {} has no valid setIds: {e}", ids::PREFLIGHT_BLUE)));
    }
    Ok(t.records
        .iter()
        .map(|r| SetIds {
            blue: if r.explicit.blue { r.blue_set_id.clone() } else { r.legacy.blue.clone() },
            green: if r.explicit.green { r.green_set_id.clone() } else { r.legacy.green.clone() },
        })
        .collect())
}

pub(super) async fn read_live(cx: &Cx<'_>) -> Result<Live, StepError> {
    let t = traffic(cx)?;
    let dns = &cx.p().traffic;
    let mut groups = Vec::new();
    for r in &t.records {
        let records = cx
            .call(&format!("read records of {}", r.name), Bound::Call, || {
                dns.records(t.zone.as_str(), &r.name, r.record_type)
            })
            .await?;
        groups.push(records);
    }
    Ok(Live { groups })
}

/// Submits one atomic batch (after the all-zero interlock) and waits until it is INSYNC.
pub(super) async fn submit(
    cx: &Cx<'_>,
    live: &Live,
    changes: Vec<RecordChange>,
) -> Result<(), StepError> {
    if changes.is_empty() {
        return Ok(());
    }
    check_change_keeps_traffic(&live.all(), &changes).map_err(StepError::Interlock)?;
    let t = traffic(cx)?;
    let dns = &cx.p().traffic;
    let id = cx
        .call("change weighted records", Bound::Call, || {
            dns.change(t.zone.as_str(), &changes)
        })
        .await?;
    let bound = Bound::Wait(cx.plan().timeouts.dns_insync);
    cx.call(
        &format!("DNS change {id} to be INSYNC"),
        bound,
        || dns.wait_insync(&id),
    )
    .await
}

/// The stop message when live weights are not what the journal expects.
pub(super) fn hand_changed(
    rec: &TrafficRecord,
    id: &SetIds,
    expected: &[&RecordWeights],
    found: &RecordWeights,
) -> StepError {
    let expected: Vec<String> = expected.iter().map(|w| w.to_string()).collect();
    StepError::Interlock(format!(
        "record {} ({}, set ids blue {} / green {}): cutover expected {} but Route53 has {}. \
         Someone changed DNS by hand, so cutover changed nothing; put the expected weights back \
         and run `cutover resume`, or take over by hand",
        rec.name,
        type_name(rec.record_type),
        id.blue,
        id.green,
        expected.join(" or "),
        found
    ))
}

fn weights_from(cx: &Cx<'_>, step: &str, field: &str) -> Result<Vec<RecordWeights>, StepError> {
    let out = cx
        .output(step)
        .ok_or_else(|| StepError::Internal(format!("the journal has no output of {step}")))?;
    serde_json::from_value(out[field].clone())
        .map_err(|e| StepError::Internal(format!("output of {step} has no valid {field}: {e}")))
}

/// The weights a shift expects before it changes them: those after the previous traffic step.
pub(super) fn weights_before(cx: &Cx<'_>, index: usize) -> Result<Vec<RecordWeights>, StepError> {
    match index {
        0 => weights_from(cx, ids::TRAFFIC_PREPARE, "after"),
        i => weights_from(
            cx,
            &ids::shift(traffic(cx)?.steps[i - 1].weight),
            "after",
        ),
    }
}

/// The weights after the last shift (green 100).
pub(super) fn weights_after_last_shift(cx: &Cx<'_>) -> Result<Vec<RecordWeights>, StepError> {
    let last = traffic(cx)?.steps.last().map(|s| s.weight).unwrap_or(100);
    weights_from(cx, &ids::shift(last), "after")
}

fn shifted(base: &[RecordWeights], weight: u8) -> Vec<RecordWeights> {
    base.iter()
        .map(|r| RecordWeights {
            record: r.record.clone(),
            blue: Some(100 - weight),
            green: Some(weight),
        })
        .collect()
}

/// Upserts moving the live records to `target` weights (records absent live are skipped).
fn reweigh(ids: &[SetIds], live: &Live, target: &[RecordWeights]) -> Vec<RecordChange> {
    let mut changes = Vec::new();
    for (i, (id, want)) in ids.iter().zip(target).enumerate() {
        for (set, weight) in [(&id.blue, want.blue), (&id.green, want.green)] {
            if let (Some(current), Some(weight)) = (live.find(i, set), weight)
                && current.weight != weight
            {
                let record = WeightedRecord {
                    weight,
                    ..current.clone()
                };
                changes.push(RecordChange {
                    action: ChangeAction::Upsert,
                    record,
                });
            }
        }
    }
    changes
}

pub(super) async fn check_blue(cx: &Cx<'_>) -> Result<Value, StepError> {
    let plan = cx.plan();
    // A drill has no blue cluster: only its record's standby target is checked.
    let Some(blue) = plan.blue.as_ref() else {
        let t = traffic(cx)?;
        let (records, set_ids) = check_blue_records(cx, t).await?;
        return Ok(json!({ "cluster": null, "records": records, "setIds": set_ids }));
    };
    let clusters = &cx.p().clusters;
    let info = cx
        .call(
            &format!("describe cluster {}", blue.cluster),
            Bound::Call,
            || clusters.describe_cluster(&blue.cluster),
        )
        .await?
        .ok_or_else(|| {
            StepError::Precondition(format!(
                "blue cluster {} does not exist; check spec.blue.cluster names the live cluster",
                blue.cluster
            ))
        })?;
    if info.status != ClusterStatus::Active {
        return Err(StepError::Precondition(format!(
            "blue cluster {} is {:?}, not ACTIVE; cutover only replaces a healthy blue",
            blue.cluster, info.status
        )));
    }
    let Some(t) = &plan.traffic else {
        return Ok(json!({ "cluster": blue.cluster }));
    };
    let (records, set_ids) = check_blue_records(cx, t).await?;
    Ok(json!({ "cluster": blue.cluster, "records": records, "setIds": set_ids }))
}

/// Finds blue's (or a drill's standby's) record of every name and checks it carries traffic and
/// green's none. Blue's record is the one with the plan's set id; when the plan did not write one
/// and no record has the default (blue's cluster name), it is the one record of the name that
/// carries traffic and is not green's — the record last quarter's green made, under whatever id.
/// The ids found are journaled, and the rest of the run uses them.
async fn check_blue_records(cx: &Cx<'_>, t: &Traffic) -> Result<(Vec<RecordWeights>, Vec<SetIds>), StepError> {
    let live = read_live(cx).await?;
    let mut ids = Vec::new();
    for (i, rec) in t.records.iter().enumerate() {
        let blue = match live.find(i, &rec.blue_set_id) {
            Some(found) => found.set_id.clone(),
            None if rec.explicit.blue => return Err(no_blue_record(rec, i, &live.groups[i])),
            None => {
                let carrying: Vec<&WeightedRecord> =
                    live.groups[i].iter().filter(|r| r.weight > 0 && r.set_id != rec.green_set_id).collect();
                match carrying.as_slice() {
                    [one] => {
                        tracing::info!(record = %rec.name, set_id = %one.set_id, weight = one.weight, "blue's weighted record found by the traffic it carries");
                        one.set_id.clone()
                    }
                    _ => return Err(no_blue_record(rec, i, &live.groups[i])),
                }
            }
        };
        ids.push(SetIds { blue, green: rec.green_set_id.clone() });
    }
    let weights = live.weights(t, &ids);
    for ((rec, w), id) in t.records.iter().zip(&weights).zip(&ids) {
        if w.blue == Some(0) {
            return Err(StepError::Precondition(format!(
                "blue's record {} (set id {}) has weight 0: blue carries none of this name's \
                 traffic, so there is nothing for cutover to shift",
                rec.name, id.blue
            )));
        }
        if let Some(g) = w.green.filter(|g| *g > 0) {
            return Err(StepError::Precondition(format!(
                "green's set id {} of record {} already has weight {g}: another change is shifting \
                 this name; finish or undo it first",
                id.green, rec.name
            )));
        }
    }
    Ok((weights, ids))
}

/// Blue's record cannot be told: say what is there and which plan field picks one.
fn no_blue_record(rec: &TrafficRecord, i: usize, group: &[WeightedRecord]) -> StepError {
    let listed = if group.is_empty() {
        "there is no weighted record of that name and type".to_string()
    } else {
        let rows: Vec<String> = group
            .iter()
            .map(|r| format!("set id {:?} weight {} → {}", r.set_id, r.weight, r.target))
            .collect();
        format!("its weighted records are: {}", rows.join("; "))
    };
    let looked = if rec.explicit.blue {
        format!("the plan's set id {:?}", rec.blue_set_id)
    } else {
        format!(
            "set id {:?} (blue's cluster name) and, failing that, the one record carrying traffic",
            rec.blue_set_id
        )
    };
    StepError::Precondition(format!(
        "cannot find blue's weighted record of {} ({}): looked for {looked}; {listed}. Set \
         spec.traffic.records[{i}].setIdentifiers.blue to the set id of the record that serves \
         blue's traffic now",
        rec.name,
        type_name(rec.record_type),
    ))
}

/// Ends a drill's test traffic: the record's weights back to before the first shift in one
/// batch, then green's record removed: the shifts' and `prepare`'s compensations, run forward.
pub(super) async fn restore(cx: &Cx<'_>) -> Result<Value, StepError> {
    let t = traffic(cx)?;
    let all: Vec<usize> = (0..t.steps.len()).collect();
    undo_shifts(cx, &all).await?;
    undo_prepare(cx).await?;
    Ok(json!({ "records": read_live(cx).await?.weights(t, &set_ids(cx)?) }))
}

/// Green's target for one record: a fixed name, or its Service's load balancer once it has one.
async fn green_target(cx: &Cx<'_>, target: &RecordTarget) -> Result<String, StepError> {
    let cluster = &cx.plan().green.name;
    resolve(cx, cluster, target).await
}

pub(super) async fn resolve(
    cx: &Cx<'_>,
    cluster: &str,
    target: &RecordTarget,
) -> Result<String, StepError> {
    let (namespace, name) = match target {
        RecordTarget::Hostname(h) => return Ok(h.clone()),
        RecordTarget::Service { namespace, name } => (namespace, name),
    };
    let limit = cx.plan().timeouts.load_balancer_release;
    let what = format!("load balancer address of service {namespace}/{name} on {cluster}");
    let workloads = &cx.p().workloads;
    let poll = async {
        loop {
            let address = cx
                .call(&what, Bound::Call, || {
                    workloads.service_address(cluster, namespace, name)
                })
                .await?;
            if let Some(a) = address {
                return Ok(a);
            }
            tokio::time::sleep(cx.run.opts.address_poll_interval).await;
        }
    };
    match tokio::time::timeout(limit, poll).await {
        Ok(r) => r,
        Err(_) => Err(StepError::Timeout { what, after: limit }),
    }
}

pub(super) async fn prepare(cx: &Cx<'_>) -> Result<Value, StepError> {
    let t = traffic(cx)?;
    let initial = weights_from(cx, ids::PREFLIGHT_BLUE, "records")?;
    let mut targets = Vec::new();
    for rec in &t.records {
        targets.push(green_target(cx, &rec.green).await?);
    }
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    let found = live.weights(t, &ids);
    let mut changes = Vec::new();
    for (i, rec) in t.records.iter().enumerate() {
        let expected = RecordWeights {
            green: None,
            ..initial[i].clone()
        };
        let adoptable = RecordWeights {
            green: Some(0),
            ..initial[i].clone()
        };
        if found[i] != expected && found[i] != adoptable {
            return Err(hand_changed(rec, &ids[i], &[&expected, &adoptable], &found[i]));
        }
        let want = WeightedRecord {
            name: rec.name.clone(),
            record_type: rec.record_type,
            set_id: ids[i].green.clone(),
            target: targets[i].clone(),
            ttl: rec.ttl,
            weight: 0,
        };
        if live.find(i, &ids[i].green) != Some(&want) {
            changes.push(RecordChange {
                action: ChangeAction::Upsert,
                record: want,
            });
        }
    }
    submit(cx, &live, changes).await?;
    let after: Vec<RecordWeights> = initial
        .iter()
        .map(|w| RecordWeights {
            green: Some(0),
            ..w.clone()
        })
        .collect();
    Ok(json!({ "before": initial, "after": after, "green_targets": targets }))
}

pub(super) async fn shift(cx: &Cx<'_>, index: usize, weight: u8) -> Result<Value, StepError> {
    let t = traffic(cx)?;
    let before = weights_before(cx, index)?;
    let after = shifted(&before, weight);
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    let found = live.weights(t, &ids);
    let adopted = found == after;
    if !adopted {
        if let Some(i) = (0..t.records.len()).find(|&i| found[i] != before[i]) {
            return Err(hand_changed(&t.records[i], &ids[i], &[&before[i]], &found[i]));
        }
        submit(cx, &live, reweigh(&ids, &live, &after)).await?;
    }
    let insync_at = cx.now();
    // Resolvers may serve the old answer for up to the TTL after INSYNC; bake only after that.
    let ttl = std::time::Duration::from_secs(
        t.records
            .iter()
            .map(|r| u64::from(r.ttl))
            .max()
            .unwrap_or(0),
    );
    cx.emit(EngineEvent::Waiting {
        step: cx.step.to_string(),
        what: "record TTL after INSYNC".into(),
        timeout_ms: ttl.as_millis() as u64,
    });
    tokio::time::sleep(ttl).await;
    let gates = bake(cx, t.steps[index].bake).await?;
    Ok(
        json!({ "weight": weight, "before": before, "after": after, "insync_at": insync_at, "adopted": adopted, "bake": gates }),
    )
}

/// Undoes consecutive shifts in one batch: straight to the weights before the earliest.
pub(super) async fn undo_shifts(cx: &Cx<'_>, indexes: &[usize]) -> Result<(), StepError> {
    let t = traffic(cx)?;
    let earliest = *indexes.iter().min().expect("a shift group is not empty");
    let restore = weights_before(cx, earliest)?;
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    let found = live.weights(t, &ids);
    if found == restore {
        return Ok(());
    }
    let candidates: Vec<Vec<RecordWeights>> = indexes
        .iter()
        .map(|&i| shifted(&restore, t.steps[i].weight))
        .collect();
    if !candidates.contains(&found) {
        let i = (0..t.records.len())
            .find(|&i| found[i] != restore[i])
            .unwrap_or(0);
        let expected: Vec<&RecordWeights> = candidates.iter().map(|c| &c[i]).collect();
        return Err(hand_changed(&t.records[i], &ids[i], &expected, &found[i]));
    }
    submit(cx, &live, reweigh(&ids, &live, &restore)).await
}

/// Removes green's records, but only once blue carries all its traffic again.
pub(super) async fn undo_prepare(cx: &Cx<'_>) -> Result<(), StepError> {
    let t = traffic(cx)?;
    let initial = weights_from(cx, ids::TRAFFIC_PREPARE, "before")
        .or_else(|_| weights_from(cx, ids::PREFLIGHT_BLUE, "records"))?;
    let ids = set_ids(cx)?;
    let live = read_live(cx).await?;
    let found = live.weights(t, &ids);
    let mut changes = Vec::new();
    for (i, rec) in t.records.iter().enumerate() {
        let Some(green) = live.find(i, &ids[i].green) else {
            continue;
        };
        let expected = RecordWeights {
            green: Some(0),
            ..initial[i].clone()
        };
        if found[i] != expected {
            return Err(hand_changed(rec, &ids[i], &[&expected], &found[i]));
        }
        changes.push(RecordChange {
            action: ChangeAction::Delete,
            record: green.clone(),
        });
    }
    submit(cx, &live, changes).await
}
