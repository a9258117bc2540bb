//! The fake's persistent data: EBS volumes and snapshots (one EC2 for every cluster) and claims
//! with their bound volumes per cluster. Snapshots complete on their second read unless told to
//! hang (`pending_snapshots`), so the engine's bounded wait can be tested.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cutover::plan::ClaimSelector;
use cutover::providers::volumes::{
    BlockStorage, BoundVolume, ClaimInfo, ClaimProvider, EbsSnapshot, EbsVolume, NewVolume, SnapshotState, StaticClaim,
    VolumeSource, WorkloadRef,
};
use cutover::providers::{ErrorKind, Ownership, ProviderError};

use super::World;

/// What the fake EC2 and the clusters hold of data.
#[derive(Debug, Clone, Default)]
pub struct DataWorld {
    pub volumes: BTreeMap<String, EbsVolume>,
    pub snapshots: BTreeMap<String, EbsSnapshot>,
    /// Client token → volume id (EC2's CreateVolume idempotency).
    pub tokens: BTreeMap<String, String>,
    /// (cluster, namespace/name) → claim.
    pub claims: BTreeMap<(String, String), ClaimInfo>,
    /// (cluster, namespace/name) → its workload, and how many replicas it has now.
    pub writers: BTreeMap<(String, String), WorkloadRef>,
    /// Snapshots stay pending forever.
    pub pending_snapshots: bool,
    /// Storage quota by volume type, GiB (none: Service Quotas does not know it).
    pub quotas: BTreeMap<String, u64>,
    next: u32,
}

impl World {
    /// Blue serves `namespace/name`: an EBS volume in `zone` bound to it, written by StatefulSet `set`.
    pub fn add_claim(&self, cluster: &str, namespace: &str, name: &str, zone: &str, set: &str) {
        let mut w = self.lock();
        let d = &mut w.data;
        d.next += 1;
        let vol = format!("vol-{:08x}", d.next);
        d.volumes.insert(vol.clone(), EbsVolume {
            id: vol.clone(),
            zone: zone.into(),
            size_gib: 1,
            volume_type: "gp3".into(),
            state: "in-use".into(),
            snapshot_id: None,
            tags: BTreeMap::new(),
        });
        let key = (cluster.to_string(), format!("{namespace}/{name}"));
        d.claims.insert(key.clone(), ClaimInfo {
            namespace: namespace.into(),
            name: name.into(),
            labels: BTreeMap::from([("app".into(), set.into())]),
            storage_class: Some("gp3".into()),
            access_modes: vec!["ReadWriteOnce".into()],
            size: "1Gi".into(),
            phase: "Bound".into(),
            volume: Some(BoundVolume {
                name: format!("pvc-{name}"),
                reclaim_policy: "Delete".into(),
                source: VolumeSource::EbsCsi { volume_id: vol },
                zone: Some(zone.into()),
                fs_type: Some("ext4".into()),
            }),
        });
        d.writers.insert(key, WorkloadRef { kind: "StatefulSet".into(), namespace: namespace.into(), name: set.into(), replicas: 2 });
    }

    pub fn data(&self) -> DataWorld {
        self.lock().data.clone()
    }

    pub fn set_storage_quota(&self, volume_type: &str, gib: u64) {
        self.lock().data.quotas.insert(volume_type.into(), gib);
    }

    pub fn hang_snapshots(&self) {
        self.lock().data.pending_snapshots = true;
    }
}

fn not_found(what: String) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, what)
}

#[async_trait]
impl BlockStorage for World {
    async fn volume(&self, id: &str) -> Result<Option<EbsVolume>, ProviderError> {
        self.enter("volume", id).await?;
        Ok(self.lock().data.volumes.get(id).cloned())
    }

    async fn snapshot(&self, id: &str) -> Result<Option<EbsSnapshot>, ProviderError> {
        self.enter("snapshot", id).await?;
        let mut w = self.lock();
        let pending = w.data.pending_snapshots;
        let Some(s) = w.data.snapshots.get_mut(id) else { return Ok(None) };
        let seen = s.clone();
        if !pending {
            s.state = SnapshotState::Completed;
        }
        Ok(Some(seen))
    }

