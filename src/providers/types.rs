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
    /// The resource does not exist (or no longer does).
    NotFound,
    /// The resource exists in a state that forbids the call (e.g. owned by someone else).
    Conflict,
    /// The request was refused as invalid; retrying cannot help.
    Invalid,
    /// Not authorised.
    Denied,
    /// Any other failure; not retried.
    Other,
}

/// The one error type of every provider. Its message is journaled and shown: no secrets in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct ProviderError {
    /// Why the call failed; decides whether it is retried.
    pub kind: ErrorKind,
    /// What failed, for people; no secrets.
    pub message: String,
}

impl ProviderError {
    /// An error of `kind` with a message for people.
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
    /// The run that created the resource.
    pub run_id: String,
    /// The plan's `metadata.name`.
    pub plan: String,
}

impl Ownership {
    /// The ownership tags (`cutover.dev/run-id`, `cutover.dev/plan`) to put on a new resource.
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

/// An EKS cluster's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterStatus {
    /// Being created; not usable yet.
    Creating,
    /// Ready to use.
    Active,
    /// An update (version, config) is in progress.
    Updating,
    /// Being deleted.
    Deleting,
    /// Creation or an update failed; EKS will not recover it.
    Failed,
}

/// An EKS cluster as the cluster provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// EKS cluster name.
    pub name: String,
    /// Lifecycle state.
    pub status: ClusterStatus,
    /// Kubernetes version as EKS reports it, e.g. `1.32`.
    pub version: Option<String>,
    /// API server URL, once the cluster is active.
    pub endpoint: Option<String>,
    /// The cluster's OIDC issuer URL (IRSA), once the cluster is active.
    pub oidc_issuer: Option<String>,
    /// The cluster's AWS tags, including cutover's ownership tags.
    pub tags: BTreeMap<String, String>,
}

/// A Helm release revision's status, as helm reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseStatus {
    /// Installed and current.
    Deployed,
    /// The last install or upgrade failed.
    Failed,
    /// An install is in progress (or was interrupted).
    PendingInstall,
    /// An upgrade is in progress (or was interrupted).
    PendingUpgrade,
    /// A rollback is in progress (or was interrupted).
    PendingRollback,
    /// Being uninstalled.
    Uninstalling,
    /// An older revision, replaced by a newer one.
    Superseded,
    /// Uninstalled with history kept.
    Uninstalled,
    /// A status cutover does not recognise.
    Unknown,
}

/// A Helm release on a cluster, as the release provider reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseInfo {
    /// Release name.
    pub name: String,
    /// Namespace the release lives in.
    pub namespace: String,
    /// Helm revision number of the current revision.
    pub revision: u32,
    /// Status of the current revision.
    pub status: ReleaseStatus,
    /// Chart version of the current revision.
    pub chart_version: String,
    /// The `cutover.dev/run-id` label of the revision, if cutover installed it.
    pub run_id: Option<String>,
}

/// Which clusters a check may look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTarget {
    /// EKS cluster name of green, the cluster under test.
    pub green_cluster: String,
    /// EKS cluster name of blue, for checks that probe it (`via: blue`).
    pub blue_cluster: Option<String>,
    /// The plan's name (what a confirm webhook is told).
    pub plan: String,
    /// The run.
    pub run_id: String,
    /// The step checking.
    pub step: String,
    /// Green's weight now, during a traffic step's bake.
    pub weight: Option<u8>,
}

/// The result of one attempt of a check. `detail` is shown to people (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckOutcome {
    /// The check passed on this attempt.
    pub passed: bool,
    /// What was seen, for people.
    pub detail: String,
}

/// One weighted record as Route53 holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightedRecord {
    /// DNS name of the record.
    pub name: String,
    /// CNAME, A or AAAA.
    pub record_type: RecordType,
    /// The record's SetIdentifier, which tells blue's record from green's.
    pub set_id: String,
    /// The CNAME value or alias target.
    pub target: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Route53 weight (0–255; cutover uses 0–100).
    pub weight: u8,
}

/// What a Route53 change does to a weighted record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChangeAction {
    /// Create, or change in place.
    Upsert,
    /// Route53 deletes only a record that matches exactly (target, ttl, weight).
    Delete,
}

/// One change in a Route53 change batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordChange {
    /// Upsert or delete.
    pub action: ChangeAction,
    /// The record as it should be (upsert) or exactly as it is (delete).
    pub record: WeightedRecord,
}

/// A Route53 change id, polled until the change is INSYNC.
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
    /// Namespace of the release the Secret stores.
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
    /// EKS cluster name.
    pub name: String,
    /// Cluster ARN.
    pub arn: String,
    /// Lifecycle state.
    pub status: ClusterStatus,
    /// When EKS created the cluster.
    pub created_at: Option<jiff::Timestamp>,
    /// The cluster's AWS tags (ownership, TTL, plan).
    pub tags: BTreeMap<String, String>,
    /// The cluster's managed node groups.
    pub nodegroups: Vec<NodegroupSummary>,
}

/// A managed node group as `cutover dev list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodegroupSummary {
    /// Node group name.
    pub name: String,
    /// Desired size: the node count EKS is asked to keep.
    pub desired: u32,
    /// EC2 instance types.
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
    /// Insight id.
    pub id: String,
    /// What the insight checks, e.g. "Deprecated APIs removed in Kubernetes v1.32".
    pub name: String,
    /// Passing, warning or error.
    pub status: InsightStatus,
    /// Why the insight has its status.
    pub reason: String,
    /// What EKS recommends doing about it.
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
    /// Nothing blocks the upgrade.
    Passing,
    /// Something needs attention before the upgrade.
    Warning,
    /// Something will break after the upgrade.
    Error,
    /// EKS has not decided yet.
    Unknown,
}

/// A deprecated API an insight found in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeprecatedApi {
    /// The API path in use (e.g. `/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas`).
    pub usage: String,
    /// The API to use instead, if there is one.
    pub replaced_with: Option<String>,
    /// The Kubernetes version that stops serving the API, e.g. `1.32`.
    pub stop_serving_version: Option<String>,
    /// Who still calls it (last 30 days).
    pub clients: Vec<ApiClient>,
}

/// A client (user agent) calling a deprecated API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClient {
    /// The client's user agent.
    pub user_agent: String,
    /// Requests it made in the last 30 days.
    pub requests_last_30_days: u64,
    /// When it last called the API, as EKS reports it.
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
    /// The add-on that made it, if an add-on did (it comes and goes with the add-on).
    pub owner_arn: Option<String>,
}

/// An IAM OIDC provider for a cluster's issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// Its ARN (`arn:aws:iam::<account>:oidc-provider/<issuer host and path>`).
    pub arn: String,
    /// Whether this run made it (only then may a rollback delete it).
    pub ours: bool,
}

/// `https://oidc.eks.<region>.amazonaws.com/id/<ID>` → `oidc.eks.<region>.amazonaws.com/id/<ID>`:
/// the form IAM uses in OIDC provider ARNs and trust policy condition keys.
pub fn oidc_issuer_host(issuer: &str) -> &str {
    issuer.trim_start_matches("https://").trim_end_matches('/')
}
