//! Provider traits: how the engine acts on the world, in our own types.
//!
//! The engine decides, providers act. Each trait is small and speaks cutover's domain (clusters,
//! releases, checks, weighted records, journal bytes), never an SDK's types, so the engine imports
//! no AWS or Kubernetes crate and its tests run against in-process fakes.
//!
//! Contract for every implementation:
//! - Calls are idempotent where the doc says so; the engine re-runs them after a crash.
//! - Errors carry a [`ErrorKind`]; only throttling, 5xx-style unavailability and request timeouts
//!   are retryable, and the engine retries those with backoff.
//! - Error messages are journaled and shown to people: they must never contain secrets (tokens,
//!   credentials, resolved secret values).
//! - A call may wait (for a cluster to become ACTIVE, for DNS to be INSYNC); the engine bounds
//!   every call with a timeout from the plan or a documented default, and drops the future when it
//!   expires, so every `.await` inside a provider must be a safe cancellation point.

pub mod aws;
pub mod health;
pub mod helm;
pub mod kube;
pub mod network;
pub mod notify;
pub mod notify_format;
pub mod otlp;
pub mod probe;
pub mod release_record;
pub mod signals;
pub mod state;
pub mod state_local;
pub mod volumes;
pub mod weights;
mod types;

pub use network::{SubnetFinding, SubnetInfo, SubnetInventory, subnet_capacity, subnet_ids};
pub use state::{LockInfo, StateBackend, StateError};
pub use types::*;
pub use volumes::{BlockStorage, ClaimProvider, StorageQuotas};

use std::sync::Arc;

use async_trait::async_trait;

use crate::plan::{AccessEntry, Addon, Check, ClusterSpec, NodeGroup, RecordType, Release};

/// EKS: clusters and what hangs off them (add-ons, node groups, access entries).
#[async_trait]
pub trait ClusterProvider: Send + Sync {
    /// `None` when no cluster of that name exists.
    async fn describe_cluster(&self, name: &str) -> Result<Option<ClusterInfo>, ProviderError>;

    /// Creates the cluster tagged with `own.tags()` plus the spec's tags, passing `token` as the
    /// idempotency token, and returns once it is ACTIVE. If a cluster of that name already exists
    /// carrying the same ownership tags it is adopted (waited for, not recreated); one with other
    /// tags is a `Conflict`.
    async fn create_cluster(
        &self,
        spec: &ClusterSpec,
        own: &Ownership,
        token: &str,
    ) -> Result<ClusterInfo, ProviderError>;

    /// Deletes the cluster and returns once it is gone. Remaining node groups and add-ons are
    /// deleted first (EKS refuses otherwise). Succeeds if the cluster does not exist. The engine
    /// checks ownership and traffic before calling this; providers do not.
    async fn delete_cluster(&self, name: &str) -> Result<(), ProviderError>;