    async fn snapshots_tagged(&self, tags: &BTreeMap<String, String>) -> Result<Vec<EbsSnapshot>, ProviderError> {
        self.enter("snapshots_tagged", "").await?;
        let mut found: Vec<EbsSnapshot> =
            self.lock().data.snapshots.values().filter(|s| tags.iter().all(|(k, v)| s.tags.get(k) == Some(v))).cloned().collect();
        found.sort_by(|a, b| b.started.cmp(&a.started));
        Ok(found)
    }

    async fn create_snapshot(&self, volume_id: &str, _description: &str, tags: &BTreeMap<String, String>) -> Result<EbsSnapshot, ProviderError> {
        self.enter("create_snapshot", volume_id).await?;
        let mut w = self.lock();
        let Some(v) = w.data.volumes.get(volume_id).cloned() else { return Err(not_found(format!("volume {volume_id}"))) };
        w.data.next += 1;
        let s = EbsSnapshot {
            id: format!("snap-{:08x}", w.data.next),
            volume_id: volume_id.into(),
            state: SnapshotState::Pending,
            started: jiff::Timestamp::now(),
            size_gib: v.size_gib,
            tags: tags.clone(),
        };
        w.data.snapshots.insert(s.id.clone(), s.clone());
        World::effect_happened(&mut w, format!("snapshot {volume_id}"));
        Ok(s)
    }

    async fn delete_snapshot(&self, id: &str) -> Result<(), ProviderError> {
        self.enter("delete_snapshot", id).await?;
        let mut w = self.lock();
        if w.data.snapshots.remove(id).is_some() {
            World::effect_happened(&mut w, format!("delete snapshot {id}"));
        }
        Ok(())
    }

    async fn used_gib(&self, volume_type: &str) -> Result<u64, ProviderError> {
        self.enter("used_gib", volume_type).await?;
        Ok(self.lock().data.volumes.values().filter(|v| v.volume_type == volume_type).map(|v| u64::from(v.size_gib)).sum())
    }

    async fn volumes_tagged(&self, tags: &BTreeMap<String, String>) -> Result<Vec<EbsVolume>, ProviderError> {
        self.enter("volumes_tagged", "").await?;
        Ok(self.lock().data.volumes.values().filter(|v| tags.iter().all(|(k, val)| v.tags.get(k) == Some(val))).cloned().collect())
    }

    async fn create_volume(&self, new: &NewVolume, token: &str) -> Result<EbsVolume, ProviderError> {
        self.enter("create_volume", &new.snapshot_id).await?;
        let mut w = self.lock();
        if let Some(id) = w.data.tokens.get(token).cloned() {
            return Ok(w.data.volumes[&id].clone());
        }
        w.data.next += 1;
        let v = EbsVolume {
            id: format!("vol-{:08x}", w.data.next),
            zone: new.zone.clone(),
            size_gib: new.size_gib,
            volume_type: new.volume_type.clone(),
            state: "available".into(),
            snapshot_id: Some(new.snapshot_id.clone()),
            tags: new.tags.clone(),
        };
        w.data.tokens.insert(token.into(), v.id.clone());
        w.data.volumes.insert(v.id.clone(), v.clone());
        World::effect_happened(&mut w, format!("create volume from {}", new.snapshot_id));
        Ok(v)
    }

    async fn delete_volume(&self, id: &str) -> Result<(), ProviderError> {
        self.enter("delete_volume", id).await?;
        let mut w = self.lock();
        if w.data.volumes.remove(id).is_some() {
            World::effect_happened(&mut w, format!("delete volume {id}"));
        }
        Ok(())
    }
}

#[async_trait]
impl cutover::providers::StorageQuotas for World {
    async fn storage_quota_gib(&self, volume_type: &str) -> Result<Option<u64>, ProviderError> {
        self.enter("storage_quota_gib", volume_type).await?;
        Ok(self.lock().data.quotas.get(volume_type).copied())
    }
}

#[async_trait]
impl ClaimProvider for World {
    async fn claims(&self, cluster: &str, sel: &ClaimSelector) -> Result<Vec<ClaimInfo>, ProviderError> {
        self.enter("claims", cluster).await?;
        Ok(self
            .lock()
            .data
            .claims
            .iter()
            .filter(|((c, _), claim)| {
                c == cluster
                    && claim.namespace == sel.namespace
                    && sel.name.as_ref().is_none_or(|n| *n == claim.name)
                    && sel.labels.iter().all(|(k, v)| claim.labels.get(k) == Some(v))
            })
            .map(|(_, claim)| claim.clone())
            .collect())
    }

