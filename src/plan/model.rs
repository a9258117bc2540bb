//! The typed, validated plan: what the engine compiles into steps.
//!
//! Nothing here is read from YAML directly. `plan::raw` mirrors the file, `plan::validate` checks it
//! and builds these types, so every value below has already passed validation: names are legal,
//! versions exact, durations parsed, `needs` acyclic, traffic steps increasing and ending at 100.
//! The engine may rely on that and does not re-check.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

/// What a plan asks cutover to do. The same engine serves all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PlanKind {
    /// Blue → green at a new Kubernetes version, traffic shift, teardown of blue.
    Upgrade,
    /// A throwaway cluster with a TTL; no blue, no traffic.
    DevCluster,
    /// Rebuild from nothing, verify, measure recovery time, tear down.
    Drill,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub kind: PlanKind,
    pub metadata: Metadata,
    pub aws: Aws,
    pub state: StateBackend,
    /// The live cluster being replaced. Required for `Upgrade`.
    pub blue: Option<BlueRef>,
    pub green: ClusterSpec,
    pub helm: HelmPin,
    pub releases: Vec<Release>,
    pub checks: Vec<Check>,
    /// Required for `Upgrade`; optional drill record for `Drill`; absent for `DevCluster`.
    pub traffic: Option<Traffic>,
    pub teardown: Teardown,
    pub on_failure: FailurePolicy,
    /// `DevCluster` only (required there).
    pub ttl: Option<Duration>,
    /// `Drill` only (required there).
    pub rto_target: Option<Duration>,
    /// Upper bounds for the waits the engine and providers make; defaults documented in README.
    pub timeouts: Timeouts,
    /// Pre-flight gates the plan skips.
    pub preflight: Preflight,
    /// sha256 of the plan file's bytes: journaled so `resume` can refuse a plan edited mid-run.
    pub digest: String,
    /// The file the plan was loaded from; relative paths in the plan (values files, local charts)
    /// are resolved against its directory.
    pub source: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The environment's name: one lock and one journal directory per name.
    pub name: String,
    /// Who to contact about this environment; written into tags and reports.
    pub owner: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Aws {
    pub region: String,
}

#[derive(Debug, Clone, Serialize)]
pub enum StateBackend {
    /// A directory on this machine; relative paths are relative to the plan file's directory.
    Local { path: PathBuf },
    S3 { bucket: String, prefix: String, region: Option<String> },
}

#[derive(Debug, Clone, Serialize)]
pub struct BlueRef {
    pub cluster: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterSpec {
    pub name: String,
    pub version: KubeVersion,
    pub role_arn: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub endpoint: EndpointAccess,
    pub authentication_mode: AuthenticationMode,
    pub addons: Vec<Addon>,
    pub nodegroups: Vec<NodeGroup>,
    pub access: Vec<AccessEntry>,
    pub tags: BTreeMap<String, String>,
    /// EKS Pod Identity associations to make on green.
    pub pod_identities: Vec<PodIdentity>,
    /// Create green's IAM OIDC provider (IRSA).
    pub oidc_provider: bool,
    /// Update IRSA roles' trust policies for green's issuer (and remove blue's after retirement).
    pub irsa_update_trust: bool,
}

/// A service account's AWS role through EKS Pod Identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodIdentity {
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
}

impl ClusterSpec {
    /// The add-on Pod Identity needs on the nodes, added when the plan does not list it.
    pub const POD_IDENTITY_AGENT: &'static str = "eks-pod-identity-agent";

    /// Whether anything on green gets its AWS role through Pod Identity.
    pub fn uses_pod_identity(&self) -> bool {
        !self.pod_identities.is_empty() || self.addons.iter().any(|a| !a.pod_identities.is_empty())
    }
}

