//! `cutover backup`: snapshots of the claims `spec.data` selects on the cluster that serves now,
//! tagged like a run's (plan, claim, the claim's shape) so drills restore them, then pruning of
//! what is past `spec.data.retain`.
//!
//! The pruning rule is written once, here: a snapshot is deleted only when it carries this
//! environment's `cutover.dev/plan` tag and a `cutover.dev/snapshot` kind (cutover took it), is
//! older than the retention, and is not the newest completed snapshot of its claim (a prune never
//! leaves a claim without a backup).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::preflight::data::{CarriedClaim, TAG_CLAIM_SPEC};
use crate::plan::Plan;
use crate::providers::volumes::{EbsSnapshot, SnapshotState, TAG_CLAIM, TAG_SNAPSHOT_KIND};
use crate::providers::{ErrorKind, Ownership, ProviderError, Providers, TAG_PLAN};

/// What a backup did.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    /// The environment.
    pub environment: String,
    /// The cluster whose volumes were snapshotted.
    pub cluster: String,
    /// Snapshots taken: claim, volume, snapshot.
    pub taken: Vec<TakenSnapshot>,
    /// Snapshots deleted as past `spec.data.retain`.
    pub pruned: Vec<String>,
}

/// One snapshot a backup took.
#[derive(Debug, Clone, Serialize)]
pub struct TakenSnapshot {
    /// `namespace/name`.
    pub claim: String,
    /// The EBS volume.
    pub volume: String,
    /// The snapshot.
    pub snapshot: String,
    /// When it was started.
    pub started: Timestamp,
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// Snapshots each selected claim on `cluster`, waits for them (bounded by
/// `spec.data.snapshotTimeout`), then prunes.
pub async fn backup(plan: &Plan, p: &Providers, cluster: &str, now: Timestamp) -> Result<BackupReport, ProviderError> {
    let data = plan
        .data
        .as_ref()
        .filter(|d| d.carries())
        .ok_or_else(|| invalid("the plan's spec.data does not carry any claim (mode: snapshot with claims); nothing to back up".into()))?;
    let own = Ownership { run_id: format!("backup-{}", now.strftime("%Y%m%dT%H%M%SZ")), plan: plan.metadata.name.clone() };
    let mut taken = Vec::new();
    let mut pending = Vec::new();
    for sel in &data.claims {
        for c in p.claims.claims(cluster, sel).await? {
            let key = format!("{}/{}", c.namespace, c.name);
            let pv = c.volume.as_ref().ok_or_else(|| invalid(format!("claim {key} on {cluster} is {}, not bound", c.phase)))?;
            let volume_id = pv
                .source
                .ebs_volume()
                .ok_or_else(|| invalid(format!("claim {key} on {cluster} is not on an EBS volume; it cannot be backed up by snapshot")))?;
            let volume = p.storage.volume(volume_id).await?.ok_or_else(|| invalid(format!("volume {volume_id} of {key} does not exist")))?;
            let shape = CarriedClaim::of(&c, pv, &volume, volume.zone.clone());
            let mut tags = own.tags();
            tags.insert(TAG_CLAIM.into(), key.clone());
            tags.insert(TAG_SNAPSHOT_KIND.into(), "backup".into());
            tags.insert(TAG_CLAIM_SPEC.into(), shape.spec_tag());
            let what = format!("cutover backup {}: {key}", plan.metadata.name);
            let s = p.storage.create_snapshot(volume_id, &what, &tags).await?;
            pending.push((key.clone(), s.id.clone()));
            taken.push(TakenSnapshot { claim: key, volume: volume_id.to_string(), snapshot: s.id, started: s.started });
        }
    }
    wait_completed(p, &pending, data.snapshot_timeout).await?;
    let pruned = prune(plan, p, now, data.retain).await?;
    Ok(BackupReport { environment: plan.metadata.name.clone(), cluster: cluster.to_string(), taken, pruned })
}

async fn wait_completed(p: &Providers, pending: &[(String, String)], bound: Duration) -> Result<(), ProviderError> {
    let wait = async {
        let mut pause = Duration::from_millis(500);
        loop {
            let mut left = 0;
            for (claim, id) in pending {
                match p.storage.snapshot(id).await?.map(|s| s.state) {
                    Some(SnapshotState::Completed) => {}
                    Some(SnapshotState::Error) => return Err(invalid(format!("snapshot {id} of {claim} failed (state error)"))),
                    _ => left += 1,
                }
            }
            if left == 0 {
                return Ok(());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(15));
        }
    };
    tokio::time::timeout(bound, wait).await.map_err(|_| {
        ProviderError::new(ErrorKind::Timeout, format!("the snapshots did not complete within {} (spec.data.snapshotTimeout)", crate::plan::format_duration(bound)))
    })?
}

/// Deletes what [`prunable`] picks among the environment's snapshots.
async fn prune(plan: &Plan, p: &Providers, now: Timestamp, retain: Duration) -> Result<Vec<String>, ProviderError> {
    let mine = BTreeMap::from([(TAG_PLAN.to_string(), plan.metadata.name.clone())]);
    let all = p.storage.snapshots_tagged(&mine).await?;
    let doomed = prunable(&plan.metadata.name, &all, now, retain);
    for id in &doomed {
        p.storage.delete_snapshot(id).await?;
    }
    Ok(doomed)
}

/// The snapshots past `retain` that cutover took for `env`, except each claim's newest completed.
pub fn prunable(env: &str, snapshots: &[EbsSnapshot], now: Timestamp, retain: Duration) -> Vec<String> {
    let ours = |s: &&EbsSnapshot| s.tags.get(TAG_PLAN).map(String::as_str) == Some(env) && s.tags.contains_key(TAG_SNAPSHOT_KIND);
    let mut newest: BTreeMap<&str, &EbsSnapshot> = BTreeMap::new();
    for s in snapshots.iter().filter(ours).filter(|s| s.state == SnapshotState::Completed) {
        let claim = s.tags.get(TAG_CLAIM).map(String::as_str).unwrap_or_default();
        if newest.get(claim).is_none_or(|n| n.started < s.started) {
            newest.insert(claim, s);
        }
    }
    let cutoff = now - jiff::SignedDuration::try_from(retain).unwrap_or(jiff::SignedDuration::MAX);
    snapshots
        .iter()
        .filter(ours)
        .filter(|s| s.started < cutoff)
        .filter(|s| !newest.values().any(|n| n.id == s.id))
        .map(|s| s.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(id: &str, claim: &str, hours_ago: i64, tags: &[(&str, &str)]) -> EbsSnapshot {
        let now: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let mut t: BTreeMap<String, String> = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        t.insert(TAG_CLAIM.into(), claim.into());
        EbsSnapshot {
            id: id.into(),
            volume_id: "vol-1".into(),
            state: SnapshotState::Completed,
            started: now - jiff::SignedDuration::from_hours(hours_ago),
            size_gib: 1,
            tags: t,
        }
    }

    #[test]
    fn prunes_only_cutovers_snapshots_of_this_environment_past_retention_and_never_a_claims_newest() {
        let now: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let ours = [(TAG_PLAN, "shop"), (TAG_SNAPSHOT_KIND, "backup")];
        let all = vec![
            snap("snap-old", "db/a", 200, &ours),
            snap("snap-new", "db/a", 1, &ours),
            snap("snap-only", "db/b", 300, &ours),
            snap("snap-hand", "db/a", 400, &[(TAG_PLAN, "shop")]),
            snap("snap-other-env", "db/a", 400, &[(TAG_PLAN, "other"), (TAG_SNAPSHOT_KIND, "run")]),
        ];
        let week = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(prunable("shop", &all, now, week), ["snap-old"]);
        assert!(prunable("shop", &all, now, Duration::from_secs(1000 * 3600)).is_empty());
    }
}
