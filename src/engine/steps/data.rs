//! The data steps (`spec.data`): blue's volumes kept (`Retain`), their writers stopped
//! (`quiesce`), each volume snapshotted, green's volumes made from the snapshots in green's zones,
//! and green's claims bound to them before any release asks for one. All act on the claims the
//! `data` gate journaled ([`DataReading`]), never on a fresh reading.
//!
//! The way back is blue's own volumes, never a restore into blue: undoing `data.quiesce` starts
//! blue's writers again on the volumes they had, and undoing `data.retain-blue` puts the reclaim
//! policies back as they were read. Snapshots are kept (they are backups, pruned by
//! `cutover backup` after `spec.data.retain`); volumes and claims made on green are deleted.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Cx;
use crate::engine::error::StepError;
use crate::engine::ids;
use crate::engine::preflight::data::{CarriedClaim, DataReading, TAG_CLAIM_SPEC};
use crate::engine::retry::Bound;
use crate::plan::PreflightGate;
use crate::providers::volumes::{EbsSnapshot, NewVolume, SnapshotState, StaticClaim, TAG_CLAIM, TAG_SNAPSHOT_KIND, TAG_TOKEN, WorkloadRef};

/// Bound on blue's writers stopping once scaled to zero (pods get their grace period).
const QUIESCE_BOUND: Duration = Duration::from_secs(10 * 60);
/// Bound on green's volumes becoming available.
const VOLUME_BOUND: Duration = Duration::from_secs(10 * 60);

/// What the `data` gate decided.
fn reading(cx: &Cx<'_>) -> Result<DataReading, StepError> {
    cx.output(&ids::preflight(PreflightGate::Data))
        .and_then(|out| serde_json::from_value(out.get("data")?.clone()).ok())
        .ok_or_else(|| StepError::Internal("the data gate's reading is not in the journal".into()))
}

fn blue(cx: &Cx<'_>) -> Result<String, StepError> {
    cx.plan().blue.as_ref().map(|b| b.cluster.clone()).ok_or_else(|| StepError::Internal("no blue cluster".into()))
}

/// `data.retain-blue`: blue's volumes are kept whatever happens to their claims.
pub(super) async fn retain_blue(cx: &Cx<'_>) -> Result<Value, StepError> {
    let (blue, reading) = (blue(cx)?, reading(cx)?);
    let claims = &cx.p().claims;
    let mut changed = BTreeMap::new();
    for c in &reading.claims {
        let (Some(pv), Some(before)) = (&c.blue_volume, &c.blue_reclaim) else { continue };
        if before != "Retain" {
            cx.call(&format!("keep blue's volume {pv} (Retain)"), Bound::Call, || claims.set_reclaim_policy(&blue, pv, "Retain")).await?;
            changed.insert(pv.clone(), before.clone());
        }
    }
    Ok(json!({ "restore": changed }))
}

/// Puts back the reclaim policies `retain_blue` changed (from the gate's reading, so a step that
/// half-ran converges too).
pub(super) async fn undo_retain_blue(cx: &Cx<'_>) -> Result<(), StepError> {
    let (blue, reading) = (blue(cx)?, reading(cx)?);
    let claims = &cx.p().claims;
    for c in &reading.claims {
        let (Some(pv), Some(before)) = (&c.blue_volume, &c.blue_reclaim) else { continue };
        if before != "Retain" {
            cx.call(&format!("restore reclaim policy {before} of {pv}"), Bound::Call, || claims.set_reclaim_policy(&blue, pv, before)).await?;
        }
    }
    Ok(())
}

fn by_namespace(reading: &DataReading) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in &reading.claims {
        out.entry(c.namespace.clone()).or_default().push(c.name.clone());
    }
    out
}

/// `data.writers`: blue's workloads that mount the claims, with their replicas, read before
/// anything is stopped (so a retried `data.quiesce` and its undo know the replicas to give back).
pub(super) async fn writers(cx: &Cx<'_>) -> Result<Value, StepError> {
    let (blue, reading) = (blue(cx)?, reading(cx)?);
    let claims = &cx.p().claims;
    let mut writers = Vec::new();
    for (ns, names) in by_namespace(&reading) {
        writers.extend(cx.call(&format!("find the writers of {ns}'s claims"), Bound::Call, || claims.claim_writers(&blue, &ns, &names)).await?);
    }
    Ok(json!({ "writers": writers }))
}

