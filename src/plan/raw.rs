//! The serde mirror of a plan file: exactly what may be written, nothing checked beyond shape.
//!
//! `cutover schema` is generated from these types (schemars), and the structural pass walks that
//! same schema, so the editor schema and the loader cannot disagree. Doc comments here become the
//! hover text in editors: write them for plan authors. Defaults are applied in `validate`, not
//! here, so the schema shows which fields are optional.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

/// A cutover plan: one blue/green upgrade, dev cluster or disaster-recovery drill.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "cutover plan")]
#[schemars(rename = "Plan")]
pub struct RawPlan {
    /// Always `cutover.dev/v1`.
    #[schemars(extend("const" = "cutover.dev/v1"))]
    pub api_version: String,
    /// `Upgrade`, `DevCluster` or `Drill`.
    pub kind: RawKind,
    /// The environment's name, owner and labels.
    pub metadata: RawMetadata,
    /// What to build and how to move traffic to it.
    pub spec: RawSpec,
}

/// `Upgrade` (blue → green with a traffic shift), `DevCluster` (throwaway, with a TTL) or `Drill`
/// (rebuild from nothing and measure recovery time).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[schemars(rename = "Kind")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawKind {
    Upgrade,
    DevCluster,
    Drill,
}

/// Who the environment is and who owns it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Metadata")]
pub struct RawMetadata {
    /// The environment's name (lowercase letters, digits, `-`; at most 63): one lock and one
    /// journal per name.
    pub name: String,
    /// Who to contact about this environment (an e-mail or team handle); written into tags and reports.
    pub owner: String,
    /// Free-form labels copied into reports.
    pub labels: Option<BTreeMap<String, String>>,
}

/// What to build, where state lives, and how traffic moves.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Spec")]
pub struct RawSpec {
    /// The AWS account context.
    pub aws: RawAws,
    /// Where the journal and lock live.
    pub state: RawState,
    /// The live cluster being replaced. Required for `Upgrade`; not allowed otherwise.
    pub blue: Option<RawBlue>,
    /// The cluster to create.
    pub green: RawGreen,
    /// The helm binary the run must use.
    pub helm: RawHelm,
    /// Helm releases installed on green, in `needs` order: a list, or `{lock: FILE}` to replay
    /// exactly the releases a lock file written by `cutover capture` pins.
    pub releases: Option<RawReleases>,
    /// Health checks; `traffic.gates` names some of them.
    pub checks: Option<Vec<RawCheck>>,
    /// Route53 weighted records moved from blue to green. Required for `Upgrade`.
    pub traffic: Option<RawTraffic>,
    /// `Upgrade` only: how long blue is kept after green takes all traffic (default 24h).
    pub teardown: Option<RawTeardown>,
    /// `rollback` (default): undo to the last safe checkpoint; `pause`: stop and wait for a human.
    pub on_failure: Option<RawFailurePolicy>,
    /// `DevCluster` only (required there): the cluster is reaped this long after it is ready.
    pub ttl: Option<RawDuration>,
    /// `Drill` only (required there): the recovery-time objective the drill is measured against.
    pub rto_target: Option<RawDuration>,
    /// Upper bounds for waits on AWS.
    pub timeouts: Option<RawTimeouts>,
    /// Pre-flight gates run before anything is created; `skip` names the ones not to run.
    pub preflight: Option<RawPreflight>,
    /// Where to tell people what a run did (Slack, Teams, a JSON webhook); delivery never fails the run.
    pub notify: Option<Vec<RawNotify>>,
    /// Persistent volume claims: which travel from blue to green (EBS snapshots) and how; in a
    /// Drill, which are restored from their newest snapshot.
    pub data: Option<RawData>,
    /// `Drill` with `data` only: the recovery-point objective each restored volume's snapshot age is
    /// measured against (e.g. `1h`).
    pub rpo_target: Option<RawDuration>,
}

