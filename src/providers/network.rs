//! The VPC side of a plan: [`SubnetInventory`] (what the plan's subnets are: zone, CIDR, free
//! addresses, VPC) and the pre-flight rule that decides whether they can hold green beside blue
//! ([`subnet_capacity`]). Pure, so the engine's pre-flight and its tests need no AWS.
//!
//! # The subnet capacity rule
//!
//! Blue keeps running while green is built, so green needs addresses of its own. EC2's free count
//! (`AvailableIpAddressCount`) is taken now, with blue's control plane, nodes and pods already
//! counted as used: whatever green needs must fit in what is free.
//!
//! - Every subnet the plan names must exist (`PRE-NET-001`, refuse).
//! - The cluster's subnets (`green.subnets`) must lie in at least two availability zones, as EKS
//!   requires (`PRE-NET-002`, refuse), and every subnet, node groups' too, in one VPC
//!   (`PRE-NET-003`, refuse).
//! - Control plane: EKS places green's control-plane network interfaces in the cluster's subnets and
//!   needs at least 6 free addresses in each (it refuses to create the cluster otherwise;
//!   `PRE-NET-004`, refuse) and recommends 16 (`PRE-NET-005`, warn).
//! - Nodes: for every set of subnets node groups share (a node group without subnets uses the
//!   cluster's), the node groups' `scaling.max` summed, times the addresses one node takes, must fit
//!   in the free addresses of those subnets summed (the Auto Scaling group launches in another zone
//!   when one is full). With the VPC CNI's defaults (`WARM_ENI_TARGET=1`, no `WARM_IP_TARGET`, no
//!   prefix delegation) a node holds every address of its primary network interface (its own
//!   address and its pods'), and once a pod runs, one more interface's worth kept warm. We do not
//!   know how many addresses an instance type's interfaces carry, so we count those of a `large`
//!   general purpose instance (m5/m6i/m7i/c6i/r6i.large: 10 per interface), the smallest size
//!   commonly used for nodes; larger sizes take more (xlarge 15, 4xlarge 30):
//!
//!   ```text
//!   refuse (PRE-NET-006) when  free < Σ max × 10   (every node's primary interface: a certain shortage)
//!   warn   (PRE-NET-007) when  free < Σ max × 20   (primary interface + one warm interface per node)
//!   ```
//!
//!   The control plane's few addresses are checked per subnet above, not added here.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::Serialize;

use super::ProviderError;
use crate::plan::ClusterSpec;

/// Free addresses EKS requires in each cluster subnet for the control plane's network interfaces.
pub const CONTROL_PLANE_MIN_FREE: u32 = 6;
/// Free addresses EKS recommends in each cluster subnet.
pub const CONTROL_PLANE_RECOMMENDED_FREE: u32 = 16;
/// IPv4 addresses per network interface of a `large` general purpose instance.
pub const ADDRESSES_PER_ENI: u32 = 10;
/// Addresses a node takes at least: its primary interface, fully allocated by the VPC CNI.
pub const NODE_MIN_ADDRESSES: u32 = ADDRESSES_PER_ENI;
/// Addresses a node with pods takes with the VPC CNI's defaults: its primary interface and one warm one.
pub const NODE_EXPECTED_ADDRESSES: u32 = 2 * ADDRESSES_PER_ENI;

/// The VPC's subnets, as pre-flight reads them.
#[async_trait]
pub trait SubnetInventory: Send + Sync {
    /// The subnets with these ids, in the order asked (duplicates once). An id that does not
    /// exist is a `NotFound` error naming it. No ids, no subnets.
    async fn subnets(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, ProviderError>;
}

/// One subnet: where it is and how many addresses are free now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubnetInfo {
    /// Subnet id (`subnet-…`).
    pub id: String,
    /// Zone name (`us-east-1a`), which differs between accounts for the same place.
    pub availability_zone: String,
    /// Zone id (`use1-az1`), the same in every account; `None` when EC2 does not say.
    pub availability_zone_id: Option<String>,
    /// IPv4 CIDR block of the subnet.
    pub cidr: String,
    /// Addresses not in use (EC2's `AvailableIpAddressCount`), blue's already deducted.
    pub available_ips: u32,
    /// VPC the subnet belongs to.
    pub vpc_id: String,
}

