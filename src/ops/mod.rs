//! The flows: what `cutover apply`, `status`, `dev up`, `drill`, ... do, as library functions
//! that take a [`Context`](crate::compose::Context) and an options struct and return typed
//! outcomes. The CLI is arguments + one call here + printing; the fleet runner and the dashboard
//! call the same functions. Nothing here prints: progress goes to the [`ProgressSink`] the
//! caller passes, results come back as values.
//!
//! - [`run`]: apply, resume, rollback (the engine, wired by the composition root).
//! - [`inspect`]: status, history, runs, unlock (read the journal and the lock; unlock breaks it).
//! - [`next`]: next quarter's plan from this quarter's completed run.
//! - [`notify`]: a test notification to the plan's sinks.
//! - [`preflight`]: the pre-flight gates alone, changing nothing.
//! - [`releases`]: capture and drift (Helm release records on a live cluster).
//! - [`access`]: tokens and kubeconfigs for kubectl and helm.
//! - [`dev`]: dev clusters (up, list, extend, down, reap).
//! - [`drill`]: disaster-recovery drills with their verdict.
//!
//! [`ProgressSink`]: crate::engine::ProgressSink

pub mod access;
pub mod backup;
pub mod dev;
pub mod drill;
pub mod inspect;
pub mod next;
pub mod notify;
pub mod preflight;
pub mod releases;
pub mod run;

use std::path::{Path, PathBuf};

use crate::engine::EngineError;
use crate::plan::{Plan, PlanErrors};
use crate::providers::{ProviderError, StateError};

/// Why a flow could not do its job. Each variant has one [`ErrorClass`], which the CLI maps to
/// its exit code; the message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The plan (or a file it names) has problems; every one is in `errors`, located.
    #[error("{}: {} problem{} found; fix them and run again", path.display(), errors.diagnostics.len(), if errors.diagnostics.len() == 1 { "" } else { "s" })]
    InvalidPlan {
        /// The plan (or lock) file.
        path: PathBuf,
        /// Every problem, located.
        errors: PlanErrors,
    },
    /// The engine could not run or read the environment (lock held, unfinished run, journal).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A cloud, Kubernetes or Helm call failed.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// The state backend failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The request cannot be carried out as asked (wrong plan kind, a missing directory, ...).
    #[error("{0}")]
    Usage(String),
    /// A safety rule refused to touch something (a cluster cutover does not own, ...).
    #[error("{0}")]
    Refused(String),
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done ("write drill-x.md").
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
}

/// What kind of failure an [`OpsError`] is, for exit codes and for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The plan has problems.
    InvalidPlan,
    /// The request cannot be carried out as asked.
    Usage,
    /// Another run holds the environment's lock.
    LockHeld,
    /// Something unfinished or refused that a person must look at.
    NeedsAttention,
    /// A safety rule said no.
    Refused,
    /// Anything else that went wrong.
    Failed,
}

impl OpsError {
    /// What kind of failure this is.
    pub fn class(&self) -> ErrorClass {
        match self {
            OpsError::InvalidPlan { .. } => ErrorClass::InvalidPlan,
            OpsError::Usage(_) => ErrorClass::Usage,
            OpsError::Refused(_) => ErrorClass::Refused,
            OpsError::Engine(EngineError::LockHeld { .. }) => ErrorClass::LockHeld,
            OpsError::Engine(EngineError::UnfinishedRun { .. } | EngineError::Journal(_)) => {
                ErrorClass::NeedsAttention
            }
            OpsError::Engine(_) | OpsError::Provider(_) | OpsError::State(_) | OpsError::Io { .. } => {
                ErrorClass::Failed
            }
        }
    }

    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OpsError {
        let what = what.into();
        move |source| OpsError::Io { what, source }
    }
}

impl From<crate::dev::DevError> for OpsError {
    fn from(e: crate::dev::DevError) -> Self {
        use crate::dev::DevError;
        match e {
            DevError::Refused(m) => OpsError::Refused(m),
            DevError::Invalid(m) => OpsError::Usage(m),
            DevError::NotFound(_) => OpsError::Usage(e.to_string()),
            DevError::Provider(p) => OpsError::Provider(p),
        }
    }
}

/// Loads and validates a plan file; every problem comes back located, at once.
pub fn load_plan(path: &Path) -> Result<Plan, OpsError> {
    crate::plan::load(path).map_err(|errors| OpsError::InvalidPlan { path: path.to_path_buf(), errors })
}
