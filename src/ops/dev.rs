//! Dev clusters: `up` builds a DevCluster plan's cluster through the engine under its own
//! environment and tags it with owner and expiry; `list`, `extend`, `down` and `reap` act on the
//! region's clusters by their tags ([`crate::dev`] holds the rules).

use std::path::PathBuf;

use std::time::Duration;

use jiff::Timestamp;

use crate::compose::Context;
use crate::dev::clusters::{DevClusterView, DevClusters, Extended, ReapReport};
use crate::dev::{self, TAG_EXPIRES};
use crate::plan::{Plan, Timeouts};

use super::OpsError;
use super::run::{RunOptions, RunResult};

/// `dev up` before it runs: the plan turned into one named dev cluster, with who owns it and for
/// how long (shown to the operator for confirmation).
pub struct DevUpPlan {
    /// The plan, renamed and tagged as this dev cluster.
    pub plan: Plan,
    /// The dev cluster's name (its EKS cluster and its environment).
    pub name: String,
    /// The AWS region it is built in.
    pub region: String,
    /// Who owns it (its owner tag).
    pub owner: String,
    /// How long it lives once ready.
    pub ttl: Duration,
}

/// Makes one named dev cluster of a DevCluster plan. The cluster is tagged with a provisional
/// expiry from now, so a build that dies is still reaped; [`up`] moves it once the cluster is ready.
pub fn prepare_up(
    plan: Plan,
    name: Option<&str>,
    ttl: Option<Duration>,
    owner: Option<String>,
    login: &str,
) -> Result<DevUpPlan, OpsError> {
    let ttl = ttl
        .or(plan.ttl)
        .ok_or_else(|| OpsError::Usage(format!("plan {} has no `ttl`; pass --ttl (e.g. --ttl 8h)", plan.metadata.name)))?;
    let owner = owner.unwrap_or_else(|| login.to_string());
    let plan = dev::prepare(plan, name, &owner, dev::expiry(Timestamp::now(), ttl)?)?;
    Ok(DevUpPlan { name: plan.green.name.clone(), region: plan.aws.region.clone(), plan, owner, ttl })
}

/// What `dev up` did.
pub struct DevUp {
    /// How the build ended, with its journal.
    pub run: RunResult,
    /// The expiry once the cluster was ready (`None` when the build did not complete).
    pub expires_at: Option<Timestamp>,
    /// Where the kubeconfig was written (`None` when the build did not complete).
    pub kubeconfig: Option<PathBuf>,
}

/// Builds the dev cluster; when it is ready, moves its expiry to ready time + TTL (a slow build
/// does not eat into the developer's time) and writes its kubeconfig to `kubeconfig`.
pub async fn up(cx: &Context, up: DevUpPlan, kubeconfig: PathBuf, opts: &RunOptions) -> Result<DevUp, OpsError> {
    let timeouts = up.plan.timeouts.clone();
    let wired = super::run::wire(cx, up.plan, opts).await?;
    let outcome = wired.engine.apply().await?;
    let completed = outcome == crate::engine::RunOutcome::Completed;
    let run = super::run::finish(cx, &wired, outcome).await;
    if !completed {
        return Ok(DevUp { run, expires_at: None, kubeconfig: None });
    }
    let expires_at = dev::expiry(Timestamp::now(), up.ttl)?;
    let tag = std::collections::BTreeMap::from([(TAG_EXPIRES.to_string(), dev::expiry_tag(expires_at))]);
    let aws = cx.aws(&up.region).await;
    crate::providers::ClusterInventory::tag_cluster(aws.eks(&timeouts, cx.settings().poll).as_ref(), &up.name, &tag)
        .await?;
    super::access::write_kubeconfig(cx, &up.name, &up.region, &kubeconfig).await?;
    Ok(DevUp { run, expires_at: Some(expires_at), kubeconfig: Some(kubeconfig) })
}

/// The region's dev clusters, through the real providers.
pub async fn clusters(cx: &Context, region: &str) -> Result<DevClusters, OpsError> {
    let timeouts = Timeouts::default();
    let eks = cx.aws(region).await.eks(&timeouts, cx.settings().poll);
    let workloads = cx.workloads(region).await?;
    Ok(DevClusters::new(eks.clone(), eks, workloads, timeouts))
}

/// Every dev cluster of the region, by name.
pub async fn list(cx: &Context, region: &str) -> Result<Vec<DevClusterView>, OpsError> {
    Ok(clusters(cx, region).await?.list(Timestamp::now()).await?)
}

/// Moves a dev cluster's expiry to `ttl` from now (never earlier than it is).
pub async fn extend(cx: &Context, region: &str, name: &str, ttl: Duration) -> Result<Extended, OpsError> {
    Ok(clusters(cx, region).await?.extend(name, ttl, Timestamp::now()).await?)
}

/// Deletes one dev cluster; any cluster that is not one is refused.
pub async fn down(cx: &Context, region: &str, name: &str) -> Result<(), OpsError> {
    Ok(clusters(cx, region).await?.down(name).await?)
}

/// Deletes every expired dev cluster of the region (`dry_run`: says which it would).
pub async fn reap(cx: &Context, region: &str, dry_run: bool) -> Result<ReapReport, OpsError> {
    Ok(clusters(cx, region).await?.reap(Timestamp::now(), dry_run).await?)
}

/// Tells `plan`'s sinks (`dev-expiring`) about each expired dev cluster a dry-run reap found, so
/// their owners can extend them before the real reap; says per sink and cluster how it went.
pub async fn tell_expiring(
    cx: &Context,
    plan: &crate::plan::Plan,
    region: &str,
    expired: &[String],
) -> Vec<super::notify::SinkResult> {
    let mut out = Vec::new();
    let day = Timestamp::now().strftime("%Y%m%d").to_string();
    for name in expired {
        let summary = format!("dev cluster {name} in {region} has expired; the next `cutover dev reap` deletes it");
        // One key per cluster and day: a reap scheduled hourly tells each owner once a day.
        let id = format!("dev-{region}-{name}-{day}");
        let mut n = super::notify::blank(plan, crate::plan::NotifyEvent::DevExpiring, name, id, summary);
        n.next_command = Some(format!("cutover dev extend {name} --ttl 8h --region {region}"));
        out.extend(super::notify::deliver(cx, plan, None, &n).await);
    }
    out
}