/// `spec.data`: what happens to persistent volumes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Data")]
pub struct RawData {
    /// `snapshot`: each selected claim's EBS volume is snapshotted and green gets a volume made
    /// from it; `none`: green starts with empty volumes (say so when releases create claims).
    pub mode: RawDataMode,
    /// Which claims travel: each by `namespace` and `name`, or `namespace` and `selector` (labels).
    pub claims: Option<Vec<RawClaimSelector>>,
    /// Scale the claims' workloads on blue to zero before the snapshot (an application-consistent
    /// copy; downtime until green serves) and back up on any rollback. Traffic then moves in one step.
    pub quiesce: Option<bool>,
    /// Storage classes renamed on green, e.g. `{gp2: gp3}`.
    pub storage_class_map: Option<BTreeMap<String, String>>,
    /// How long snapshots cutover takes are kept (default `7d`); `cutover backup` prunes older
    /// ones it made, and nothing else.
    pub retain: Option<RawDuration>,
    /// Bound on one snapshot's completion (default `30m`).
    pub snapshot_timeout: Option<RawDuration>,
    /// Allow a volume to be recreated in another availability zone when green has no node group
    /// in its own (default false: refused before anything is made).
    pub move_zones: Option<bool>,
    /// `Drill` only: the environment whose snapshots are restored (default: this plan's name).
    pub from: Option<String>,
}

/// `spec.data.mode`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "DataMode")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawDataMode {
    Snapshot,
    None,
}

/// One entry of `spec.data.claims`: exactly one of `name` and `selector`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "ClaimSelector")]
pub struct RawClaimSelector {
    /// The claims' namespace.
    pub namespace: String,
    /// One claim by name (`data-ledger-0`).
    pub name: Option<String>,
    /// Every claim of the namespace carrying all these labels.
    pub selector: Option<BTreeMap<String, String>>,
}

/// One notification sink: exactly one of `url`, `urlFromEnv`, `snsTopicArn`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Notify")]
pub struct RawNotify {
    /// Sink name, unique; `cutover notify test --sink` and the journal use it.
    pub name: String,
    /// Webhook URL. Prefer `urlFromEnv`: a webhook URL is a credential.
    pub url: Option<String>,
    /// Environment variable holding the webhook URL (never logged or journaled).
    pub url_from_env: Option<String>,
    /// Amazon SNS topic ARN: messages are cutover's JSON, with `event`, `environment` and `code`
    /// message attributes for subscription filter policies.
    pub sns_topic_arn: Option<String>,
    /// Required for webhooks: `slack` (incoming webhook), `teams` (Workflows webhook, message envelope), `teams-card`
    /// (the bare Adaptive Card), or `json` (cutover's documented schema, `cutover schema --notification`).
    pub format: Option<RawNotifyFormat>,
    /// Events to send (default: all): `run-started`, `checkpoint`, `traffic-step-started`,
    /// `traffic-step-finished`, `gate-failed`, `rolled-back`, `paused`, `waiting`, `needs-attention`,
    /// `refused`, `completed`, `drill-verdict`, `dev-expiring` (from `cutover dev reap --dry-run --notify PLAN`).
    pub events: Option<Vec<String>>,
    /// Environment variable holding an HMAC secret: requests carry `X-Cutover-Signature: sha256=…`.
    pub secret_from_env: Option<String>,
}

/// The payload format of a sink.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(rename = "NotifyFormat")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawNotifyFormat {
    Slack,
    Teams,
    TeamsCard,
    Json,
}

/// Pre-flight gates: checks before anything is created that refuse a doomed upgrade.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Preflight")]
pub struct RawPreflight {
    /// Gates not to run, by name: `apis`, `insights`, `addons`, `subnets`, `irsa`. Each skip is journaled
    /// with who ran the plan.
    #[serde(default)]
    pub skip: Vec<String>,
}

/// The AWS account context.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Aws")]
pub struct RawAws {
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
}