    async fn claim(&self, cluster: &str, namespace: &str, name: &str) -> Result<Option<ClaimInfo>, ProviderError> {
        self.enter("claim", cluster).await?;
        Ok(self.lock().data.claims.get(&(cluster.to_string(), format!("{namespace}/{name}"))).cloned())
    }

    async fn set_reclaim_policy(&self, cluster: &str, volume: &str, policy: &str) -> Result<(), ProviderError> {
        self.enter("set_reclaim_policy", volume).await?;
        let mut w = self.lock();
        for ((c, _), claim) in w.data.claims.iter_mut() {
            if let Some(v) = claim.volume.as_mut().filter(|v| c == cluster && v.name == volume) {
                v.reclaim_policy = policy.into();
            }
        }
        Ok(())
    }

    async fn claim_writers(&self, cluster: &str, namespace: &str, claims: &[String]) -> Result<Vec<WorkloadRef>, ProviderError> {
        self.enter("claim_writers", cluster).await?;
        let mut out: Vec<WorkloadRef> = Vec::new();
        for name in claims {
            if let Some(w) = self.lock().data.writers.get(&(cluster.to_string(), format!("{namespace}/{name}")))
                && !out.iter().any(|o| o.name == w.name)
            {
                out.push(w.clone());
            }
        }
        Ok(out)
    }

    async fn scale(&self, cluster: &str, workload: &WorkloadRef, replicas: i32) -> Result<(), ProviderError> {
        self.enter("scale", &workload.name).await?;
        let mut w = self.lock();
        let mut changed = false;
        for ((c, _), wr) in w.data.writers.iter_mut() {
            if c == cluster && wr.name == workload.name && wr.replicas != replicas {
                wr.replicas = replicas;
                changed = true;
            }
        }
        // Scaling is idempotent: only a change is a side effect.
        if changed {
            World::effect_happened(&mut w, format!("scale {} to {replicas}", workload.name));
        }
        Ok(())
    }

    async fn pods_using(&self, cluster: &str, namespace: &str, claims: &[String]) -> Result<usize, ProviderError> {
        self.enter("pods_using", cluster).await?;
        let w = self.lock();
        Ok(claims
            .iter()
            .filter(|c| w.data.writers.get(&(cluster.to_string(), format!("{namespace}/{c}"))).is_some_and(|wr| wr.replicas > 0))
            .count())
    }

    async fn create_static_claim(&self, cluster: &str, c: &StaticClaim, own: &Ownership) -> Result<(), ProviderError> {
        self.enter("create_static_claim", &c.name).await?;
        let mut w = self.lock();
        let key = (cluster.to_string(), format!("{}/{}", c.namespace, c.name));
        if let Some(existing) = w.data.claims.get(&key) {
            if existing.labels.get("cutover.dev/run-id") == Some(&own.run_id) {
                return Ok(());
            }
            return Err(ProviderError::new(ErrorKind::Conflict, format!("claim {}/{} already exists on cluster {cluster}", c.namespace, c.name)));
        }
        let mut labels = c.labels.clone();
        labels.extend(own.tags());
        w.data.claims.insert(key, ClaimInfo {
            namespace: c.namespace.clone(),
            name: c.name.clone(),
            labels,
            storage_class: c.storage_class.clone(),
            access_modes: c.access_modes.clone(),
            size: c.size.clone(),
            phase: "Bound".into(),
            volume: Some(BoundVolume {
                name: c.volume_name.clone(),
                reclaim_policy: "Retain".into(),
                source: VolumeSource::EbsCsi { volume_id: c.volume_id.clone() },
                zone: Some(c.zone.clone()),
                fs_type: c.fs_type.clone(),
            }),
        });
        World::effect_happened(&mut w, format!("create claim {}/{} on {cluster}", c.namespace, c.name));
        Ok(())
    }

    async fn delete_static_claim(&self, cluster: &str, c: &StaticClaim, own: &Ownership) -> Result<(), ProviderError> {
        self.enter("delete_static_claim", &c.name).await?;
        let mut w = self.lock();
        let key = (cluster.to_string(), format!("{}/{}", c.namespace, c.name));
        if w.data.claims.get(&key).is_some_and(|cl| cl.labels.get("cutover.dev/run-id") == Some(&own.run_id)) {
            w.data.claims.remove(&key);
            World::effect_happened(&mut w, format!("delete claim {}/{} on {cluster}", c.namespace, c.name));
        }
        Ok(())
    }
}