/// Whether a finding stops the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The run must not start: creating green would fail or leave it unable to run its nodes.
    Refuse,
    /// The run may start; the operator should know.
    Warn,
}

/// One problem with the plan's subnets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubnetFinding {
    /// Stable code (`PRE-NET-001`…), for documentation and scripts.
    pub code: &'static str,
    /// Whether the finding refuses the run or only warns.
    pub severity: Severity,
    /// The subnets concerned.
    pub subnets: Vec<String>,
    /// What is wrong, with the numbers behind it.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl SubnetFinding {
    /// Whether this finding stops the run.
    pub fn refuses(&self) -> bool {
        self.severity == Severity::Refuse
    }
}

impl std::fmt::Display for SubnetFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {} ({})", self.code, self.subnets.join(", "), self.problem, self.fix)
    }
}

/// Every subnet the cluster and its node groups name, each once, in plan order: what to ask the
/// [`SubnetInventory`] for.
pub fn subnet_ids(cluster: &ClusterSpec) -> Vec<String> {
    let mut seen = BTreeSet::new();
    let all = cluster.subnets.iter().chain(cluster.nodegroups.iter().flat_map(|g| g.subnets.iter()));
    all.filter(|id| seen.insert(id.as_str())).cloned().collect()
}

/// The subnet capacity rule (see the module header) for `cluster`, green's spec, given what the
/// inventory says about its subnets. No findings: the subnets can hold green beside blue.
pub fn subnet_capacity(cluster: &ClusterSpec, subnets: &[SubnetInfo]) -> Vec<SubnetFinding> {
    let known: BTreeMap<&str, &SubnetInfo> = subnets.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut out = Vec::new();

    let missing: Vec<String> = subnet_ids(cluster).into_iter().filter(|id| !known.contains_key(id.as_str())).collect();
    if !missing.is_empty() {
        out.push(SubnetFinding {
            code: "PRE-NET-001",
            severity: Severity::Refuse,
            problem: format!("{} not found in the plan's region", plural(missing.len(), "subnet does", "subnets do")),
            fix: "correct green.subnets and the node groups' subnets, or spec.aws.region".into(),
            subnets: missing,
        });
    }

    let cluster_subnets: Vec<&SubnetInfo> =
        cluster.subnets.iter().filter_map(|id| known.get(id.as_str()).copied()).collect();
    let zones: BTreeSet<&str> = cluster_subnets.iter().map(|s| s.availability_zone.as_str()).collect();
    // With a subnet missing, its zone is unknown: PRE-NET-001 says enough.
    if cluster_subnets.len() == cluster.subnets.len() && zones.len() < 2 {
        out.push(SubnetFinding {
            code: "PRE-NET-002",
            severity: Severity::Refuse,
            subnets: ids(&cluster_subnets),
            problem: format!(
                "the cluster's subnets are all in {}; EKS requires subnets in at least two availability zones",
                zones.iter().next().copied().unwrap_or("no zone")
            ),
            fix: "add a subnet of another availability zone to green.subnets".into(),
        });
    }

    let in_plan: Vec<&SubnetInfo> =
        subnet_ids(cluster).iter().filter_map(|id| known.get(id.as_str()).copied()).collect();
    let mut vpcs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &in_plan {
        vpcs.entry(s.vpc_id.as_str()).or_default().push(s.id.as_str());
    }
    if vpcs.len() > 1 {
        let each: Vec<String> = vpcs.iter().map(|(vpc, ids)| format!("{vpc}: {}", ids.join(", "))).collect();
        out.push(SubnetFinding {
            code: "PRE-NET-003",
            severity: Severity::Refuse,
            subnets: ids(&in_plan),
            problem: format!(
                "the subnets are in {} VPCs ({}); a cluster and its nodes live in one",
                vpcs.len(),
                each.join("; ")
            ),
            fix: "name subnets of one VPC only (blue's, so green's load balancers reach the same network)".into(),
        });
    }

    for s in &cluster_subnets {
        let (code, severity, limit, why) = if s.available_ips < CONTROL_PLANE_MIN_FREE {
            ("PRE-NET-004", Severity::Refuse, CONTROL_PLANE_MIN_FREE, "requires")
        } else if s.available_ips < CONTROL_PLANE_RECOMMENDED_FREE {
            ("PRE-NET-005", Severity::Warn, CONTROL_PLANE_RECOMMENDED_FREE, "recommends")
        } else {
            continue;
        };
        out.push(SubnetFinding {
            code,
            severity,
            subnets: vec![s.id.clone()],
            problem: format!(
                "{} ({}, {}) has {} free addresses beside what blue already uses; green's control plane adds \
                 its own network interfaces there, and EKS {why} {limit} free addresses per cluster subnet",
                s.id, s.availability_zone, s.cidr, s.available_ips
            ),
            fix: "free addresses in that subnet or replace it in green.subnets with a larger one".into(),
        });
    }

    out.extend(node_capacity(cluster, &known));
    out
}

