//! The engine's typed errors: why a command could not run ([`EngineError`]) and why one step
//! failed ([`StepError`]). A run that starts and fails is not an `EngineError`: it ends in a
//! `RunOutcome` (rolled back, paused, needs attention).

use crate::plan::format_duration;
use std::time::Duration;

use crate::providers::{LockInfo, ProviderError, StateError};

/// Why `apply`, `resume`, `rollback`, `status` or `history` could not do their job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(
        "environment {env} is locked by {holder}; wait for that run to finish, or if it is dead, \
         run `cutover unlock` to break the lock"
    )]
    LockHeld { env: String, holder: LockInfo },

    #[error("state backend: {0}")]
    State(#[from] StateError),

    #[error(transparent)]
    Journal(#[from] JournalError),

    #[error(
        "the plan changed since run {run_id} started (journal has plan digest {journal_digest}, the \
         plan file now has {plan_digest}); revert the plan file to the version the run started \
         with, or roll the run back with that version"
    )]
    PlanChanged {
        run_id: String,
        journal_digest: String,
        plan_digest: String,
    },

    #[error("run {run_id} belongs to plan {journal_plan}, not {plan}")]
    WrongPlan {
        run_id: String,
        journal_plan: String,
        plan: String,
    },

    #[error("nothing to resume in environment {env}: {detail}")]
    NoRunToResume { env: String, detail: String },

    #[error(
        "run {run_id} of environment {env} is unfinished ({phase}); `cutover resume` continues it \
         and `cutover rollback --to CHECKPOINT` walks it back"
    )]
    UnfinishedRun {
        env: String,
        run_id: String,
        phase: String,
    },

    #[error("rollback refused: {0}")]
    RollbackRefused(String),

    #[error("no run {run_id} in environment {env}")]
    UnknownRun { env: String, run_id: String },
}

/// The journal cannot be trusted as stored. Never guessed around: the user decides.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error(
        "journal of run {run_id} is corrupt at line {line}: {detail}. Lines after a damaged one \
         cannot be trusted, so cutover will not resume or roll back this run; inspect the file, \
         and compare the world with `cutover history` before acting by hand"
    )]
    Corrupt {
        run_id: String,
        line: usize,
        detail: String,
    },

    #[error("journal of run {run_id} is empty; no step of it ran")]
    Empty { run_id: String },

    #[error("journal of run {run_id} could not be written and the run stopped: {detail}")]
    WriteFailed { run_id: String, detail: String },
}

/// Why one step (or one compensation) failed. Journaled as text, so it never holds secrets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// A provider call failed (after retries, if it was retryable).
    #[error("{what}: {source}")]
    Provider {
        what: String,
        #[source]
        source: ProviderError,
    },

    /// A bounded wait ran out.
    #[error("{what} did not finish within {}", format_duration(*after))]
    Timeout { what: String, after: Duration },

    /// A health check or gate did not pass.
    #[error("check {check} failed: {detail}")]
    CheckFailed { check: String, detail: String },

    /// The world is not as the plan expects before anything was changed (preflight).
    #[error("{0}")]
    Precondition(String),

    /// A pre-flight gate found the plan cannot work against the world as it is (findings, one
    /// per line). Nothing was created: the run ends refused, like an invalid plan.
    #[error("{0}")]
    Refused(String),

    /// A safety interlock stopped the step. Never answered with an automatic rollback: a human
    /// must look first.
    #[error("{0}")]
    Interlock(String),

    /// The step itself panicked or was aborted (a bug).
    #[error("internal error: {0}")]
    Internal(String),
}

impl StepError {
    /// True when the same call may succeed later without anyone changing anything.
    pub fn retryable(&self) -> bool {
        matches!(self, StepError::Provider { source, .. } if source.retryable())
    }

    pub(crate) fn provider(what: impl Into<String>, source: ProviderError) -> Self {
        StepError::Provider {
            what: what.into(),
            source,
        }
    }
}
