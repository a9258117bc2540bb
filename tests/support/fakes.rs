//! One in-memory world behind every provider trait: clusters (tags, add-ons, node groups, access
//! entries, load balancers, releases), weighted DNS records and check results. Healthy by default;
//! faults are switched on per operation and key; every call and every side effect is counted.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cutover::plan::{AccessEntry, Addon, Check, ClusterSpec, NodeGroup, RecordType, Release};
use cutover::providers::{
    ChangeAction, ChangeId, CheckOutcome, CheckTarget, ClusterInfo, ClusterProvider, ClusterStatus,
    ErrorKind, HealthProvider, Ownership, ProviderError, Providers, RecordChange, ReleaseInfo,
    ReleaseProvider, ReleaseStatus, TrafficProvider, WeightedRecord, WorkloadProvider,
};

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
            traffic: me,
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

fn not_found(what: String) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, what)
}

fn info(name: &str, c: &FakeCluster) -> ClusterInfo {
    ClusterInfo {
        name: name.into(),
        status: c.status,
        version: Some(c.version.clone()),
        endpoint: Some(format!("https://{name}.eks.example")),
        tags: c.tags.clone(),
    }
}

#[async_trait]
impl ClusterProvider for World {
    async fn describe_cluster(&self, name: &str) -> Result<Option<ClusterInfo>, ProviderError> {
        self.enter("describe_cluster", name).await?;
        Ok(self.lock().state.clusters.get(name).map(|c| info(name, c)))
    }

    async fn create_cluster(
        &self,
        spec: &ClusterSpec,
        own: &Ownership,
        _token: &str,
    ) -> Result<ClusterInfo, ProviderError> {
        self.enter("create_cluster", &spec.name).await?;
        {
            let mut w = self.lock();
            match w.state.clusters.get(&spec.name) {
                Some(c) if own.owns(&c.tags) => {}
                Some(_) => {
                    return Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!("cluster {} exists", spec.name),
                    ));
                }
                None => {
                    let mut tags = spec.tags.clone();
                    tags.extend(own.tags());
                    let c = FakeCluster {
                        status: ClusterStatus::Creating,
                        version: spec.version.to_string(),
                        tags,
                        addons: BTreeSet::new(),
                        nodegroups: BTreeSet::new(),
                        access: BTreeSet::new(),
                        load_balancers: BTreeSet::new(),
                        releases: BTreeMap::new(),
                    };
                    w.state.clusters.insert(spec.name.clone(), c);
                    World::effect_happened(&mut w, format!("create cluster {}", spec.name));
                }
            }
        }
        // The cluster exists (CREATING) before it is ACTIVE, as in EKS: a hang here is a create
        // that never finishes.
        self.enter("wait_cluster_active", &spec.name).await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(&spec.name)
            .ok_or_else(|| not_found(spec.name.clone()))?;
        c.status = ClusterStatus::Active;
        Ok(info(&spec.name, c))
    }

    async fn delete_cluster(&self, name: &str) -> Result<(), ProviderError> {
        self.enter("delete_cluster", name).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.remove(name) {
            w.leaked_load_balancers += c.load_balancers.len() as u32;
            World::effect_happened(&mut w, format!("delete cluster {name}"));
        }
        Ok(())
    }

    async fn ensure_addon(
        &self,
        cluster: &str,
        addon: &Addon,
        _: &Ownership,
        _: &str,
    ) -> Result<(), ProviderError> {
        self.enter("ensure_addon", &addon.name).await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        if c.addons.insert(addon.name.clone()) {
            World::effect_happened(&mut w, format!("create addon {cluster}/{}", addon.name));
        }
        Ok(())
    }

    async fn delete_addon(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        self.enter("delete_addon", name).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.get_mut(cluster)
            && c.addons.remove(name)
        {
            World::effect_happened(&mut w, format!("delete addon {cluster}/{name}"));
        }
        Ok(())
    }

    async fn ensure_nodegroup(
        &self,
        cluster: &str,
        ng: &NodeGroup,
        _: &Ownership,
        _: &str,
    ) -> Result<(), ProviderError> {
        self.enter("ensure_nodegroup", &ng.name).await?;
        assert!(
            !ng.subnets.is_empty(),
            "the engine fills in the cluster's subnets"
        );
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        if c.nodegroups.insert(ng.name.clone()) {
            World::effect_happened(&mut w, format!("create nodegroup {cluster}/{}", ng.name));
        }
        Ok(())
    }

    async fn delete_nodegroup(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        self.enter("delete_nodegroup", name).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.get_mut(cluster)
            && c.nodegroups.remove(name)
        {
            World::effect_happened(&mut w, format!("delete nodegroup {cluster}/{name}"));
        }
        Ok(())
    }

    async fn ensure_access_entry(
        &self,
        cluster: &str,
        entry: &AccessEntry,
        _: &Ownership,
    ) -> Result<(), ProviderError> {
        self.enter("ensure_access_entry", &entry.principal_arn)
            .await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        if c.access.insert(entry.principal_arn.clone()) {
            World::effect_happened(
                &mut w,
                format!("create access {cluster}/{}", entry.principal_arn),
            );
        }
        Ok(())
    }

    async fn delete_access_entry(
        &self,
        cluster: &str,
        principal: &str,
    ) -> Result<(), ProviderError> {
        self.enter("delete_access_entry", principal).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.get_mut(cluster)
            && c.access.remove(principal)
        {
            World::effect_happened(&mut w, format!("delete access {cluster}/{principal}"));
        }
        Ok(())
    }
}