/// Where the journal and lock live: `{backend: local, path: .cutover}` or
/// `{backend: s3, bucket: ..., prefix: ..., region: ...}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "State")]
pub struct RawState {
    /// `local` (a directory) or `s3` (a bucket with conditional-write locks).
    pub backend: RawBackend,
    /// `local` only: directory, relative to the plan file (default `.cutover`).
    pub path: Option<String>,
    /// `s3` only (required there).
    pub bucket: Option<String>,
    /// `s3` only: key prefix (default `cutover`).
    pub prefix: Option<String>,
    /// `s3` only: the bucket's region when it differs from `spec.aws.region`.
    pub region: Option<String>,
}

/// `local`: a directory on this machine; `s3`: a bucket, locked with conditional writes.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "Backend")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawBackend {
    Local,
    S3,
}

/// The live cluster an upgrade replaces.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Blue")]
pub struct RawBlue {
    /// Name of the live EKS cluster.
    pub cluster: String,
}

/// The EKS cluster to create, with its add-ons, node groups and access entries.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Green")]
pub struct RawGreen {
    /// Name of the EKS cluster to create (1–100 characters: letters, digits, `-`, `_`).
    pub cluster: String,
    /// Kubernetes minor version, quoted: `"1.32"`.
    pub version: String,
    /// IAM role ARN the EKS control plane assumes.
    pub role_arn: String,
    /// At least two subnets, in different Availability Zones.
    pub subnets: Vec<String>,
    /// Extra security group ids for the control plane.
    pub security_groups: Option<Vec<String>>,
    /// Which network paths reach the API server.
    pub endpoint: Option<RawEndpoint>,
    /// `CONFIG_MAP`, `API_AND_CONFIG_MAP` (default) or `API`.
    pub authentication_mode: Option<RawAuthMode>,
    /// EKS managed add-ons, e.g. `vpc-cni`, `coredns`, `kube-proxy`.
    pub addons: Option<Vec<RawAddon>>,
    /// Managed node groups created once the control plane is active.
    pub nodegroups: Vec<RawNodeGroup>,
    /// EKS access entries (need authenticationMode `API` or `API_AND_CONFIG_MAP`).
    pub access: Option<Vec<RawAccess>>,
    /// AWS tags for the cluster; `aws:` and `cutover.dev/` prefixes are reserved.
    pub tags: Option<BTreeMap<String, String>>,
    /// EKS Pod Identity associations made on green (the `eks-pod-identity-agent` add-on comes with them).
    pub pod_identities: Option<Vec<RawPodIdentity>>,
    /// Create green's IAM OIDC provider (for IRSA: roles trusting the cluster's OIDC issuer).
    pub oidc_provider: Option<bool>,
    /// IRSA roles the releases use must trust green's OIDC issuer.
    pub irsa: Option<RawIrsa>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "PodIdentity")]
/// A service account's IAM role through EKS Pod Identity.
pub struct RawPodIdentity {
    /// Namespace of the service account.
    pub namespace: String,
    /// Service account name.
    pub service_account: String,
    /// The IAM role the service account's pods get (its trust policy must allow `pods.eks.amazonaws.com`).
    pub role_arn: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Irsa")]
/// IRSA roles (IAM roles trusting a cluster's OIDC issuer) that the releases use.
pub struct RawIrsa {
    /// Add a statement for green's OIDC issuer to each role's trust policy before releases are
    /// installed, and remove blue's once blue is retired. Without it, a role that trusts only
    /// blue's issuer refuses the upgrade in pre-flight.
    #[serde(default)]
    pub update_trust: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "AddonPodIdentity")]
/// One of an add-on's Pod Identity associations (in the add-on's namespace).
pub struct RawAddonPodIdentity {
    /// Service account name.
    pub service_account: String,
    /// The IAM role the service account's pods get.
    pub role_arn: String,
}

/// Whether the API server is reachable publicly, privately, or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Endpoint")]
pub struct RawEndpoint {
    /// Public API endpoint (default true).
    pub public: Option<bool>,
    /// Private API endpoint inside the VPC (default false).
    pub private: Option<bool>,
    /// CIDRs allowed to reach the public endpoint (default: anywhere).
    pub public_cidrs: Option<Vec<String>>,
}

