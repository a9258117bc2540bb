//! Reading an environment's runs: status, history and the run list, straight from the journal in
//! the plan's state backend, and breaking a stale environment lock. Read-only except [`unlock`],
//! which removes the lock and nothing else (the journal is kept, so `resume` continues the run).
//!
//! The `*_in` functions take a state backend instead of a plan: readers that span environments
//! (the dashboard) list them ([`environments`]) and read each one the same way the CLI does.

use crate::compose::Context;
use crate::engine::{JournalRecord, RunStatus};
use crate::plan::Plan;
use crate::providers::{LockInfo, StateBackend, WeightedRecord};

use super::OpsError;

/// The environment's latest run, with the current lock holder; `None` before the first run.
pub async fn status(cx: &Context, plan: &Plan) -> Result<Option<RunStatus>, OpsError> {
    let state = cx.state(plan).await;
    status_in(state.as_ref(), &plan.metadata.name).await
}

/// Every record of a run's journal (`run: None`: the latest run); `None` before the first run.
pub async fn history(cx: &Context, plan: &Plan, run: Option<&str>) -> Result<Option<Vec<JournalRecord>>, OpsError> {
    let state = cx.state(plan).await;
    let env = &plan.metadata.name;
    if run.is_none() && state.current_run(env).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(history_in(state.as_ref(), env, run).await?))
}

/// The environment's run ids, oldest first.
pub async fn runs(cx: &Context, plan: &Plan) -> Result<Vec<String>, OpsError> {
    let state = cx.state(plan).await;
    runs_in(state.as_ref(), &plan.metadata.name).await
}

/// Who holds the environment lock, if anyone.
pub async fn lock_holder(cx: &Context, plan: &Plan) -> Result<Option<LockInfo>, OpsError> {
    let state = cx.state(plan).await;
    lock_in(state.as_ref(), &plan.metadata.name).await
}

/// Every environment with state in `state`, by name.
pub async fn environments(state: &dyn StateBackend) -> Result<Vec<String>, OpsError> {
    Ok(state.list_envs().await?)
}

/// The id of environment `env`'s latest run in `state`, if any.
pub async fn current_run_in(state: &dyn StateBackend, env: &str) -> Result<Option<String>, OpsError> {
    Ok(state.current_run(env).await?)
}

/// [`status`] of environment `env` in `state`.
pub async fn status_in(state: &dyn StateBackend, env: &str) -> Result<Option<RunStatus>, OpsError> {
    Ok(crate::engine::status(state, env).await?)
}

/// [`history`] of environment `env` in `state`; an error when the run (or any run) is unknown.
pub async fn history_in(state: &dyn StateBackend, env: &str, run: Option<&str>) -> Result<Vec<JournalRecord>, OpsError> {
    Ok(crate::engine::history(state, env, run).await?)
}

/// Run `run` of environment `env` in `state`, as its journal tells it (without the lock).
pub async fn run_status_in(state: &dyn StateBackend, env: &str, run: &str) -> Result<RunStatus, OpsError> {
    let records = history_in(state, env, Some(run)).await?;
    RunStatus::replay(&records).ok_or_else(|| {
        crate::engine::EngineError::from(crate::engine::JournalError::Empty { run_id: run.to_string() }).into()
    })
}

/// [`runs`] of environment `env` in `state`.
pub async fn runs_in(state: &dyn StateBackend, env: &str) -> Result<Vec<String>, OpsError> {
    Ok(crate::engine::runs(state, env).await?)
}

/// [`lock_holder`] of environment `env` in `state`.
pub async fn lock_in(state: &dyn StateBackend, env: &str) -> Result<Option<LockInfo>, OpsError> {
    Ok(crate::engine::lock_holder(state, env).await?)
}

/// The records of run `run` after its first `after_seq`: what a reader following a growing
/// journal appends to what it has. A half-written last line is left for the next read.
pub async fn history_after(
    state: &dyn StateBackend,
    env: &str,
    run: &str,
    after_seq: u64,
) -> Result<Vec<JournalRecord>, OpsError> {
    let bytes = state.read_journal_after(env, run, after_seq).await?;
    let parsed = crate::engine::journal::parse_from(run, after_seq + 1, &bytes)
        .map_err(crate::engine::EngineError::from)?;
    Ok(parsed.records)
}

/// Whether the holder's process still runs on this host (then breaking its lock is dangerous).
pub fn holder_alive(holder: &LockInfo) -> bool {
    holder.host == crate::engine::this_host() && std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
}

/// Breaks the lock, but only if it is still the one `seen` (not a newer run's).
pub async fn unlock(cx: &Context, plan: &Plan, seen: &LockInfo) -> Result<(), OpsError> {
    let state = cx.state(plan).await;
    Ok(crate::engine::break_lock(state.as_ref(), &plan.metadata.name, seen).await?)
}

/// Every weighted record of each of the plan's traffic records, as Route53 serves them now (all
/// set identifiers, cutover's or not). Read-only; empty for a plan that moves no traffic.
pub async fn live_weights(cx: &Context, plan: &Plan) -> Result<Vec<WeightedRecord>, OpsError> {
    let Some(traffic) = &plan.traffic else { return Ok(Vec::new()) };
    let dns = cx.traffic(plan).await;
    let mut out = Vec::new();
    for r in &traffic.records {
        out.extend(dns.records(traffic.zone.as_str(), &r.name, r.record_type).await?);
    }
    Ok(out)
}
