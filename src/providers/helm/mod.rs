//! [`HelmReleases`]: the [`ReleaseProvider`] — replaying the plan's pinned releases with the pinned
//! helm binary.
//!
//! - [`binary`]: finds helm, refuses a version other than the plan's, runs it with its output in
//!   the run log (secrets redacted) and kills it if the step is cancelled.
//! - [`chart`]: pulls the exact chart version into the run's cache and verifies its digest before
//!   any change; installs use that verified package.
//! - [`values`]: values files, inline values and secret values as private temporary files.
//! - [`release`]: reads a release's state and cutover's labels on it.
//!
//! Helm reaches the cluster through a kubeconfig (0600, per invocation) whose user runs
//! `cutover token`, so no token is ever written to disk or passed in argv.
//!
//! Idempotency: a release already deployed at the plan's chart version with the same inputs
//! digest (chart package + values, a label on the release) is left alone. A `pending-*` revision
//! left by an interrupted helm is recovered once it is older than the release's timeout (its helm
//! would have given up by then): a pending install is uninstalled, a pending upgrade or rollback is
//! rolled back to the last good revision; then the install proceeds. A younger one is reported as
//! in progress (retryable), since another helm may still be working on it.

pub mod binary;
pub mod chart;
pub mod release;
pub mod values;

use std::ffi::OsString;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use tokio::sync::OnceCell;

use self::binary::{Helm, args};
use self::chart::Charts;
use self::release::{Current, LABEL_INPUTS, is_in_flight, parse_metadata};
use self::values::{Redactor, write_private};
use crate::plan::{Plan, Release};
use crate::providers::aws::kubeconfig::{ClusterAccess, kubeconfig};
use crate::providers::health::status_name;
use crate::providers::kube::KubeClients;
use crate::providers::{
    ErrorKind, Ownership, ProviderError, ReleaseInfo, ReleaseProvider, ReleaseStatus, TAG_PLAN,
    TAG_RUN_ID,
};

/// helm's own timeout for uninstalls (the trait gives none; the engine bounds the call anyway).
const UNINSTALL_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// How a [`HelmReleases`] runs helm.
#[derive(Debug, Clone)]
pub struct HelmConfig {
    /// The helm binary ([`binary::locate`] finds the usual one).
    pub binary: PathBuf,
    /// The version the plan pins (`spec.helm.version`).
    pub version: String,
    /// The cutover binary helm runs as its credential plugin (`cutover token`).
    pub cutover: PathBuf,
    /// AWS region for the tokens (`spec.aws.region`).
    pub region: String,
    /// The chart cache and per-invocation files (created 0700 if absent); one per run.
    pub work_dir: PathBuf,
    /// Extra environment for helm and the `cutover token` it runs.
    pub env: Vec<(OsString, OsString)>,
    /// OCI registries (`host:port`) reached over plain HTTP; for local test registries only.
    pub plain_http_registries: Vec<String>,
    /// Values for `secretValues: {fromEnv: VAR}` supplied explicitly, looked up before the
    /// process environment (callers that run many environments in one process, and tests).
    pub secret_env: std::collections::BTreeMap<String, String>,
}

impl HelmConfig {
    /// The configuration for `plan`, with helm from `CUTOVER_HELM` or PATH.
    pub fn for_plan(
        plan: &Plan,
        cutover: PathBuf,
        work_dir: PathBuf,
    ) -> Result<Self, ProviderError> {
        Ok(HelmConfig {
            binary: binary::locate()?,
            version: plan.helm.version.clone(),
            cutover,
            region: plan.aws.region.clone(),
            work_dir,
            env: Vec::new(),
            plain_http_registries: Vec::new(),
            secret_env: Default::default(),
        })
    }
}

/// The release provider: helm runs for installs and uninstalls, release Secrets for reading state.
pub struct HelmReleases {
    cfg: HelmConfig,
    helm: Helm,
    clients: Arc<KubeClients>,
    charts: Charts,
    version_checked: OnceCell<Result<(), ProviderError>>,
}

