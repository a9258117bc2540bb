//! The one composition root. Everything a flow acts through is built here and nowhere else: the
//! process settings read from the environment once ([`Settings`]), the AWS SDK configuration
//! loaded once per region, the caller resolved once (login name, then the STS identity), the
//! state backend a plan names, and every provider. The CLI builds one [`Context`] per process and
//! hands it to [`crate::ops`]; the fleet runner and the dashboard share one the same way, so many
//! environments in one process share their AWS clients.
//!
//! Nothing below this module reads the process environment for configuration (helm's binary
//! lookup and `secretValues: fromEnv` aside, which are the plan's own contract with the operator).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OnceCell};

use crate::plan::{Plan, Timeouts};
use crate::providers::aws::ec2_ebs::Ec2Storage;
use crate::providers::aws::ec2_subnets::Ec2Network;
use crate::providers::aws::eks::EksClusters;
use crate::providers::aws::iam::AwsIam;
use crate::providers::aws::poll::{PollConfig, TIME_SCALE_VAR};
use crate::providers::aws::route53::Route53Traffic;
use crate::providers::aws::s3_state::S3State;
use crate::providers::health::ClusterHealth;
use crate::providers::helm::{HelmConfig, HelmReleases};
use crate::providers::kube::{KubeClaims, KubeClients, KubeWorkloads};
use crate::providers::state_local::LocalState;
use crate::providers::{ProviderError, Providers, StateBackend, TrafficProvider};

/// Variable naming OCI registries (`host:port`, comma-separated) that helm reaches over plain HTTP.
pub const PLAIN_HTTP_VAR: &str = "CUTOVER_HELM_PLAIN_HTTP";

/// How long the caller's STS identity may take before runs go on with the login name alone.
const CALLER_TIMEOUT: Duration = Duration::from_secs(5);

/// What the process environment says, read and checked once.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Poll pacing: AWS's own, or an emulator's speed-up (`CUTOVER_TIME_SCALE`).
    pub poll: PollConfig,
    /// `CUTOVER_TIME_SCALE` when set (reports say the cloud was an emulator running N× faster).
    pub time_scale: Option<f64>,
    /// OCI registries reached over plain HTTP (`CUTOVER_HELM_PLAIN_HTTP`).
    pub helm_plain_http: Vec<String>,
    /// This binary: helm's kubeconfigs run `cutover token` through it.
    pub exe: PathBuf,
    /// The operator's login name ([`crate::engine::login_name`]).
    pub login: String,
}

impl Settings {
    /// Reads the environment; a malformed value is an error that names the variable.
    pub fn from_env() -> Result<Settings, ProviderError> {
        let poll = PollConfig::from_env()?;
        let time_scale = std::env::var(TIME_SCALE_VAR).ok().map(|_| poll.time_scale);
        let helm_plain_http = std::env::var(PLAIN_HTTP_VAR)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        let exe = std::env::current_exe().map_err(|e| {
            ProviderError::new(crate::providers::ErrorKind::Other, format!("cannot find this binary's path: {e}"))
        })?;
        Ok(Settings { poll, time_scale, helm_plain_http, exe, login: crate::engine::login_name() })
    }
}

/// One region's AWS side, built once and shared by every flow of the process.
pub struct AwsRegion {
    /// The region this is for.
    pub region: String,
    /// The SDK configuration every client of the region is built from.
    pub config: aws_config::SdkConfig,
    caller: OnceCell<Option<String>>,
    kube: OnceCell<Arc<KubeClients>>,
}

impl AwsRegion {
    /// The caller's AWS identity (STS GetCallerIdentity), asked once; `None` when STS does not
    /// answer within a few seconds (the run goes on; the lock names the login alone).
    pub async fn identity(&self) -> Option<String> {
        self.caller
            .get_or_init(|| async {
                let sts = crate::providers::aws::calls::sts_client(&self.config);
                match tokio::time::timeout(CALLER_TIMEOUT, sts.get_caller_identity().send()).await {
                    Ok(Ok(id)) => id.arn().map(str::to_string),
                    _ => None,
                }
            })
            .await
            .clone()
    }

    /// Kubernetes clients for this region's EKS clusters (tokens from these credentials).
    pub async fn kube(&self) -> Result<Arc<KubeClients>, ProviderError> {
        self.kube
            .get_or_try_init(|| async { KubeClients::for_aws(&self.config, &self.region).map(Arc::new) })
            .await
            .cloned()
    }

    /// EKS in this region, with `timeouts` bounding its waits.
    pub fn eks(&self, timeouts: &Timeouts, poll: PollConfig) -> Arc<EksClusters> {
        Arc::new(EksClusters::new(&self.config, timeouts).with_poll(poll))
    }

    /// This region's VPC subnets (DescribeSubnets), for the pre-flight's subnet capacity rule.
    pub fn network(&self) -> Arc<Ec2Network> {
        Arc::new(Ec2Network::new(&self.config))
    }

    /// Notification sinks: webhooks, and SNS topics through this configuration.
    pub fn notifications(&self) -> Arc<crate::providers::notify::Notifications> {
        Arc::new(crate::providers::notify::Notifications {
            http: crate::providers::notify::HttpNotifications,
            sns: crate::providers::aws::sns::SnsNotifications::new(&self.config),
        })
    }

    /// Where clusters of this region are (DescribeCluster), for access commands.
    pub fn directory(&self) -> EksClusters {
        EksClusters::new(&self.config, &Timeouts::default())
    }
}