#[async_trait]
impl WorkloadProvider for World {
    async fn release_load_balancers(&self, cluster: &str) -> Result<(), ProviderError> {
        self.enter("release_load_balancers", cluster).await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        let released = std::mem::take(&mut c.load_balancers);
        for lb in released {
            World::effect_happened(&mut w, format!("release lb {cluster}/{lb}"));
        }
        Ok(())
    }

    async fn service_address(
        &self,
        cluster: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.enter("service_address", &format!("{cluster}/{ns}/{name}"))
            .await?;
        let w = self.lock();
        let c = w
            .state
            .clusters
            .get(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        let svc = format!("{ns}/{name}");
        Ok(c.load_balancers
            .contains(&svc)
            .then(|| format!("{name}.{cluster}.lb.example.net")))
    }
}

#[async_trait]
impl ReleaseProvider for World {
    async fn verify_chart(&self, release: &Release) -> Result<(), ProviderError> {
        self.enter("verify_chart", &release.name).await
    }

    async fn status(
        &self,
        cluster: &str,
        name: &str,
        ns: &str,
    ) -> Result<Option<ReleaseInfo>, ProviderError> {
        self.enter("release_status", name).await?;
        let w = self.lock();
        let c = w
            .state
            .clusters
            .get(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        Ok(c.releases
            .get(&format!("{ns}/{name}"))
            .map(|r| ReleaseInfo {
                name: name.into(),
                namespace: ns.into(),
                revision: r.revision,
                status: ReleaseStatus::Deployed,
                chart_version: r.chart_version.clone(),
                run_id: r.run_id.clone(),
            }))
    }

    async fn install(
        &self,
        cluster: &str,
        release: &Release,
        own: &Ownership,
    ) -> Result<ReleaseInfo, ProviderError> {
        self.enter("install", &release.name).await?;
        {
            let mut w = self.lock();
            w.installs_in_flight += 1;
            w.max_installs_in_flight = w.max_installs_in_flight.max(w.installs_in_flight);
        }
        // Decrement even if the engine drops this future mid-install.
        struct InFlight<'a>(&'a World);
        impl Drop for InFlight<'_> {
            fn drop(&mut self) {
                self.0.lock().installs_in_flight -= 1;
            }
        }
        let _guard = InFlight(self);
        tokio::time::sleep(self.install_time).await;
        let mut w = self.lock();
        let lb = w.lb_services.get(&release.name).cloned();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        let key = format!("{}/{}", release.namespace, release.name);
        let revision = c.releases.get(&key).map_or(1, |r| r.revision + 1);
        c.releases.insert(
            key,
            FakeRelease {
                chart_version: release.version.clone(),
                revision,
                run_id: Some(own.run_id.clone()),
            },
        );
        if let Some(lb) = lb {
            c.load_balancers.insert(lb);
        }
        World::effect_happened(&mut w, format!("install {cluster}/{}", release.name));
        Ok(ReleaseInfo {
            name: release.name.clone(),
            namespace: release.namespace.clone(),
            revision,
            status: ReleaseStatus::Deployed,
            chart_version: release.version.clone(),
            run_id: Some(own.run_id.clone()),
        })
    }

