//! The seam between the EKS control plane and each cluster's Kubernetes API.
//!
//! The EKS half decides *when* a cluster exists, which node groups it has and at what version; the
//! Kubernetes half (`crate::kube::KubeCluster`, see the crate contract) serves the API and the nodes.
//! The EKS code only talks to these two traits, so its tests use an in-process double and the
//! binary plugs in the real Kubernetes half. `ClusterSpec` mirrors `KubeClusterConfig`; `kube_backend` plugs the real half in.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::env::Env;

/// What a cluster's Kubernetes API is started with (the contract's `KubeClusterConfig`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    pub name: String,
    /// Kubernetes minor version, e.g. "1.32".
    pub version: String,
    /// `Some(dir)`: the cluster persists its state here and restores it on start.
    pub state_dir: Option<PathBuf>,
}

// The node and load balancer types are the Kubernetes half's own: one definition, no conversions.
pub use crate::kube::{LoadBalancerInfo, NodeGroupNodes};

/// Starts the Kubernetes API of a cluster that has just become ACTIVE (or is restored after a restart).
#[async_trait]
pub trait ClusterBackend: Send + Sync + 'static {
    async fn start(&self, spec: ClusterSpec, env: Env) -> anyhow::Result<Arc<dyn ClusterApi>>;
}

/// A running cluster's Kubernetes API, as the EKS half drives it.
#[async_trait]
pub trait ClusterApi: Send + Sync + 'static {
    /// `https://127.0.0.1:PORT`.
    fn endpoint(&self) -> String;
    /// PEM of the cluster CA (DescribeCluster returns it base64-encoded).
    fn ca_pem(&self) -> String;
    /// Make the node group's Nodes match `ng` (create or delete Nodes).
    fn sync_nodegroup(&self, ng: &NodeGroupNodes);
    fn remove_nodegroup(&self, name: &str);
    /// Called when UpdateClusterVersion completes.
    fn set_version(&self, version: &str);
    /// The add-ons now ACTIVE (after one turns ACTIVE or is deleted, and on restore): what they
    /// install in the cluster appears or goes (the EBS CSI driver's CSIDriver).
    fn sync_addons(&self, _active: &[String]) {}
    /// LoadBalancer Services whose load balancer still exists.
    fn load_balancers(&self) -> Vec<LoadBalancerInfo>;
    /// Requests its load balancers answered, `((ns/name, HTTP status), count)` (for `/metrics`).
    fn lb_requests(&self) -> Vec<((String, u16), u64)>;
    /// Stop serving: the cluster was deleted (or cloudsim is shutting down).
    async fn shutdown(&self);
}
