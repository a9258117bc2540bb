//! [`ClusterHealth`]: the [`HealthProvider`] — one attempt of any plan check against the live
//! clusters. Node and workload checks read the Kubernetes API ([`super::kube::health`]),
//! `releasesDeployed` asks the [`ReleaseProvider`], `http` probes through a load balancer
//! ([`super::probe`]) and `command` runs a local program.
//!
//! `http` with `via: green` (or `blue`) goes to the load balancer of the side the plan's traffic
//! record for the URL's host points at, with the production Host header and SNI, so green is proved
//! before DNS sends it anyone.
//!
//! Outcomes are one line, journaled and shown: they name what failed and never carry secrets
//! (bodies and command output go to the run log at debug level, not into the outcome).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::kube::KubeClients;
use super::kube::health::{nodes_ready, workloads_ready};
use super::kube::workloads::load_balancer;
use super::probe::{Route, probe};
use crate::plan::{Check, CheckKind, HttpCheck, Plan, ProbeTarget, RecordTarget};
use crate::providers::{
    CheckOutcome, CheckTarget, ErrorKind, HealthProvider, ProviderError, ReleaseProvider,
    ReleaseStatus,
};

/// The health provider: one attempt of any plan check against the live clusters.
pub struct ClusterHealth {
    plan: Arc<Plan>,
    clients: Arc<KubeClients>,
    releases: Arc<dyn ReleaseProvider>,
    /// More environment for command checks (the run's `TRACEPARENT`).
    env: Vec<(String, String)>,
}

impl ClusterHealth {
    /// Health checks of `plan`'s checks, reading clusters through `clients` and releases through `releases`.
    pub fn new(
        plan: Arc<Plan>,
        clients: Arc<KubeClients>,
        releases: Arc<dyn ReleaseProvider>,
    ) -> Self {
        ClusterHealth {
            plan,
            clients,
            releases,
            env: Vec::new(),
        }
    }

    /// Command checks also get `env`.
    pub fn with_env(mut self, env: Vec<(String, String)>) -> Self {
        self.env = env;
        self
    }

