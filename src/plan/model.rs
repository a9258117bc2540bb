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

/// A validated plan: one environment's clusters, releases, checks and traffic shift, ready to compile into steps.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// Upgrade, DevCluster or Drill.
    pub kind: PlanKind,
    /// The environment's name, owner and labels.
    pub metadata: Metadata,
    /// The AWS region the clusters and records live in.
    pub aws: Aws,
    /// Where locks and run journals are kept.
    pub state: StateBackend,
    /// The live cluster being replaced. Required for `Upgrade`.
    pub blue: Option<BlueRef>,
    /// The cluster to build (green in an upgrade; the dev or drill cluster otherwise).
    pub green: ClusterSpec,
    /// The pinned helm binary version.
    pub helm: HelmPin,
    /// Helm releases to install on green, in `needs` order.
    pub releases: Vec<Release>,
    /// Health checks `verify` runs on green and traffic gates re-run during bakes.
    pub checks: Vec<Check>,
    /// Required for `Upgrade`; optional drill record for `Drill`; absent for `DevCluster`.
    pub traffic: Option<Traffic>,
    /// When blue may be deleted after the traffic shift.
    pub teardown: Teardown,
    /// What a failed step does: roll back to the last checkpoint, or pause for a human.
    pub on_failure: FailurePolicy,
    /// `DevCluster` only (required there).
    pub ttl: Option<Duration>,
    /// `Drill` only (required there).
    pub rto_target: Option<Duration>,
    /// Upper bounds for the waits the engine and providers make; defaults documented in README.
    pub timeouts: Timeouts,
    /// Pre-flight gates the plan skips.
    pub preflight: Preflight,
    /// Notification sinks.
    pub notify: Vec<NotifySink>,
    /// What happens to persistent volumes (`None`: the plan does not say; green starts empty).
    pub data: Option<DataSpec>,
    /// `Drill` with `data` only.
    pub rpo_target: Option<Duration>,
    /// sha256 of the plan file's bytes: journaled so `resume` can refuse a plan edited mid-run.
    pub digest: String,
    /// The file the plan was loaded from; relative paths in the plan (values files, local charts)
    /// are resolved against its directory.
    pub source: PathBuf,
}

/// `metadata`: who the environment is and who owns it.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    /// The environment's name: one lock and one journal directory per name.
    pub name: String,
    /// Who to contact about this environment; written into tags and reports.
    pub owner: String,
    /// Free-form labels, carried into tags and reports.
    pub labels: BTreeMap<String, String>,
}

/// `spec.aws`: the AWS account context of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Aws {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
}

/// Where the environment's locks and run journals are stored.
#[derive(Debug, Clone, Serialize)]
pub enum StateBackend {
    /// A directory on this machine; relative paths are relative to the plan file's directory.
    Local {
        /// Directory holding the locks and journals.
        path: PathBuf,
    },
    /// An S3 bucket, locked with conditional writes.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix under which this environment's state lives (no leading or trailing slash).
        prefix: String,
        /// The bucket's region when it differs from `spec.aws.region`.
        region: Option<String>,
    },
}

/// `spec.blue`: the live cluster an upgrade replaces.
#[derive(Debug, Clone, Serialize)]
pub struct BlueRef {
    /// EKS cluster name of blue; it must already exist.
    pub cluster: String,
}

/// An EKS cluster to create: control plane, add-ons, node groups and access entries.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterSpec {
    /// EKS cluster name (1–100 characters).
    pub name: String,
    /// Kubernetes version of the control plane and nodes.
    pub version: KubeVersion,
    /// IAM role ARN the EKS control plane assumes.
    pub role_arn: String,
    /// Subnet ids for the control plane's network interfaces (at least two availability zones).
    pub subnets: Vec<String>,
    /// Extra security group ids attached to the control plane.
    pub security_groups: Vec<String>,
    /// Whether the API server is reachable publicly, privately, or both.
    pub endpoint: EndpointAccess,
    /// How the cluster authenticates IAM principals (aws-auth ConfigMap, access entries, or both).
    pub authentication_mode: AuthenticationMode,
    /// EKS managed add-ons to install, pinned or at EKS's default version.
    pub addons: Vec<Addon>,
    /// Managed node groups to create once the control plane is active.
    pub nodegroups: Vec<NodeGroup>,
    /// Access entries granting IAM principals Kubernetes permissions.
    pub access: Vec<AccessEntry>,
    /// Tags on the cluster, in addition to cutover's ownership tags.
    pub tags: BTreeMap<String, String>,
    /// The AWS identity green's workloads get: Pod Identity associations and IRSA.
    pub identity: WorkloadIdentity,
}

