//! One in-memory world behind every provider trait: clusters (tags, add-ons, node groups, access
//! entries, load balancers, releases), weighted DNS records and check results. Healthy by default;
//! faults are switched on per operation and key; every call and every side effect is counted.
//! The provider traits are implemented in `eks`, `helm` and `dns`.

pub mod data;
mod dns;
mod eks;
mod helm;
pub mod identity;
mod notify;
mod inventory;
pub mod preflight;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cutover::plan::RecordType;
use cutover::providers::{ClusterStatus, ErrorKind, ProviderError, Providers};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCluster {
    pub status: ClusterStatus,
    pub version: String,
    pub tags: BTreeMap<String, String>,
    pub addons: BTreeSet<String>,
    pub nodegroups: BTreeSet<String>,
    pub access: BTreeSet<String>,
    /// `namespace/name` of LoadBalancer Services holding a cloud load balancer.
    pub load_balancers: BTreeSet<String>,
    /// `namespace/name` → release.
    pub releases: BTreeMap<String, FakeRelease>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRelease {
    pub chart_version: String,
    pub revision: u32,
    pub run_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    pub record_type: RecordType,
    pub target: String,
    pub ttl: u32,
    pub weight: u8,
}

/// What the world looks like (counters excluded): compared against checkpoint snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorldState {
    pub clusters: BTreeMap<String, FakeCluster>,
    /// (record name, set id) → record.
    pub records: BTreeMap<(String, String), FakeRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Once,
    Times(u32),
    Always,
    /// Succeed for the first n-1 matching calls, fail from the n-th on.
    FromCall(u32),
    /// Never answer (the engine's timeout must fire).
    Hang,
}

#[derive(Debug, Clone)]
struct Fault {
    op: String,
    key: String,
    mode: Mode,
    kind: ErrorKind,
    seen: u32,
    fired: u32,
}

#[derive(Default)]
struct Inner {
    state: WorldState,
    faults: Vec<Fault>,
    calls: BTreeMap<String, u32>,
    preflight: preflight::PreflightWorld,
    identity: identity::IdentityWorld,
    data: data::DataWorld,
    notifications: Vec<(String, cutover::providers::notify::Notification)>,
    effects: BTreeMap<String, u32>,
    leaked_load_balancers: u32,
    change_seq: u32,
    installs_in_flight: u32,
    max_installs_in_flight: u32,
    /// Release name → the LoadBalancer Service (`namespace/name`) its install creates.
    lb_services: BTreeMap<String, String>,
}

/// The fake cloud: cheap to clone, all clones share one world.
#[derive(Clone, Default)]
pub struct World {
    inner: Arc<Mutex<Inner>>,
    /// How long one install takes (tokio time; tests pause the clock).
    pub install_time: Duration,
}

enum Verdict {
    Ok,
    Fail(ProviderError),
    Hang,
}

