//! The environment lock: one run per environment at a time, taken before the first journal write
//! and released when the run stops (completed, rolled back, paused, waiting, needs attention).
//!
//! A process killed with `kill -9` leaves its lock behind. `resume` takes such a lock over by
//! itself only when it can prove the holder dead: same host, and no process with the holder's pid.
//! Everything else (another host, a live pid) needs a human: `cutover unlock` shows the holder,
//! asks for confirmation, and calls [`break_lock`] with exactly the holder that was confirmed.

use std::sync::Arc;

use jiff::Timestamp;

use crate::providers::{LockInfo, StateBackend, StateError};

use super::error::EngineError;

/// A new run id: its UTC start time (so ids sort by start) and a random suffix.
pub(crate) fn new_run_id(now: Timestamp) -> String {
    format!(
        "{}-{:04x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        fastrand::u16(..)
    )
}

/// This machine's host name, as written into locks and journals.
pub fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

pub(crate) fn holder(run_id: &str, who: &str, now: Timestamp) -> LockInfo {
    LockInfo {
        run_id: run_id.to_string(),
        host: this_host(),
        pid: std::process::id(),
        user: who.to_string(),
        started_at: now,
    }
}

/// Takes the lock; with `take_over_dead`, first breaks a lock whose holder provably died.
pub(crate) async fn acquire(
    state: &Arc<dyn StateBackend>,
    env: &str,
    me: &LockInfo,
    take_over_dead: bool,
) -> Result<(), EngineError> {
    match state.acquire_lock(env, me).await {
        Ok(()) => Ok(()),
        Err(StateError::LockHeld(holder)) if take_over_dead && provably_dead(&holder) => {
            tracing::warn!(%holder, "taking over the lock of a process that no longer exists");
            state.break_lock(env, &holder).await?;
            state.acquire_lock(env, me).await.map_err(|e| held(env, e))
        }
        Err(e) => Err(held(env, e)),
    }
}

fn held(env: &str, e: StateError) -> EngineError {
    match e {
        StateError::LockHeld(holder) => EngineError::LockHeld {
            env: env.to_string(),
            holder,
        },
        other => other.into(),
    }
}

/// Same host and no such process. A pid reused by an unrelated process keeps the lock (safe side).
fn provably_dead(holder: &LockInfo) -> bool {
    if holder.host != this_host() || holder.pid == std::process::id() {
        return false;
    }
    if cfg!(target_os = "linux") {
        !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
    } else {
        false
    }
}

/// Who holds the environment's lock, if anyone (what `cutover unlock` shows before confirming).
pub async fn lock_holder(
    state: &dyn StateBackend,
    env: &str,
) -> Result<Option<LockInfo>, EngineError> {
    Ok(state.read_lock(env).await?)
}

/// Breaks the lock, but only if it is still held by exactly `holder` (the one the user confirmed).
/// The journal is untouched: `resume` afterwards continues the run the dead holder left.
pub async fn break_lock(
    state: &dyn StateBackend,
    env: &str,
    holder: &LockInfo,
) -> Result<(), EngineError> {
    tracing::warn!(%holder, env, "breaking the environment lock");
    Ok(state.break_lock(env, holder).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_start_time() {
        let a = new_run_id("2026-01-02T03:04:05Z".parse().unwrap());
        let b = new_run_id("2026-01-02T03:04:06Z".parse().unwrap());
        assert!(a.starts_with("20260102T030405Z-"), "{a}");
        assert!(a < b);
    }

    #[test]
    fn a_live_holder_on_this_host_is_not_taken_over() {
        let me = holder("r", "u", Timestamp::UNIX_EPOCH);
        assert!(!provably_dead(&me));
        let elsewhere = LockInfo {
            host: "another-host.invalid".into(),
            pid: 1,
            ..me
        };
        assert!(!provably_dead(&elsewhere));
    }
}