/// How green's workloads get their AWS roles (Pod Identity, IRSA).
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkloadIdentity {
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
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// IAM role the service account's pods get.
    pub role_arn: String,
}

impl ClusterSpec {
    /// The add-on Pod Identity needs on the nodes, added when the plan does not list it.
    pub const POD_IDENTITY_AGENT: &'static str = "eks-pod-identity-agent";

    /// Whether anything on green gets its AWS role through Pod Identity.
    pub fn uses_pod_identity(&self) -> bool {
        !self.identity.pod_identities.is_empty() || self.addons.iter().any(|a| !a.pod_identities.is_empty())
    }
}

/// A Kubernetes minor version such as 1.32. Ordered, so `green > blue` can be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct KubeVersion {
    /// Major version (always 1 today).
    pub major: u32,
    /// Minor version, e.g. 32 in 1.32.
    pub minor: u32,
}

impl std::fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Which network paths reach the cluster's API server endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointAccess {
    /// The endpoint is reachable from the internet (limited by `public_cidrs`).
    pub public: bool,
    /// The endpoint is reachable from inside the VPC.
    pub private: bool,
    /// CIDRs allowed to reach a public endpoint; empty means AWS's default (0.0.0.0/0).
    pub public_cidrs: Vec<String>,
}

/// How EKS maps IAM principals to Kubernetes identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AuthenticationMode {
    /// Only the `aws-auth` ConfigMap.
    ConfigMap,
    /// Access entries and the `aws-auth` ConfigMap.
    ApiAndConfigMap,
    /// Only access entries (the EKS API).
    Api,
}

/// An EKS managed add-on, e.g. `vpc-cni` or `coredns`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Addon {
    /// Add-on name as EKS knows it.
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
    /// Service account name, in the add-on's namespace.
    pub service_account: String,
    /// IAM role the service account's pods get.
    pub role_arn: String,
}

/// An EKS managed node group.
#[derive(Debug, Clone, Serialize)]
pub struct NodeGroup {
    /// Node group name, unique in the cluster.
    pub name: String,
    /// EC2 instance types the group may launch.
    pub instance_types: Vec<String>,
    /// Minimum, desired and maximum node counts.
    pub scaling: Scaling,
    /// Kubernetes labels on every node.
    pub labels: BTreeMap<String, String>,
    /// Kubernetes taints on every node.
    pub taints: Vec<Taint>,
    /// IAM role ARN the nodes' instance profile uses.
    pub node_role_arn: String,
    /// Subnets for the nodes; empty means the cluster's subnets.
    pub subnets: Vec<String>,
    /// On-demand or spot capacity.
    pub capacity_type: CapacityType,
    /// Root volume size in GiB; `None` takes EKS's default.
    pub disk_size_gib: Option<u32>,
}

/// A node group's size bounds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scaling {
    /// Fewest nodes the group scales to.
    pub min: u32,
    /// Nodes the group starts with.
    pub desired: u32,
    /// Most nodes the group scales to.
    pub max: u32,
}

/// A Kubernetes taint placed on a node group's nodes.
#[derive(Debug, Clone, Serialize)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Taint value, if any.
    pub value: Option<String>,
    /// What the taint does to pods that do not tolerate it.
    pub effect: TaintEffect,
}

/// The effect of a node taint, as Kubernetes defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TaintEffect {
    /// Pods without a toleration are not scheduled.
    NoSchedule,
    /// The scheduler avoids the node but may still use it.
    PreferNoSchedule,
    /// Pods without a toleration are not scheduled and running ones are evicted.
    NoExecute,
}

/// How a node group buys its EC2 capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CapacityType {
    /// On-demand instances.
    OnDemand,
    /// Spot instances, which AWS may reclaim.
    Spot,
}