/// A Kubernetes minor version such as 1.32. Ordered, so `green > blue` can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EndpointAccess {
    pub public: bool,
    pub private: bool,
    /// CIDRs allowed to reach a public endpoint; empty means AWS's default (0.0.0.0/0).
    pub public_cidrs: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthenticationMode {
    ConfigMap,
    ApiAndConfigMap,
    Api,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Addon {
    pub name: String,
    /// Exact add-on version (e.g. `v1.19.0-eksbuild.1`); `None` lets EKS pick its default.
    pub version: Option<String>,
    /// IRSA role of the add-on's service account.
    pub service_account_role_arn: Option<String>,
    /// Pod Identity roles of the add-on's service accounts (namespace: the add-on's own).
    pub pod_identities: Vec<AddonPodIdentity>,
}

/// One of an add-on's Pod Identity associations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddonPodIdentity {
    pub service_account: String,
    pub role_arn: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeGroup {
    pub name: String,
    pub instance_types: Vec<String>,
    pub scaling: Scaling,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub node_role_arn: String,
    /// Subnets for the nodes; empty means the cluster's subnets.
    pub subnets: Vec<String>,
    pub capacity_type: CapacityType,
    pub disk_size_gib: Option<u32>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scaling {
    pub min: u32,
    pub desired: u32,
    pub max: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Taint {
    pub key: String,
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CapacityType {
    OnDemand,
    Spot,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessEntry {
    pub principal_arn: String,
    pub kubernetes_groups: Vec<String>,
    pub username: Option<String>,
    pub policies: Vec<AccessPolicy>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessPolicy {
    pub policy_arn: String,
    pub scope: AccessScope,
}

#[derive(Debug, Clone, Serialize)]
pub enum AccessScope {
    Cluster,
    Namespaces(Vec<String>),
}

#[derive(Debug, Clone, Serialize)]
pub struct HelmPin {
    /// Exact helm version the run must use, e.g. `3.19.0`; a different binary is refused.
    pub version: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub chart: ChartSource,
    /// Exact chart version (never a range).
    pub version: String,
    /// Lowercase hex sha256 of the packaged chart; verified before anything is installed.
    pub digest: Option<String>,
    /// Values files, resolved against the plan's directory, applied in order.
    pub values_files: Vec<PathBuf>,
    /// Inline values, applied after the files. Never holds secrets (see `secret_values`).
    pub values: serde_json::Value,
    /// Values resolved at install time and never written to the journal, logs or reports.
    pub secret_values: Vec<SecretValue>,
    /// Releases that must be deployed before this one.
    pub needs: Vec<String>,
    pub timeout: Duration,
    pub create_namespace: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChartSource {
    /// An HTTP(S) chart repository and the chart's name in it.
    Repo { url: String, name: String },
    /// `oci://registry/path/chart` (without the version tag).
    Oci { reference: String },
    /// A chart directory or packaged .tgz on disk, resolved against the plan's directory.
    Path { path: PathBuf },
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretValue {
    /// Dotted path into the chart's values, e.g. `auth.password`.
    pub key: String,
    pub from: SecretSource,
}

#[derive(Debug, Clone, Serialize)]
pub enum SecretSource {
    /// An environment variable of the cutover process.
    Env(String),
    /// A file whose whole content (trailing newline trimmed) is the value.
    File(PathBuf),
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub kind: CheckKind,
    /// How long `verify` keeps re-trying the check before it counts as failed.
    pub timeout: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub enum CheckKind {
    /// At least `min` nodes Ready, each with kubelet version = green's version.
    NodesReady { min: u32 },
    /// Every Deployment, StatefulSet and DaemonSet in these namespaces available at its observedGeneration.
    WorkloadsReady { namespaces: Vec<String> },
    /// Every release of the plan is `deployed`.
    ReleasesDeployed,
    Http(HttpCheck),
    /// A local command; passes when it exits with `expect_exit`.
    Command { argv: Vec<String>, expect_exit: i32 },
}

#[derive(Debug, Clone, Serialize)]
pub struct HttpCheck {
    pub url: String,
    /// Where requests go: green's load balancer (with the URL's Host and SNI), blue's, or the URL as DNS resolves it.
    pub via: ProbeTarget,
    pub expect_status: u16,
    pub body_contains: Option<String>,
    /// Consecutive successes needed to pass.
    pub successes: u32,
    pub interval: Duration,
    /// A response slower than this counts as a failure.
    pub latency_budget: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ProbeTarget {
    Green,
    Blue,
    Dns,
}

#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    pub zone: HostedZone,
    pub records: Vec<TrafficRecord>,
    /// Strictly increasing green weights ending at 100 (blue gets `100 - weight`).
    pub steps: Vec<TrafficStep>,
    /// Names of checks re-run throughout every bake; a failure rolls traffic back.
    pub gates: Vec<String>,
}

/// The Route53 hosted zone holding the records: by id, or by name (looked up at run time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HostedZone {
    Id(String),
    /// Lower-case, with the trailing dot (`example.com.`).
    Name(String),
}

impl HostedZone {
    /// What traffic providers receive: an id (`Z…`, never containing a dot) or a name ending in
    /// `.`, which they resolve to the zone's id.
    pub fn as_str(&self) -> &str {
        match self {
            HostedZone::Id(id) | HostedZone::Name(id) => id,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TrafficRecord {
    pub name: String,
    pub record_type: RecordType,
    pub ttl: u32,
    pub blue: RecordTarget,
    pub green: RecordTarget,
    /// SetIdentifiers of the two weighted records: as written, else blue's and green's cluster
    /// names (a Drill's standby: `<plan>-blue`). When blue's is not written and no record has it,
    /// the run looks for the record that carries the traffic (see `preflight.blue`).
    pub blue_set_id: String,
    pub green_set_id: String,
    /// Which of the two the plan wrote.
    pub explicit: SetIdsGiven,
    /// What builds before the cluster-name defaults used (`<plan>-blue`, `<plan>-green`): a run
    /// they journaled keeps them when resumed.
    pub legacy: SetIds,
}

/// A record's pair of SetIdentifiers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SetIds {
    pub blue: String,
    pub green: String,
}

/// Which SetIdentifiers a plan wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SetIdsGiven {
    pub blue: bool,
    pub green: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RecordType {
    Cname,
    A,
    Aaaa,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordTarget {
    /// A fixed DNS name (CNAME value, or alias target for A/AAAA).
    Hostname(String),
    /// The load balancer of a Service on that side's cluster, resolved at run time.
    Service { namespace: String, name: String },
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrafficStep {
    pub weight: u8,
    pub bake: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct Teardown {
    /// How long blue is kept after green takes 100% before it may be deleted.
    pub retain_blue_for: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailurePolicy {
    /// Run compensations back to the last safe checkpoint.
    Rollback,
    /// Stop where it failed and wait for a human to `resume` or `rollback`.
    Pause,
}

#[derive(Debug, Clone, Serialize)]
pub struct Timeouts {
    pub cluster_active: Duration,
    pub nodegroup_active: Duration,
    pub addon_active: Duration,
    pub dns_insync: Duration,
    pub load_balancer_release: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            cluster_active: Duration::from_secs(30 * 60),
            nodegroup_active: Duration::from_secs(20 * 60),
            addon_active: Duration::from_secs(10 * 60),
            dns_insync: Duration::from_secs(5 * 60),
            load_balancer_release: Duration::from_secs(10 * 60),
        }
    }
}

/// A pre-flight gate: a check before anything is created that refuses a doomed upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PreflightGate {
    /// Objects at Kubernetes APIs removed at or before green's version (rendered releases, blue's manifests).
    Apis,
    /// EKS upgrade insights of blue for green's version.
    Insights,
    /// Pinned add-on versions compatible with green's version.
    Addons,
    /// Green's subnets: they exist, in two zones or more, with free addresses for green beside blue.
    Subnets,
}

impl PreflightGate {
    pub const ALL: [PreflightGate; 4] =
        [PreflightGate::Apis, PreflightGate::Insights, PreflightGate::Addons, PreflightGate::Subnets];

    /// The name plans and step ids use (`apis` → `preflight.apis`).
    pub fn name(self) -> &'static str {
        match self {
            PreflightGate::Apis => "apis",
            PreflightGate::Insights => "insights",
            PreflightGate::Addons => "addons",
            PreflightGate::Subnets => "subnets",
        }
    }
}

/// `spec.preflight`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    pub skip: Vec<PreflightGate>,
}
