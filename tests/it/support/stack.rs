//! The local stand-ins an end-to-end test runs cutover against: cloudsim (EKS + Kubernetes, in
//! process), moto (Route53, S3, STS, EC2, IAM), a static chart repository, and a blue cluster serving traffic
//! through a weighted record. Every test gets its own, on free loopback ports.
//!
//! Route53 calls of the cutover processes go through a recording proxy ([`proxy::Recorder`]) so
//! tests can count change batches; the test's own calls go to moto directly. Submodules: blue
//! and the clusters ([`clusters`]), Route53 ([`dns`]), the upgrade scenario and its plan
//! ([`upgrade`]), background runs and the journal ([`run`]).

pub mod clusters;
pub mod dns;
pub mod proxy;
pub mod run;
pub mod upgrade;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

pub const REGION: &str = "us-east-1";
/// Test-only credentials: cloudsim verifies EKS tokens against them; moto accepts anything.
pub const ACCESS_KEY: &str = "AKIACUTOVERE2ETEST00";
pub const SECRET_KEY: &str = "cutover-e2e-test-secret";

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub cloudsim: Option<cloudsim::RunningServer>,
    pub cloudsim_url: String,
    pub moto: testkit::moto::Moto,
    pub charts: testkit::charts::ChartRepo,
    /// Between cutover and moto's Route53: every request cutover sent.
    pub route53: proxy::Recorder,
    pub time_scale: f64,
    /// cloudsim's latency profile (its defaults unless [`Stack::start_with_profile`]).
    pub profile: cloudsim::profile::Profile,
    /// More environment for the cutover processes (a test's webhook URLs and secrets).
    pub extra_env: std::sync::Mutex<Vec<(String, String)>>,
}

/// The plans' subnets, in moto's EC2: seeded first thing, so every stack's moto names them alike
/// (`SUBNETS`), in two availability zones with a /24's free addresses each.
pub const SUBNETS: &str = "[subnet-d6289388dc55347e2, subnet-b94dd1f189237c89c]";

async fn create_subnets(moto: &testkit::moto::Moto) {
    let seed = format!("{}/moto-api/seed?a=20261205", moto.endpoint());
    testkit::net::http("POST", &seed, b"").expect("seed moto");
    let config = crate::aws_common::sdk_config(&moto.endpoint()).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let vpc = ec2.create_vpc().cidr_block("10.42.0.0/16").send().await.expect("create vpc");
    let vpc = vpc.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();
    let mut ids = Vec::new();
    for (i, zone) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.42.{i}.0/24"))
            .availability_zone(*zone)
            .send()
            .await
            .expect("create subnet");
        ids.push(subnet.subnet().and_then(|s| s.subnet_id()).expect("subnet id").to_string());
    }
    assert_eq!(format!("[{}]", ids.join(", ")), SUBNETS, "moto's seeded ids changed; update SUBNETS");
}

impl Stack {
    /// Starts cloudsim at `time_scale` (600: a 9-minute cluster takes under a second), moto and
    /// the chart repository serving infra/charts.
    pub async fn start(time_scale: f64) -> Stack {
        Stack::start_with_profile(time_scale, cloudsim::profile::Profile::default()).await
    }