/// helm's `--timeout`: a little under the engine's bound, so helm reports its own timeout (and
/// marks the release failed) before the engine gives up on the call.
fn helm_timeout(timeout: Duration) -> Duration {
    let margin = (timeout / 10).clamp(Duration::from_secs(1), Duration::from_secs(30));
    timeout.saturating_sub(margin).max(Duration::from_secs(1))
}

fn go_duration(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

fn other(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Other, message)
}

impl HelmReleases {
    /// A provider for `cfg`; creates the private work directory (0700) if absent.
    pub fn new(cfg: HelmConfig, clients: Arc<KubeClients>) -> Result<Self, ProviderError> {
        // Private: per-invocation directories under it hold kubeconfigs and secret values.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&cfg.work_dir)
            .map_err(|e| other(format!("cannot create {}: {e}", cfg.work_dir.display())))?;
        let helm = Helm {
            path: cfg.binary.clone(),
            env: cfg.env.clone(),
        };
        let charts = Charts::new(
            cfg.work_dir.join("charts"),
            cfg.plain_http_registries.clone(),
        );
        Ok(HelmReleases {
            cfg,
            helm,
            clients,
            charts,
            version_checked: OnceCell::new(),
        })
    }

    /// Refuses a helm binary other than the pinned version (checked once, before any helm use).
    pub async fn check_version(&self) -> Result<(), ProviderError> {
        self.version_checked
            .get_or_init(|| async {
                let found = self.helm.version().await?;
                let pinned = binary::normalize_version(&self.cfg.version);
                if found != pinned {
                    return Err(ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "the plan pins helm {pinned} (spec.helm.version), but {} is helm {found}; \
                             install helm {pinned} and put it on PATH or point CUTOVER_HELM at it",
                            self.cfg.binary.display()
                        ),
                    ));
                }
                tracing::info!(helm = %self.cfg.binary.display(), version = %found, "helm version matches the plan");
                Ok(())
            })
            .await
            .clone()
    }

    /// A private directory for one helm invocation, holding its kubeconfig (and values files).
    async fn session(&self, cluster: &str) -> Result<(tempfile::TempDir, PathBuf), ProviderError> {
        let dir = tempfile::Builder::new()
            .prefix("helm-")
            .tempdir_in(&self.cfg.work_dir)
            .map_err(|e| {
                other(format!(
                    "cannot create a directory in {}: {e}",
                    self.cfg.work_dir.display()
                ))
            })?;
        let endpoint = self.clients.endpoint(cluster).await?;
        let access = ClusterAccess {
            cluster: cluster.to_string(),
            region: self.cfg.region.clone(),
            endpoint: endpoint.server,
            ca_data: base64::engine::general_purpose::STANDARD.encode(&endpoint.ca_pem),
        };
        let doc = kubeconfig(&access, &self.cfg.cutover);
        let path = dir.path().join("kubeconfig");
        write_private(&path, doc.to_string().as_bytes())?;
        Ok((dir, path))
    }

    async fn current(
        &self,
        cluster: &str,
        name: &str,
        namespace: &str,
    ) -> Result<Option<Current>, ProviderError> {
        let (dir, kc) = self.session(cluster).await?;
        let a = args([
            "get".as_ref(),
            "metadata".as_ref(),
            name.as_ref(),
            "-n".as_ref(),
            namespace.as_ref(),
            "-o".as_ref(),
            "json".as_ref(),
            "--kubeconfig".as_ref(),
            kc.as_os_str(),
        ]);
        let done = self
            .helm
            .run(&a, dir.path(), &Redactor::default(), "get metadata")
            .await?;
        if !done.success {
            let text = done.stderr_tail.join("\n");
            if text.contains("release: not found") {
                return Ok(None);
            }
            return Err(ProviderError::new(
                done.kind(),
                format!(
                    "cannot read release {namespace}/{name} on cluster {cluster}: {}",
                    done.quote()
                ),
            ));
        }
        let meta = parse_metadata(&done.stdout, name)?;
        release::current(&self.clients, cluster, meta).await
    }

    /// Clears a pending-* revision left by a helm that is no longer running.
    async fn recover(
        &self,
        cluster: &str,
        release: &Release,
        current: &Current,
    ) -> Result<(), ProviderError> {
        let status = current.info.status;
        let name = &release.name;
        let ns = &release.namespace;
        if !current.abandoned(release.timeout, jiff::Timestamp::now()) {
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!(
                    "release {ns}/{name} on cluster {cluster} is {} (revision {}) since {}: another helm may \
                     still be working on it; cutover takes over once it is older than the release timeout ({} s)",
                    status_name(status),
                    current.info.revision,
                    current
                        .touched
                        .map(|t| t.to_string())
                        .unwrap_or_else(|| "an unknown time".into()),
                    release.timeout.as_secs()
                ),
            ));
        }
        let (dir, kc) = self.session(cluster).await?;
        let timeout = go_duration(helm_timeout(release.timeout));
        let (verb, a) = match status {
            ReleaseStatus::PendingUpgrade | ReleaseStatus::PendingRollback => (
                "rollback",
                args([
                    "rollback".as_ref(),
                    name.as_ref(),
                    "-n".as_ref(),
                    ns.as_ref(),
                    "--wait".as_ref(),
                    "--timeout".as_ref(),
                    timeout.as_ref(),
                    "--kubeconfig".as_ref(),
                    kc.as_os_str(),
                ]),
            ),
            _ => (
                "uninstall",
                args([
                    "uninstall".as_ref(),
                    name.as_ref(),
                    "-n".as_ref(),
                    ns.as_ref(),
                    "--wait".as_ref(),
                    "--ignore-not-found".as_ref(),
                    "--timeout".as_ref(),
                    timeout.as_ref(),
                    "--kubeconfig".as_ref(),
                    kc.as_os_str(),
                ]),
            ),
        };
        tracing::warn!(
            release = %name, namespace = %ns, cluster, status = %status_name(status), revision = current.info.revision,
            "an interrupted helm left this release mid-operation; recovering with helm {verb}"
        );
        let done = self
            .helm
            .run(&a, dir.path(), &Redactor::default(), verb)
            .await?;
        if !done.success {
            return Err(ProviderError::new(
                done.kind(),
                format!(
                    "release {ns}/{name} on cluster {cluster} was left {} by an interrupted helm, and helm {verb} could not clear it: {}",
                    status_name(status),
                    done.quote()
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl ReleaseProvider for HelmReleases {
    async fn verify_chart(&self, release: &Release) -> Result<(), ProviderError> {
        self.check_version().await?;
        self.charts.fetch(&self.helm, release).await.map(|_| ())
    }

    async fn status(
        &self,
        cluster: &str,
        name: &str,
        namespace: &str,
    ) -> Result<Option<ReleaseInfo>, ProviderError> {
        self.check_version().await?;
        Ok(self
            .current(cluster, name, namespace)
            .await?
            .map(|c| c.info))
    }

    async fn install(
        &self,
        cluster: &str,
        release: &Release,
        own: &Ownership,
    ) -> Result<ReleaseInfo, ProviderError> {
        self.check_version().await?;
        let chart = self.charts.verified(&self.helm, release).await?;
        let (dir, kc) = self.session(cluster).await?;
        let values = values::prepare(release, &chart.sha256, dir.path(), &self.cfg.secret_env)?;
        let name = &release.name;
        let ns = &release.namespace;
        if let Some(current) = self.current(cluster, name, ns).await? {
            let same = current.info.status == ReleaseStatus::Deployed
                && current.info.chart_version == release.version
                && current.inputs() == Some(values.digest.as_str());
            if same {
                tracing::info!(release = %name, namespace = %ns, cluster, revision = current.info.revision,
                    "already deployed with this chart and these values; nothing to do");
                return Ok(current.info);
            }
            if is_in_flight(current.info.status) {
                self.recover(cluster, release, &current).await?;
            }
        }
        let timeout = go_duration(helm_timeout(release.timeout));
        let labels = format!(
            "{TAG_RUN_ID}={},{TAG_PLAN}={},{LABEL_INPUTS}={}",
            own.run_id, own.plan, values.digest
        );
        let description = format!("cutover run {} of plan {}", own.run_id, own.plan);
        let mut a = args([
            "upgrade".as_ref(),
            "--install".as_ref(),
            name.as_ref(),
            chart.path.as_os_str(),
            "-n".as_ref(),
            ns.as_ref(),
            "--wait".as_ref(),
            "--timeout".as_ref(),
            timeout.as_ref(),
            "--labels".as_ref(),
            labels.as_ref(),
            "--description".as_ref(),
            description.as_ref(),
            "--kubeconfig".as_ref(),
            kc.as_os_str(),
        ]);
        if release.create_namespace {
            a.push("--create-namespace".into());
        }
        for f in &values.files {
            a.push("-f".into());
            a.push(f.clone().into());
        }
        tracing::info!(release = %name, namespace = %ns, cluster, version = %release.version, "helm upgrade --install");
        let done = self
            .helm
            .run(&a, dir.path(), &values.redactor, "upgrade --install")
            .await?;
        // Secret files go now, whatever happens next.
        drop(dir);
        if !done.success {
            return Err(ProviderError::new(
                done.kind(),
                format!(
                    "helm upgrade --install of release {ns}/{name} on cluster {cluster} failed: {}",
                    done.quote()
                ),
            ));
        }
        self.current(cluster, name, ns)
            .await?
            .map(|c| c.info)
            .ok_or_else(|| other(format!("helm reported release {ns}/{name} installed, but cluster {cluster} has no record of it")))
    }

    async fn render(&self, release: &Release, kube_version: &str) -> Result<String, ProviderError> {
        self.check_version().await?;
        let chart = self.charts.verified(&self.helm, release).await?;
        let dir = tempfile::Builder::new()
            .prefix("helm-")
            .tempdir_in(&self.cfg.work_dir)
            .map_err(|e| other(format!("cannot create a directory in {}: {e}", self.cfg.work_dir.display())))?;
        let values = values::prepare(release, &chart.sha256, dir.path(), &self.cfg.secret_env)?;
        let mut a = args([
            "template".as_ref(),
            release.name.as_ref(),
            chart.path.as_os_str(),
            "-n".as_ref(),
            release.namespace.as_ref(),
            "--kube-version".as_ref(),
            kube_version.as_ref(),
        ]);
        for f in &values.files {
            a.push("-f".into());
            a.push(f.clone().into());
        }
        let done = self.helm.run(&a, dir.path(), &values.redactor, "template").await?;
        drop(dir);
        if !done.success {
            return Err(ProviderError::new(
                done.kind(),
                format!("helm template of release {} at Kubernetes {kube_version} failed: {}", release.name, done.quote()),
            ));
        }
        Ok(done.stdout)
    }

    async fn uninstall(
        &self,
        cluster: &str,
        name: &str,
        namespace: &str,
    ) -> Result<(), ProviderError> {
        self.check_version().await?;
        let (dir, kc) = self.session(cluster).await?;
        let timeout = go_duration(UNINSTALL_TIMEOUT);
        let a = args([
            "uninstall".as_ref(),
            name.as_ref(),
            "-n".as_ref(),
            namespace.as_ref(),
            "--wait".as_ref(),
            "--ignore-not-found".as_ref(),
            "--timeout".as_ref(),
            timeout.as_ref(),
            "--kubeconfig".as_ref(),
            kc.as_os_str(),
        ]);
        let done = self
            .helm
            .run(&a, dir.path(), &Redactor::default(), "uninstall")
            .await?;
        if !done.success {
            return Err(ProviderError::new(
                done.kind(),
                format!(
                    "helm uninstall of release {namespace}/{name} on cluster {cluster} failed: {}",
                    done.quote()
                ),
            ));
        }
        tracing::info!(release = %name, namespace, cluster, "uninstalled");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helm_gives_up_a_little_before_the_engine() {
        assert_eq!(
            helm_timeout(Duration::from_secs(300)),
            Duration::from_secs(270)
        );
        assert_eq!(
            helm_timeout(Duration::from_secs(3600)),
            Duration::from_secs(3570)
        );
        assert_eq!(helm_timeout(Duration::from_secs(5)), Duration::from_secs(4));
        assert_eq!(go_duration(Duration::from_millis(300)), "1s");
    }
}