/// `CONFIG_MAP`: the aws-auth ConfigMap only; `API`: access entries only; `API_AND_CONFIG_MAP`: both.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schemars(rename = "AuthMode")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawAuthMode {
    ConfigMap,
    ApiAndConfigMap,
    Api,
}

/// An EKS managed add-on.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Addon")]
pub struct RawAddon {
    /// EKS add-on name, e.g. `vpc-cni`.
    pub name: String,
    /// Exact add-on version, e.g. `v1.19.0-eksbuild.1`; omit for EKS's default.
    pub version: Option<String>,
    /// IRSA: the IAM role the add-on's service account assumes (CreateAddon's `serviceAccountRoleArn`).
    pub service_account_role_arn: Option<String>,
    /// Pod Identity: roles for the add-on's service accounts (CreateAddon's `podIdentityAssociations`).
    pub pod_identity_associations: Option<Vec<RawAddonPodIdentity>>,
}

/// An EKS managed node group.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "NodeGroup")]
pub struct RawNodeGroup {
    /// Node group name, unique in the cluster.
    pub name: String,
    /// EC2 instance types, e.g. `[m6i.large]`.
    pub instance_types: Vec<String>,
    /// Node counts: `{min, desired, max}`.
    pub scaling: RawScaling,
    /// IAM role ARN the nodes use.
    pub node_role_arn: String,
    /// Kubernetes labels on every node.
    pub labels: Option<BTreeMap<String, String>>,
    /// Kubernetes taints on every node.
    pub taints: Option<Vec<RawTaint>>,
    /// Subnets for the nodes (default: the cluster's subnets).
    pub subnets: Option<Vec<String>>,
    /// `ON_DEMAND` (default) or `SPOT`.
    pub capacity_type: Option<RawCapacityType>,
    /// Root disk size in GiB.
    pub disk_size: Option<u32>,
}

/// Node counts; `min <= desired <= max`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Scaling")]
pub struct RawScaling {
    /// Fewest nodes.
    pub min: u32,
    /// Nodes at creation.
    pub desired: u32,
    /// Most nodes.
    pub max: u32,
}

/// A Kubernetes taint on a node group's nodes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Taint")]
pub struct RawTaint {
    /// Taint key.
    pub key: String,
    /// Taint value.
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: RawTaintEffect,
}

/// `NoSchedule`, `PreferNoSchedule` (avoid, not forbid) or `NoExecute` (also evict running pods).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[schemars(rename = "TaintEffect")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawTaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// `ON_DEMAND` or `SPOT` instances.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[schemars(rename = "CapacityType")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawCapacityType {
    OnDemand,
    Spot,
}

/// An EKS access entry: an IAM principal and its Kubernetes permissions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Access")]
pub struct RawAccess {
    /// IAM role or user ARN granted access.
    pub principal_arn: String,
    /// Kubernetes groups the principal is mapped into, for RBAC bindings.
    pub kubernetes_groups: Option<Vec<String>>,
    /// Kubernetes username (default: derived by EKS).
    pub username: Option<String>,
    /// EKS access policies to associate.
    pub policies: Option<Vec<RawAccessPolicy>>,
}

/// An EKS access policy and where it applies.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "AccessPolicy")]
pub struct RawAccessPolicy {
    /// e.g. `arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy`.
    pub arn: String,
    /// `cluster`, or `{namespaces: [a, b]}`.
    pub scope: RawScope,
}

/// `cluster`, or `{namespaces: [a, b]}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Scope")]
pub enum RawScope {
    /// The whole cluster.
    Cluster(RawClusterWord),
    /// Only the listed namespaces.
    Namespaces(RawNamespaces),
}

/// The word `cluster`.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "ClusterWord")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawClusterWord {
    Cluster,
}

/// Namespaces an access policy is limited to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Namespaces")]
pub struct RawNamespaces {
    /// Namespace names.
    pub namespaces: Vec<String>,
}

