//! The EKS control plane: clusters, node groups, add-ons, access entries, tags and updates, with
//! asynchronous state changes on the simulated clock.
//!
//! - [`api`] routes REST-JSON requests (as aws-sdk-eks sends them) to the per-resource modules
//!   [`clusters`], [`nodegroups`], [`addons`] (versions from the [`catalog`]), [`access`], [`tags`],
//!   [`updates`], [`insights`], [`pod_identity`];
//! - [`lifecycle`] completes in-flight transitions at their deadlines and drives each cluster's
//!   Kubernetes half through [`backend`];
//! - [`model`] is the state as persisted; [`errors`] the AWS-shaped errors.
//!
//! Locking: one `std::sync::Mutex` over the whole [`model::EksState`], never held across an await.
//! Every acknowledged change is written to `eks.json` before the response goes out.

pub mod access;
pub mod addons;
pub mod api;
pub mod backend;
pub mod catalog;
pub mod clusters;
pub mod errors;
pub mod insights;
pub mod kube_backend;
pub mod lifecycle;
pub mod model;
pub mod nodegroups;
pub mod pod_identity;
pub mod tags;
pub mod updates;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::env::Env;
use crate::persist::{EKS_FILE, StateDir};
use crate::profile::LatencyKind;
use backend::{ClusterApi, ClusterBackend};
use errors::{EksError, ErrorKind};
use model::{EksState, LeakedLoadBalancer};

/// The account id used in ARNs when none is configured.
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";

/// Wall-clock milliseconds measured on tokio's clock from a wall-clock anchor, so deadlines are
/// absolute (they survive restarts) while tests can still drive time with tokio's paused clock.
#[derive(Debug, Clone, Copy)]
pub struct SimTime {
    anchor_ms: u64,
    anchor: tokio::time::Instant,
}

impl SimTime {
    pub fn new() -> Self {
        let anchor_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        SimTime {
            anchor_ms,
            anchor: tokio::time::Instant::now(),
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.anchor_ms + self.anchor.elapsed().as_millis() as u64
    }

    /// The tokio instant at which the wall clock reads `ms` (now, if that is past).
    pub fn instant_at(&self, ms: u64) -> tokio::time::Instant {
        self.anchor + Duration::from_millis(ms.saturating_sub(self.anchor_ms))
    }
}

impl Default for SimTime {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Eks {
    pub(crate) env: Env,
    pub(crate) account_id: String,
    pub(crate) time: SimTime,
    backend: Arc<dyn ClusterBackend>,
    state: Mutex<EksState>,
    /// The Kubernetes half of every cluster whose API is up, by cluster name.
    running: Mutex<HashMap<String, Arc<dyn ClusterApi>>>,
    store: Option<Arc<StateDir>>,
    /// Serialises writes of `eks.json` so a newer snapshot is never overwritten by an older one.
    write_lock: tokio::sync::Mutex<()>,
    /// Changes hold it for writing until they are on disk; requests hold it for reading. So nobody
    /// sees a change a kill could still take back.
    pub(crate) gate: tokio::sync::RwLock<()>,
    /// Woken whenever a new deadline may be earlier than the one the lifecycle sleeps towards.
    wake: Notify,
}

impl std::fmt::Debug for Eks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Eks")
            .field("account_id", &self.account_id)
            .finish_non_exhaustive()
    }
}

