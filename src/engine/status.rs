//! A run's state, rebuilt by replaying its journal. The executor keeps one up to date as it
//! appends; `status` rebuilds one from the stored journal alone (no plan needed).

use jiff::Timestamp;
use serde::Serialize;

use crate::providers::LockInfo;

use super::RunOutcome;
use super::journal::{JournalEvent, JournalRecord};

/// Where a step stands according to the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum StepState {
    /// Started, with no outcome recorded: it ran, or the process died while it ran.
    Running,
    /// Its `apply` failed.
    Failed {
        /// The error, for people.
        error: String,
    },
    /// Its `apply` finished.
    Done,
    /// Its `compensate` is running, or the process died while it ran.
    Compensating,
    /// Its `compensate` failed; a human must look.
    CompensationFailed {
        /// The error, for people.
        error: String,
    },
    /// Undone; a forward run applies it again.
    Compensated,
}

impl StepState {
    /// Whether the step may have changed the world and not been undone.
    pub fn needs_compensation(&self) -> bool {
        !matches!(self, StepState::Compensated)
    }
}

/// One step of a run as the journal tells it.
#[derive(Debug, Clone, Serialize)]
pub struct StepStatus {
    /// Step id, e.g. `green.create`.
    pub id: String,
    /// Where the step stands.
    #[serde(flatten)]
    pub state: StepState,
    /// How many times the step was started (resumes and retries after pauses included).
    pub starts: u32,
    #[serde(skip)]
    pub(crate) output: Option<serde_json::Value>,
    #[serde(skip)]
    pub(crate) last_started_seq: u64,
}

/// Where the run stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum RunPhase {
    /// Running now, or the process died (see `lock` to tell which); `resume` continues it.
    Running,
    /// A rollback is under way (or was interrupted); `resume` continues it.
    RollingBack {
        /// Checkpoint being rolled back to; `None` means the start.
        to: Option<String>,
    },
    /// Stopped at a failed step under `onFailure: pause`; `resume` or `rollback` next.
    Paused {
        /// The step that failed.
        step: String,
        /// Why it failed.
        cause: String,
    },
    /// Stopped until a point in time (e.g. blue's retention); `resume` after it.
    Waiting {
        /// The step that waits.
        step: String,
        /// When it may run.
        until: Timestamp,
    },
    /// Stopped by an interlock, a failed compensation or a failed irreversible step; a human must look.
    NeedsAttention {
        /// The step that stopped the run, if a step did.
        step: Option<String>,
        /// Why it stopped.
        cause: String,
    },
    /// Rolled back to a checkpoint (or to the start, when nothing is left to undo).
    RolledBack {
        /// Checkpoint rolled back to; `None` means the start.
        to: Option<String>,
        /// Why it was rolled back.
        cause: String,
        /// Who asked for the rollback; absent for an automatic one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Every step is done.
    Completed,
    /// A pre-flight gate refused the run; nothing was created.
    Refused {
        /// The pre-flight gate's step id.
        step: String,
        /// What the gate found.
        cause: String,
    },
}

impl RunPhase {
    /// Nothing is left to resume or roll back.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            RunPhase::Completed | RunPhase::RolledBack { to: None, .. } | RunPhase::Refused { .. }
        )
    }

    /// How the run ended, once it has stopped (`None` while running or rolling back).
    pub fn outcome(&self) -> Option<RunOutcome> {
        Some(match self.clone() {
            RunPhase::Running | RunPhase::RollingBack { .. } => return None,
            RunPhase::Paused { step, cause } => RunOutcome::Paused { step, cause },
            RunPhase::Waiting { step, until } => RunOutcome::Waiting { step, until },
            RunPhase::NeedsAttention { step, cause } => RunOutcome::NeedsAttention { step, cause },
            RunPhase::RolledBack { to, cause, requested_by } => RunOutcome::RolledBack { to, cause, requested_by },
            RunPhase::Completed => RunOutcome::Completed,
            RunPhase::Refused { step, cause } => RunOutcome::Refused { step, cause },
        })
    }

    /// Where the run stands, in a few words.
    pub fn describe(&self) -> String {
        match (self, self.outcome()) {
            (_, Some(outcome)) => outcome.summary(),
            (RunPhase::RollingBack { to }, None) => format!("rolling back to {}", target_name(to)),
            _ => "running, or stopped by a crash".into(),
        }
    }
}

pub(crate) fn target_name(to: &Option<String>) -> &str {
    to.as_deref().unwrap_or("the start")
}

/// A run as its journal tells it.
#[derive(Debug, Clone, Serialize)]
pub struct RunStatus {
    /// The run's id.
    pub run_id: String,
    /// The plan's `metadata.name`.
    pub plan: String,
    /// The plan's kind (`Upgrade`, `DevCluster`, `Drill`).
    pub kind: String,
    /// sha256 of the plan file the run started with.
    pub digest: String,
    /// Who started the run.
    pub started_by: String,
    /// When the run started.
    pub started_at: Timestamp,
    /// When the last journal record was written.
    pub updated_at: Timestamp,
    /// Where the run stands.
    #[serde(flatten)]
    pub phase: RunPhase,
    /// Checkpoints reached and not rolled back, in order.
    pub checkpoints: Vec<String>,
    /// Steps in the order they first started.
    pub steps: Vec<StepStatus>,
    /// The irreversible step that started, if any: rollback is impossible from then on.
    pub point_of_no_return: Option<String>,
    /// Who holds the environment lock now, if anyone.
    pub lock: Option<LockInfo>,
    /// Bytes of a torn last journal line (a crash mid-write) that were ignored.
    pub torn_bytes: u64,
    /// The last step that failed and its stop code, if the journal has one.
    #[serde(skip)]
    pub last_failure: Option<(String, Option<String>)>,
    /// A rollback that started and has not finished: (target, cause).
    #[serde(skip)]
    pub(crate) rollback: Option<(Option<String>, String, Option<String>)>,
    #[serde(skip)]
    pub(crate) last_seq: u64,
}