/// The process's composition root: settings, and the AWS side per region, built on first use.
pub struct Context {
    settings: Settings,
    regions: Mutex<HashMap<String, Arc<AwsRegion>>>,
}

impl Context {
    /// A context over `settings`; nothing is loaded until a region is asked for.
    pub fn new(settings: Settings) -> Context {
        Context { settings, regions: Mutex::new(HashMap::new()) }
    }

    /// A context from the process environment.
    pub fn from_env() -> Result<Context, ProviderError> {
        Ok(Context::new(Settings::from_env()?))
    }

    /// What the process environment said.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The region's AWS side; the SDK configuration is loaded the first time a region is asked for.
    pub async fn aws(&self, region: &str) -> Arc<AwsRegion> {
        let mut regions = self.regions.lock().await;
        if let Some(r) = regions.get(region) {
            return r.clone();
        }
        let built = Arc::new(AwsRegion {
            region: region.to_string(),
            config: crate::providers::aws::sdk_config(region).await,
            caller: OnceCell::new(),
            kube: OnceCell::new(),
        });
        regions.insert(region.to_string(), built.clone());
        built
    }

    /// Who acts, as locks, journals and reports name them: `login as arn:…` when STS answers.
    pub async fn caller(&self, region: &str) -> String {
        let login = self.settings.login.clone();
        match self.aws(region).await.identity().await {
            Some(arn) => format!("{login} as {arn}"),
            None => login,
        }
    }

    /// The state backend the plan names (`spec.state`).
    pub async fn state(&self, plan: &Plan) -> Arc<dyn StateBackend> {
        self.state_at(&plan.state, &plan.aws.region).await
    }

    /// The state backend `spec` names, without a plan (the dashboard's `--state`); an S3 bucket
    /// without a region of its own is reached in `region`.
    pub async fn state_at(&self, spec: &crate::plan::StateBackend, region: &str) -> Arc<dyn StateBackend> {
        match spec {
            crate::plan::StateBackend::Local { path } => Arc::new(LocalState::new(path.clone())),
            crate::plan::StateBackend::S3 { bucket, prefix, region: own } => {
                let aws = self.aws(own.as_deref().unwrap_or(region)).await;
                Arc::new(S3State::new(&aws.config, bucket.clone(), prefix))
            }
        }
    }

    /// Every provider a run of `plan` acts through. `work_dir` is private to this run (helm's
    /// kubeconfigs, secret values files and the digest-verified chart cache).
    pub async fn providers(&self, plan: &Plan, work_dir: &Path) -> Result<Providers, ProviderError> {
        self.providers_with_env(plan, work_dir, &[]).await
    }

    /// [`Context::providers`] whose subprocesses (helm, command checks) get `env` too (the run's
    /// `TRACEPARENT`).
    pub async fn providers_with_env(
        &self,
        plan: &Plan,
        work_dir: &Path,
        env: &[(String, String)],
    ) -> Result<Providers, ProviderError> {
        let aws = self.aws(&plan.aws.region).await;
        let poll = self.settings.poll;
        let clients = aws.kube().await?;
        let mut helm = HelmConfig::for_plan(plan, self.settings.exe.clone(), work_dir.to_path_buf())?;
        helm.plain_http_registries = self.settings.helm_plain_http.clone();
        helm.env.extend(env.iter().map(|(k, v)| (k.into(), v.into())));
        let releases = Arc::new(HelmReleases::new(helm, clients.clone())?);
        let health = Arc::new(ClusterHealth::new(Arc::new(plan.clone()), clients.clone(), releases.clone()).with_env(env.to_vec()));
        let eks = aws.eks(&plan.timeouts, poll);
        let workloads = Arc::new(KubeWorkloads::new(clients.clone()));
        Ok(Providers {
            clusters: eks.clone(),
            workloads: workloads.clone(),
            releases,
            health,
            traffic: self.traffic(plan).await,
            records: workloads,
            catalog: eks.clone(),
            insights: eks.clone(),
            network: aws.network(),
            pod_identities: eks,
            iam: Arc::new(AwsIam::new(&aws.config)),
            notify: aws.notifications(),
            storage: Arc::new(Ec2Storage::new(&aws.config)),
            claims: Arc::new(KubeClaims::new(clients)),
            quotas: Arc::new(crate::providers::aws::service_quotas::EbsQuotas::new(&aws.config)),
        })
    }

    /// The plan's Route53 records, alone (reading weights needs no cluster client).
    pub async fn traffic(&self, plan: &Plan) -> Arc<dyn TrafficProvider> {
        let aws = self.aws(&plan.aws.region).await;
        Arc::new(Route53Traffic::new(&aws.config, &plan.timeouts).with_poll(self.settings.poll))
    }

    /// The version of the helm binary runs would use (`CUTOVER_HELM` or PATH), for reports;
    /// `None` when there is none or it does not answer.
    pub async fn helm_version(&self) -> Option<String> {
        let path = crate::providers::helm::binary::locate().ok()?;
        crate::providers::helm::binary::Helm { path, env: Vec::new() }.version().await.ok()
    }

    /// AWS API requests this process has made, by operation (for run reports).
    pub fn api_calls(&self) -> std::collections::BTreeMap<String, u64> {
        crate::providers::aws::calls::api_calls()
    }

    /// The Kubernetes side of a region's clusters, without a plan (capture, drift, dev).
    pub async fn workloads(&self, region: &str) -> Result<Arc<KubeWorkloads>, ProviderError> {
        Ok(Arc::new(KubeWorkloads::new(self.aws(region).await.kube().await?)))
    }
}