impl Eks {
    /// Loads `eks.json` from the state directory (if any) and restarts the Kubernetes API of every
    /// cluster that had one. Transitions already overdue complete as soon as the lifecycle runs.
    pub async fn open(
        env: Env,
        backend: Arc<dyn ClusterBackend>,
        store: Option<Arc<StateDir>>,
        account_id: String,
    ) -> anyhow::Result<Arc<Eks>> {
        let state = match &store {
            Some(dir) => dir.load_json::<EksState>(EKS_FILE)?.unwrap_or_default(),
            None => EksState::default(),
        };
        let eks = Arc::new(Eks {
            env,
            account_id,
            time: SimTime::new(),
            backend,
            state: Mutex::new(state),
            running: Mutex::new(HashMap::new()),
            store,
            write_lock: tokio::sync::Mutex::new(()),
            gate: tokio::sync::RwLock::new(()),
            wake: Notify::new(),
        });
        lifecycle::restore_clusters(&eks).await;
        Ok(eks)
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, EksState> {
        self.state.lock().expect("EKS state lock poisoned")
    }

    pub(crate) fn cluster_api(&self, cluster: &str) -> Option<Arc<dyn ClusterApi>> {
        self.running
            .lock()
            .expect("running lock poisoned")
            .get(cluster)
            .cloned()
    }

    /// Writes `eks.json` (and pending events) if there is a state directory. Called before a change
    /// is acknowledged.
    pub async fn persist(&self) -> Result<(), EksError> {
        let Some(store) = self.store.clone() else {
            return Ok(());
        };
        let _guard = self.write_lock.lock().await;
        let snapshot = serde_json::to_vec(&*self.state()).expect("EKS state serializes");
        let env = self.env.clone();
        let result = tokio::task::spawn_blocking(move || {
            store.save_bytes(EKS_FILE, &snapshot)?;
            store.flush_events(&env.events)
        })
        .await
        .expect("persist task panicked");
        result.map_err(|e| {
            tracing::error!(error = %e, "could not persist EKS state");
            EksError::new(
                ErrorKind::Server,
                format!("cloudsim could not persist the change: {e}"),
            )
        })
    }

    /// Applies a change that does not come through the EKS API (the control API's), with the same
    /// guarantees: no request sees it before it is on disk.
    pub(crate) async fn change<T>(
        &self,
        f: impl FnOnce(&mut EksState) -> Result<T, EksError>,
    ) -> Result<T, EksError> {
        let _gate = self.gate.write().await;
        let result = f(&mut self.state())?;
        self.persist().await?;
        self.wake();
        Ok(result)
    }

    /// Tells the lifecycle a new or earlier deadline exists.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Load balancers that outlived their cluster.
    pub fn leaked_load_balancers(&self) -> Vec<LeakedLoadBalancer> {
        self.state().leaked_load_balancers.clone()
    }

    /// Each running cluster's load balancer request counts, by cluster name (for `/metrics`).
    pub fn lb_requests(&self) -> Vec<(String, Vec<((String, u16), u64)>)> {
        let running = self.running.lock().expect("running lock poisoned");
        let mut all: Vec<_> = running
            .iter()
            .map(|(name, api)| (name.clone(), api.lb_requests()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Names and statuses of all clusters (for the control API's overview).
    pub fn cluster_statuses(&self) -> Vec<(String, String)> {
        self.state()
            .clusters
            .values()
            .map(|c| (c.name.clone(), c.status.clone()))
            .collect()
    }

    /// Stops every cluster's Kubernetes API (cloudsim is shutting down; state stays on disk).
    pub async fn stop_clusters(&self) {
        let running: Vec<_> = self
            .running
            .lock()
            .expect("running lock poisoned")
            .drain()
            .collect();
        for (_, api) in running {
            api.shutdown().await;
        }
    }

    /// Forgets every resource at once (no deletion delays, no leak detection): `POST /_cloudsim/reset`.
    pub async fn reset(&self) -> Result<(), EksError> {
        let _gate = self.gate.write().await;
        self.stop_clusters().await;
        let names: Vec<String> = {
            let mut st = self.state();
            let names = st.clusters.keys().cloned().collect();
            *st = EksState::default();
            names
        };
        if let Some(store) = &self.store {
            for name in &names {
                if let Err(e) = store.remove_cluster_dir(name) {
                    tracing::warn!(error = %e, "could not remove a reset cluster's state");
                }
            }
        }
        self.persist().await
    }

    pub(crate) fn arn(&self, resource: &str) -> String {
        format!(
            "arn:aws:eks:{}:{}:{resource}",
            self.env.region, self.account_id
        )
    }

    /// The wall-clock deadline of a `kind` change to `resource` (its latency drawn from the
    /// profile, see [`crate::profile`]), persisted with the resource so restarts keep the draw.
    pub(crate) fn due_in(&self, kind: LatencyKind, resource: &str) -> u64 {
        let secs = self.env.latencies.draw(kind, resource);
        let real = self.env.clock.scaled(crate::profile::Latencies::get(secs));
        self.time.now_ms() + real.as_millis() as u64
    }

    fn set_running(&self, cluster: &str, api: Arc<dyn ClusterApi>) {
        self.running
            .lock()
            .expect("running lock poisoned")
            .insert(cluster.to_string(), api);
    }

    fn take_running(&self, cluster: &str) -> Option<Arc<dyn ClusterApi>> {
        self.running
            .lock()
            .expect("running lock poisoned")
            .remove(cluster)
    }
}

/// A random identifier in the 8-4-4-4-12 hex form EKS uses for update ids and ARN suffixes.
pub(crate) fn new_id() -> String {
    let hex: String = (0..32)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).expect("hex digit"))
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Epoch milliseconds as the epoch-seconds number AWS JSON protocols use for timestamps.
pub(crate) fn epoch_secs(ms: u64) -> serde_json::Value {
    serde_json::json!(ms as f64 / 1000.0)
}

/// EKS resource names: 1–100 characters, a letter or digit first, then letters, digits, `-` and `_`.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), EksError> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(EksError::invalid(format!(
            "{what} name {name:?} is invalid: use 1-100 letters, digits, '-' or '_', starting with a letter or digit"
        )))
    }
}