/// An EKS access entry: an IAM principal and what it may do in the cluster.
#[derive(Debug, Clone, Serialize)]
pub struct AccessEntry {
    /// ARN of the IAM user or role granted access.
    pub principal_arn: String,
    /// Kubernetes groups the principal is mapped into (for RBAC bindings).
    pub kubernetes_groups: Vec<String>,
    /// Kubernetes username; `None` lets EKS derive one.
    pub username: Option<String>,
    /// EKS access policies associated with the principal.
    pub policies: Vec<AccessPolicy>,
}

/// An EKS access policy associated with an access entry.
#[derive(Debug, Clone, Serialize)]
pub struct AccessPolicy {
    /// ARN of the EKS access policy, e.g. `arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`.
    pub policy_arn: String,
    /// Where the policy applies: the whole cluster or some namespaces.
    pub scope: AccessScope,
}

/// The scope of an access policy.
#[derive(Debug, Clone, Serialize)]
pub enum AccessScope {
    /// Every namespace and cluster-scoped resources.
    Cluster,
    /// Only the named namespaces.
    Namespaces(Vec<String>),
}

/// `spec.helm`: the helm binary a run must use.
#[derive(Debug, Clone, Serialize)]
pub struct HelmPin {
    /// Exact helm version the run must use, e.g. `3.19.0`; a different binary is refused.
    pub version: String,
}

/// A Helm release to install on green, pinned to an exact chart version.
#[derive(Debug, Clone, Serialize)]
pub struct Release {
    /// Release name, unique within its namespace.
    pub name: String,
    /// Kubernetes namespace the release is installed into.
    pub namespace: String,
    /// Where the chart comes from.
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
    /// Upper bound for the install (helm's `--timeout`, waiting for resources to be ready).
    pub timeout: Duration,
    /// Create the namespace if it does not exist.
    pub create_namespace: bool,
}

/// Where a release's chart is fetched from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ChartSource {
    /// An HTTP(S) chart repository and the chart's name in it.
    Repo {
        /// Repository URL.
        url: String,
        /// Chart name in the repository.
        name: String,
    },
    /// `oci://registry/path/chart` (without the version tag).
    Oci {
        /// The OCI reference, e.g. `oci://registry.example.com/charts/app`.
        reference: String,
    },
    /// A chart directory or packaged .tgz on disk, resolved against the plan's directory.
    Path {
        /// Chart directory or `.tgz` file.
        path: PathBuf,
    },
}

/// A chart value set from a secret at install time.
#[derive(Debug, Clone, Serialize)]
pub struct SecretValue {
    /// Dotted path into the chart's values, e.g. `auth.password`.
    pub key: String,
    /// Where the secret's value is read from.
    pub from: SecretSource,
}

/// Where a secret value is read from at install time.
#[derive(Debug, Clone, Serialize)]
pub enum SecretSource {
    /// An environment variable of the cutover process.
    Env(String),
    /// A file whose whole content (trailing newline trimmed) is the value.
    File(PathBuf),
}

/// A named health check on a cluster.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Check name, referenced by `traffic.gates`.
    pub name: String,
    /// What the check tests.
    pub kind: CheckKind,
    /// How long `verify` keeps re-trying the check before it counts as failed.
    pub timeout: Duration,
}

/// What a check tests.
#[derive(Debug, Clone, Serialize)]
pub enum CheckKind {
    /// At least `min` nodes Ready, each with kubelet version = green's version.
    NodesReady {
        /// Fewest Ready nodes needed.
        min: u32,
    },
    /// Every Deployment, StatefulSet and DaemonSet in these namespaces available at its observedGeneration.
    WorkloadsReady {
        /// Namespaces whose workloads must be available.
        namespaces: Vec<String>,
    },
    /// Every release of the plan is `deployed`.
    ReleasesDeployed,
    /// An HTTP probe (see [`HttpCheck`]).
    Http(HttpCheck),
    /// A local command; passes when it exits with `expect_exit`.
    Command {
        /// Program and arguments, run without a shell.
        argv: Vec<String>,
        /// Exit code that counts as a pass.
        expect_exit: i32,
    },
    /// A confirm webhook: POST the run's context; 2xx passes.
    Webhook {
        /// URL to POST to.
        url: String,
        /// Bound of one request.
        timeout: Duration,
    },
    /// A Prometheus instant query whose single sample must stay within bounds for `hold`.
    Prometheus(PrometheusCheck),
    /// Fails while an Alertmanager alert matching every matcher is active and not silenced.
    Alertmanager {
        /// Alertmanager's base URL.
        url: String,
        /// `label op "value"` matchers (placeholders `{green}`, `{blue}` not yet expanded).
        matchers: Vec<String>,
    },
}

