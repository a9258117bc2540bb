//! Persistent data in our own words: EBS volumes and snapshots ([`BlockStorage`], EC2) and the
//! claims and persistent volumes Kubernetes binds them to ([`ClaimProvider`]). The engine's data
//! steps decide what to snapshot, where to recreate it and what to bind; these only act.
//!
//! Ownership works as for clusters: everything cutover makes carries [`Ownership::tags`] (EC2
//! tags, Kubernetes labels), and nothing without them is deleted.

use std::collections::BTreeMap;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{Ownership, ProviderError};
use crate::plan::ClaimSelector;

/// Tag naming the claim (`namespace/name`) a snapshot or volume holds the data of.
pub const TAG_CLAIM: &str = "cutover.dev/claim";
/// Tag saying why a snapshot was taken: `run` (an upgrade's) or `backup` (`cutover backup`).
pub const TAG_SNAPSHOT_KIND: &str = "cutover.dev/snapshot";
/// Tag holding the idempotency token of the step that made a snapshot (EC2's CreateSnapshot takes
/// none, so a retried step finds its snapshot by this tag instead of taking a second one).
pub const TAG_TOKEN: &str = "cutover.dev/token";

/// An EBS volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbsVolume {
    /// `vol-…`.
    pub id: String,
    /// Availability zone (`us-east-1a`).
    pub zone: String,
    /// Size in GiB.
    pub size_gib: u32,
    /// `gp2`, `gp3`, `io2`, ...
    pub volume_type: String,
    /// `creating`, `available`, `in-use`, `deleting`, `error`.
    pub state: String,
    /// The snapshot it was made from.
    pub snapshot_id: Option<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// An EBS snapshot's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotState {
    /// Being copied.
    Pending,
    /// Usable.
    Completed,
    /// Failed; never usable.
    Error,
}

/// An EBS snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EbsSnapshot {
    /// `snap-…`.
    pub id: String,
    /// The volume it copies.
    pub volume_id: String,
    /// Where it stands.
    pub state: SnapshotState,
    /// When it was started: the point in time its data is from.
    pub started: Timestamp,
    /// Size in GiB of the volume it copies.
    pub size_gib: u32,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A volume to make from a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVolume {
    /// The snapshot to copy.
    pub snapshot_id: String,
    /// The availability zone to make it in.
    pub zone: String,
    /// `gp3`, ...
    pub volume_type: String,
    /// Size in GiB (at least the snapshot's).
    pub size_gib: u32,
    /// Tags: ownership and [`TAG_CLAIM`].
    pub tags: BTreeMap<String, String>,
}

/// EC2's EBS API.
#[async_trait]
pub trait BlockStorage: Send + Sync {
    /// The volume, `None` when there is none with that id.
    async fn volume(&self, id: &str) -> Result<Option<EbsVolume>, ProviderError>;
    /// The snapshot, `None` when there is none with that id.
    async fn snapshot(&self, id: &str) -> Result<Option<EbsSnapshot>, ProviderError>;
    /// Snapshots (this account's) carrying all of `tags`, newest first.
    async fn snapshots_tagged(&self, tags: &BTreeMap<String, String>) -> Result<Vec<EbsSnapshot>, ProviderError>;
    /// Starts a snapshot of `volume_id` tagged with `tags`; returns at once (usually `Pending`).
    async fn create_snapshot(&self, volume_id: &str, description: &str, tags: &BTreeMap<String, String>) -> Result<EbsSnapshot, ProviderError>;
    /// Deletes a snapshot (gone already is done). Callers check ownership first.
    async fn delete_snapshot(&self, id: &str) -> Result<(), ProviderError>;
    /// GiB of all the region's volumes of `volume_type` (what counts against its storage quota).
    async fn used_gib(&self, volume_type: &str) -> Result<u64, ProviderError>;
    /// Volumes carrying all of `tags`.
    async fn volumes_tagged(&self, tags: &BTreeMap<String, String>) -> Result<Vec<EbsVolume>, ProviderError>;
    /// Makes a volume from a snapshot; `token` is EC2's ClientToken, so a retry returns the same
    /// volume instead of a second one.
    async fn create_volume(&self, new: &NewVolume, token: &str) -> Result<EbsVolume, ProviderError>;
    /// Deletes a volume (gone already is done). Callers check ownership first.
    async fn delete_volume(&self, id: &str) -> Result<(), ProviderError>;
}

/// The region's EBS storage quotas (Service Quotas).
#[async_trait]
pub trait StorageQuotas: Send + Sync {
    /// The region's storage quota, in GiB, for volumes of `volume_type` (`gp3`), as applied to
    /// this account; `None` when Service Quotas has no such quota.
    async fn storage_quota_gib(&self, volume_type: &str) -> Result<Option<u64>, ProviderError>;
}

