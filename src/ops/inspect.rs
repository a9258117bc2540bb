//! Reading an environment's runs: status, history and the run list, straight from the journal in
//! the plan's state backend, and breaking a stale environment lock. Read-only except [`unlock`],
//! which removes the lock and nothing else (the journal is kept, so `resume` continues the run).

use crate::compose::Context;
use crate::engine::{JournalRecord, RunStatus};
use crate::plan::Plan;
use crate::providers::LockInfo;

use super::OpsError;

/// The environment's latest run, with the current lock holder; `None` before the first run.
pub async fn status(cx: &Context, plan: &Plan) -> Result<Option<RunStatus>, OpsError> {
    let state = cx.state(plan).await;
    Ok(crate::engine::status(state.as_ref(), &plan.metadata.name).await?)
}

/// Every record of a run's journal (`run: None`: the latest run); `None` before the first run.
pub async fn history(cx: &Context, plan: &Plan, run: Option<&str>) -> Result<Option<Vec<JournalRecord>>, OpsError> {
    let state = cx.state(plan).await;
    let env = &plan.metadata.name;
    if run.is_none() && state.current_run(env).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(crate::engine::history(state.as_ref(), env, run).await?))
}

/// The environment's run ids, oldest first.
pub async fn runs(cx: &Context, plan: &Plan) -> Result<Vec<String>, OpsError> {
    let state = cx.state(plan).await;
    Ok(crate::engine::runs(state.as_ref(), &plan.metadata.name).await?)
}

/// Who holds the environment lock, if anyone.
pub async fn lock_holder(cx: &Context, plan: &Plan) -> Result<Option<LockInfo>, OpsError> {
    let state = cx.state(plan).await;
    Ok(crate::engine::lock_holder(state.as_ref(), &plan.metadata.name).await?)
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