/// The helm binary the run must use.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Helm")]
pub struct RawHelm {
    /// Exact helm version the run must use, e.g. `"3.19.0"`.
    pub version: String,
}

/// A list of releases, or `{lock: releases.lock.yaml}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Releases")]
pub enum RawReleases {
    /// The releases, written out.
    List(Vec<RawRelease>),
    /// The releases a lock file pins.
    Lock(RawReleaseLock),
}

/// Releases replayed from a lock file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "ReleaseLock")]
pub struct RawReleaseLock {
    /// A lock file written by `cutover capture --export-charts DIR`, relative to the plan file.
    pub lock: String,
}

/// A Helm release to install on green, pinned to an exact chart version.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Release")]
pub struct RawRelease {
    /// Helm release name (lowercase letters, digits, `-`, `.`; at most 53).
    pub name: String,
    /// Kubernetes namespace to install into.
    pub namespace: String,
    /// The chart: its source and exact version.
    pub chart: RawChart,
    /// Inline values, applied after `valuesFiles`. Never put secrets here: use `secretValues`.
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
    /// Values files relative to the plan file, applied in order.
    pub values_files: Option<Vec<String>>,
    /// Values read at install time from the environment or a file; never journaled or logged.
    pub secret_values: Option<Vec<RawSecretValue>>,
    /// Releases that must be deployed first.
    pub needs: Option<Vec<String>>,
    /// How long helm may take (default 5m).
    pub timeout: Option<RawDuration>,
    /// Create the namespace if missing (default true).
    pub create_namespace: Option<bool>,
}

/// Exactly one source: `repo` + `name`, `oci`, or `path`; always an exact `version`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Chart")]
pub struct RawChart {
    /// HTTP(S) chart repository URL (with `name`).
    pub repo: Option<String>,
    /// Chart name in `repo`.
    pub name: Option<String>,
    /// `oci://registry/path/chart`, without a tag.
    pub oci: Option<String>,
    /// Local chart directory or .tgz, relative to the plan file.
    pub path: Option<String>,
    /// Exact chart version, e.g. `4.11.3` (no ranges; a leading `v` is accepted).
    pub version: String,
    /// `sha256:` and 64 lowercase hex digits of the packaged chart.
    pub digest: Option<String>,
}

/// A chart value read at install time from an environment variable or a file (exactly one).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "SecretValue")]
pub struct RawSecretValue {
    /// Dotted path into the chart's values, e.g. `auth.password`.
    pub key: String,
    /// Environment variable holding the value.
    pub from_env: Option<String>,
    /// File whose content is the value.
    pub from_file: Option<String>,
}

/// A named check with exactly one of `nodesReady`, `workloadsReady`, `releasesDeployed`, `http`,
/// `command`, `webhook`, `prometheus`, `alertmanager`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Check")]
pub struct RawCheck {
    /// Check name, unique; `traffic.gates` refers to it.
    pub name: String,
    /// How long the check is retried before it fails (default 5m).
    pub timeout: Option<RawDuration>,
    /// At least `min` nodes Ready at green's version.
    pub nodes_ready: Option<RawNodesReady>,
    /// Every Deployment, StatefulSet and DaemonSet in these namespaces available.
    pub workloads_ready: Option<RawWorkloadsReady>,
    /// Every release of the plan is `deployed`.
    pub releases_deployed: Option<RawReleasesDeployed>,
    /// An HTTP probe.
    pub http: Option<RawHttp>,
    /// A local command that must exit with `expectExit`.
    pub command: Option<RawCommand>,
    /// POST the run's context to a URL; passes on 2xx (a load test, a change freeze, an approval).
    pub webhook: Option<RawWebhook>,
    /// A PromQL instant query whose single sample must stay within bounds.
    pub prometheus: Option<RawPrometheus>,
    /// Fails while an Alertmanager alert matching every matcher is active and not silenced.
    pub alertmanager: Option<RawAlertmanager>,
}

