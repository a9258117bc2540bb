//! The latency profile: how long each asynchronous change takes in simulated time, plus the
//! faults and limits to start with. Loaded from `--profile FILE` (JSON); every field is optional
//! and defaults to what real EKS and AWS load balancers were measured to take.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::faults::Faults;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub latencies: Latencies,
    pub faults: Faults,
}

/// Simulated durations in seconds (divided by `--time-scale` before cloudsim waits them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Latencies {
    pub cluster_create_secs: f64,
    pub cluster_delete_secs: f64,
    pub cluster_update_secs: f64,
    pub nodegroup_create_secs: f64,
    pub nodegroup_delete_secs: f64,
    pub nodegroup_update_secs: f64,
    pub addon_create_secs: f64,
    pub addon_delete_secs: f64,
    /// From a pod's creation to Running and Ready.
    pub pod_ready_secs: f64,
    /// From a LoadBalancer Service's creation to `status.loadBalancer.ingress`.
    pub lb_provision_secs: f64,
    /// From a LoadBalancer Service's deletion to its load balancer being released.
    pub lb_release_secs: f64,
    /// From a node group turning ACTIVE to its Nodes being Ready.
    pub node_ready_secs: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            cluster_create_secs: 540.0,
            cluster_delete_secs: 300.0,
            cluster_update_secs: 1500.0,
            nodegroup_create_secs: 180.0,
            nodegroup_delete_secs: 180.0,
            nodegroup_update_secs: 120.0,
            addon_create_secs: 60.0,
            addon_delete_secs: 30.0,
            pod_ready_secs: 15.0,
            lb_provision_secs: 120.0,
            lb_release_secs: 60.0,
            node_ready_secs: 30.0,
        }
    }
}

impl Latencies {
    pub fn get(secs: f64) -> Duration {
        Duration::from_secs_f64(secs.max(0.0))
    }
}