/// Where a persistent volume's data lives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum VolumeSource {
    /// The EBS CSI driver's volume (`spec.csi.driver: ebs.csi.aws.com`).
    EbsCsi {
        /// `vol-…`.
        volume_id: String,
    },
    /// The in-tree `awsElasticBlockStore` volume (`aws://ZONE/vol-…` or `vol-…`).
    EbsInTree {
        /// `vol-…`.
        volume_id: String,
    },
    /// Anything else (NFS, EFS, a local path ...): it cannot travel by EBS snapshot.
    Other {
        /// What it is, for the error message.
        what: String,
    },
}

impl VolumeSource {
    /// The EBS volume id, when it is one.
    pub fn ebs_volume(&self) -> Option<&str> {
        match self {
            VolumeSource::EbsCsi { volume_id } | VolumeSource::EbsInTree { volume_id } => Some(volume_id),
            VolumeSource::Other { .. } => None,
        }
    }
}

/// A persistent volume as bound to a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundVolume {
    /// The PersistentVolume's name.
    pub name: String,
    /// `Retain`, `Delete` or `Recycle`.
    pub reclaim_policy: String,
    /// Where the data is.
    pub source: VolumeSource,
    /// The zone its node affinity pins it to.
    pub zone: Option<String>,
    /// `ext4`, `xfs` ...
    pub fs_type: Option<String>,
}

/// A PersistentVolumeClaim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its labels (kept on green's copy).
    pub labels: BTreeMap<String, String>,
    /// `spec.storageClassName`.
    pub storage_class: Option<String>,
    /// `spec.accessModes`.
    pub access_modes: Vec<String>,
    /// Requested size as Kubernetes writes it (`10Gi`).
    pub size: String,
    /// `Pending`, `Bound`, `Lost`.
    pub phase: String,
    /// The volume it is bound to.
    pub volume: Option<BoundVolume>,
}

/// A workload whose pods use a claim: what quiesce scales to zero and back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadRef {
    /// `StatefulSet` or `Deployment`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.replicas` when it was read.
    pub replicas: i32,
}

/// A claim on green bound from the start to a volume cutover made: a static PersistentVolume
/// with a `claimRef`, and the claim naming it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticClaim {
    /// The claim's namespace.
    pub namespace: String,
    /// The claim's name (the one the workload expects, e.g. `data-ledger-0`).
    pub name: String,
    /// The PersistentVolume's name.
    pub volume_name: String,
    /// The EBS volume.
    pub volume_id: String,
    /// CSI (`ebs.csi.aws.com`) or in-tree, as blue's was.
    pub csi: bool,
    /// The volume's zone (node affinity).
    pub zone: String,
    /// File system type.
    pub fs_type: Option<String>,
    /// Storage class on green.
    pub storage_class: Option<String>,
    /// Access modes.
    pub access_modes: Vec<String>,
    /// Size (`10Gi`).
    pub size: String,
    /// Blue's labels on the claim.
    pub labels: BTreeMap<String, String>,
}

/// Claims, persistent volumes and their writers on a cluster (Kubernetes API).
#[async_trait]
pub trait ClaimProvider: Send + Sync {
    /// The claims `selector` picks on `cluster`, by name, with their bound volumes.
    async fn claims(&self, cluster: &str, selector: &ClaimSelector) -> Result<Vec<ClaimInfo>, ProviderError>;
    /// One claim, `None` when it does not exist.
    async fn claim(&self, cluster: &str, namespace: &str, name: &str) -> Result<Option<ClaimInfo>, ProviderError>;
    /// Sets a PersistentVolume's reclaim policy (`Retain` keeps the volume when its claim goes).
    async fn set_reclaim_policy(&self, cluster: &str, volume: &str, policy: &str) -> Result<(), ProviderError>;
    /// The StatefulSets and Deployments of `namespace` whose pods mount any of `claims` (or whose
    /// claim templates make them), with their replicas now.
    async fn claim_writers(&self, cluster: &str, namespace: &str, claims: &[String]) -> Result<Vec<WorkloadRef>, ProviderError>;
    /// Sets a workload's replicas.
    async fn scale(&self, cluster: &str, workload: &WorkloadRef, replicas: i32) -> Result<(), ProviderError>;
    /// How many pods of `namespace` mount any of `claims` now.
    async fn pods_using(&self, cluster: &str, namespace: &str, claims: &[String]) -> Result<usize, ProviderError>;
    /// Creates the PersistentVolume and the claim bound to it, labelled with `own`'s tags; an
    /// earlier attempt's objects are adopted, anyone else's are a `Conflict` naming the claim.
    async fn create_static_claim(&self, cluster: &str, claim: &StaticClaim, own: &Ownership) -> Result<(), ProviderError>;
    /// Deletes the claim and the PersistentVolume if `own` made them (the EBS volume stays: its
    /// reclaim policy is `Retain`); gone already is done.
    async fn delete_static_claim(&self, cluster: &str, claim: &StaticClaim, own: &Ownership) -> Result<(), ProviderError>;
}