/// A Prometheus gate.
#[derive(Debug, Clone, Serialize)]
pub struct PrometheusCheck {
    /// Prometheus' base URL.
    pub url: String,
    /// PromQL with `{green}` / `{blue}` placeholders.
    pub query: String,
    /// Smallest passing value.
    pub min: Option<f64>,
    /// Largest passing value.
    pub max: Option<f64>,
    /// How long the sample must stay within bounds before the check passes.
    pub hold: Duration,
}

/// An HTTP probe: status, optional body text and latency, over consecutive successes.
#[derive(Debug, Clone, Serialize)]
pub struct HttpCheck {
    /// URL to request; its host is sent as Host and SNI whichever target is used.
    pub url: String,
    /// Where requests go: green's load balancer (with the URL's Host and SNI), blue's, or the URL as DNS resolves it.
    pub via: ProbeTarget,
    /// HTTP status a response must have.
    pub expect_status: u16,
    /// Text the response body must contain, if set.
    pub body_contains: Option<String>,
    /// Consecutive successes needed to pass.
    pub successes: u32,
    /// Pause between attempts.
    pub interval: Duration,
    /// A response slower than this counts as a failure.
    pub latency_budget: Option<Duration>,
}

/// Which side an HTTP check's requests are sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ProbeTarget {
    /// Green's load balancer.
    Green,
    /// Blue's load balancer.
    Blue,
    /// Wherever DNS resolves the URL's host (both sides, by current weight).
    Dns,
}

/// `spec.traffic`: the Route53 weighted records shifted from blue to green, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Traffic {
    /// The hosted zone holding the records.
    pub zone: HostedZone,
    /// The weighted record pairs to shift together.
    pub records: Vec<TrafficRecord>,
    /// Strictly increasing green weights ending at 100 (blue gets `100 - weight`).
    pub steps: Vec<TrafficStep>,
    /// Names of checks re-run throughout every bake; a failure rolls traffic back.
    pub gates: Vec<String>,
}

/// The Route53 hosted zone holding the records: by id, or by name (looked up at run time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum HostedZone {
    /// A hosted zone id (`Z…`).
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

/// A DNS name served by a blue and a green weighted record.
#[derive(Debug, Clone, Serialize)]
pub struct TrafficRecord {
    /// Fully qualified record name, e.g. `api.example.com.`.
    pub name: String,
    /// CNAME, A or AAAA.
    pub record_type: RecordType,
    /// TTL in seconds of both weighted records.
    pub ttl: u32,
    /// What blue's record points to.
    pub blue: RecordTarget,
    /// What green's record points to.
    pub green: RecordTarget,
    /// SetIdentifiers of the two weighted records: as written, else blue's and green's cluster
    /// names (a Drill's standby: `<plan>-blue`). When blue's is not written and no record has it,
    /// the run looks for the record that carries the traffic (see `preflight.blue`).
    pub blue_set_id: String,
    /// SetIdentifier of green's weighted record.
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
    /// SetIdentifier of blue's weighted record.
    pub blue: String,
    /// SetIdentifier of green's weighted record.
    pub green: String,
}

/// Which SetIdentifiers a plan wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SetIdsGiven {
    /// The plan wrote blue's SetIdentifier.
    pub blue: bool,
    /// The plan wrote green's SetIdentifier.
    pub green: bool,
}

/// The DNS type of a weighted record pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RecordType {
    /// A CNAME to a hostname.
    Cname,
    /// An IPv4 alias record.
    A,
    /// An IPv6 alias record.
    Aaaa,
}