    async fn uninstall(&self, cluster: &str, name: &str, ns: &str) -> Result<(), ProviderError> {
        self.enter("uninstall", name).await?;
        let mut w = self.lock();
        let lb = w.lb_services.get(name).cloned();
        let Some(c) = w.state.clusters.get_mut(cluster) else {
            return Ok(());
        };
        if c.releases.remove(&format!("{ns}/{name}")).is_some() {
            if let Some(lb) = lb {
                c.load_balancers.remove(&lb);
            }
            World::effect_happened(&mut w, format!("uninstall {cluster}/{name}"));
        }
        Ok(())
    }
}

#[async_trait]
impl HealthProvider for World {
    async fn check(
        &self,
        _target: &CheckTarget,
        check: &Check,
    ) -> Result<CheckOutcome, ProviderError> {
        match self.verdict("check", &check.name) {
            Verdict::Ok => Ok(CheckOutcome {
                passed: true,
                detail: "ok".into(),
            }),
            // A switched-on check fault is a failing check, not a broken provider.
            Verdict::Fail(e) if e.kind == ErrorKind::Other => Ok(CheckOutcome {
                passed: false,
                detail: format!("{} is unhealthy", check.name),
            }),
            Verdict::Fail(e) => Err(e),
            Verdict::Hang => std::future::pending().await,
        }
    }
}

fn describe_change(c: &RecordChange) -> String {
    let verb = match c.action {
        ChangeAction::Upsert => "UPSERT",
        ChangeAction::Delete => "DELETE",
    };
    format!(
        "{verb} {}/{}={}",
        c.record.name, c.record.set_id, c.record.weight
    )
}

#[async_trait]
impl TrafficProvider for World {
    async fn records(
        &self,
        _zone: &str,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<WeightedRecord>, ProviderError> {
        self.enter("records", name).await?;
        let w = self.lock();
        Ok(w.state
            .records
            .iter()
            .filter(|((n, _), r)| n == name && r.record_type == record_type)
            .map(|((n, set), r)| WeightedRecord {
                name: n.clone(),
                record_type: r.record_type,
                set_id: set.clone(),
                target: r.target.clone(),
                ttl: r.ttl,
                weight: r.weight,
            })
            .collect())
    }

    async fn change(
        &self,
        _zone: &str,
        changes: &[RecordChange],
    ) -> Result<ChangeId, ProviderError> {
        let desc: Vec<String> = changes.iter().map(describe_change).collect();
        let desc = desc.join("; ");
        self.enter("change", &desc).await?;
        let mut w = self.lock();
        let mut next = w.state.records.clone();
        for c in changes {
            let key = (c.record.name.clone(), c.record.set_id.clone());
            let rec = FakeRecord {
                record_type: c.record.record_type,
                target: c.record.target.clone(),
                ttl: c.record.ttl,
                weight: c.record.weight,
            };
            match c.action {
                ChangeAction::Upsert => {
                    next.insert(key, rec);
                }
                // Like Route53: a delete must match the record exactly, else the batch fails whole.
                ChangeAction::Delete => {
                    if next.get(&key) != Some(&rec) {
                        return Err(ProviderError::new(
                            ErrorKind::Invalid,
                            format!("no exact match to delete: {desc}"),
                        ));
                    }
                    next.remove(&key);
                }
            }
        }
        w.state.records = next;
        w.change_seq += 1;
        World::effect_happened(&mut w, format!("dns {desc}"));
        Ok(ChangeId(format!("C{}", w.change_seq)))
    }

    async fn wait_insync(&self, change: &ChangeId) -> Result<(), ProviderError> {
        self.enter("wait_insync", &change.0).await
    }
}
