//! The real Kubernetes half behind the EKS seam: each ACTIVE cluster gets a [`KubeCluster`].

use std::sync::Arc;

use async_trait::async_trait;

use super::backend::{ClusterApi, ClusterBackend, ClusterSpec, LoadBalancerInfo, NodeGroupNodes};
use crate::env::Env;
use crate::kube::{KubeCluster, KubeClusterConfig};

/// Starts a [`KubeCluster`] per cluster (what `cloudsim serve` and in-process tests use).
pub struct KubeBackend;

#[async_trait]
impl ClusterBackend for KubeBackend {
    async fn start(&self, spec: ClusterSpec, env: Env) -> anyhow::Result<Arc<dyn ClusterApi>> {
        let cfg = KubeClusterConfig {
            name: spec.name,
            version: spec.version,
            state_dir: spec.state_dir,
        };
        Ok(KubeCluster::start(cfg, env).await?)
    }
}

#[async_trait]
impl ClusterApi for KubeCluster {
    fn endpoint(&self) -> String {
        KubeCluster::endpoint(self)
    }

    fn ca_pem(&self) -> String {
        KubeCluster::ca_pem(self)
    }

    fn sync_nodegroup(&self, ng: &NodeGroupNodes) {
        KubeCluster::sync_nodegroup(self, ng)
    }

    fn remove_nodegroup(&self, name: &str) {
        KubeCluster::remove_nodegroup(self, name)
    }

    fn set_version(&self, version: &str) {
        KubeCluster::set_version(self, version)
    }

    fn sync_addons(&self, active: &[String]) {
        KubeCluster::sync_addons(self, active)
    }

    fn load_balancers(&self) -> Vec<LoadBalancerInfo> {
        KubeCluster::load_balancers(self)
    }

    fn lb_requests(&self) -> Vec<((String, u16), u64)> {
        KubeCluster::lb_requests(self)
    }

    async fn shutdown(&self) {
        KubeCluster::shutdown(self).await
    }
}