/// What one side's weighted record points to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum RecordTarget {
    /// A fixed DNS name (CNAME value, or alias target for A/AAAA).
    Hostname(String),
    /// The load balancer of a Service on that side's cluster, resolved at run time.
    Service {
        /// Namespace of the Service.
        namespace: String,
        /// Name of the Service (of type LoadBalancer).
        name: String,
    },
}

/// One step of the traffic shift: green's weight, then a bake with gates re-run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TrafficStep {
    /// Green's weight in percent (blue gets the rest).
    pub weight: u8,
    /// How long to hold this weight, re-running gates, before the next step.
    pub bake: Duration,
}

/// `spec.teardown`: when blue is deleted.
#[derive(Debug, Clone, Serialize)]
pub struct Teardown {
    /// How long blue is kept after green takes 100% before it may be deleted.
    pub retain_blue_for: Duration,
}

/// What the engine does when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FailurePolicy {
    /// Run compensations back to the last safe checkpoint.
    Rollback,
    /// Stop where it failed and wait for a human to `resume` or `rollback`.
    Pause,
}

/// Upper bounds for the engine's and providers' waits (`spec.timeouts`).
#[derive(Debug, Clone, Serialize)]
pub struct Timeouts {
    /// Wait for a new cluster to become ACTIVE (default 30 min).
    pub cluster_active: Duration,
    /// Wait for a node group to become ACTIVE (default 20 min).
    pub nodegroup_active: Duration,
    /// Wait for an add-on to become ACTIVE (default 10 min).
    pub addon_active: Duration,
    /// Wait for a Route53 change to reach INSYNC (default 5 min).
    pub dns_insync: Duration,
    /// Wait for load balancers to be released before a cluster is deleted, and for a Service's address to appear (default 10 min).
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
    /// IRSA roles the releases and add-ons use: they must be able to trust green's OIDC issuer.
    Irsa,
    /// `spec.data`: the claims that travel are EBS-backed and have a zone on green (a drill's
    /// have a snapshot to restore).
    Data,
}

impl PreflightGate {
    /// Every gate, in the order they run.
    pub const ALL: [PreflightGate; 6] = [
        PreflightGate::Apis,
        PreflightGate::Insights,
        PreflightGate::Addons,
        PreflightGate::Subnets,
        PreflightGate::Irsa,
        PreflightGate::Data,
    ];

    /// The name plans and step ids use (`apis` → `preflight.apis`).
    pub fn name(self) -> &'static str {
        match self {
            PreflightGate::Apis => "apis",
            PreflightGate::Insights => "insights",
            PreflightGate::Addons => "addons",
            PreflightGate::Subnets => "subnets",
            PreflightGate::Irsa => "irsa",
            PreflightGate::Data => "data",
        }
    }
}

/// A notification sink (`spec.notify[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotifySink {
    /// Unique name.
    pub name: String,
    /// Where the webhook URL comes from (never serialized: it is a credential).
    #[serde(skip)]
    pub url: NotifyUrl,
    /// Payload format.
    pub format: NotifyFormat,
    /// Events sent; empty means all.
    pub events: Vec<NotifyEvent>,
    /// Environment variable holding the HMAC secret, if requests are signed.
    pub secret_from_env: Option<String>,
}

impl NotifySink {
    /// Whether `event` goes to this sink.
    pub fn wants(&self, event: NotifyEvent) -> bool {
        self.events.is_empty() || self.events.contains(&event)
    }
}

/// Where a sink's URL is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyUrl {
    /// Written in the plan.
    Inline(String),
    /// In the named environment variable, read when a notification is sent.
    FromEnv(String),
    /// An Amazon SNS topic (its ARN); messages are cutover's JSON.
    Sns(String),
}

