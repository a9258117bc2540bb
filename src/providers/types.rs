//! Domain types shared by the provider traits: errors, ownership tags, and what providers report.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::plan::RecordType;

/// Tag naming the run that created a resource.
pub const TAG_RUN_ID: &str = "cutover.dev/run-id";
/// Tag naming the plan (environment) that created a resource.
pub const TAG_PLAN: &str = "cutover.dev/plan";

/// Why a provider call failed. Drives retrying: see [`ProviderError::retryable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// Rate limited (HTTP 429, AWS `Throttling`, Route53 `PriorRequestNotComplete`). Retryable.
    Throttled,
    /// The service failed on its side (5xx) or could not be reached. Retryable.
    Unavailable,
    /// One request timed out. Retryable.
    Timeout,
    /// A bounded wait (cluster ACTIVE, release ready, ...) ran out of time. Not retryable: the
    /// wait already spent the plan's budget.
    WaitTimedOut,
    NotFound,
    /// The resource exists in a state that forbids the call (e.g. owned by someone else).
    Conflict,
    /// The request was refused as invalid; retrying cannot help.
    Invalid,
    /// Not authorised.
    Denied,
    Other,
}

/// The one error type of every provider. Its message is journaled and shown: no secrets in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
        }
    }

    /// Only transient failures are retried; everything else goes to the failure policy at once.
    pub fn retryable(&self) -> bool {
        matches!(
            self.kind,
            ErrorKind::Throttled | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }
}

/// Who made a resource: written as tags on everything cutover creates, so a re-run adopts its own
/// work and the engine never deletes what it did not make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    pub run_id: String,
    /// The plan's `metadata.name`.
    pub plan: String,
}

impl Ownership {
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (TAG_RUN_ID.to_string(), self.run_id.clone()),
            (TAG_PLAN.to_string(), self.plan.clone()),
        ])
    }

    /// True when `tags` say this run of this plan made the resource.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        tags.get(TAG_RUN_ID) == Some(&self.run_id) && tags.get(TAG_PLAN) == Some(&self.plan)
    }

    /// A stable idempotency token for one side effect of one step of this run (EKS
    /// `clientRequestToken` allows 1–64 characters): the same after a crash, different per run.
    pub fn token(&self, key: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.run_id.as_bytes());
        h.update([0]);
        h.update(key.as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterStatus {
    Creating,
    Active,
    Updating,
    Deleting,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub name: String,
    pub status: ClusterStatus,
    /// Kubernetes version as EKS reports it, e.g. `1.32`.
    pub version: Option<String>,
    pub endpoint: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    Deployed,
    Failed,
    PendingInstall,
    PendingUpgrade,
    PendingRollback,
    Uninstalling,
    Superseded,
    Uninstalled,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    pub name: String,
    pub namespace: String,
    pub revision: u32,
    pub status: ReleaseStatus,
    pub chart_version: String,
    /// The `cutover.dev/run-id` label of the revision, if cutover installed it.
    pub run_id: Option<String>,
}

/// Which clusters a check may look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTarget {
    pub green_cluster: String,
    pub blue_cluster: Option<String>,
}

/// The result of one attempt of a check. `detail` is shown to people (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    pub passed: bool,
    pub detail: String,
}

/// One weighted record as Route53 holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightedRecord {
    pub name: String,
    pub record_type: RecordType,
    pub set_id: String,
    /// The CNAME value or alias target.
    pub target: String,
    pub ttl: u32,
    pub weight: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeAction {
    /// Create, or change in place.
    Upsert,
    /// Route53 deletes only a record that matches exactly (target, ttl, weight).
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordChange {
    pub action: ChangeAction,
    pub record: WeightedRecord,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeId(pub String);

impl fmt::Display for ChangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One Secret of Helm's release storage, as read from the cluster.
#[derive(Debug, Clone, Default)]
pub struct ReleaseSecret {
    pub namespace: String,
    /// `sh.helm.release.v1.NAME.vREVISION`
    pub name: String,
    /// `helm.sh/release.v1` for a release record.
    pub secret_type: Option<String>,
    /// Helm's labels: `name`, `owner`, `status`, `version`.
    pub labels: BTreeMap<String, String>,
    /// The `release` data value (base64 of gzip of JSON, as helm wrote it).
    pub release: Option<Vec<u8>>,
}

/// One cluster as `cutover dev list` and the reaper see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSummary {
    pub name: String,
    pub arn: String,
    pub status: ClusterStatus,
    pub created_at: Option<jiff::Timestamp>,
    pub tags: BTreeMap<String, String>,
    pub nodegroups: Vec<NodegroupSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodegroupSummary {
    pub name: String,
    /// Desired size: the node count EKS is asked to keep.
    pub desired: u32,
    pub instance_types: Vec<String>,
}


/// An add-on's versions for one Kubernetes version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AddonVersions {
    /// What EKS installs when no version is pinned.
    pub default: Option<String>,
    /// Every compatible version, as the catalog lists them (newest first on AWS).
    pub compatible: Vec<String>,
}

/// One EKS upgrade insight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insight {
    pub id: String,
    pub name: String,
    pub status: InsightStatus,
    pub reason: String,
    pub recommendation: String,
    /// Affected resources (Kubernetes resource URIs or ARNs).
    pub resources: Vec<String>,
    /// Deprecated APIs still in use, with the clients calling them.
    pub deprecations: Vec<DeprecatedApi>,
}

/// An insight's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InsightStatus {
    Passing,
    Warning,
    Error,
    Unknown,
}

/// A deprecated API an insight found in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprecatedApi {
    /// The API path in use (e.g. `/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas`).
    pub usage: String,
    pub replaced_with: Option<String>,
    pub stop_serving_version: Option<String>,
    /// Who still calls it (last 30 days).
    pub clients: Vec<ApiClient>,
}

/// A client (user agent) calling a deprecated API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClient {
    pub user_agent: String,
    pub requests_last_30_days: u64,
    pub last_request: Option<String>,
}

/// One Pod Identity association as EKS describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodIdentityInfo {
    /// EKS's association id (`a-…`).
    pub id: String,
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
    /// The IAM role its pods get.
    pub role_arn: String,
    /// The association's tags (ownership included).
    pub tags: BTreeMap<String, String>,
}
