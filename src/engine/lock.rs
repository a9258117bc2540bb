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

/// The operator's login name: `USER` (or `USERNAME`), else the user database's name for this
/// process's uid (root in a container, CI), else `uid N` — never "unknown", which names nobody in a
/// lock or a journal.
pub fn login_name() -> String {
    use std::os::unix::fs::MetadataExt as _;
    let env = ["USER", "USERNAME"].iter().find_map(|v| std::env::var(v).ok());
    let uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let passwd = std::fs::read_to_string("/etc/passwd").ok();
    login_from(env, uid, passwd.as_deref())
}

/// [`login_name`]'s rule, given what the environment and the system say.
fn login_from(env: Option<String>, uid: Option<u32>, passwd: Option<&str>) -> String {
    if let Some(user) = env.filter(|u| !u.trim().is_empty()) {
        return user;
    }
    let Some(uid) = uid else { return "an unnamed user".into() };
    let named = passwd.and_then(|text| {
        text.lines().find_map(|line| {
            let mut f = line.split(':');
            let (name, _, id) = (f.next()?, f.next()?, f.next()?);
            (id.parse() == Ok(uid)).then(|| name.to_string())
        })
    });
    named.unwrap_or_else(|| format!("uid {uid}"))
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

    #[test]
    fn without_user_the_login_comes_from_the_user_database_then_the_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nci:x:1001:1001::/home/ci:/bin/sh\n";
        assert_eq!(login_from(Some("ana".into()), Some(0), Some(passwd)), "ana");
        assert_eq!(login_from(None, Some(0), Some(passwd)), "root");
        assert_eq!(login_from(Some(String::new()), Some(1001), Some(passwd)), "ci");
        assert_eq!(login_from(None, Some(4242), Some(passwd)), "uid 4242");
        assert_eq!(login_from(None, Some(4242), None), "uid 4242");
    }
}
