//! Step ids and checkpoint names: written here once, because the journal stores them and a run
//! journaled by one build must resume under the next. Compile, the steps that read each other's
//! journaled outputs, and the drill report all build and parse them through this module.

/// Every chart fetched and its digest checked, before anything is created.
pub const PREFLIGHT_CHARTS: &str = "preflight.charts";
/// Blue exists and its weighted records are found (their weights journaled).
pub const PREFLIGHT_BLUE: &str = "preflight.blue";
/// The green cluster's control plane.
pub const PROVISION_CLUSTER: &str = "provision.cluster";
/// Green's IAM OIDC provider (IRSA).
pub const PROVISION_OIDC: &str = "provision.oidc-provider";
/// IRSA roles' trust policies: a statement for green's issuer added beside blue's.
pub const PROVISION_IRSA_TRUST: &str = "provision.irsa-trust";
/// IRSA roles' trust policies: blue's statements removed once blue is gone.
pub const RETIRE_IRSA_TRUST: &str = "retire.irsa-trust";
/// Blue's volumes kept (`Retain`) for the run.
pub const DATA_RETAIN: &str = "data.retain-blue";
/// Blue's writers of the claims, read before any is stopped.
pub const DATA_WRITERS: &str = "data.writers";
/// Blue's writers stopped for an application-consistent snapshot.
pub const DATA_QUIESCE: &str = "data.quiesce";
/// Snapshots of blue's volumes.
pub const DATA_SNAPSHOT: &str = "data.snapshot";
/// Green's volumes made from the snapshots.
pub const DATA_VOLUMES: &str = "data.volumes";
/// Green's claims bound to its volumes.
pub const DATA_CLAIMS: &str = "data.claims";
/// Green's traffic records created at weight 0 (and blue's record found).
pub const TRAFFIC_PREPARE: &str = "traffic.prepare";
/// Waiting out `teardown.retainBlueFor`.
pub const RETIRE_WAIT: &str = "retire.wait-retention";
/// Blue's weighted records deleted.
pub const RETIRE_BLUE_RECORDS: &str = "retire.blue-records";
/// Blue's cluster deleted: the point of no return.
pub const RETIRE_BLUE_CLUSTER: &str = "retire.blue-cluster";

/// Drill: the drill record back on its standby, the rebuilt cluster's record removed.
pub const TEARDOWN_TRAFFIC: &str = "teardown.traffic";
/// Drill: the rebuilt cluster deleted.
pub const TEARDOWN_CLUSTER: &str = "teardown.cluster";

/// Checkpoint: green is built (cluster, access, add-ons, node groups).
pub const GREEN_READY: &str = "green-ready";
/// Checkpoint: every release is deployed on green.
pub const RELEASES_READY: &str = "releases-ready";
/// Checkpoint: every check passed on green.
pub const VERIFIED: &str = "verified";
/// Checkpoint: blue is gone.
pub const BLUE_RETIRED: &str = "blue-retired";
/// Checkpoint (drill): the rebuilt environment is gone.
pub const TORN_DOWN: &str = "torn-down";

/// A pre-flight gate's step (`preflight.apis`).
pub fn preflight(gate: crate::plan::PreflightGate) -> String {
    format!("preflight.{}", gate.name())
}

/// Access entry `i` (plan order).
pub fn access(i: usize) -> String {
    format!("provision.access.{i}")
}

/// An add-on of green (`provision.addon.vpc-cni`).
pub fn addon(name: &str) -> String {
    format!("provision.addon.{name}")
}

/// A service account's Pod Identity association on green (`provision.pod-identity.payments.api`).
pub fn pod_identity(namespace: &str, service_account: &str) -> String {
    format!("provision.pod-identity.{namespace}.{service_account}")
}

/// A node group of green.
pub fn nodegroup(name: &str) -> String {
    format!("provision.nodegroup.{name}")
}

/// A release's install on green.
pub fn release(name: &str) -> String {
    format!("releases.install.{name}")
}

/// A check run on green during verification.
pub fn check(name: &str) -> String {
    format!("verify.check.{name}")
}

/// The traffic step that moves green to `weight`.
pub fn shift(weight: u8) -> String {
    format!("traffic.shift.{weight}")
}

/// The weight a traffic step moves green to, if `id` is one.
pub fn shift_weight(id: &str) -> Option<u8> {
    id.strip_prefix("traffic.shift.")?.parse().ok()
}

/// Checkpoint after the traffic step to `weight`.
pub fn traffic_checkpoint(weight: u8) -> String {
    format!("traffic-{weight}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shift_id_reads_back_its_weight() {
        assert_eq!(shift_weight(&shift(50)), Some(50));
        assert_eq!(shift_weight(TRAFFIC_PREPARE), None);
        assert_eq!(shift_weight("traffic.shift.x"), None);
    }
}
