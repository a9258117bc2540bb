//! Fault injection: the switches tests and the demo flip to make the cloud misbehave.
//!
//! Set at start-up from the profile (`faults:` section) and at run time through
//! `PUT/PATCH /_cloudsim/faults`. Workload faults can also be selected per object by the annotation
//! `cloudsim.dev/fault: never-ready | crash-loop`. The whole struct is persisted with the state.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Faults {
    /// Cluster names whose creation ends in FAILED instead of ACTIVE ("*" = every cluster).
    pub fail_cluster_create: BTreeSet<String>,
    /// `cluster/nodegroup` names whose creation ends in CREATE_FAILED ("*" = every node group).
    pub fail_nodegroup_create: BTreeSet<String>,
    /// Workloads (`cluster/namespace/name`, any kind) whose pods never become Ready.
    pub never_ready: BTreeSet<String>,
    /// Workloads (`cluster/namespace/name`) whose pods crash-loop (restartCount grows, never Ready).
    pub crash_loop: BTreeSet<String>,
    /// Load balancers (`cluster/namespace/service`, or `cluster/*`) answering 5xx at this rate (0.0–1.0).
    pub lb_error_rate: BTreeMap<String, f64>,
    /// Extra latency added to every load balancer answer, in milliseconds.
    pub lb_latency_ms: u64,
    /// EKS API requests per second allowed before ThrottlingException (None = unlimited).
    pub eks_throttle_rps: Option<f64>,
    /// Latency added to every EKS API call, in milliseconds.
    pub eks_latency_ms: u64,
    /// Latency added to every Kubernetes API call, in milliseconds.
    pub kube_latency_ms: u64,
}

/// The annotation that selects a workload fault on one object.
pub const FAULT_ANNOTATION: &str = "cloudsim.dev/fault";

impl Faults {
    pub fn cluster_create_fails(&self, cluster: &str) -> bool {
        self.fail_cluster_create.contains("*") || self.fail_cluster_create.contains(cluster)
    }

    pub fn nodegroup_create_fails(&self, cluster: &str, nodegroup: &str) -> bool {
        self.fail_nodegroup_create.contains("*")
            || self
                .fail_nodegroup_create
                .contains(&format!("{cluster}/{nodegroup}"))
    }

    pub fn is_never_ready(&self, cluster: &str, namespace: &str, name: &str) -> bool {
        self.never_ready
            .contains(&format!("{cluster}/{namespace}/{name}"))
    }

    pub fn is_crash_loop(&self, cluster: &str, namespace: &str, name: &str) -> bool {
        self.crash_loop
            .contains(&format!("{cluster}/{namespace}/{name}"))
    }

    /// The 5xx rate for a Service's load balancer: the most specific entry wins.
    pub fn lb_error_rate(&self, cluster: &str, namespace: &str, service: &str) -> f64 {
        self.lb_error_rate
            .get(&format!("{cluster}/{namespace}/{service}"))
            .or_else(|| self.lb_error_rate.get(&format!("{cluster}/*")))
            .copied()
            .unwrap_or(0.0)
    }
}