    /// Creates the add-on if absent (tagged, with `token`) and waits until it is ACTIVE.
    async fn ensure_addon(
        &self,
        cluster: &str,
        addon: &Addon,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError>;

    /// Deletes the add-on and waits until it is gone; succeeds if absent.
    async fn delete_addon(&self, cluster: &str, name: &str) -> Result<(), ProviderError>;

    /// Creates the node group if absent and waits until it is ACTIVE. The engine fills in
    /// `nodegroup.subnets` (the cluster's subnets when the plan leaves them empty).
    async fn ensure_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &NodeGroup,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError>;

    /// Deletes the node group and waits until it is gone; succeeds if absent.
    async fn delete_nodegroup(&self, cluster: &str, name: &str) -> Result<(), ProviderError>;

    /// Creates the access entry and associates its policies if absent.
    async fn ensure_access_entry(
        &self,
        cluster: &str,
        entry: &AccessEntry,
        own: &Ownership,
    ) -> Result<(), ProviderError>;

    /// Deletes the access entry; succeeds if absent.
    async fn delete_access_entry(
        &self,
        cluster: &str,
        principal_arn: &str,
    ) -> Result<(), ProviderError>;
}

/// EKS Pod Identity associations of a cluster.
#[async_trait]
pub trait PodIdentities: Send + Sync {
    /// Associates the service account with its role (tagged, with `token`); adopts one this run
    /// made, refuses one it did not. Idempotent.
    async fn ensure_pod_identity(
        &self,
        cluster: &str,
        identity: &crate::plan::PodIdentity,
        own: &Ownership,
        token: &str,
    ) -> Result<PodIdentityInfo, ProviderError>;
    /// Removes the service account's association if this run made it; succeeds if there is none,
    /// and leaves one it did not make alone.
    async fn delete_pod_identity(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        own: &Ownership,
    ) -> Result<(), ProviderError>;
    /// Every association of the cluster (capture carries them to the next plan).
    async fn pod_identities(&self, cluster: &str) -> Result<Vec<PodIdentityInfo>, ProviderError>;
}

/// IAM for workload identity: green's OIDC provider (IRSA) and IRSA roles' trust policies.
#[async_trait]
pub trait WorkloadIam: Send + Sync {
    /// IAM's OIDC provider for `issuer` (audience `sts.amazonaws.com`): created with the run's
    /// tags, or the one that exists (`ours` says whether this run made it). Idempotent.
    async fn ensure_oidc_provider(&self, issuer: &str, own: &Ownership) -> Result<OidcProvider, ProviderError>;
    /// Deletes the provider for `issuer` if this run made it; succeeds if there is none.
    async fn delete_oidc_provider(&self, issuer: &str, own: &Ownership) -> Result<(), ProviderError>;
    /// The role's trust policy document as IAM holds it (JSON text); `None` if there is no such role.
    async fn trust_policy(&self, role_arn: &str) -> Result<Option<String>, ProviderError>;
    /// Replaces the role's trust policy document.
    async fn set_trust_policy(&self, role_arn: &str, document: &str) -> Result<(), ProviderError>;
}

/// What EKS knows about a cluster's readiness for an upgrade.
#[async_trait]
pub trait UpgradeInsights: Send + Sync {
    /// The UPGRADE_READINESS insights of `cluster` for an upgrade to `kubernetes_version`.
    async fn upgrade_insights(&self, cluster: &str, kubernetes_version: &str) -> Result<Vec<Insight>, ProviderError>;
}

/// Which versions of an EKS add-on fit a Kubernetes version.
#[async_trait]
pub trait AddonCatalog: Send + Sync {
    /// The add-on's versions compatible with `kubernetes_version`, and EKS's default among them.
    async fn addon_versions(&self, addon: &str, kubernetes_version: &str) -> Result<AddonVersions, ProviderError>;
}

/// Every cluster of a region, as dev clusters and drills see them: names, a summary with tags and
/// node groups, and retagging (to move a dev cluster's expiry). Deleting goes through
/// [`ClusterProvider::delete_cluster`] after the one teardown rule ([`crate::engine::teardown`]).
#[async_trait]
pub trait ClusterInventory: Send + Sync {
    /// Names of every cluster in the region.
    async fn cluster_names(&self) -> Result<Vec<String>, ProviderError>;
    /// The cluster with its tags and node groups; `None` when it does not exist.
    async fn summary(&self, name: &str) -> Result<Option<ClusterSummary>, ProviderError>;
    /// Adds or replaces tags on the cluster.
    async fn tag_cluster(&self, name: &str, tags: &std::collections::BTreeMap<String, String>) -> Result<(), ProviderError>;
}

/// The Kubernetes API of one cluster: what the engine needs beyond Helm.
#[async_trait]
pub trait WorkloadProvider: Send + Sync {
    /// Deletes every LoadBalancer Service and Ingress and waits until their cloud load balancers
    /// are released, so deleting the cluster afterwards leaks none. Succeeds if there are none.
    async fn release_load_balancers(&self, cluster: &str) -> Result<(), ProviderError>;

    /// The load balancer hostname of a Service, `None` while it has none yet.
    async fn service_address(
        &self,
        cluster: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError>;
}

/// Helm's release records as stored on a cluster (capture, drift and pre-flight read them).
#[async_trait]
pub trait ReleaseRecords: Send + Sync {
    /// Every Secret labelled `owner=helm` on `cluster`, in every namespace.
    async fn release_secrets(&self, cluster: &str) -> Result<Vec<ReleaseSecret>, ProviderError>;
}

/// Helm releases on a cluster. Implementations resolve `Release::secret_values` themselves at
/// install time; the engine never sees secret values.
#[async_trait]
pub trait ReleaseProvider: Send + Sync {
    /// Fetches the chart and checks its digest against the plan, before anything is changed.
    async fn verify_chart(&self, release: &Release) -> Result<(), ProviderError>;

