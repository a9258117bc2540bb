//! The Kubernetes API of one simulated EKS cluster: an HTTPS server on 127.0.0.1 with its own CA,
//! EKS-token authentication, generic storage with watches, discovery, patches, protobuf Secrets,
//! OpenAPI stubs, a kwok-style controller (nodes, workloads, pods, persistent volumes and a fake
//! EBS CSI driver, load balancers, garbage collection) and reachable load balancers. The EKS half drives it through [`KubeCluster`].
//!
//! Map of the module:
//! - [`server`] HTTPS + auth + latency; [`router`] paths; [`crud`], [`delete`], [`watch`] the verbs;
//!   [`patch`], [`protobuf`], [`selectors`], [`render`], [`defaults`] their helpers;
//! - [`store`] objects + resourceVersions + watch fan-out; [`persist`] the state directory;
//! - [`discovery`] the resource registry; [`tls`] the CA; [`controller`] what makes objects move.

pub mod api;
pub mod controller;
pub mod crud;
pub mod defaults;
pub mod delete;
pub mod discovery;
pub mod obj;
pub mod patch;
pub mod persist;
pub mod protobuf;
pub mod render;
pub mod router;
pub mod selectors;
pub mod server;
pub mod store;
pub mod tls;
pub mod watch;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::sync::{Notify, watch as tokio_watch};
use tokio::task::JoinHandle;

use crate::env::Env;
use discovery::{GroupResource, Registry, ResourceType};
use store::{Commit, Store, StoreError};

pub struct KubeClusterConfig {
    pub name: String,
    /// `1.32`: `/version` says `v1.32.x-eks-…`, and so do the kubelets of new nodes.
    pub version: String,
    /// Some(dir): persist the CA, bound port, objects and load balancer addresses here, and restore
    /// from it on start; acknowledged writes survive kill -9.
    pub state_dir: Option<PathBuf>,
}

/// What a node group asks of the cluster's Nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeGroupNodes {
    pub nodegroup: String,
    pub count: u32,
    pub instance_type: String,
    pub labels: BTreeMap<String, String>,
    /// `(key, value, effect)`, effect as Kubernetes spells it (`NoSchedule`, …).
    pub taints: Vec<(String, Option<String>, String)>,
    /// `ON_DEMAND` or `SPOT`.
    pub capacity_type: String,
    /// The availability zones of its subnets: nodes are spread over them in turn.
    pub zones: Vec<String>,
}

/// A LoadBalancer Service whose load balancer exists (provisioned, or being released).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadBalancerInfo {
    pub namespace: String,
    pub service: String,
    pub hostname: String,
    pub ip: String,
    pub ports: Vec<u16>,
}

/// State shared by the server, the controller and the load balancers of one cluster.
pub struct ClusterState {
    pub name: String,
    version: RwLock<String>,
    pub env: Env,
    pub registry: Registry,
    pub store: Store,
    pub shutdown: tokio_watch::Receiver<bool>,
    /// Nudges the controller after API writes (it also wakes on its own timers).
    pub wake: Notify,
    pub lbs: crate::lb::Balancers,
    pub state_dir: Option<PathBuf>,
    port: u16,
}

impl std::fmt::Debug for ClusterState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterState")
            .field("name", &self.name)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The patch release cloudsim reports for every minor version.
const PATCH: u32 = 5;

fn parse_version(v: &str) -> anyhow::Result<(u32, u32)> {
    let (major, minor) = v
        .split_once('.')
        .with_context(|| format!("Kubernetes version `{v}` must look like `1.32`"))?;
    Ok((
        major
            .parse()
            .with_context(|| format!("Kubernetes version `{v}` must look like `1.32`"))?,
        minor
            .parse()
            .with_context(|| format!("Kubernetes version `{v}` must look like `1.32`"))?,
    ))
}

impl ClusterState {
    pub fn version(&self) -> String {
        self.version.read().expect("version lock").clone()
    }

    /// `v1.32.5-eks-cloudsim`: what `/version` and new kubelets report.
    pub fn git_version(&self) -> String {
        format!("v{}.{PATCH}-eks-cloudsim", self.version())
    }

    pub fn version_doc(&self) -> Value {
        let v = self.version();
        let (major, minor) = v.split_once('.').unwrap_or(("1", "0"));
        json!({"major": major, "minor": minor, "emulationMajor": major, "emulationMinor": minor,
               "gitVersion": self.git_version(), "gitCommit": "0000000000000000000000000000000000000000",
               "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.24.0",
               "compiler": "gc", "platform": "linux/amd64"})
    }