/// A confirm webhook: cutover POSTs `{plan, run, step, weight, green, blue}`; 2xx passes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Webhook")]
pub struct RawWebhook {
    /// URL to POST to.
    pub url: String,
    /// How long one request may take (default 10s); longer is a failed attempt.
    pub timeout: Option<RawDuration>,
}

/// A Prometheus instant query (`/api/v1/query`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Prometheus")]
pub struct RawPrometheus {
    /// Prometheus' base URL, e.g. `http://prometheus.monitoring:9090`.
    pub url: String,
    /// PromQL; `{green}` and `{blue}` expand to the clusters' names. It must return one sample.
    pub query: String,
    /// Bounds the sample must stay within: `{max: 0.01}`, `{min: 100}` or both.
    pub expect: RawBounds,
    /// How long the sample must stay within bounds before the check passes (default 0s).
    #[serde(rename = "for")]
    pub hold: Option<RawDuration>,
}

/// Bounds of a sample; at least one.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Bounds")]
pub struct RawBounds {
    /// Smallest value that passes.
    pub min: Option<f64>,
    /// Largest value that passes.
    pub max: Option<f64>,
}

/// Alertmanager's active alerts (`/api/v2/alerts`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Alertmanager")]
pub struct RawAlertmanager {
    /// Alertmanager's base URL, e.g. `http://alertmanager.monitoring:9093`.
    pub url: String,
    /// Label matchers, all of which an alert must match, e.g. `severity="critical"`,
    /// `cluster="{green}"` (`=`, `!=`, `=~`, `!~`).
    pub matchers: Vec<String>,
}

/// Nodes Ready at green's version.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "NodesReady")]
pub struct RawNodesReady {
    /// Nodes that must be Ready at green's version (default 1).
    pub min: Option<u32>,
}

/// Workloads available in some namespaces.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "WorkloadsReady")]
pub struct RawWorkloadsReady {
    /// Namespaces whose workloads must all be available.
    pub namespaces: Vec<String>,
}

/// Every release of the plan is `deployed`; takes no fields: `releasesDeployed: {}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ReleasesDeployed")]
pub struct RawReleasesDeployed {}

/// An HTTP probe: expected status, optional body text and latency, over consecutive successes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Http")]
pub struct RawHttp {
    /// URL to request; its host is sent as Host and SNI.
    pub url: String,
    /// `green` (default): green's load balancer with the URL's host; `blue`; or `dns`: as DNS resolves it.
    pub via: Option<RawProbeTarget>,
    /// Default 200.
    pub expect_status: Option<u16>,
    /// Text the response body must contain.
    pub body_contains: Option<String>,
    /// Consecutive successes needed (default 3).
    pub successes: Option<u32>,
    /// Time between probes (default 5s).
    pub interval: Option<RawDuration>,
    /// A slower response counts as a failure.
    pub latency_budget: Option<RawDuration>,
}

/// `green`: green's load balancer; `blue`: blue's; `dns`: wherever DNS resolves the URL.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "ProbeTarget")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawProbeTarget {
    Green,
    Blue,
    Dns,
}

/// A local command run without a shell.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Command")]
pub struct RawCommand {
    /// Program and arguments, e.g. `[./scripts/smoke.sh, --quick]`.
    pub run: Vec<String>,
    /// Exit code that means success (default 0).
    pub expect_exit: Option<i32>,
}

/// Route53 weighted records moved from blue to green in steps.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Traffic")]
pub struct RawTraffic {
    /// Route53 hosted zone id, e.g. `Z0123456789`. Give this or `zone`.
    pub zone_id: Option<String>,
    /// Route53 hosted zone name, e.g. `example.com`, looked up at run time. Give this or `zoneId`.
    pub zone: Option<String>,
    /// Names moved together, each with a blue and a green weighted record.
    pub records: Vec<RawRecord>,
    /// Green's weight per step, strictly increasing and ending at 100.
    pub steps: Vec<RawStep>,
    /// Checks re-run during every bake; a failure rolls traffic back.
    pub gates: Option<Vec<String>>,
}