/// `PRE-NET-006`/`007`: node groups at their max size, per set of subnets they share.
fn node_capacity(cluster: &ClusterSpec, known: &BTreeMap<&str, &SubnetInfo>) -> Vec<SubnetFinding> {
    // Subnet set (sorted, found ones only) → (node group names, Σ max).
    let mut sets: BTreeMap<Vec<&str>, (Vec<&str>, u32)> = BTreeMap::new();
    for group in &cluster.nodegroups {
        let named = if group.subnets.is_empty() { &cluster.subnets } else { &group.subnets };
        let set: BTreeSet<&str> = named.iter().map(String::as_str).filter(|id| known.contains_key(id)).collect();
        if set.is_empty() {
            continue;
        }
        let entry = sets.entry(set.into_iter().collect()).or_default();
        entry.0.push(group.name.as_str());
        entry.1 = entry.1.saturating_add(group.scaling.max);
    }
    let mut out = Vec::new();
    for (set, (groups, max_nodes)) in sets {
        let free: u64 = set.iter().map(|id| u64::from(known[id].available_ips)).sum();
        let least = u64::from(max_nodes) * u64::from(NODE_MIN_ADDRESSES);
        let expected = u64::from(max_nodes) * u64::from(NODE_EXPECTED_ADDRESSES);
        let (code, severity, need, per_node, fix) = if free < least {
            (
                "PRE-NET-006",
                Severity::Refuse,
                format!("at least {least}"),
                NODE_MIN_ADDRESSES,
                "add subnets (or larger ones) for these node groups, or lower their scaling.max",
            )
        } else if free < expected {
            (
                "PRE-NET-007",
                Severity::Warn,
                format!("about {expected}"),
                NODE_EXPECTED_ADDRESSES,
                "add subnets (or larger ones) for these node groups or lower their scaling.max; or accept it if \
                 the VPC CNI keeps fewer addresses per node (WARM_IP_TARGET, prefix delegation)",
            )
        } else {
            continue;
        };
        let warm = if per_node == NODE_EXPECTED_ADDRESSES { " and one warm one (the VPC CNI's default)" } else { "" };
        let zones: BTreeSet<&str> = set.iter().map(|id| known[id].availability_zone.as_str()).collect();
        let zones: Vec<&str> = zones.into_iter().collect();
        out.push(SubnetFinding {
            code,
            severity,
            subnets: set.iter().map(|id| id.to_string()).collect(),
            problem: format!(
                "{} {} at max size ({max_nodes} {}) take {need} addresses ({max_nodes} × {per_node}: each node's \
                 primary network interface{warm}, at {ADDRESSES_PER_ENI} addresses per interface of a large \
                 instance, more for larger types); their subnets (in {}) have {free} free beside what blue already \
                 uses",
                plural(groups.len(), "node group", "node groups"),
                groups.join(", "),
                plural(max_nodes as usize, "node", "nodes"),
                zones.join(", "),
            ),
            fix: fix.into(),
        });
    }
    out
}