impl RunStatus {
    /// Rebuilds the run from its records; `None` if the first record is not `run-started`.
    pub fn replay(records: &[JournalRecord]) -> Option<RunStatus> {
        let first = records.first()?;
        let JournalEvent::RunStarted {
            plan,
            digest,
            kind,
            who,
            ..
        } = &first.event
        else {
            return None;
        };
        let mut status = RunStatus {
            run_id: first.run.clone(),
            plan: plan.clone(),
            kind: kind.clone(),
            digest: digest.clone(),
            started_by: who.clone(),
            started_at: first.ts,
            updated_at: first.ts,
            phase: RunPhase::Running,
            checkpoints: Vec::new(),
            steps: Vec::new(),
            point_of_no_return: None,
            lock: None,
            torn_bytes: 0,
            last_failure: None,
            rollback: None,
            last_seq: 0,
        };
        for r in records {
            status.apply(r);
        }
        Some(status)
    }

    /// The step `id`, if it has started.
    pub fn step(&self, id: &str) -> Option<&StepStatus> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// Whether step `id`'s `apply` finished.
    pub fn is_done(&self, id: &str) -> bool {
        self.step(id).is_some_and(|s| s.state == StepState::Done)
    }

    /// The target of a rollback that started and has not finished.
    pub(crate) fn rollback_in_progress(&self) -> Option<Option<String>> {
        self.rollback.as_ref().map(|(to, _, _)| to.clone())
    }

    fn step_mut(&mut self, id: &str, seq: u64) -> &mut StepStatus {
        if let Some(i) = self.steps.iter().position(|s| s.id == id) {
            return &mut self.steps[i];
        }
        self.steps.push(StepStatus {
            id: id.to_string(),
            state: StepState::Running,
            starts: 0,
            output: None,
            last_started_seq: seq,
        });
        self.steps.last_mut().expect("just pushed")
    }

    /// Applies one record (in sequence order).
    pub(crate) fn apply(&mut self, r: &JournalRecord) {
        self.updated_at = r.ts;
        self.last_seq = r.seq;
        match &r.event {
            JournalEvent::RunStarted { .. }
            | JournalEvent::JournalRepaired { .. }
            | JournalEvent::NotificationSent { .. }
            | JournalEvent::AwsRequests { .. }
            | JournalEvent::NotificationFailed { .. } => {}
            JournalEvent::RunResumed { .. } => {
                self.phase = match self.rollback_in_progress() {
                    Some(to) => RunPhase::RollingBack { to },
                    None => RunPhase::Running,
                };
            }
            JournalEvent::StepStarted { step, irreversible } => {
                let s = self.step_mut(step, r.seq);
                s.state = StepState::Running;
                s.starts += 1;
                s.last_started_seq = r.seq;
                s.output = None;
                if *irreversible && self.point_of_no_return.is_none() {
                    self.point_of_no_return = Some(step.clone());
                }
            }
            JournalEvent::StepDone { step, output } => {
                let s = self.step_mut(step, r.seq);
                s.state = StepState::Done;
                s.output = Some(output.clone());
            }
            JournalEvent::StepFailed { step, error, code, .. } => {
                self.step_mut(step, r.seq).state = StepState::Failed {
                    error: error.clone(),
                };
                self.last_failure = Some((step.clone(), code.clone()));
            }
            JournalEvent::CompensationStarted { step } => {
                self.step_mut(step, r.seq).state = StepState::Compensating;
            }
            JournalEvent::CompensationDone { step } => {
                let s = self.step_mut(step, r.seq);
                s.state = StepState::Compensated;
                s.output = None;
            }
            JournalEvent::CompensationFailed { step, error } => {
                self.step_mut(step, r.seq).state = StepState::CompensationFailed {
                    error: error.clone(),
                };
            }
            JournalEvent::Checkpoint { name } => {
                if !self.checkpoints.contains(name) {
                    self.checkpoints.push(name.clone());
                }
            }
            JournalEvent::RollbackStarted { to, cause, requested_by } => {
                match to {
                    Some(to) => {
                        if let Some(i) = self.checkpoints.iter().position(|c| c == to) {
                            self.checkpoints.truncate(i + 1);
                        }
                    }
                    None => self.checkpoints.clear(),
                }
                self.rollback = Some((to.clone(), cause.clone(), requested_by.clone()));
                self.phase = RunPhase::RollingBack { to: to.clone() };
            }
            JournalEvent::RunPaused { step, cause } => {
                self.phase = RunPhase::Paused {
                    step: step.clone(),
                    cause: cause.clone(),
                };
            }
            JournalEvent::RunWaiting { step, until } => {
                self.phase = RunPhase::Waiting {
                    step: step.clone(),
                    until: *until,
                };
            }
            JournalEvent::RunFailed { step, cause } => {
                self.phase = RunPhase::NeedsAttention {
                    step: step.clone(),
                    cause: cause.clone(),
                };
            }
            JournalEvent::RunRolledBack { to, cause, requested_by } => {
                self.rollback = None;
                self.phase = RunPhase::RolledBack {
                    to: to.clone(),
                    cause: cause.clone(),
                    requested_by: requested_by.clone(),
                };
            }
            JournalEvent::RunCompleted => self.phase = RunPhase::Completed,
            JournalEvent::RunRefused { step, cause } => {
                self.phase = RunPhase::Refused { step: step.clone(), cause: cause.clone() };
            }
        }
    }
}
