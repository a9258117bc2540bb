//! Every environment of every source at a glance, and the needs-attention queue: one read of
//! each environment's latest run (its journal and lock, through `ops::inspect`), environments
//! read a few at a time, each read bounded in time so one slow bucket cannot stall the page.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::engine::{RunPhase, RunStatus};
use crate::ops::drill::JournaledVerdict;
use crate::ops::inspect;
use crate::plan::{Plan, PlanKind};
use crate::providers::LockInfo;
use crate::providers::weights::RecordWeights;

use super::dev::Listing;
use super::sources::Catalog;
use crate::dev::clusters::DevClusterView;
use super::weights;

/// The environment name of a row that stands for a whole backend that could not be listed.
pub const SOURCE_ROW: &str = "-";

/// How many environments are read at once.
const READ_CONCURRENCY: usize = 16;

/// One environment's row.
#[derive(Debug, Clone)]
pub struct EnvRow {
    /// Source id (URL part).
    pub source: String,
    /// Source label, for people.
    pub source_label: String,
    /// The environment (`metadata.name`).
    pub env: String,
    /// The latest run; `None` before the first run.
    pub status: Option<RunStatus>,
    /// Who holds the environment lock now.
    pub lock: Option<LockInfo>,
    /// Each record's latest journaled weights, and where a running shift moves green.
    pub weights: Vec<(RecordWeights, Option<u8>)>,
    /// The plan, when `--plans` has it.
    pub plan: Option<Arc<Plan>>,
    /// A drill's verdict, when the run is a finished drill and its plan is known.
    pub drill: Option<JournaledVerdict>,
    /// Why the environment could not be read.
    pub error: Option<String>,
    /// The environment's dev cluster as EKS lists it (DevCluster plans' regions only).
    pub dev: Option<DevClusterView>,
}

impl EnvRow {
    /// The plan's kind, else the journal's.
    pub fn kind(&self) -> String {
        match (&self.plan, &self.status) {
            (Some(p), _) => format!("{:?}", p.kind),
            (None, Some(s)) => s.kind.clone(),
            (None, None) => "-".into(),
        }
    }

    /// The plan's owner, else who started the latest run.
    pub fn owner(&self) -> String {
        match (&self.plan, &self.status) {
            (Some(p), _) => p.metadata.owner.clone(),
            (None, Some(s)) => s.started_by.clone(),
            (None, None) => String::new(),
        }
    }
}

/// How urgent an item of the queue is; the queue is sorted by it, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    /// A human must act: an interlock, a failed compensation, an unreadable journal.
    NeedsAttention,
    /// Stopped at a failed step, waiting for `resume` or `rollback`.
    Paused,
    /// Interrupted: no process runs it, or the lock's process is gone.
    Interrupted,
    /// Failed and rolled back by itself.
    RolledBack,
    /// A pre-flight gate refused it.
    Refused,
    /// A wait is over: `resume` continues it.
    WaitDue,
    /// A dev cluster's TTL ran out: `cutover dev extend` or `dev reap`.
    DevExpired,
}

impl Urgency {
    /// The label on screen.
    pub fn label(self) -> &'static str {
        match self {
            Urgency::NeedsAttention => "needs attention",
            Urgency::Paused => "paused",
            Urgency::Interrupted => "interrupted",
            Urgency::RolledBack => "failed, rolled back",
            Urgency::Refused => "refused",
            Urgency::WaitDue => "wait due",
            Urgency::DevExpired => "dev cluster expired",
        }
    }
}

/// One item of the needs-attention queue.
#[derive(Debug, Clone)]
pub struct Attention {
    /// How urgent.
    pub urgency: Urgency,
    /// The environment (or dev cluster) concerned.
    pub env: String,
    /// Where to look: the run, else the environment; `None` for a cluster with no state here.
    pub link: Option<String>,
    /// What is wrong, in one line.
    pub text: String,
}