    /// Called after every successful API write.
    pub fn after_write(&self, rt: &ResourceType) {
        if rt.group == "apiextensions.k8s.io" && rt.resource == "customresourcedefinitions" {
            self.sync_crds();
        }
        self.wake.notify_one();
    }

    /// Makes the registry serve exactly the resources the stored CRDs define.
    pub fn sync_crds(&self) {
        let (crds, _) = self.store.list(
            &GroupResource::new("apiextensions.k8s.io", "customresourcedefinitions"),
            None,
        );
        let mut wanted: BTreeMap<(String, String), Vec<ResourceType>> = BTreeMap::new();
        for crd in crds.iter().filter(|c| !obj::is_deleting(c)) {
            if let Ok(types) = discovery::crd_resource_types(crd)
                && let Some(t) = types.first()
            {
                wanted.insert((t.group.clone(), t.resource.clone()), types);
            }
        }
        for t in self.registry.all().iter().filter(|t| t.custom) {
            if !wanted.contains_key(&(t.group.clone(), t.resource.clone())) {
                self.registry.set_custom(&t.group, &t.resource, Vec::new());
            }
        }
        for ((group, plural), types) in wanted {
            let current: Vec<ResourceType> = self
                .registry
                .all()
                .iter()
                .filter(|t| t.custom && t.group == group && t.resource == plural)
                .map(|t| (**t).clone())
                .collect();
            if current != types {
                self.registry.set_custom(&group, &plural, types);
            }
        }
    }

    /// How long a `kind` change to `resource` (named within this cluster) takes in real time: its
    /// latency drawn from the profile, divided by the time scale.
    pub fn scaled_draw(&self, kind: crate::profile::LatencyKind, resource: &str) -> Duration {
        self.scaled_secs(
            self.env
                .latencies
                .draw(kind, &format!("{}/{resource}", self.name)),
        )
    }

    /// A simulated duration divided by the time scale.
    pub fn scaled_secs(&self, secs: f64) -> Duration {
        self.env.clock.scaled(crate::profile::Latencies::get(secs))
    }
}

pub struct KubeCluster {
    state: Arc<ClusterState>,
    stop: tokio_watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    ca_pem: String,
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeCluster")
            .field("name", &self.state.name)
            .field("endpoint", &self.endpoint())
            .finish()
    }
}

const BUILTIN_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

