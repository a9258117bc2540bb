//! The state backend trait: where locks and journals live.
//!
//! Shaped for conditional writes so an object store (S3 `If-None-Match` / `If-Match`) can implement
//! it as faithfully as the local directory: acquiring a lock is create-if-absent, breaking or
//! releasing one only succeeds against the holder the caller saw, and each journal append names
//! its sequence number. The backend stores bytes; the engine owns their format (see
//! `engine::journal`).

use async_trait::async_trait;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Who holds an environment's lock. Shown to whoever is refused, so they can find the holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The run holding the lock.
    pub run_id: String,
    /// Host the run is on.
    pub host: String,
    /// Process id of the run.
    pub pid: u32,
    /// The caller's identity (login name, or the cloud identity the CLI resolved).
    pub user: String,
    /// When the lock was taken.
    pub started_at: Timestamp,
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {} by {} on {} (pid {}) since {}",
            self.run_id, self.user, self.host, self.pid, self.started_at
        )
    }
}

/// Why a state backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Someone else holds the environment's lock.
    #[error("the environment is locked by {0}")]
    LockHeld(LockInfo),
    /// A conditional write lost: the lock is no longer what the caller saw.
    #[error("the lock changed under us: {0}")]
    LockChanged(String),
    /// A lock, journal or run pointer does not exist.
    #[error("{what} not found in the state backend")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// A conditional append lost: another writer appended, or the sequence is wrong.
    #[error("journal append rejected: {0}")]
    Conflict(String),
    /// Reading or writing the backend failed.
    #[error("state backend I/O on {path}: {source}")]
    Io {
        /// The file or object concerned.
        path: String,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An environment or run name unsafe as a file or key name.
    #[error(
        "{0:?} cannot be used as a name in the state backend: use letters, digits, '-', '_' and '.'"
    )]
    InvalidName(String),
    /// The backend holds data that does not parse.
    #[error("state backend holds unreadable data in {what}: {detail}")]
    Corrupt {
        /// What holds it.
        what: String,
        /// What is wrong with it.
        detail: String,
    },
}

/// Locks and journals of environments. `env` is the plan's `metadata.name`; run ids are the
/// engine's. Implementations must make every successful write durable before returning.
#[async_trait]
pub trait StateBackend: Send + Sync {
    /// Creates the lock if absent; `LockHeld(holder)` if someone holds it.
    async fn acquire_lock(&self, env: &str, lock: &LockInfo) -> Result<(), StateError>;

    /// The current holder, if any.
    async fn read_lock(&self, env: &str) -> Result<Option<LockInfo>, StateError>;

    /// Removes the lock if `run_id` holds it; succeeds if there is no lock. A lock held by another
    /// run is left alone (`LockChanged`).
    async fn release_lock(&self, env: &str, run_id: &str) -> Result<(), StateError>;

    /// Removes the lock only if it is still exactly `holder` (what the user confirmed breaking).
    async fn break_lock(&self, env: &str, holder: &LockInfo) -> Result<(), StateError>;

    /// Appends one complete journal line (ending in `\n`) as record `seq` of the run, durably.
    /// The caller holds the environment's lock; an object store may use `seq` for a conditional
    /// write.
    async fn append(
        &self,
        env: &str,
        run_id: &str,
        seq: u64,
        line: &[u8],
    ) -> Result<(), StateError>;

    /// The run's whole journal as stored (possibly ending in a torn line). `NotFound` if none.
    async fn read_journal(&self, env: &str, run_id: &str) -> Result<Vec<u8>, StateError>;

    /// Keeps only the first `len` bytes of the journal: how the engine drops a torn last line
    /// before appending after it.
    async fn truncate_journal(&self, env: &str, run_id: &str, len: u64) -> Result<(), StateError>;

    /// Run ids with a journal, oldest first.
    async fn list_runs(&self, env: &str) -> Result<Vec<String>, StateError>;

    /// Every environment with state in this backend (a lock, a latest run or a journal), by name.
    /// Readers that span environments (the dashboard) start here.
    async fn list_envs(&self) -> Result<Vec<String>, StateError>;

    /// The journal's bytes after its first `after_seq` records: what a reader that has those
    /// records needs to catch up (possibly ending in a torn or half-written line). The default
    /// reads the whole journal and skips; an object store lists only the newer records.
    async fn read_journal_after(
        &self,
        env: &str,
        run_id: &str,
        after_seq: u64,
    ) -> Result<Vec<u8>, StateError> {
        let bytes = self.read_journal(env, run_id).await?;
        Ok(skip_lines(&bytes, after_seq).to_vec())
    }

    /// The environment's latest run (the one `resume`, `rollback` and `status` act on).
    async fn current_run(&self, env: &str) -> Result<Option<String>, StateError>;

    /// Makes `run_id` the environment's latest run.
    async fn set_current_run(&self, env: &str, run_id: &str) -> Result<(), StateError>;

    /// Where a run's journal lives, for people (a file path, an `s3://` URL).
    fn journal_location(&self, env: &str, run_id: &str) -> String;
}

/// What follows the first `n` newline-terminated lines of `bytes` (empty when there are fewer).
pub fn skip_lines(bytes: &[u8], n: u64) -> &[u8] {
    let mut rest = bytes;
    for _ in 0..n {
        match rest.iter().position(|&b| b == b'\n') {
            Some(i) => rest = &rest[i + 1..],
            None => return &[],
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::skip_lines;

    #[test]
    fn skipping_lines_keeps_a_torn_tail_and_never_splits_a_line() {
        let text = b"one\ntwo\nthr";
        assert_eq!(skip_lines(text, 0), text);
        assert_eq!(skip_lines(text, 1), b"two\nthr");
        assert_eq!(skip_lines(text, 2), b"thr");
        // The torn third line does not count as a line: nothing is left after "three lines".
        assert_eq!(skip_lines(text, 3), b"");
        assert_eq!(skip_lines(text, 9), b"");
    }
}