    /// [`Stack::start`] with cloudsim running `profile` (e.g. a slow cloud).
    pub async fn start_with_profile(time_scale: f64, profile: cloudsim::profile::Profile) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let moto = testkit::moto::Moto::start();
        create_subnets(&moto).await;
        let charts = testkit::charts::ChartRepo::start(testkit::charts::fixtures_dir());
        let route53 = proxy::Recorder::start(([127, 0, 0, 1], moto.port()).into()).await;
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let mut stack = Stack {
            dir,
            cloudsim: None,
            cloudsim_url: String::new(),
            moto,
            charts,
            route53,
            time_scale,
            profile,
            extra_env: Default::default(),
        };
        stack.start_cloudsim(None).await;
        stack
    }

    fn cloudsim_config(&self, listen: Option<std::net::SocketAddr>) -> cloudsim::Config {
        let mut cfg = cloudsim::Config::new(Arc::new(cloudsim::eks::kube_backend::KubeBackend));
        if let Some(addr) = listen {
            cfg.listen = addr;
        }
        cfg.time_scale = self.time_scale;
        cfg.profile = self.profile.clone();
        cfg.region = REGION.into();
        cfg.state_dir = Some(self.dir.path().join("cloudsim"));
        // The EBS driver's volumes and the node groups' zones are moto's EC2.
        cfg.ec2_endpoint = Some(self.moto.endpoint());
        cfg.credentials = cloudsim::env::Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        };
        cfg
    }

    async fn start_cloudsim(&mut self, listen: Option<std::net::SocketAddr>) {
        let server = cloudsim::Server::start(self.cloudsim_config(listen))
            .await
            .expect("start cloudsim");
        self.cloudsim_url = server.url();
        self.cloudsim = Some(server);
    }

    /// Stops cloudsim (EKS and every cluster's Kubernetes API), keeps it down for `outage`, and
    /// starts it again on the same port and state directory.
    pub async fn restart_cloudsim_after(&mut self, outage: Duration) {
        let server = self.cloudsim.take().expect("cloudsim running");
        let addr = server.addr();
        server.shutdown().await;
        tokio::time::sleep(outage).await;
        self.start_cloudsim(Some(addr)).await;
    }

    pub fn cloudsim(&self) -> &cloudsim::RunningServer {
        self.cloudsim.as_ref().expect("cloudsim running")
    }

    /// Changes cloudsim's faults through its control API (a JSON merge patch, e.g.
    /// `{"neverReady": ["c/ns/name"]}`; `null` resets a field). Persisted: a restart keeps them.
    pub async fn patch_faults(&self, patch: serde_json::Value) {
        let url = format!("{}/_cloudsim/faults", self.cloudsim_url);
        let response = tokio::task::spawn_blocking(move || {
            testkit::net::http_with_headers(
                "PATCH",
                &url,
                &[("Content-Type", "application/merge-patch+json")],
                patch.to_string().as_bytes(),
            )
        })
        .await
        .unwrap()
        .expect("PATCH /_cloudsim/faults");
        assert_eq!(
            response.status,
            200,
            "PATCH /_cloudsim/faults: {}",
            response.text()
        );
    }

    /// The environment a cutover process needs to reach the stand-ins.
    pub fn env(&self) -> Vec<(String, String)> {
        let moto = self.moto.endpoint();
        vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("AWS_ENDPOINT_URL_EKS".into(), self.cloudsim_url.clone()),
            ("AWS_ENDPOINT_URL_ROUTE_53".into(), self.route53.url()),
            ("AWS_ENDPOINT_URL_S3".into(), moto.clone()),
            ("AWS_ENDPOINT_URL_EC2".into(), moto.clone()),
            ("AWS_ENDPOINT_URL_IAM".into(), moto.clone()),
            ("AWS_ENDPOINT_URL_SNS".into(), moto.clone()),
            ("AWS_ENDPOINT_URL_SERVICE_QUOTAS".into(), moto.clone()),
            ("AWS_ENDPOINT_URL_STS".into(), moto),
            (
                "CUTOVER_HELM".into(),
                testkit::tools::helm3().display().to_string(),
            ),
            (
                "HELM_CACHE_HOME".into(),
                self.dir.path().join("helm/cache").display().to_string(),
            ),
            (
                "HELM_CONFIG_HOME".into(),
                self.dir.path().join("helm/config").display().to_string(),
            ),
            (
                "HELM_DATA_HOME".into(),
                self.dir.path().join("helm/data").display().to_string(),
            ),
            // cutover's pollers keep pace with cloudsim's clock.
            ("CUTOVER_TIME_SCALE".into(), self.time_scale.to_string()),
            // A killed cutover leaves its private work directory behind: keep it in the test's.
            (
                "TMPDIR".into(),
                self.dir.path().join("tmp").display().to_string(),
            ),
            (upgrade::SECRET_ENV.into(), upgrade::SECRET.into()),
        ]
        .into_iter()
        .chain(self.extra_env.lock().unwrap().iter().cloned())
        .collect()
    }

    /// A `cutover` command with the stand-ins' environment, run from the test's directory.
    pub fn cutover(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cutover"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .env_remove("RUST_LOG");
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run_cutover(&self, args: &[&str]) -> Output {
        self.cutover(args).output().expect("run cutover")
    }

    /// SDK configuration for the test's own calls (pre-creating blue, reading DNS).
    pub async fn sdk(&self, endpoint: &str) -> SdkConfig {
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "e2e"))
            .http_client(http)
            .load()
            .await
    }

    pub async fn eks(&self) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk(&self.cloudsim_url).await)
    }

    pub async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.sdk(&self.moto.endpoint()).await)
    }

    /// A kubeconfig for `cluster` written by `cutover kubeconfig` (its user runs `cutover token`).
    pub fn kubeconfig(&self, cluster: &str) -> PathBuf {
        let path = self.dir.path().join(format!("kubeconfig-{cluster}.json"));
        let out = self.run_cutover(&[
            "kubeconfig",
            "--cluster",
            cluster,
            "--region",
            REGION,
            "--file",
            path.to_str().unwrap(),
        ]);
        assert!(
            out.status.success(),
            "cutover kubeconfig: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    /// Runs helm 3 against a cluster's kubeconfig, with the test's own helm home.
    pub fn helm(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(testkit::tools::helm3());
        cmd.args(args).env("KUBECONFIG", kubeconfig);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.output().expect("run helm")
    }

    pub fn kubectl(&self, kubeconfig: &Path, args: &[&str]) -> Output {
        let mut cmd = Command::new(testkit::tools::kubectl());
        cmd.args(args).env("KUBECONFIG", kubeconfig);
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
        cmd.output().expect("run kubectl")
    }

    /// Polls `probe` until it yields, for at most 60 s of real time.
    pub async fn wait_for<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// cloudsim's events of one kind (e.g. `cluster-created`), for exactly-once assertions.
    pub fn events(&self, kind: &str) -> Vec<cloudsim::events::Event> {
        self.cloudsim()
            .env()
            .events
            .snapshot()
            .into_iter()
            .filter(|e| e.kind == kind)
            .collect()
    }

    /// How many events of `kind` concern `cluster`.
    pub fn count_events(&self, kind: &str, cluster: &str) -> usize {
        self.events(kind)
            .iter()
            .filter(|e| e.cluster.as_deref() == Some(cluster))
            .count()
    }

    /// Load balancers that outlived their cluster (what a careless teardown leaks in AWS).
    pub fn leaked_load_balancers(&self) -> Vec<String> {
        self.cloudsim()
            .eks()
            .leaked_load_balancers()
            .iter()
            .map(|lb| format!("{lb:?}"))
            .collect()
    }
}
