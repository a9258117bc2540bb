//! Exit codes: the contract scripts and CI pipelines rely on. Documented in README.md; never renumber.

use std::process::ExitCode;

/// Why `cutover` stopped, as a process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// The command did what it was asked.
    Success = 0,
    /// An unexpected error (I/O, a provider outside the run, a bug); the message says what.
    Error = 1,
    /// Bad command-line usage (clap's own code).
    Usage = 2,
    /// The plan file is invalid; every problem was printed with its place in the file.
    InvalidPlan = 3,
    /// The run failed and was rolled back automatically to its last safe checkpoint.
    RolledBack = 4,
    /// The run failed or paused and needs a human: read `cutover status`, then `resume` or `rollback`.
    NeedsAttention = 5,
    /// Another run holds this environment's lock (`cutover status` names it; `cutover unlock` if stale).
    LockHeld = 6,
    /// The run stopped on purpose to wait (e.g. blue's retention period); `cutover resume` later.
    Waiting = 7,
    /// The live state differs from what it should be: drift between a cluster and its pins, or a
    /// safety rule's refusal (a cluster cutover does not own). Either way a person must look.
    Drift = 8,
    /// A disaster-recovery drill rebuilt and verified the environment, but slower than the plan's
    /// `rtoTarget`; the drill report says by how much.
    RtoMissed = 9,
}

impl Exit {
    /// A safety rule refused to act: the same code as drift (see [`Exit::Drift`]).
    #[allow(non_upper_case_globals)]
    pub const Refused: Exit = Exit::Drift;
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

/// An error that already knows its exit code and has been reported to the user.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Reported {
    /// The exit code to end the process with.
    pub exit: Exit,
    /// What was reported.
    pub message: String,
}

impl Reported {
    /// An error reported with `message` that exits with `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Reported { exit, message: message.into() }
    }
}