    /// The release's latest revision on the cluster, `None` if never installed (or uninstalled).
    async fn status(
        &self,
        cluster: &str,
        name: &str,
        namespace: &str,
    ) -> Result<Option<ReleaseInfo>, ProviderError>;

    /// `helm upgrade --install --wait` with the plan's values, labelling the release with
    /// `own.run_id` so a re-run can recognise its own work. Idempotent.
    async fn install(
        &self,
        cluster: &str,
        release: &Release,
        own: &Ownership,
    ) -> Result<ReleaseInfo, ProviderError>;

    /// The release's manifests as they would be installed on a cluster of `kube_version`
    /// (`helm template --kube-version`, the plan's values; no cluster is contacted).
    async fn render(&self, release: &Release, kube_version: &str) -> Result<String, ProviderError>;

    /// `helm uninstall --wait`; succeeds if the release is absent.
    async fn uninstall(
        &self,
        cluster: &str,
        name: &str,
        namespace: &str,
    ) -> Result<(), ProviderError>;
}

/// Health checks. One call is one attempt; the engine owns retrying, intervals and timeouts.
#[async_trait]
pub trait HealthProvider: Send + Sync {
    /// Runs one attempt of `check` against the clusters in `target`.
    async fn check(
        &self,
        target: &CheckTarget,
        check: &Check,
    ) -> Result<CheckOutcome, ProviderError>;
}

/// Route53 weighted records.
#[async_trait]
pub trait TrafficProvider: Send + Sync {
    /// Every weighted record of `name` and `record_type` in the zone (all set identifiers,
    /// including ones cutover does not manage).
    async fn records(
        &self,
        zone: &str,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<WeightedRecord>, ProviderError>;

    /// Submits all changes as ONE atomic batch: all apply or none.
    async fn change(&self, zone: &str, changes: &[RecordChange])
    -> Result<ChangeId, ProviderError>;

    /// Returns once the change is INSYNC on every Route53 server.
    async fn wait_insync(&self, change: &ChangeId) -> Result<(), ProviderError>;
}

/// Everything the engine acts through, as shared trait objects.
#[derive(Clone)]
pub struct Providers {
    /// EKS clusters, add-ons, node groups and access entries.
    pub clusters: Arc<dyn ClusterProvider>,
    /// Kubernetes objects on a cluster (nodes, workloads, Service addresses).
    pub workloads: Arc<dyn WorkloadProvider>,
    /// Helm releases.
    pub releases: Arc<dyn ReleaseProvider>,
    /// Health checks.
    pub health: Arc<dyn HealthProvider>,
    /// Route53 weighted records.
    pub traffic: Arc<dyn TrafficProvider>,
    /// Helm's release records on a cluster (pre-flight reads blue's manifests).
    pub records: Arc<dyn ReleaseRecords>,
    /// EKS add-on versions per Kubernetes version (pre-flight).
    pub catalog: Arc<dyn AddonCatalog>,
    /// EKS upgrade insights of blue (pre-flight).
    pub insights: Arc<dyn UpgradeInsights>,
    /// EC2 subnets of green, with their free addresses (pre-flight).
    pub network: Arc<dyn SubnetInventory>,
    /// EKS Pod Identity associations.
    pub pod_identities: Arc<dyn PodIdentities>,
    /// IAM: OIDC providers and IRSA roles' trust policies.
    pub iam: Arc<dyn WorkloadIam>,
    /// Notification sinks (webhooks).
    pub notify: Arc<dyn notify::NotificationSender>,
    /// EBS volumes and snapshots (persistent data).
    pub storage: Arc<dyn BlockStorage>,
    /// Claims and persistent volumes on the clusters.
    pub claims: Arc<dyn ClaimProvider>,
    /// The region's EBS storage quotas (the data gate).
    pub quotas: Arc<dyn StorageQuotas>,
}
