//! The one teardown rule for a cluster: release its cloud load balancers first (delete its
//! LoadBalancer Services and Ingresses and wait until their controllers have let go), and only
//! then delete the cluster (node groups, add-ons, control plane) — otherwise the load balancers
//! leak, billed and unreachable. A cluster that never became ACTIVE has no reachable API and no
//! workloads, so its first action is skipped. Each action is bounded by the plan's timeouts.
//!
//! The engine runs [`actions`] through its own retry machinery; dev clusters and a drill's last
//! resort run them with [`tear_down`]. Who may be torn down (ownership, traffic, dev tags) is each
//! caller's interlock, checked before this is reached.

use std::time::Duration;

use crate::plan::{Timeouts, format_duration};
use crate::providers::{ClusterProvider, ClusterStatus, ErrorKind, ProviderError, WorkloadProvider};

/// What one teardown action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Delete the cluster's LoadBalancer Services and Ingresses and wait until their load balancers are gone.
    ReleaseLoadBalancers,
    /// Delete node groups, add-ons and the cluster, and wait until it is gone.
    DeleteCluster,
}

/// One action of a cluster's teardown, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// What the action does.
    pub kind: ActionKind,
    /// The cluster it acts on.
    pub cluster: String,
    /// What it does, for logs and errors ("delete cluster X").
    pub what: String,
    /// How long it may take.
    pub limit: Duration,
}

impl Action {
    /// Carries the action out once (no retry, no bound: the caller owns both).
    pub async fn run(&self, clusters: &dyn ClusterProvider, workloads: &dyn WorkloadProvider) -> Result<(), ProviderError> {
        match self.kind {
            ActionKind::ReleaseLoadBalancers => workloads.release_load_balancers(&self.cluster).await,
            ActionKind::DeleteCluster => clusters.delete_cluster(&self.cluster).await,
        }
    }
}

/// The teardown of cluster `name` in its current `status`, in the order that leaks nothing.
pub fn actions(name: &str, status: ClusterStatus, timeouts: &Timeouts) -> Vec<Action> {
    let mut out = Vec::new();
    if status == ClusterStatus::Active {
        out.push(Action {
            kind: ActionKind::ReleaseLoadBalancers,
            cluster: name.to_string(),
            what: format!("release the load balancers of {name}"),
            limit: timeouts.load_balancer_release,
        });
    }
    out.push(Action {
        kind: ActionKind::DeleteCluster,
        cluster: name.to_string(),
        what: format!("delete cluster {name}"),
        limit: timeouts.cluster_active,
    });
    out
}

/// Runs the teardown outside the engine: each action once, bounded by its limit; running out is
/// a `WaitTimedOut` that says what to do.
pub async fn tear_down(
    clusters: &dyn ClusterProvider,
    workloads: &dyn WorkloadProvider,
    name: &str,
    status: ClusterStatus,
    timeouts: &Timeouts,
) -> Result<(), ProviderError> {
    for action in actions(name, status, timeouts) {
        match tokio::time::timeout(action.limit, action.run(clusters, workloads)).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ProviderError::new(
                    ErrorKind::WaitTimedOut,
                    format!(
                        "timed out after {} waiting to {}; run the command again to continue",
                        format_duration(action.limit),
                        action.what
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_balancers_go_before_the_cluster_and_only_when_it_can_have_any() {
        let t = Timeouts::default();
        let kinds = |s| actions("c", s, &t).into_iter().map(|a| a.kind).collect::<Vec<_>>();
        assert_eq!(kinds(ClusterStatus::Active), [ActionKind::ReleaseLoadBalancers, ActionKind::DeleteCluster]);
        assert_eq!(kinds(ClusterStatus::Creating), [ActionKind::DeleteCluster]);
        assert_eq!(kinds(ClusterStatus::Failed), [ActionKind::DeleteCluster]);
    }
}
