//! The engine's typed errors: why a command could not run ([`EngineError`]) and why one step
//! failed ([`StepError`]). A run that starts and fails is not an `EngineError`: it ends in a
//! `RunOutcome` (rolled back, paused, needs attention).

use crate::plan::format_duration;
use std::time::Duration;

use crate::providers::{LockInfo, ProviderError, StateError};

/// Why `apply`, `resume`, `rollback`, `status` or `history` could not do their job.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Another run holds the environment's lock.
    #[error(
        "environment {env} is locked by {holder}; wait for that run to finish, or if it is dead, \
         run `cutover unlock` to break the lock"
    )]
    LockHeld {
        /// The environment (plan name).
        env: String,
        /// Who holds the lock: run id, host, pid, caller, time.
        holder: LockInfo,
    },

    /// The state backend could not read or write locks or journals.
    #[error("state backend: {0}")]
    State(#[from] StateError),

    /// The journal cannot be trusted as stored.
    #[error(transparent)]
    Journal(#[from] JournalError),

    /// The plan file's digest differs from the one the run journaled at its start.
    #[error(
        "the plan changed since run {run_id} started (journal has plan digest {journal_digest}, the \
         plan file now has {plan_digest}); revert the plan file to the version the run started \
         with, or roll the run back with that version"
    )]
    PlanChanged {
        /// The run being resumed or rolled back.
        run_id: String,
        /// Plan digest the run started with.
        journal_digest: String,
        /// Plan digest of the file given now.
        plan_digest: String,
    },

    /// The run's journal names a different plan than the one given.
    #[error("run {run_id} belongs to plan {journal_plan}, not {plan}")]
    WrongPlan {
        /// The run asked for.
        run_id: String,
        /// The plan the journal names.
        journal_plan: String,
        /// The plan given.
        plan: String,
    },

    /// `resume` found no unfinished run.
    #[error("nothing to resume in environment {env}: {detail}")]
    NoRunToResume {
        /// The environment (plan name).
        env: String,
        /// Why there is nothing to resume.
        detail: String,
    },

    /// `apply` found an earlier run still unfinished; resume or roll it back first.
    #[error(
        "run {run_id} of environment {env} is unfinished ({phase}); `cutover resume` continues it \
         and `cutover rollback --to CHECKPOINT` walks it back"
    )]
    UnfinishedRun {
        /// The environment (plan name).
        env: String,
        /// The unfinished run.
        run_id: String,
        /// Where that run stands, e.g. "paused at green.create: ...".
        phase: String,
    },

    /// A rollback was asked for that the run cannot do (past the point of no return, unknown checkpoint).
    #[error("rollback refused: {0}")]
    RollbackRefused(String),

    /// No journal exists for the given run id.
    #[error("no run {run_id} in environment {env}")]
    UnknownRun {
        /// The environment (plan name).
        env: String,
        /// The run id asked for.
        run_id: String,
    },
}

/// The journal cannot be trusted as stored. Never guessed around: the user decides.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A line other than the last does not parse, `seq` has a gap, or a record names another run.
    #[error(
        "journal of run {run_id} is corrupt at line {line}: {detail}. Lines after a damaged one \
         cannot be trusted, so cutover will not resume or roll back this run; inspect the file, \
         and compare the world with `cutover history` before acting by hand"
    )]
    Corrupt {
        /// The run whose journal is corrupt.
        run_id: String,
        /// Line number (from 1) of the first bad line.
        line: usize,
        /// What is wrong with it.
        detail: String,
    },

    /// The journal exists but holds no whole record.
    #[error("journal of run {run_id} is empty; no step of it ran")]
    Empty {
        /// The run whose journal is empty.
        run_id: String,
    },

    /// An append failed; whether the line landed is unknown, so this process writes nothing more.
    #[error("journal of run {run_id} could not be written and the run stopped: {detail}")]
    WriteFailed {
        /// The run whose journal could not be written.
        run_id: String,
        /// The backend's error.
        detail: String,
    },
}

/// Why one step (or one compensation) failed. Journaled as text, so it never holds secrets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StepError {
    /// A provider call failed (after retries, if it was retryable).
    #[error("{what}: {source}")]
    Provider {
        /// What was being done, e.g. "create cluster payments-green".
        what: String,
        /// The provider's error.
        #[source]
        source: ProviderError,
    },

    /// A bounded wait ran out.
    #[error("{what} did not finish within {}", format_duration(*after))]
    Timeout {
        /// What was waited for.
        what: String,
        /// The bound that ran out.
        after: Duration,
    },

    /// A health check or gate did not pass.
    #[error("check {check} failed: {detail}")]
    CheckFailed {
        /// Check name.
        check: String,
        /// What the check saw.
        detail: String,
    },

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
