//! Shared support for the kube, helm and health provider tests: in-process cloudsim clusters
//! reached through cutover's own access layer (a directory built from the emulator's endpoints,
//! EKS tokens presigned with the credentials cloudsim verifies), helm configured with the pinned
//! 3.19/4.1 binaries and isolated helm homes, plans loaded from YAML, and a log capture.


use std::collections::HashMap;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use cloudsim::clock::Clock;
use cloudsim::env::{Credentials, Env, SimEnv};
use cloudsim::kube::{KubeCluster, KubeClusterConfig, NodeGroupNodes};
use cloudsim::profile::Latencies;
use cutover::plan::Plan;
use cutover::providers::ProviderError;
use cutover::providers::helm::{HelmConfig, HelmReleases};
use cutover::providers::kube::{ClusterDirectory, ClusterEndpoint, KubeClients, TokenSource};

pub const ACCESS_KEY: &str = "AKIDCUTOVERTEST";
pub const SECRET_KEY: &str = "cutover-test-secret-key";
pub const REGION: &str = "us-east-1";

/// A simulation whose delays are 1/1000 of the real ones (a 120 s load balancer = 120 ms).
pub fn sim_env(latencies: Latencies) -> Env {
    Arc::new(SimEnv {
        clock: Clock::new(1000.0),
        latencies,
        faults: RwLock::new(Default::default()),
        events: Default::default(),
        credentials: Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        },
        region: REGION.into(),
        state_dir: None,
        ec2: None,
    })
}

/// Endpoints of the emulated clusters, as EKS DescribeCluster would give them.
struct SimDirectory(HashMap<String, ClusterEndpoint>);

#[async_trait]
impl ClusterDirectory for SimDirectory {
    async fn access(&self, cluster: &str) -> Result<ClusterEndpoint, ProviderError> {
        self.0.get(cluster).cloned().ok_or_else(|| {
            ProviderError::new(
                cutover::providers::ErrorKind::NotFound,
                format!("cluster {cluster} does not exist in EKS"),
            )
        })
    }
}

pub struct Sim {
    pub env: Env,
    pub clusters: HashMap<String, Arc<KubeCluster>>,
    pub clients: Arc<KubeClients>,
}

impl Sim {
    /// Clusters `(name, version)`, each with `nodes` Ready nodes of its version.
    pub async fn start(clusters: &[(&str, &str)], nodes: u32, latencies: Latencies) -> Sim {
        let env = sim_env(latencies);
        let mut started = HashMap::new();
        let mut endpoints = HashMap::new();
        for (name, version) in clusters {
            let kc = KubeCluster::start(
                KubeClusterConfig {
                    name: name.to_string(),
                    version: version.to_string(),
                    state_dir: None,
                },
                env.clone(),
            )
            .await
            .expect("cloudsim cluster starts");
            if nodes > 0 {
                kc.sync_nodegroup(&nodegroup("general", nodes));
            }
            endpoints.insert(
                name.to_string(),
                ClusterEndpoint {
                    server: kc.endpoint(),
                    ca_pem: kc.ca_pem().into_bytes(),
                },
            );
            started.insert(name.to_string(), kc);
        }
        let tokens = Arc::new(TokenSource::new(
            REGION,
            aws_credential_types::Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"),
        ));
        let clients = Arc::new(KubeClients::new(Arc::new(SimDirectory(endpoints)), tokens));
        Sim {
            env,
            clusters: started,
            clients,
        }
    }

    pub fn cluster(&self, name: &str) -> &Arc<KubeCluster> {
        &self.clusters[name]
    }

    pub async fn client(&self, name: &str) -> kube::Client {
        self.clients.client(name).await.expect("client")
    }
}

pub fn nodegroup(name: &str, count: u32) -> NodeGroupNodes {
    NodeGroupNodes {
        nodegroup: name.into(),
        count,
        instance_type: "m6i.large".into(),
        labels: Default::default(),
        taints: vec![],
        capacity_type: "ON_DEMAND".into(),
        zones: vec![],
    }
}

/// Which helm a test runs.
#[derive(Debug, Clone, Copy)]
pub enum Helm {
    V3,
    V4,
}

impl Helm {
    pub fn path(self) -> PathBuf {
        match self {
            Helm::V3 => testkit::tools::helm3(),
            Helm::V4 => testkit::tools::helm4(),
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Helm::V3 => "3.19.0",
            Helm::V4 => "4.1.4",
        }
    }
}

/// Helm as cutover runs it, with its homes under `work` and the test credentials in the
/// environment of the `cutover token` plugin it runs.
pub fn helm_config(helm: Helm, work: &Path) -> HelmConfig {
    let home = work.join("helm-home");
    let env: Vec<(OsString, OsString)> = vec![
        ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
        ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ("AWS_REGION".into(), REGION.into()),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("HELM_CACHE_HOME".into(), home.join("cache").into()),
        ("HELM_CONFIG_HOME".into(), home.join("config").into()),
        ("HELM_DATA_HOME".into(), home.join("data").into()),
    ];
    HelmConfig {
        binary: helm.path(),
        version: helm.version().into(),
        cutover: PathBuf::from(env!("CARGO_BIN_EXE_cutover")),
        region: REGION.into(),
        work_dir: work.join("run"),
        env,
        plain_http_registries: Vec::new(),
        secret_env: Default::default(),
    }
}

pub fn helm_releases(sim: &Sim, cfg: HelmConfig) -> Arc<HelmReleases> {
    Arc::new(HelmReleases::new(cfg, sim.clients.clone()).expect("helm provider"))
}

/// Loads a plan from YAML written to `dir/plan.yaml` (relative paths resolve against `dir`).
pub fn plan(dir: &Path, yaml: &str) -> Arc<Plan> {
    let path = dir.join("plan.yaml");
    std::fs::write(&path, yaml).unwrap();
    match cutover::plan::load_str(&path, yaml) {
        Ok(p) => Arc::new(p),
        Err(e) => panic!("test plan is invalid: {e:?}"),
    }
}

/// Polls `f` until it returns Some, failing after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Everything logged through tracing (debug and up) while the guard lives, on this thread's
/// default dispatcher and every task spawned from the test's runtime.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Installs the capture as the global subscriber (once per test binary).
    pub fn install() -> LogCapture {
        static GLOBAL: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let capture = LogCapture::default();
                let writer = capture.clone();
                tracing_subscriber::fmt()
                    .with_max_level(tracing::Level::DEBUG)
                    .with_ansi(false)
                    .with_writer(move || writer.clone())
                    .init();
                capture
            })
            .clone()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