impl World {
    pub fn new() -> Self {
        World {
            inner: Arc::default(),
            install_time: Duration::from_secs(30),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("world lock")
    }

    pub fn providers(&self) -> Providers {
        let me = Arc::new(self.clone());
        Providers {
            clusters: me.clone(),
            workloads: me.clone(),
            releases: me.clone(),
            health: me.clone(),
            traffic: me.clone(),
            records: me.clone(),
            catalog: me.clone(),
            insights: me.clone(),
            network: me.clone(),
            pod_identities: me.clone(),
            iam: me.clone(),
            storage: me.clone(),
            claims: me.clone(),
            quotas: me.clone(),
            notify: me,
        }
    }

    // ---- setting the world up -------------------------------------------------------------

    pub fn add_cluster(&self, name: &str, tags: &[(&str, &str)], load_balancers: &[&str]) {
        let cluster = FakeCluster {
            status: ClusterStatus::Active,
            version: "1.31".into(),
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            addons: BTreeSet::new(),
            nodegroups: BTreeSet::new(),
            access: BTreeSet::new(),
            load_balancers: load_balancers.iter().map(|s| s.to_string()).collect(),
            releases: BTreeMap::new(),
        };
        self.lock().state.clusters.insert(name.into(), cluster);
    }

    pub fn set_record(&self, name: &str, set_id: &str, target: &str, weight: u8) {
        let rec = FakeRecord {
            record_type: RecordType::Cname,
            target: target.into(),
            ttl: 60,
            weight,
        };
        self.lock()
            .state
            .records
            .insert((name.into(), set_id.into()), rec);
    }

    /// Someone edits a weight by hand in the console.
    pub fn set_weight(&self, name: &str, set_id: &str, weight: u8) {
        let mut w = self.lock();
        w.state
            .records
            .get_mut(&(name.to_string(), set_id.to_string()))
            .expect("record exists")
            .weight = weight;
    }

    pub fn lb_service_for(&self, release: &str, service: &str) {
        self.lock()
            .lb_services
            .insert(release.into(), service.into());
    }

    // ---- faults ---------------------------------------------------------------------------

    /// Fails calls of `op` whose key contains `key` ("" matches all) with a non-retryable error.
    pub fn fail(&self, op: &str, key: &str, mode: Mode) {
        self.fault(op, key, mode, ErrorKind::Other);
    }

    /// Fails with a retryable throttling error `times` times, then succeeds.
    pub fn throttle(&self, op: &str, key: &str, times: u32) {
        self.fault(op, key, Mode::Times(times), ErrorKind::Throttled);
    }

    fn fault(&self, op: &str, key: &str, mode: Mode, kind: ErrorKind) {
        self.lock().faults.push(Fault {
            op: op.into(),
            key: key.into(),
            mode,
            kind,
            seen: 0,
            fired: 0,
        });
    }

    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    fn verdict(&self, op: &str, key: &str) -> Verdict {
        let mut w = self.lock();
        *w.calls.entry(op.to_string()).or_default() += 1;
        for f in w
            .faults
            .iter_mut()
            .filter(|f| f.op == op && key.contains(&f.key))
        {
            f.seen += 1;
            let fire = match f.mode {
                Mode::Once => f.fired < 1,
                Mode::Times(n) => f.fired < n,
                Mode::Always | Mode::Hang => true,
                Mode::FromCall(n) => f.seen >= n,
            };
            if fire {
                f.fired += 1;
                if f.mode == Mode::Hang {
                    return Verdict::Hang;
                }
                return Verdict::Fail(ProviderError::new(
                    f.kind,
                    format!("injected fault in {op} {key}"),
                ));
            }
        }
        Verdict::Ok
    }

    async fn enter(&self, op: &str, key: &str) -> Result<(), ProviderError> {
        match self.verdict(op, key) {
            Verdict::Ok => Ok(()),
            Verdict::Fail(e) => Err(e),
            Verdict::Hang => std::future::pending().await,
        }
    }

    // ---- observing ------------------------------------------------------------------------

    pub fn state(&self) -> WorldState {
        self.lock().state.clone()
    }

    pub fn calls(&self, op: &str) -> u32 {
        self.lock().calls.get(op).copied().unwrap_or(0)
    }

    /// Side effects that changed the world, by description ("create cluster x", ...).
    pub fn effects(&self) -> BTreeMap<String, u32> {
        self.lock().effects.clone()
    }

    pub fn effect(&self, what: &str) -> u32 {
        self.lock().effects.get(what).copied().unwrap_or(0)
    }

    pub fn leaked_load_balancers(&self) -> u32 {
        self.lock().leaked_load_balancers
    }

    pub fn max_installs_in_flight(&self) -> u32 {
        self.lock().max_installs_in_flight
    }

    /// Live weight of one record, `None` if absent.
    pub fn weight(&self, name: &str, set_id: &str) -> Option<u8> {
        self.lock()
            .state
            .records
            .get(&(name.to_string(), set_id.to_string()))
            .map(|r| r.weight)
    }

    fn effect_happened(w: &mut Inner, what: String) {
        *w.effects.entry(what).or_default() += 1;
    }
}