/// The payload format of a sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyFormat {
    /// Slack incoming webhook: `blocks` plus a `text` fallback.
    Slack,
    /// Microsoft Teams Workflows webhook, `{"type":"message","attachments":[card]}`.
    Teams,
    /// The bare Adaptive Card, for flows that want one.
    TeamsCard,
    /// cutover's JSON schema (`cutover schema --notification`).
    Json,
}

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotifyEvent {
    /// A run started.
    RunStarted,
    /// A checkpoint was reached.
    Checkpoint,
    /// A traffic step began moving weight.
    TrafficStepStarted,
    /// A traffic step's bake passed.
    TrafficStepFinished,
    /// A check or gate failed.
    GateFailed,
    /// The run was rolled back.
    RolledBack,
    /// The run paused for a human.
    Paused,
    /// The run waits on purpose (with when to resume).
    Waiting,
    /// The run needs a human (interlock, failure past the point of no return).
    NeedsAttention,
    /// A pre-flight gate refused the run.
    Refused,
    /// The run completed.
    Completed,
    /// A drill's verdict (pass, missed RTO, failed), with its report's figures.
    DrillVerdict,
    /// A dev cluster is past its expiry: the next `cutover dev reap` deletes it.
    DevExpiring,
    /// A test notification (`cutover notify test`).
    Test,
}

impl NotifyEvent {
    /// Every event a plan can subscribe to.
    pub const ALL: [NotifyEvent; 13] = [
        NotifyEvent::RunStarted,
        NotifyEvent::Checkpoint,
        NotifyEvent::TrafficStepStarted,
        NotifyEvent::TrafficStepFinished,
        NotifyEvent::GateFailed,
        NotifyEvent::RolledBack,
        NotifyEvent::Paused,
        NotifyEvent::Waiting,
        NotifyEvent::NeedsAttention,
        NotifyEvent::Refused,
        NotifyEvent::Completed,
        NotifyEvent::DrillVerdict,
        NotifyEvent::DevExpiring,
    ];

    /// The name plans and payloads use.
    pub fn name(self) -> &'static str {
        match self {
            NotifyEvent::RunStarted => "run-started",
            NotifyEvent::Checkpoint => "checkpoint",
            NotifyEvent::TrafficStepStarted => "traffic-step-started",
            NotifyEvent::TrafficStepFinished => "traffic-step-finished",
            NotifyEvent::GateFailed => "gate-failed",
            NotifyEvent::RolledBack => "rolled-back",
            NotifyEvent::Paused => "paused",
            NotifyEvent::Waiting => "waiting",
            NotifyEvent::NeedsAttention => "needs-attention",
            NotifyEvent::Refused => "refused",
            NotifyEvent::Completed => "completed",
            NotifyEvent::DrillVerdict => "drill-verdict",
            NotifyEvent::DevExpiring => "dev-expiring",
            NotifyEvent::Test => "test",
        }
    }
}

/// `spec.preflight`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    /// Gates not run for this plan.
    pub skip: Vec<PreflightGate>,
}

/// `spec.data`: which persistent volume claims travel and how.
#[derive(Debug, Clone, Serialize)]
pub struct DataSpec {
    /// Snapshot, or deliberately nothing.
    pub mode: DataMode,
    /// Which claims (empty with `mode: none`).
    pub claims: Vec<ClaimSelector>,
    /// Stop the claims' writers on blue before the snapshot (and start them again on rollback).
    pub quiesce: bool,
    /// Storage class renames on green.
    pub storage_class_map: std::collections::BTreeMap<String, String>,
    /// How long cutover's snapshots are kept.
    pub retain: Duration,
    /// Bound on one snapshot's completion.
    pub snapshot_timeout: Duration,
    /// A volume may come back in another zone when green has none of its own.
    pub move_zones: bool,
    /// Whose snapshots a drill restores (the plan's own name unless `from` says otherwise).
    pub from: String,
}

impl DataSpec {
    /// Whether volumes travel (snapshot mode).
    pub fn carries(&self) -> bool {
        self.mode == DataMode::Snapshot
    }

    /// Green's storage class for blue's `class`.
    pub fn green_class(&self, class: &str) -> String {
        self.storage_class_map.get(class).cloned().unwrap_or_else(|| class.to_string())
    }
}

/// `spec.data.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DataMode {
    /// EBS snapshots of blue's volumes become green's volumes.
    Snapshot,
    /// Green starts with empty volumes, on purpose.
    None,
}

/// Claims of one namespace, by name or by labels.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimSelector {
    /// The namespace.
    pub namespace: String,
    /// One claim, by name.
    pub name: Option<String>,
    /// Claims carrying all these labels (empty with `name`).
    pub labels: std::collections::BTreeMap<String, String>,
}