/// The whole overview.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Every environment, by source then name.
    pub rows: Vec<EnvRow>,
    /// What needs a person, most urgent first.
    pub attention: Vec<Attention>,
    /// Plans that could not be loaded.
    pub plan_problems: Vec<String>,
    /// Dev clusters of the DevCluster plans' regions, from EKS.
    pub dev: Listing,
    /// When it was read.
    pub now: Timestamp,
}

/// Reads every environment of every source; each source listing and each environment read is
/// bounded by `timeout` (what did not answer is a row with an error).
pub async fn overview(catalog: &Arc<Catalog>, timeout: Duration) -> Overview {
    let now = Timestamp::now();
    let mut rows = Vec::new();
    let limit = Arc::new(Semaphore::new(READ_CONCURRENCY));
    let mut tasks = JoinSet::new();
    for (si, source) in catalog.sources.iter().enumerate() {
        let mut envs = match tokio::time::timeout(timeout, inspect::environments(source.state.as_ref())).await {
            Ok(Ok(envs)) => envs,
            Ok(Err(e)) => {
                rows.push(error_row(catalog, si, SOURCE_ROW, e.to_string()));
                continue;
            }
            Err(_) => {
                rows.push(error_row(catalog, si, SOURCE_ROW, format!("listing environments took over {timeout:?}")));
                continue;
            }
        };
        // Plans of this source with no state yet are environments too (never run).
        for (source_id, env) in catalog.plans.keys() {
            if *source_id == source.id && !envs.contains(env) {
                envs.push(env.clone());
            }
        }
        for env in envs {
            let (catalog, limit) = (catalog.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("never closed");
                let read = tokio::time::timeout(timeout, read_env(&catalog, si, &env)).await;
                read.unwrap_or_else(|_| error_row(&catalog, si, &env, format!("reading took over {timeout:?}")))
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(row) = done {
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| (&a.source_label, &a.env).cmp(&(&b.source_label, &b.env)));
    // An S3 prefix may list a folder that holds no environment (a nested prefix): leave it out.
    rows.retain(|r| r.status.is_some() || r.lock.is_some() || r.plan.is_some() || r.error.is_some());
    let dev = catalog.dev.list(timeout).await;
    for row in &mut rows {
        row.dev = dev.clusters.iter().find(|(_, c)| c.plan == row.env).map(|(_, c)| c.clone());
    }
    let mut attention = attention(&rows, now);
    for (region, c) in dev.clusters.iter().filter(|(_, c)| c.expired) {
        let row = rows.iter().find(|r| r.env == c.plan);
        attention.push(Attention {
            urgency: Urgency::DevExpired,
            env: c.name.clone(),
            link: row.map(|r| super::pages::env_link(&r.source, &r.env)),
            text: format!(
                "{} (owner {}, {region}): `cutover dev extend {} --ttl 4h` or `cutover dev reap`",
                c.expires_in(),
                c.owner,
                c.name
            ),
        });
    }
    Overview { rows, attention, plan_problems: catalog.plan_problems.clone(), dev, now }
}

fn error_row(catalog: &Catalog, si: usize, env: &str, error: String) -> EnvRow {
    let source = &catalog.sources[si];
    EnvRow {
        source: source.id.clone(),
        source_label: source.label.clone(),
        env: env.to_string(),
        status: None,
        lock: None,
        weights: Vec::new(),
        plan: catalog.plan(&source.id, env).cloned(),
        drill: None,
        error: Some(error),
        dev: None,
    }
}

async fn read_env(catalog: &Catalog, si: usize, env: &str) -> EnvRow {
    let source = &catalog.sources[si];
    let state = source.state.as_ref();
    let mut row = error_row(catalog, si, env, String::new());
    row.error = None;
    let read = async {
        row.lock = inspect::lock_in(state, env).await?;
        let Some(run) = inspect::current_run_in(state, env).await? else {
            return Ok(());
        };
        let records = catalog.journals.records(&source.id, state, env, &run).await?;
        let points = weights::series(&records);
        row.weights = weights::latest(&points);
        row.drill = row.plan.as_deref().and_then(|p| crate::ops::drill::journaled_verdict(p, &records));
        row.status = RunStatus::replay(&records).map(|mut s| {
            s.lock = row.lock.clone();
            s
        });
        Ok::<(), crate::ops::OpsError>(())
    };
    if let Err(e) = read.await {
        row.error = Some(e.to_string());
    }
    row
}

/// The queue: one item per environment that needs a person, most urgent first.
pub fn attention(rows: &[EnvRow], now: Timestamp) -> Vec<Attention> {
    let mut items = Vec::new();
    for row in rows {
        let link = match &row.status {
            Some(s) => super::pages::run_link(&row.source, &row.env, &s.run_id),
            None => super::pages::env_link(&row.source, &row.env),
        };
        // A backend that could not be listed has no environment: it is named by its label.
        let whole_source = row.env == SOURCE_ROW;
        let item = |urgency, text: String| Attention {
            urgency,
            env: if whole_source { row.source_label.clone() } else { row.env.clone() },
            link: (!whole_source).then(|| link.clone()),
            text,
        };
        if let Some(error) = &row.error {
            items.push(item(Urgency::NeedsAttention, format!("cannot be read: {error}")));
            continue;
        }
        let Some(status) = &row.status else { continue };
        let holder_gone = row.lock.as_ref().is_some_and(|l| {
            l.host == crate::engine::this_host() && !crate::ops::inspect::holder_alive(l)
        });
        let found = match &status.phase {
            RunPhase::NeedsAttention { step, cause } => Some((Urgency::NeedsAttention, at(step.as_deref(), cause))),
            RunPhase::Paused { step, cause } => Some((Urgency::Paused, at(Some(step), cause))),
            RunPhase::Running | RunPhase::RollingBack { .. } if row.lock.is_none() => Some((
                Urgency::Interrupted,
                format!("{}; no process holds the lock: `cutover resume`", status.phase.describe()),
            )),
            RunPhase::Running | RunPhase::RollingBack { .. } if holder_gone => Some((
                Urgency::Interrupted,
                format!("the lock's process is gone ({}): `cutover unlock`, then `cutover resume`", lock_text(row)),
            )),
            RunPhase::RolledBack { to, cause, requested_by: None } => Some((
                Urgency::RolledBack,
                format!("rolled back to {}: {cause}", to.as_deref().unwrap_or("the start")),
            )),
            RunPhase::Refused { step, cause } => Some((Urgency::Refused, at(Some(step), cause))),
            RunPhase::Waiting { step, until } if *until <= now => {
                Some((Urgency::WaitDue, format!("{step} may continue since {until}: `cutover resume`")))
            }
            _ => None,
        };
        if let Some((urgency, text)) = found {
            items.push(item(urgency, text));
        } else if row.lock.is_some() && status.phase.outcome().is_some() {
            // A stopped run whose lock is still there: nothing runs, yet the next run is refused.
            items.push(item(
                Urgency::Interrupted,
                format!("lock still held ({}) though the run has stopped: `cutover unlock`", lock_text(row)),
            ));
        }
    }
    items.sort_by_key(|a| a.urgency);
    items
}

fn at(step: Option<&str>, cause: &str) -> String {
    match step {
        Some(step) => format!("at {step}: {cause}"),
        None => cause.to_string(),
    }
}

fn lock_text(row: &EnvRow) -> String {
    row.lock.as_ref().map(|l| format!("run {} by {} on {} pid {}", l.run_id, l.user, l.host, l.pid)).unwrap_or_default()
}

/// Whether a row is a dev cluster's environment (shown with its expiry when known).
pub fn is_dev(row: &EnvRow) -> bool {
    row.plan.as_ref().map_or_else(
        || row.status.as_ref().is_some_and(|s| s.kind == "DevCluster"),
        |p| p.kind == PlanKind::DevCluster,
    )
}
