//! State backends for tests: a wrapper that "kills the process" at the N-th journal append,
//! before or after the append is persisted, by parking forever (the test then drops the run
//! future, like `kill -9`); and a manual wall clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use cutover::engine::Clock;
use cutover::providers::{LockInfo, StateBackend, StateError};
use jiff::Timestamp;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The record never reaches the disk.
    BeforeWrite,
    /// The record is durable, but the process dies before acting on it.
    AfterWrite,
}

pub struct CrashingState {
    inner: Arc<dyn StateBackend>,
    at: u64,
    point: CrashPoint,
    appends: AtomicU64,
    crashed: Notify,
}

impl CrashingState {
    /// Crashes at append number `at` (1-based); `u64::MAX` never crashes (just counts).
    pub fn new(inner: Arc<dyn StateBackend>, at: u64, point: CrashPoint) -> Arc<Self> {
        Arc::new(CrashingState {
            inner,
            at,
            point,
            appends: AtomicU64::new(0),
            crashed: Notify::new(),
        })
    }

    pub fn appends(&self) -> u64 {
        self.appends.load(Ordering::SeqCst)
    }

    /// Resolves once the crash point is reached.
    pub async fn crashed(&self) {
        self.crashed.notified().await
    }
}

#[async_trait]
impl StateBackend for CrashingState {
    async fn acquire_lock(&self, env: &str, lock: &LockInfo) -> Result<(), StateError> {
        self.inner.acquire_lock(env, lock).await
    }
    async fn read_lock(&self, env: &str) -> Result<Option<LockInfo>, StateError> {
        self.inner.read_lock(env).await
    }
    async fn release_lock(&self, env: &str, run_id: &str) -> Result<(), StateError> {
        self.inner.release_lock(env, run_id).await
    }
    async fn break_lock(&self, env: &str, holder: &LockInfo) -> Result<(), StateError> {
        self.inner.break_lock(env, holder).await
    }
    fn journal_location(&self, env: &str, run_id: &str) -> String {
        self.inner.journal_location(env, run_id)
    }
    async fn append(
        &self,
        env: &str,
        run_id: &str,
        seq: u64,
        line: &[u8],
    ) -> Result<(), StateError> {
        let n = self.appends.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.at && self.point == CrashPoint::BeforeWrite {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        self.inner.append(env, run_id, seq, line).await?;
        if n == self.at && self.point == CrashPoint::AfterWrite {
            self.crashed.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
    async fn read_journal(&self, env: &str, run_id: &str) -> Result<Vec<u8>, StateError> {
        self.inner.read_journal(env, run_id).await
    }
    async fn truncate_journal(&self, env: &str, run_id: &str, len: u64) -> Result<(), StateError> {
        self.inner.truncate_journal(env, run_id, len).await
    }
    async fn list_runs(&self, env: &str) -> Result<Vec<String>, StateError> {
        self.inner.list_runs(env).await
    }
    async fn list_envs(&self) -> Result<Vec<String>, StateError> {
        self.inner.list_envs().await
    }
    async fn current_run(&self, env: &str) -> Result<Option<String>, StateError> {
        self.inner.current_run(env).await
    }
    async fn set_current_run(&self, env: &str, run_id: &str) -> Result<(), StateError> {
        self.inner.set_current_run(env, run_id).await
    }
}

/// A wall clock that moves only when told to.
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock(Mutex::new(
            "2026-03-01T09:00:00Z".parse().unwrap(),
        )))
    }

    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock().unwrap();
        *t = t
            .checked_add(jiff::SignedDuration::try_from(d).unwrap())
            .unwrap();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}