/// A DNS name served by a blue and a green weighted record.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Record")]
pub struct RawRecord {
    /// DNS name, e.g. `api.example.com`.
    pub name: String,
    /// `CNAME` (default), `A` or `AAAA`.
    #[serde(rename = "type")]
    pub record_type: Option<RawRecordType>,
    /// Record TTL in seconds (default 60, at most 300).
    pub ttl: Option<u32>,
    /// What blue's record points to.
    pub blue: RawTarget,
    /// What green's record points to.
    pub green: RawTarget,
    /// SetIdentifiers of the weighted records. Default: blue's and green's cluster names, so the
    /// record green makes is found as blue's next quarter; when no record has blue's default, the
    /// one record of the name carrying traffic is blue's. Write them only to pick a record by hand.
    pub set_identifiers: Option<RawSetIdentifiers>,
}

/// `CNAME`, `A` (alias) or `AAAA` (alias).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[schemars(rename = "RecordType")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawRecordType {
    #[serde(rename = "CNAME")]
    Cname,
    A,
    #[serde(rename = "AAAA")]
    Aaaa,
}

/// A hostname, or `{service: namespace/name}` for a Service's load balancer on that side.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Target")]
pub enum RawTarget {
    /// A fixed DNS name (CNAME value, or alias target for A/AAAA).
    Hostname(String),
    /// A Service's load balancer on that side's cluster.
    Service(RawServiceRef),
}

/// A LoadBalancer Service whose address a record points to.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "ServiceRef")]
pub struct RawServiceRef {
    /// `namespace/name` of a LoadBalancer Service.
    pub service: String,
}

/// SetIdentifiers of a record's blue and green weighted records.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "SetIdentifiers")]
pub struct RawSetIdentifiers {
    /// The set id of the record that carries blue's traffic now.
    pub blue: Option<String>,
    /// The set id green's record gets.
    pub green: Option<String>,
}

/// One step of the traffic shift.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Step")]
pub struct RawStep {
    /// Green's share of traffic in percent (0–100).
    pub weight: u8,
    /// How long to hold this weight while gates are re-checked.
    pub bake: RawDuration,
}

/// When blue is deleted after the shift.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Teardown")]
pub struct RawTeardown {
    /// How long blue is kept after green takes all traffic, e.g. `24h`.
    pub retain_blue_for: RawDuration,
}

/// `rollback`: undo to the last safe checkpoint; `pause`: stop and wait for a human.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(rename = "FailurePolicy")]
// Variant docs would turn the schema's `enum` into a `oneOf` and change plan diagnostics.
#[allow(missing_docs)]
pub enum RawFailurePolicy {
    Rollback,
    Pause,
}

/// Upper bounds for waits (defaults: clusterActive 30m, nodegroupActive 20m, addonActive 10m,
/// dnsInsync 5m, loadBalancerRelease 10m).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Timeouts")]
pub struct RawTimeouts {
    /// Wait for the new cluster to become ACTIVE (default 30m).
    pub cluster_active: Option<RawDuration>,
    /// Wait for a node group to become ACTIVE (default 20m).
    pub nodegroup_active: Option<RawDuration>,
    /// Wait for an add-on to become ACTIVE (default 10m).
    pub addon_active: Option<RawDuration>,
    /// Wait for a Route53 change to reach INSYNC (default 5m).
    pub dns_insync: Option<RawDuration>,
    /// Wait for load balancers to be released, or a Service's address to appear (default 10m).
    pub load_balancer_release: Option<RawDuration>,
}

/// A duration as written (`30s`, `10m`, `24h`, `1h30m`, `7d`, `500ms`); parsed in `validate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct RawDuration(pub String);

impl JsonSchema for RawDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$",
            "description": "A duration: whole numbers with units d, h, m, s, ms, largest first: 30s, 10m, 24h, 1h30m.",
            "examples": ["30s", "10m", "1h30m"]
        })
    }
}