    fn plan_dir(&self) -> PathBuf {
        self.plan
            .source
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    async fn releases_deployed(&self, cluster: &str) -> Result<CheckOutcome, ProviderError> {
        let mut problems = Vec::new();
        for r in &self.plan.releases {
            match self.releases.status(cluster, &r.name, &r.namespace).await? {
                None => problems.push(format!("{} is not installed", r.name)),
                Some(info) if info.status != ReleaseStatus::Deployed => problems.push(format!(
                    "{} is {} (revision {})",
                    r.name,
                    status_name(info.status),
                    info.revision
                )),
                Some(info) if info.chart_version != r.version => problems.push(format!(
                    "{} runs chart version {}, the plan pins {}",
                    r.name, info.chart_version, r.version
                )),
                Some(_) => {}
            }
        }
        let total = self.plan.releases.len();
        Ok(if problems.is_empty() {
            CheckOutcome {
                passed: true,
                detail: format!("{total} release{} deployed on {cluster}", if total == 1 { "" } else { "s" }),
            }
        } else {
            CheckOutcome {
                passed: false,
                detail: format!(
                    "{} of {total} releases not deployed on {cluster}: {}",
                    problems.len(),
                    problems.join("; ")
                ),
            }
        })
    }

    /// Where an `http` check connects: `Ok(None)` for DNS, `Err(outcome)` when the target has no
    /// address yet (a failed attempt, not an error: it may still come).
    async fn route(
        &self,
        target: &CheckTarget,
        http: &HttpCheck,
    ) -> Result<Result<Option<Route>, CheckOutcome>, ProviderError> {
        let (side, cluster) = match http.via {
            ProbeTarget::Dns => return Ok(Ok(None)),
            ProbeTarget::Green => ("green", target.green_cluster.clone()),
            ProbeTarget::Blue => match &target.blue_cluster {
                Some(b) => ("blue", b.clone()),
                None => {
                    return Err(invalid(
                        "`via: blue` needs a blue cluster, and this plan has none; use `via: green` or `via: dns`",
                    ));
                }
            },
        };
        let url = reqwest::Url::parse(&http.url)
            .map_err(|e| invalid(format!("{:?} is not a URL: {e}", http.url)))?;
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let port = url.port_or_known_default().unwrap_or(80);
        let record = self
            .plan
            .traffic
            .iter()
            .flat_map(|t| &t.records)
            .find(|r| r.name.trim_end_matches('.').eq_ignore_ascii_case(&host))
            .ok_or_else(|| {
                invalid(format!(
                    "`via: {side}` probes the load balancer that the traffic record for {host} points at, \
                     and the plan has no traffic record named {host}; add one or use `via: dns`"
                ))
            })?;
        let pending = |detail: String| {
            Ok(Err(CheckOutcome {
                passed: false,
                detail,
            }))
        };
        let side_target = if side == "green" {
            &record.green
        } else {
            &record.blue
        };
        let (name, via) = match side_target {
            RecordTarget::Hostname(h) => (h.clone(), format!("{side} target {h}")),
            RecordTarget::Service { namespace, name } => {
                match load_balancer(&self.clients, &cluster, namespace, name).await? {
                    None => {
                        return pending(format!(
                            "service {namespace}/{name} on {side} cluster {cluster} has no load balancer address yet"
                        ));
                    }
                    Some(lb) => {
                        let shown = lb.hostname.clone().or(lb.ip.clone()).unwrap_or_default();
                        let via = format!("{side} load balancer {shown}");
                        // An address the controller published needs no DNS (and a fresh ELB
                        // name can take minutes to resolve).
                        if let Some(ip) = lb.ip.as_deref().and_then(|ip| ip.parse::<IpAddr>().ok())
                        {
                            return Ok(Ok(Some(Route {
                                addrs: vec![ip],
                                via,
                            })));
                        }
                        (lb.hostname.unwrap_or_default(), via)
                    }
                }
            }
        };
        match tokio::net::lookup_host((name.as_str(), port)).await {
            Ok(addrs) => {
                let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
                if addrs.is_empty() {
                    return pending(format!("{via} does not resolve to any address yet"));
                }
                Ok(Ok(Some(Route { addrs, via })))
            }
            Err(e) => pending(format!("{via} does not resolve yet: {e}")),
        }
    }

    async fn command(
        &self,
        argv: &[String],
        expect: i32,
        limit: Duration,
    ) -> Result<CheckOutcome, ProviderError> {
        let Some(program) = argv.first() else {
            return Err(invalid("the command check has an empty `run`"));
        };
        let dir = self.plan_dir();
        // Relative programs like ./scripts/smoke.sh are relative to the plan file, as every path in a plan.
        let resolved = if program.contains('/') && Path::new(program).is_relative() {
            dir.join(program)
        } else {
            PathBuf::from(program)
        };
        let mut child = tokio::process::Command::new(&resolved)
            .args(&argv[1..])
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| invalid(format!("cannot run {program}: {e}")))?;
        let out = log_lines(child.stdout.take(), program, "stdout");
        let err = log_lines(child.stderr.take(), program, "stderr");
        let waited = tokio::time::timeout(limit, async {
            let (status, _, _) = tokio::join!(child.wait(), out, err);
            status
        })
        .await;
        let status = match waited {
            Err(_) => {
                let _ = child.kill().await;
                return Ok(CheckOutcome {
                    passed: false,
                    detail: format!(
                        "{program} did not finish within {} s and was stopped",
                        limit.as_secs()
                    ),
                });
            }
            Ok(Err(e)) => {
                return Err(ProviderError::new(
                    ErrorKind::Other,
                    format!("waiting for {program}: {e}"),
                ));
            }
            Ok(Ok(s)) => s,
        };
        Ok(match status.code() {
            Some(code) if code == expect => CheckOutcome {
                passed: true,
                detail: format!("{program} exited {code}"),
            },
            Some(code) => CheckOutcome {
                passed: false,
                detail: format!(
                    "{program} exited {code} (expected {expect}); its output is in the run log"
                ),
            },
            None => CheckOutcome {
                passed: false,
                detail: format!("{program} was killed by a signal"),
            },
        })
    }
}

/// Sends a child's output to the run log, line by line.
async fn log_lines<R: tokio::io::AsyncRead + Unpin>(stream: Option<R>, program: &str, which: &str) {
    let Some(stream) = stream else { return };
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "cutover::check", program, stream = which, "{line}");
    }
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// `pending-upgrade`, as helm spells it.
pub fn status_name(status: ReleaseStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{status:?}"))
}

#[async_trait]
impl HealthProvider for ClusterHealth {
    async fn check(
        &self,
        target: &CheckTarget,
        check: &Check,
    ) -> Result<CheckOutcome, ProviderError> {
        let green = &target.green_cluster;
        match &check.kind {
            CheckKind::NodesReady { min } => {
                nodes_ready(&self.clients, green, *min, self.plan.green.version).await
            }
            CheckKind::WorkloadsReady { namespaces } => {
                workloads_ready(&self.clients, green, namespaces).await
            }
            CheckKind::ReleasesDeployed => self.releases_deployed(green).await,
            CheckKind::Http(http) => match self.route(target, http).await? {
                Ok(route) => probe(http, route.as_ref()).await,
                Err(not_yet) => Ok(not_yet),
            },
            CheckKind::Command { argv, expect_exit } => {
                self.command(argv, *expect_exit, check.timeout).await
            }
            CheckKind::Webhook { url, timeout } => super::signals::webhook(url, *timeout, target).await,
            CheckKind::Prometheus(p) => super::signals::prometheus(p, target).await,
            CheckKind::Alertmanager { url, matchers } => super::signals::alertmanager(url, matchers, target).await,
        }
    }
}