fn writers_read(cx: &Cx<'_>) -> Vec<WorkloadRef> {
    cx.output(ids::DATA_WRITERS).and_then(|o| serde_json::from_value(o.get("writers")?.clone()).ok()).unwrap_or_default()
}

/// `data.quiesce`: blue's writers scaled to zero, and gone, before the snapshot.
pub(super) async fn quiesce(cx: &Cx<'_>) -> Result<Value, StepError> {
    let (blue, reading) = (blue(cx)?, reading(cx)?);
    let claims = cx.p().claims.clone();
    let writers = writers_read(cx);
    for w in &writers {
        cx.call(&format!("stop {} {}/{}", w.kind, w.namespace, w.name), Bound::Call, || claims.scale(&blue, w, 0)).await?;
    }
    let namespaces = by_namespace(&reading);
    cx.call("wait until no pod of blue mounts the claims", Bound::Wait(QUIESCE_BOUND), || {
        let (claims, blue, namespaces) = (claims.clone(), blue.clone(), namespaces.clone());
        async move {
            loop {
                let mut running = 0;
                for (ns, names) in &namespaces {
                    running += claims.pods_using(&blue, ns, names).await?;
                }
                if running == 0 {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
    .await?;
    Ok(json!({ "stopped": writers.len(), "stopped_at": cx.now() }))
}

/// Starts blue's writers again with the replicas they had, on their own volumes.
pub(super) async fn undo_quiesce(cx: &Cx<'_>) -> Result<(), StepError> {
    let blue = blue(cx)?;
    let claims = &cx.p().claims;
    for w in &writers_read(cx) {
        cx.call(&format!("start {} {}/{} again ({} replicas)", w.kind, w.namespace, w.name, w.replicas), Bound::Call, || {
            claims.scale(&blue, w, w.replicas)
        })
        .await?;
    }
    Ok(())
}

/// The snapshot of each claim: from the journal's reading for a drill, taken now for an upgrade.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Snapshots {
    /// `namespace/name` → (snapshot id, when its data is from).
    pub snapshots: BTreeMap<String, (String, jiff::Timestamp)>,
}

/// `data.snapshot`: a snapshot of each of blue's volumes, tagged, and waited for.
pub(super) async fn snapshot(cx: &Cx<'_>) -> Result<Value, StepError> {
    let reading = reading(cx)?;
    let storage = cx.p().storage.clone();
    let mut taken: BTreeMap<String, EbsSnapshot> = BTreeMap::new();
    for c in &reading.claims {
        let Some(volume) = &c.blue_volume_id else { continue };
        let token = cx.token(&c.key());
        let mut tags = cx.own().tags();
        tags.insert(TAG_CLAIM.into(), c.key());
        tags.insert(TAG_SNAPSHOT_KIND.into(), "run".into());
        tags.insert(TAG_TOKEN.into(), token.clone());
        tags.insert(TAG_CLAIM_SPEC.into(), c.spec_tag());
        // EC2 has no client token for snapshots: an earlier attempt's is found by its tag.
        let mine = BTreeMap::from([(TAG_TOKEN.to_string(), token.clone())]);
        let earlier = cx
            .call(&format!("look for the snapshot of {}", c.key()), Bound::Call, || storage.snapshots_tagged(&mine))
            .await?;
        let snap = match earlier.into_iter().next() {
            Some(s) => s,
            None => {
                let what = format!("cutover {} {}: {}", cx.own().plan, cx.own().run_id, c.key());
                cx.call(&format!("snapshot {volume} ({})", c.key()), Bound::Call, || storage.create_snapshot(volume, &what, &tags)).await?
            }
        };
        taken.insert(c.key(), snap);
    }
    let timeout = cx.plan().data.as_ref().map_or(Duration::from_secs(1800), |d| d.snapshot_timeout);
    let ids: Vec<(String, String)> = taken.iter().map(|(k, s)| (k.clone(), s.id.clone())).collect();
    cx.call("wait for the snapshots to complete", Bound::Wait(timeout), || {
        let (storage, ids) = (storage.clone(), ids.clone());
        async move {
            let mut pause = Duration::from_millis(500);
            loop {
                let mut pending = Vec::new();
                for (claim, id) in &ids {
                    match storage.snapshot(id).await? {
                        Some(s) if s.state == SnapshotState::Completed => {}
                        Some(s) if s.state == SnapshotState::Error => {
                            return Err(crate::providers::ProviderError::new(
                                crate::providers::ErrorKind::Invalid,
                                format!("snapshot {id} of claim {claim} failed (state error); blue is untouched"),
                            ));
                        }
                        Some(_) => pending.push(id.clone()),
                        None => {
                            return Err(crate::providers::ProviderError::new(
                                crate::providers::ErrorKind::NotFound,
                                format!("snapshot {id} of claim {claim} disappeared"),
                            ));
                        }
                    }
                }
                if pending.is_empty() {
                    return Ok(());
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(15));
            }
        }
    })
    .await?;
    let snapshots = taken.into_iter().map(|(k, s)| (k, (s.id, s.started))).collect();
    Ok(serde_json::to_value(Snapshots { snapshots }).expect("serializes"))
}

/// Each claim's snapshot: the one this run took, or the one a drill restores.
fn snapshots(cx: &Cx<'_>, reading: &DataReading) -> Result<BTreeMap<String, (String, jiff::Timestamp)>, StepError> {
    if let Some(out) = cx.output(ids::DATA_SNAPSHOT) {
        let s: Snapshots = serde_json::from_value(out).map_err(|e| StepError::Internal(format!("data.snapshot's output: {e}")))?;
        return Ok(s.snapshots);
    }
    Ok(reading.claims.iter().filter_map(|c| Some((c.key(), c.snapshot.clone()?))).collect())
}

fn new_volume(cx: &Cx<'_>, c: &CarriedClaim, snapshot: &str) -> NewVolume {
    let mut tags = cx.own().tags();
    tags.insert(TAG_CLAIM.into(), c.key());
    tags.insert(TAG_TOKEN.into(), cx.token(&c.key()));
    NewVolume { snapshot_id: snapshot.into(), zone: c.zone.clone(), volume_type: c.volume_type.clone(), size_gib: c.size_gib, tags }
}

/// `data.volumes`: green's volume of each claim, made from its snapshot in its zone.
pub(super) async fn volumes(cx: &Cx<'_>) -> Result<Value, StepError> {
    let reading = reading(cx)?;
    let snaps = snapshots(cx, &reading)?;
    let storage = cx.p().storage.clone();
    let started = std::time::Instant::now();
    let mut made = BTreeMap::new();
    for c in &reading.claims {
        let Some((snap, _)) = snaps.get(&c.key()) else {
            return Err(StepError::Internal(format!("no snapshot of claim {} in the journal", c.key())));
        };
        let new = new_volume(cx, c, snap);
        let token = cx.token(&c.key());
        // An earlier attempt's volume is found by its token tag (tagged on creation): EC2's
        // ClientToken alone is not honoured by every implementation, and an idempotency window
        // is not a guarantee across a long pause.
        let mine = BTreeMap::from([(TAG_TOKEN.to_string(), token.clone())]);
        let earlier = cx.call(&format!("look for green's volume of {}", c.key()), Bound::Call, || storage.volumes_tagged(&mine)).await?;
        let v = match earlier.into_iter().find(|v| cx.own().owns(&v.tags)) {
            Some(v) => v,
            None => cx.call(&format!("create green's volume of {} from {snap}", c.key()), Bound::Call, || storage.create_volume(&new, &token)).await?,
        };
        made.insert(c.key(), v.id);
    }
    let ids: Vec<String> = made.values().cloned().collect();
    cx.call("wait for green's volumes to be available", Bound::Wait(VOLUME_BOUND), || {
        let (storage, ids) = (storage.clone(), ids.clone());
        async move {
            loop {
                let mut ready = true;
                for id in &ids {
                    // A volume that vanished or failed will never be ready: say so at once.
                    let state = match storage.volume(id).await? {
                        Some(v) if v.state == "error" => Err(format!("green's volume {id} failed (state error)")),
                        Some(v) => Ok(v.state),
                        None => Err(format!("green's volume {id} disappeared before it was available")),
                    }
                    .map_err(|m| crate::providers::ProviderError::new(crate::providers::ErrorKind::Invalid, m))?;
                    ready &= state == "available" || state == "in-use";
                }
                if ready {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    })
    .await?;
    Ok(json!({ "volumes": made, "restore_secs": started.elapsed().as_secs_f64() }))
}

/// Deletes green's volumes this run made, found by the step's tokens (so a step that half-ran
/// converges too), and only those that carry this run's ownership tags.
pub(super) async fn undo_volumes(cx: &Cx<'_>) -> Result<(), StepError> {
    let reading = reading(cx)?;
    let storage = &cx.p().storage;
    for c in &reading.claims {
        let token = cx.token(&c.key());
        let tags = BTreeMap::from([(TAG_TOKEN.to_string(), token)]);
        let found = cx.call(&format!("find green's volume of {}", c.key()), Bound::Call, || storage.volumes_tagged(&tags)).await?;
        // Nothing deletes what cutover did not create.
        for v in found.into_iter().filter(|v| cx.own().owns(&v.tags)) {
            cx.call(&format!("delete green's volume {} of {}", v.id, c.key()), Bound::Call, || storage.delete_volume(&v.id)).await?;
        }
    }
    Ok(())
}

fn static_claim(c: &CarriedClaim, volume_id: &str) -> StaticClaim {
    StaticClaim {
        namespace: c.namespace.clone(),
        name: c.name.clone(),
        volume_name: volume_name(c),
        volume_id: volume_id.into(),
        csi: c.csi,
        zone: c.zone.clone(),
        fs_type: c.fs_type.clone(),
        storage_class: c.storage_class.clone(),
        access_modes: c.access_modes.clone(),
        size: c.size.clone(),
        labels: c.labels.clone(),
    }
}

/// A PersistentVolume name that is stable for the claim and short enough (253).
fn volume_name(c: &CarriedClaim) -> String {
    use sha2::Digest as _;
    let h = hex::encode(&sha2::Sha256::digest(c.key().as_bytes())[..4]);
    let mut base = format!("cutover-{}-{}", c.namespace, c.name);
    base.truncate(240);
    format!("{base}-{h}")
}

fn green_volumes(cx: &Cx<'_>) -> BTreeMap<String, String> {
    cx.output(ids::DATA_VOLUMES).and_then(|o| serde_json::from_value(o.get("volumes")?.clone()).ok()).unwrap_or_default()
}

/// `data.claims`: each claim on green, bound from the start to its new volume.
pub(super) async fn claims(cx: &Cx<'_>) -> Result<Value, StepError> {
    let reading = reading(cx)?;
    let volumes = green_volumes(cx);
    let green = cx.plan().green.name.clone();
    let provider = &cx.p().claims;
    let mut bound = Vec::new();
    for c in &reading.claims {
        let Some(id) = volumes.get(&c.key()) else { return Err(StepError::Internal(format!("no green volume for {}", c.key()))) };
        let sc = static_claim(c, id);
        cx.call(&format!("bind claim {} on green to {id}", c.key()), Bound::Call, || provider.create_static_claim(&green, &sc, cx.own())).await?;
        bound.push(json!({"claim": c.key(), "volume": sc.volume_name, "volume_id": id, "zone": c.zone}));
    }
    Ok(json!({ "claims": bound }))
}

/// Deletes the claims and volumes this run put on green (the EBS volumes go in `undo_volumes`).
pub(super) async fn undo_claims(cx: &Cx<'_>) -> Result<(), StepError> {
    let reading = reading(cx)?;
    let volumes = green_volumes(cx);
    let green = cx.plan().green.name.clone();
    let provider = &cx.p().claims;
    for c in &reading.claims {
        let sc = static_claim(c, volumes.get(&c.key()).map(String::as_str).unwrap_or_default());
        cx.call(&format!("delete claim {} on green", c.key()), Bound::Call, || provider.delete_static_claim(&green, &sc, cx.own())).await?;
    }
    Ok(())
}