fn ids(subnets: &[&SubnetInfo]) -> Vec<String> {
    subnets.iter().map(|s| s.id.clone()).collect()
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{AuthenticationMode, CapacityType, ClusterSpec, EndpointAccess, KubeVersion, NodeGroup, Scaling};

    fn subnet(id: &str, zone: &str, cidr: &str, free: u32) -> SubnetInfo {
        SubnetInfo {
            id: id.into(),
            availability_zone: zone.into(),
            availability_zone_id: None,
            cidr: cidr.into(),
            available_ips: free,
            vpc_id: "vpc-1".into(),
        }
    }

    fn nodegroup(name: &str, max: u32, subnets: &[&str]) -> NodeGroup {
        NodeGroup {
            name: name.into(),
            instance_types: vec!["m6i.large".into()],
            scaling: Scaling { min: 1, desired: 1, max },
            labels: Default::default(),
            taints: Vec::new(),
            node_role_arn: "arn:aws:iam::111122223333:role/eks-node".into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            capacity_type: CapacityType::OnDemand,
            disk_size_gib: None,
        }
    }

    fn cluster(subnets: &[&str], nodegroups: Vec<NodeGroup>) -> ClusterSpec {
        ClusterSpec {
            name: "payments-1-32".into(),
            version: KubeVersion { major: 1, minor: 32 },
            role_arn: "arn:aws:iam::111122223333:role/eks-cluster".into(),
            subnets: subnets.iter().map(|s| s.to_string()).collect(),
            security_groups: Vec::new(),
            endpoint: EndpointAccess { public: true, private: true, public_cidrs: Vec::new() },
            authentication_mode: AuthenticationMode::Api,
            addons: Vec::new(),
            nodegroups,
            access: Vec::new(),
            tags: Default::default(),
            identity: Default::default(),
        }
    }

    fn codes(findings: &[SubnetFinding]) -> Vec<&'static str> {
        findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn two_roomy_subnets_in_two_zones_pass() {
        let spec = cluster(&["subnet-a", "subnet-b"], vec![nodegroup("general", 6, &[])]);
        let subnets = [
            subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 251),
            subnet("subnet-b", "us-east-1b", "10.0.2.0/24", 251),
        ];
        assert_eq!(subnet_capacity(&spec, &subnets), []);
    }

    #[test]
    fn exactly_at_the_limits_passes() {
        // 6 nodes × 20 = 120 over two subnets; 16 free in each for the control plane.
        let spec = cluster(&["subnet-a", "subnet-b"], vec![nodegroup("general", 6, &[])]);
        let subnets =
            [subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 104), subnet("subnet-b", "us-east-1b", "10.0.2.0/28", 16)];
        assert_eq!(subnet_capacity(&spec, &subnets), []);
    }

    #[test]
    fn one_availability_zone_is_refused() {
        let spec = cluster(&["subnet-a", "subnet-c"], vec![]);
        let subnets = [
            subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 251),
            subnet("subnet-c", "us-east-1a", "10.0.3.0/24", 251),
        ];
        let findings = subnet_capacity(&spec, &subnets);
        assert_eq!(codes(&findings), ["PRE-NET-002"]);
        assert!(findings[0].refuses());
        assert!(findings[0].problem.contains("us-east-1a"), "{}", findings[0]);
        assert_eq!(findings[0].subnets, ["subnet-a", "subnet-c"]);
    }

    #[test]
    fn a_missing_subnet_is_refused_by_name_and_its_zone_is_not_guessed() {
        let spec = cluster(&["subnet-a", "subnet-gone"], vec![nodegroup("general", 2, &[])]);
        let findings = subnet_capacity(&spec, &[subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 251)]);
        assert_eq!(codes(&findings), ["PRE-NET-001"]);
        assert_eq!(findings[0].subnets, ["subnet-gone"]);
        assert!(findings[0].refuses());
    }

    #[test]
    fn a_28_too_small_for_a_node_group_at_max_is_refused() {
        // A /28 has 11 usable addresses; 2 nodes need their primary interfaces' 20.
        let spec = cluster(&["subnet-a", "subnet-b"], vec![nodegroup("small", 2, &["subnet-s"])]);
        let subnets = [
            subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 251),
            subnet("subnet-b", "us-east-1b", "10.0.2.0/24", 251),
            subnet("subnet-s", "us-east-1a", "10.0.9.0/28", 11),
        ];
        let findings = subnet_capacity(&spec, &subnets);
        assert_eq!(codes(&findings), ["PRE-NET-006"]);
        let f = &findings[0];
        assert!(f.refuses());
        assert_eq!(f.subnets, ["subnet-s"]);
        for said in ["small", "2 nodes", "at least 20 addresses", "11 free", "blue"] {
            assert!(f.problem.contains(said), "{said} not in {f}");
        }
    }

    #[test]
    fn room_for_primary_interfaces_but_not_warm_ones_warns() {
        let spec = cluster(&["subnet-a", "subnet-b"], vec![nodegroup("general", 6, &[]), nodegroup("batch", 4, &[])]);
        // 10 nodes: 100 certain, 200 expected; 150 free.
        let subnets =
            [subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 75), subnet("subnet-b", "us-east-1b", "10.0.2.0/24", 75)];
        let findings = subnet_capacity(&spec, &subnets);
        assert_eq!(codes(&findings), ["PRE-NET-007"]);
        assert_eq!(findings[0].severity, Severity::Warn);
        for said in ["general, batch", "10 nodes", "about 200", "150 free", "us-east-1a, us-east-1b"] {
            assert!(findings[0].problem.contains(said), "{said} not in {}", findings[0]);
        }
    }

    #[test]
    fn node_groups_on_separate_subnets_are_counted_separately() {
        let spec = cluster(
            &["subnet-a", "subnet-b"],
            vec![nodegroup("general", 6, &["subnet-a"]), nodegroup("batch", 6, &["subnet-b"])],
        );
        let subnets =
            [subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 251), subnet("subnet-b", "us-east-1b", "10.0.2.0/26", 59)];
        let findings = subnet_capacity(&spec, &subnets);
        assert_eq!(codes(&findings), ["PRE-NET-006"]);
        assert_eq!(findings[0].subnets, ["subnet-b"]);
        assert!(findings[0].problem.contains("node group batch"), "{}", findings[0]);
    }

    #[test]
    fn control_plane_room_refused_below_6_warned_below_16() {
        let spec = cluster(&["subnet-a", "subnet-b", "subnet-c"], vec![nodegroup("general", 1, &["subnet-c"])]);
        let subnets = [
            subnet("subnet-a", "us-east-1a", "10.0.1.0/28", 5),
            subnet("subnet-b", "us-east-1b", "10.0.2.0/28", 15),
            subnet("subnet-c", "us-east-1c", "10.0.3.0/24", 251),
        ];
        let findings = subnet_capacity(&spec, &subnets);
        assert_eq!(codes(&findings), ["PRE-NET-004", "PRE-NET-005"]);
        assert_eq!((findings[0].severity, findings[1].severity), (Severity::Refuse, Severity::Warn));
        assert_eq!(findings[0].subnets, ["subnet-a"]);
        assert!(findings[0].problem.contains("5 free addresses beside what blue already uses"), "{}", findings[0]);
    }

    #[test]
    fn subnets_of_two_vpcs_are_refused() {
        let spec = cluster(&["subnet-a", "subnet-b"], vec![]);
        let mut other = subnet("subnet-b", "us-east-1b", "10.1.2.0/24", 251);
        other.vpc_id = "vpc-2".into();
        let findings = subnet_capacity(&spec, &[subnet("subnet-a", "us-east-1a", "10.0.1.0/24", 251), other]);
        assert_eq!(codes(&findings), ["PRE-NET-003"]);
        assert!(findings[0].problem.contains("vpc-1: subnet-a; vpc-2: subnet-b"), "{}", findings[0]);
    }

    #[test]
    fn subnet_ids_lists_each_once_in_plan_order() {
        let spec = cluster(
            &["subnet-a", "subnet-b"],
            vec![nodegroup("x", 1, &["subnet-c", "subnet-a"]), nodegroup("y", 1, &[])],
        );
        assert_eq!(subnet_ids(&spec), ["subnet-a", "subnet-b", "subnet-c"]);
    }
}