impl KubeCluster {
    /// Serves this cluster's API over HTTPS on 127.0.0.1 (a fresh port, or the persisted one on
    /// restore) with a per-cluster CA, and runs its controller in background tasks.
    pub async fn start(cfg: KubeClusterConfig, env: Env) -> anyhow::Result<Arc<KubeCluster>> {
        parse_version(&cfg.version)?;
        let (ca, journal, rv, objects, port) = match &cfg.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                let ca = tls::ClusterCa::load_or_create(dir, &cfg.name)?;
                let (journal, rv, objects) = persist::Journal::open(dir)
                    .with_context(|| format!("loading objects from {}", dir.display()))?;
                let port = persist::load_meta(dir)?.map(|m| m.port);
                (ca, Some(journal), rv, objects, port)
            }
            None => (
                tls::ClusterCa::generate(&cfg.name)?,
                None,
                0,
                Default::default(),
                None,
            ),
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).await.with_context(|| match port {
            Some(p) => format!("cluster {} cannot listen on its persisted port 127.0.0.1:{p} again (is another cloudsim running with this state dir?)", cfg.name),
            None => format!("cluster {} cannot listen on 127.0.0.1", cfg.name),
        })?;
        let port = listener.local_addr()?.port();
        if let Some(dir) = &cfg.state_dir {
            persist::save_meta(
                dir,
                &persist::Meta {
                    port,
                    version: cfg.version.clone(),
                },
            )?;
        }
        let (stop, shutdown) = tokio_watch::channel(false);
        let state = Arc::new(ClusterState {
            name: cfg.name.clone(),
            version: RwLock::new(cfg.version.clone()),
            env,
            registry: Registry::new(),
            store: Store::new(rv, objects, journal),
            shutdown: shutdown.clone(),
            wake: Notify::new(),
            lbs: crate::lb::Balancers::default(),
            state_dir: cfg.state_dir.clone(),
            port,
        });
        state.lbs.attach(&state);
        state.sync_crds();
        ensure_builtin_namespaces(&state)?;
        controller::volumes::ensure_default_class(&state)?;
        let tls = ca.server_config()?;
        let server = tokio::spawn(server::serve(
            listener,
            tls,
            state.clone(),
            shutdown.clone(),
        ));
        let controller = tokio::spawn(controller::run(state.clone()));
        tracing::info!(cluster = %cfg.name, port, "kubernetes API listening");
        Ok(Arc::new(KubeCluster {
            state,
            stop,
            tasks: Mutex::new(vec![server, controller]),
            ca_pem: ca.cert_pem.clone(),
        }))
    }

    /// `https://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.state.port)
    }

    /// The cluster CA certificate (PEM); DescribeCluster returns it base64-encoded.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// Makes the node group's Nodes match `ng` (new Nodes turn Ready after `node_ready_secs`).
    pub fn sync_nodegroup(&self, ng: &NodeGroupNodes) {
        if let Err(e) = controller::nodes::sync(&self.state, ng) {
            tracing::error!(cluster = %self.state.name, nodegroup = %ng.nodegroup, error = %e, "could not sync nodes");
        }
        self.state.wake.notify_one();
    }

    /// Deletes the node group's Nodes (their pods go with them and are rescheduled if they can be).
    pub fn remove_nodegroup(&self, name: &str) {
        if let Err(e) = controller::nodes::remove(&self.state, name) {
            tracing::error!(cluster = %self.state.name, nodegroup = %name, error = %e, "could not remove nodes");
        }
        self.state.wake.notify_one();
    }

    /// After UpdateClusterVersion completes: `/version` and new kubelets report `version`.
    pub fn set_version(&self, version: &str) {
        if parse_version(version).is_err() {
            tracing::error!(cluster = %self.state.name, version, "ignoring a malformed Kubernetes version");
            return;
        }
        *self.state.version.write().expect("version lock") = version.to_string();
        if let Some(dir) = &self.state.state_dir
            && let Err(e) = persist::save_meta(
                dir,
                &persist::Meta {
                    port: self.state.port,
                    version: version.to_string(),
                },
            )
        {
            tracing::error!(cluster = %self.state.name, error = %e, "could not persist the cluster version");
        }
    }

    /// Installs what the ACTIVE add-ons put in the cluster and removes what deleted ones had: the
    /// EBS CSI driver (`aws-ebs-csi-driver`) is its CSIDriver `ebs.csi.aws.com`.
    pub fn sync_addons(&self, active: &[String]) {
        let ebs = active.iter().any(|a| a == controller::ebs::ADDON);
        if let Err(e) = controller::ebs::sync_addon(&self.state, ebs) {
            tracing::error!(cluster = %self.state.name, error = %e, "could not sync the add-ons' objects");
        }
        self.state.wake.notify_one();
    }

    /// LoadBalancer Services whose load balancer still exists (provisioned or being released).
    pub fn load_balancers(&self) -> Vec<LoadBalancerInfo> {
        self.state.lbs.infos()
    }

    /// Requests its load balancers answered, by Service (`ns/name`) and HTTP status.
    pub fn lb_requests(&self) -> Vec<((String, u16), u64)> {
        self.state.lbs.requests()
    }

    /// Stops serving (the cluster was deleted): the API listener, watches, controller and load
    /// balancer responders all close.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        self.state.lbs.stop_all();
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
        self.state.store.close();
    }

    /// The shared state (tests and the EKS half's diagnostics).
    pub fn state(&self) -> &Arc<ClusterState> {
        &self.state
    }
}

fn ensure_builtin_namespaces(cs: &ClusterState) -> Result<(), StoreError> {
    let rt = cs
        .registry
        .lookup("", "v1", "namespaces")
        .expect("namespaces are built in");
    let t = crud::Target {
        rt: rt.clone(),
        namespace: None,
        name: None,
        sub: None,
    };
    cs.store.write(Commit::Durable, |tx| {
        for ns in BUILTIN_NAMESPACES {
            if tx.get(&rt.group_resource(), "", ns).is_none() {
                let mut o =
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
                crud::prepare_new(tx, &t, &mut o).map_err(|e| StoreError::Persist(e.message))?;
                tx.put(&rt.group_resource(), o);
            }
        }
        Ok::<(), StoreError>(())
    })
}
