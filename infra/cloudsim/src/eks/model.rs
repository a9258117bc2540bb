//! The EKS resources cloudsim holds, exactly as they are persisted in `<state-dir>/eks.json`.
//!
//! Each resource carries at most one in-flight transition (`Pending`) with an absolute wall-clock
//! deadline, so a transition started before a kill completes on schedule after the restart.
//! How resources look on the wire is decided in the per-resource modules, not here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::backend::LoadBalancerInfo;
use super::insights::Insight;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EksState {
    pub clusters: BTreeMap<String, Cluster>,
    /// Load balancers still held by Services when their cluster's deletion completed.
    pub leaked_load_balancers: Vec<LeakedLoadBalancer>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LeakedLoadBalancer {
    pub cluster: String,
    #[serde(flatten)]
    pub lb: LoadBalancerInfo,
    /// Epoch milliseconds.
    pub leaked_at_ms: u64,
}

/// An in-flight change and when it completes (epoch milliseconds, wall clock).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Pending {
    pub due_ms: u64,
    pub change: Change,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum Change {
    Create,
    Delete,
    /// UpdateClusterVersion.
    Version {
        update_id: String,
        version: String,
    },
    /// UpdateNodegroupConfig: applied when the update completes.
    NodegroupConfig {
        update_id: String,
        change: NodegroupChange,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodegroupChange {
    pub scaling: Option<Scaling>,
    pub labels_add: BTreeMap<String, String>,
    pub labels_remove: Vec<String>,
    pub taints_add: Vec<Taint>,
    pub taints_remove: Vec<Taint>,
    pub max_unavailable: Option<u32>,
    pub max_unavailable_percentage: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    pub name: String,
    pub arn: String,
    pub created_at_ms: u64,
    pub version: String,
    pub platform_version: String,
    pub role_arn: String,
    pub status: String,
    pub client_request_token: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Echoed back as given (with defaults filled in at creation).
    pub resources_vpc_config: serde_json::Value,
    pub kubernetes_network_config: serde_json::Value,
    pub logging: serde_json::Value,
    pub authentication_mode: String,
    pub bootstrap_admin: bool,
    pub oidc_id: String,
    /// Set once the Kubernetes API serves (ACTIVE).
    pub endpoint: Option<String>,
    pub ca_pem: Option<String>,
    pub health_issues: Vec<Issue>,
    pub pending: Option<Pending>,
    pub nodegroups: BTreeMap<String, Nodegroup>,
    pub addons: BTreeMap<String, Addon>,
    /// Keyed by principal ARN.
    pub access_entries: BTreeMap<String, AccessEntry>,
    /// Keyed by update id.
    pub updates: BTreeMap<String, Update>,
    /// Keyed by insight id; set through the control API (state files from before insights have none).
    #[serde(default)]
    pub insights: BTreeMap<String, Insight>,
    /// Keyed by association id (`a-...`).
    #[serde(default)]
    pub pod_identity_associations: BTreeMap<String, PodIdentityAssociation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodIdentityAssociation {
    pub id: String,
    pub arn: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    pub target_role_arn: Option<String>,
    /// Made when a target role is set (for the target role's trust policy).
    pub external_id: Option<String>,
    /// An IAM session policy (JSON text).
    pub policy: Option<String>,
    pub disable_session_tags: bool,
    pub created_at_ms: u64,
    pub modified_at_ms: u64,
    pub tags: BTreeMap<String, String>,
    pub client_request_token: Option<String>,
    /// The add-on that made it (CreateAddon's `podIdentityAssociations`); only the add-on's own
    /// lifecycle changes it.
    #[serde(default)]
    pub owner_arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub code: String,
    pub message: String,
    pub resource_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Scaling {
    pub min_size: u32,
    pub max_size: u32,
    pub desired_size: u32,
}

/// A node group taint with the EKS effect spelling (`NO_SCHEDULE`, ...).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Nodegroup {
    pub name: String,
    pub arn: String,
    pub created_at_ms: u64,
    pub modified_at_ms: u64,
    pub version: String,
    pub release_version: String,
    pub status: String,
    pub capacity_type: String,
    pub scaling: Scaling,
    pub instance_types: Vec<String>,
    pub subnets: Vec<String>,
    /// The subnets' availability zones, from EC2 when the group was created.
    #[serde(default)]
    pub zones: Vec<String>,
    pub ami_type: String,
    pub node_role: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub disk_size: u32,
    pub max_unavailable: Option<u32>,
    pub max_unavailable_percentage: Option<u32>,
    pub asg_name: String,
    pub client_request_token: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub health_issues: Vec<Issue>,
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Addon {
    pub name: String,
    pub arn: String,
    pub created_at_ms: u64,
    pub modified_at_ms: u64,
    pub version: String,
    pub status: String,
    pub service_account_role_arn: Option<String>,
    /// Ids of the Pod Identity associations the add-on made (their ARNs are in DescribeAddon).
    #[serde(default)]
    pub pod_identity_association_ids: Vec<String>,
    pub configuration_values: Option<String>,
    pub client_request_token: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessEntry {
    pub principal_arn: String,
    pub arn: String,
    pub created_at_ms: u64,
    pub modified_at_ms: u64,
    pub kubernetes_groups: Vec<String>,
    pub username: String,
    pub kind: String,
    pub tags: BTreeMap<String, String>,
    pub client_request_token: Option<String>,
    /// Keyed by policy ARN.
    pub policies: BTreeMap<String, AssociatedPolicy>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociatedPolicy {
    pub policy_arn: String,
    pub scope_type: String,
    pub namespaces: Vec<String>,
    pub associated_at_ms: u64,
    pub modified_at_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    pub id: String,
    pub status: String,
    /// `VersionUpdate`, `ConfigUpdate`, ...
    pub kind: String,
    /// `(type, value)` pairs, e.g. `("Version", "1.33")`.
    pub params: Vec<(String, String)>,
    pub created_at_ms: u64,
    /// The node group or add-on the update concerns (DescribeUpdate must name it).
    pub nodegroup: Option<String>,
    pub addon: Option<String>,
    pub client_request_token: Option<String>,
}

impl Cluster {
    /// Every in-flight transition in this cluster, as (what, due).
    pub fn pending_refs(&self) -> impl Iterator<Item = (ResourceRef, u64)> + '_ {
        let cluster = self
            .pending
            .iter()
            .map(|p| (ResourceRef::Cluster(self.name.clone()), p.due_ms));
        let ngs = self.nodegroups.values().filter_map(|ng| {
            ng.pending.as_ref().map(|p| {
                (
                    ResourceRef::Nodegroup(self.name.clone(), ng.name.clone()),
                    p.due_ms,
                )
            })
        });
        let addons = self.addons.values().filter_map(|a| {
            a.pending.as_ref().map(|p| {
                (
                    ResourceRef::Addon(self.name.clone(), a.name.clone()),
                    p.due_ms,
                )
            })
        });
        cluster.chain(ngs).chain(addons)
    }
}

/// Names one resource that has a transition in flight.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResourceRef {
    Cluster(String),
    Nodegroup(String, String),
    Addon(String, String),
}
