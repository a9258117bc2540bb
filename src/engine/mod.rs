//! The durable step engine: compile, run, journal, compensate, resume, roll back, lock.
//!
//! A plan compiles ([`compile`]) into stages of steps with named checkpoints. [`Engine::apply`]
//! takes the environment's lock, journals `run-started`, and runs every step: journal
//! `step-started` → side effect through a provider → journal `step-done` with a non-secret output.
//! On failure the plan's policy applies: compensate in reverse back to the last safe checkpoint
//! (`rollback`), or stop for a human (`pause`). Interlocks and failures past the point of no
//! return always stop for a human.
//!
//! The journal (see [`journal`]) is the source of truth: [`Engine::resume`] replays it and
//! continues without redoing a step whose `step-done` is present; [`Engine::rollback`] walks back
//! to a named checkpoint. Deleting blue is the point of no return: refused while blue carries
//! traffic, and nothing rolls back past it.
//!
//! Map: `compile` (plan → steps), `step` (compiled types), `executor` (forward run), `rollback`
//! (compensation), `steps/` (what each step does), `journal` (records, torn lines), `status`
//! (replay), `lock`, `retry`, `weights` (traffic interlock), `preflight` (checks before provisioning),
//! `progress`, `options`, `error`.

pub mod backup;
pub mod codes;
pub mod runbook;
mod compile;
pub mod error;
mod executor;
pub mod ids;
pub mod journal;
pub mod notify;
mod lock;
pub mod options;
pub mod preflight;
pub mod progress;
mod retry;
mod rollback;
pub mod status;
pub mod step;
pub mod teardown;
mod steps;
pub mod trust;

use std::sync::Arc;

use jiff::Timestamp;
use serde::Serialize;

use crate::plan::Plan;
use crate::providers::{Providers, StateBackend, StateError};

pub use compile::compile;
pub use error::{EngineError, JournalError, StepError};
pub use journal::{JournalEvent, JournalRecord};
pub use lock::{break_lock, lock_holder, login_name, this_host};
pub use options::{Clock, EngineOptions, RetryPolicy, SystemClock};
pub use progress::{CollectingSink, EngineEvent, NoopSink, ProgressSink};
pub use status::{RunPhase, RunStatus, StepState, StepStatus};
pub use step::{CheckpointDef, CompiledPlan, Stage, StepDef};

use executor::Run;
use journal::JournalWriter;
use status::target_name;

/// Rollback target meaning "undo everything this run did".
pub const START: &str = "start";

/// How a run (or this part of it) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum RunOutcome {
    /// Every step is done.
    Completed,
    /// Compensated back to a checkpoint (`None`: everything this run did was undone): after a
    /// failure, or because a person asked (`requested_by`), which is a success.
    RolledBack {
        /// Checkpoint rolled back to; `None` means the start.
        to: Option<String>,
        /// Why the run was rolled back.
        cause: String,
        /// Who asked for the rollback (`cutover rollback`); `None` for the automatic one after a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Stopped at a failed step by the plan's `pause` policy; `resume` retries it.
    Paused {
        /// The step that failed.
        step: String,
        /// Why it failed.
        cause: String,
    },
    /// Blue's retention has not elapsed; `resume` after `until` continues.
    Waiting {
        /// The step that waits.
        step: String,
        /// When it may run.
        until: Timestamp,
    },
    /// An interlock, a failed compensation or a failure past the point of no return: a human
    /// must look. `cause` says what and what to do.
    NeedsAttention {
        /// The step that stopped the run, if a step did.
        step: Option<String>,
        /// What happened and what to do.
        cause: String,
    },
    /// A pre-flight gate refused the plan before anything was created; `cause` lists the
    /// findings. Fix the plan (or the world) and apply again.
    Refused {
        /// The pre-flight gate's step id.
        step: String,
        /// What the gate found, one finding per line.
        cause: String,
    },
}

impl RunOutcome {
    /// Where the run stands, in a few words (`paused at releases.install.api`).
    pub fn summary(&self) -> String {
        match self {
            RunOutcome::Completed => "completed".into(),
            RunOutcome::RolledBack { to, .. } => format!("rolled back to {}", target_name(to)),
            RunOutcome::Paused { step, .. } => format!("paused at {step}"),
            RunOutcome::Waiting { until, .. } => format!("waiting until {until}"),
            RunOutcome::NeedsAttention { step: Some(s), .. } => format!("needs attention at {s}"),
            RunOutcome::NeedsAttention { step: None, .. } => "needs attention".into(),
            RunOutcome::Refused { step, .. } => format!("refused by {step}"),
        }
    }

    /// One line saying how a run ended and what to do next.
    pub fn describe(&self) -> String {
        match self {
            RunOutcome::Completed => "run completed".into(),
            RunOutcome::RolledBack { to, requested_by: Some(who), .. } => {
                format!("run rolled back to {} as requested by {who}", target_name(to))
            }
            RunOutcome::RolledBack { to, cause, requested_by: None } => {
                format!("run failed and was rolled back to {}: {cause}", target_name(to))
            }
            RunOutcome::Paused { step, cause } => {
                format!("run paused at {step}: {cause}; fix the cause, then `cutover resume` (or `cutover rollback`)")
            }
            RunOutcome::Waiting { step, until } => {
                format!("run waiting at {step} until {until}; `cutover resume` after that time continues it")
            }
            RunOutcome::NeedsAttention { step, cause } => format!(
                "run needs attention{}: {cause}",
                step.as_deref().map(|s| format!(" at {s}")).unwrap_or_default()
            ),
            RunOutcome::Refused { step, cause } => format!(
                "run refused by {step} before anything was created:\n{cause}\nfix the plan or the \
                 world, then apply again (`cutover preflight` checks without starting a run)"
            ),
        }
    }
}

/// Runs one plan against one environment (`plan.metadata.name`).
pub struct Engine {
    plan: Arc<Plan>,
    compiled: Arc<CompiledPlan>,
    providers: Providers,
    state: Arc<dyn StateBackend>,
    opts: EngineOptions,
}

impl Engine {
    /// An engine for `plan`, acting through `providers` and keeping locks and journals in `state`.
    pub fn new(
        plan: Arc<Plan>,
        providers: Providers,
        state: Arc<dyn StateBackend>,
        opts: EngineOptions,
    ) -> Self {
        let compiled = Arc::new(compile(&plan));
        Engine {
            plan,
            compiled,
            providers,
            state,
            opts,
        }
    }

    /// The plan the engine runs.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan as compiled into stages, steps and checkpoints.
    pub fn compiled(&self) -> &CompiledPlan {
        &self.compiled
    }

    fn env(&self) -> &str {
        &self.plan.metadata.name
    }

    /// Starts a new run. Refused while the environment is locked or its latest run is unfinished.
    pub async fn apply(&self) -> Result<RunOutcome, EngineError> {
        let now = self.opts.clock.now();
        let run_id = lock::new_run_id(now);
        let me = lock::holder(&run_id, &self.opts.who, now);
        lock::acquire(&self.state, self.env(), &me, false).await?;
        let result = self.apply_locked(&run_id).await;
        self.finish(&run_id, result).await
    }

    async fn apply_locked(&self, run_id: &str) -> Result<RunOutcome, EngineError> {
        if let Some(current) = self.state.current_run(self.env()).await? {
            match read_status(self.state.as_ref(), self.env(), &current).await {
                Ok(status) if !status.phase.is_terminal() => {
                    return Err(EngineError::UnfinishedRun {
                        env: self.env().to_string(),
                        run_id: current,
                        phase: status.phase.describe(),
                    });
                }
                // A journal that never got its first record: that run did nothing.
                Ok(_) | Err(EngineError::State(StateError::NotFound { .. })) => {}
                Err(EngineError::Journal(JournalError::Empty { .. })) => {}
                Err(e) => return Err(e),
            }
        }
        let mut writer = JournalWriter::create(
            self.state.clone(),
            self.opts.clock.clone(),
            self.env(),
            run_id,
        );
        let started = writer
            .append(JournalEvent::RunStarted {
                plan: self.env().to_string(),
                digest: self.plan.digest.clone(),
                kind: format!("{:?}", self.plan.kind),
                who: self.opts.who.clone(),
                host: lock::this_host(),
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                trace: Some(self.opts.trace.clone().unwrap_or_else(journal::TraceRef::fresh)),
            })
            .await?;
        self.state.set_current_run(self.env(), run_id).await?;
        let status = RunStatus::replay(std::slice::from_ref(&started)).expect("run-started opens the journal");
        let run = Arc::new(self.run(writer, status));
        run.notify(&started);
        tracing::info!(run = run_id, plan = self.env(), "run started");
        self.opts.progress.event(&EngineEvent::RunStarted {
            run_id: run_id.to_string(),
            resumed: false,
        });
        let outcome = executor::drive(&run).await;
        run.end_session().await;
        outcome
    }

    /// Continues the environment's unfinished run: forward, or an interrupted rollback.
    pub async fn resume(&self) -> Result<RunOutcome, EngineError> {
        let run_id = self.current_run().await?;
        let now = self.opts.clock.now();
        lock::acquire(
            &self.state,
            self.env(),
            &lock::holder(&run_id, &self.opts.who, now),
            true,
        )
        .await?;
        let result = self.resume_locked(&run_id).await;
        self.finish(&run_id, result).await
    }

    async fn resume_locked(&self, run_id: &str) -> Result<RunOutcome, EngineError> {
        let run = self.open(run_id).await?;
        let phase = run.phase();
        if phase.is_terminal() {
            return Err(EngineError::NoRunToResume {
                env: self.env().to_string(),
                detail: format!("run {run_id} is {}", phase.describe()),
            });
        }
        run.record(self.resumed_event()).await?;
        tracing::info!(run = run_id, "run resumed");
        self.opts.progress.event(&EngineEvent::RunStarted {
            run_id: run_id.to_string(),
            resumed: true,
        });
        let outcome = match run.with_status(|s| s.rollback.clone()) {
            Some((to, cause, requested_by)) => rollback::resume(&run, to, cause, requested_by).await,
            None => executor::drive(&run).await,
        };
        run.end_session().await;
        outcome
    }

    /// Walks the environment's latest run back to checkpoint `to` ([`START`] undoes everything).
    pub async fn rollback(&self, to: &str) -> Result<RunOutcome, EngineError> {
        let run_id = self.current_run().await?;
        let now = self.opts.clock.now();
        lock::acquire(
            &self.state,
            self.env(),
            &lock::holder(&run_id, &self.opts.who, now),
            true,
        )
        .await?;
        let result = self.rollback_locked(&run_id, to).await;
        self.finish(&run_id, result).await
    }

    async fn rollback_locked(&self, run_id: &str, to: &str) -> Result<RunOutcome, EngineError> {
        let run = self.open(run_id).await?;
        let refuse = |why: String| Err(EngineError::RollbackRefused(why));
        if let Some(step) = run.with_status(|s| s.point_of_no_return.clone()) {
            return refuse(format!(
                "run {run_id} has started {step}, the point of no return; what it deletes cannot \
                 be restored, so cutover rolls nothing back past it"
            ));
        }
        if let RunPhase::RolledBack { to: None, .. } = run.phase() {
            return refuse(format!("run {run_id} is already rolled back to the start"));
        }
        let target = if to == START {
            None
        } else {
            let Some(pos) = self.compiled.checkpoint_position(to) else {
                let known: Vec<&str> = self
                    .compiled
                    .checkpoints
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                return refuse(format!(
                    "no checkpoint {to:?}; this plan has {}, and {START}",
                    known.join(", ")
                ));
            };
            if self.compiled.point_of_no_return().is_some_and(|p| pos >= p) {
                return refuse(format!(
                    "{to} is at or after the point of no return; nothing can be rolled back to it"
                ));
            }
            if !run.reached(pos) {
                let reached = run.with_status(|s| s.checkpoints.join(", "));
                return refuse(format!(
                    "run {run_id} has not reached {to} (reached: {})",
                    if reached.is_empty() { "none" } else { &reached }
                ));
            }
            Some(to.to_string())
        };
        run.record(self.resumed_event()).await?;
        let cause = format!(
            "rollback to {} requested by {}",
            target_name(&target),
            self.opts.who
        );
        let outcome = rollback::start(&run, target, cause, Some(self.opts.who.clone())).await;
        run.end_session().await;
        outcome
    }

    async fn current_run(&self) -> Result<String, EngineError> {
        self.state
            .current_run(self.env())
            .await?
            .ok_or_else(|| EngineError::NoRunToResume {
                env: self.env().to_string(),
                detail: "no run has started in this environment".into(),
            })
    }

    fn run(&self, writer: JournalWriter, status: RunStatus) -> Run {
        Run::new(
            self.plan.clone(),
            self.compiled.clone(),
            self.providers.clone(),
            self.opts.clone(),
            writer,
            status,
        )
    }

    /// Reads, repairs and replays an existing run's journal; refuses another plan's run.
    async fn open(&self, run_id: &str) -> Result<Arc<Run>, EngineError> {
        let (writer, records) = JournalWriter::open(
            self.state.clone(),
            self.opts.clock.clone(),
            self.env(),
            run_id,
        )
        .await?;
        let status = RunStatus::replay(&records).ok_or_else(|| JournalError::Corrupt {
            run_id: run_id.to_string(),
            line: 1,
            detail: "the first record is not run-started".into(),
        })?;
        if status.plan != self.env() {
            return Err(EngineError::WrongPlan {
                run_id: run_id.to_string(),
                journal_plan: status.plan,
                plan: self.env().to_string(),
            });
        }
        if status.digest != self.plan.digest {
            return Err(EngineError::PlanChanged {
                run_id: run_id.to_string(),
                journal_digest: status.digest,
                plan_digest: self.plan.digest.clone(),
            });
        }
        let run = Arc::new(self.run(writer, status));
        run.notify_catch_up(&records);
        Ok(run)
    }

    fn resumed_event(&self) -> JournalEvent {
        JournalEvent::RunResumed {
            who: self.opts.who.clone(),
            host: lock::this_host(),
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Releases the lock however the run stopped, and reports the outcome. A lock that cannot be
    /// released does not hide what happened to the world: it is logged, and the next command is
    /// refused with the holder named (`cutover unlock` clears it).
    async fn finish(
        &self,
        run_id: &str,
        result: Result<RunOutcome, EngineError>,
    ) -> Result<RunOutcome, EngineError> {
        if let Err(e) = self.state.release_lock(self.env(), run_id).await {
            tracing::error!(
                error = %e,
                "could not release the environment lock; run `cutover unlock` before the next run"
            );
        }
        if let Ok(outcome) = &result {
            tracing::info!(run = run_id, ?outcome, "run stopped");
            self.opts.progress.event(&EngineEvent::RunFinished {
                outcome: outcome.clone(),
            });
        }
        result
    }
}

async fn read_status(
    state: &dyn StateBackend,
    env: &str,
    run_id: &str,
) -> Result<RunStatus, EngineError> {
    let bytes = state.read_journal(env, run_id).await?;
    let parsed = journal::parse(run_id, &bytes)?;
    let mut status = RunStatus::replay(&parsed.records).ok_or_else(|| JournalError::Empty {
        run_id: run_id.to_string(),
    })?;
    status.torn_bytes = parsed.torn_bytes;
    Ok(status)
}

/// The environment's latest run as its journal tells it, with the current lock holder.
/// Read-only: takes no lock and repairs nothing.
pub async fn status(state: &dyn StateBackend, env: &str) -> Result<Option<RunStatus>, EngineError> {
    let Some(run_id) = state.current_run(env).await? else {
        return Ok(None);
    };
    let mut status = read_status(state, env, &run_id).await?;
    status.lock = state.read_lock(env).await?;
    Ok(Some(status))
}

/// Every journal record of a run (the latest run when `run` is `None`); a torn last line is left out.
pub async fn history(
    state: &dyn StateBackend,
    env: &str,
    run: Option<&str>,
) -> Result<Vec<JournalRecord>, EngineError> {
    let run_id = match run {
        Some(r) => r.to_string(),
        None => state
            .current_run(env)
            .await?
            .ok_or_else(|| EngineError::NoRunToResume {
                env: env.to_string(),
                detail: "no run has started in this environment".into(),
            })?,
    };
    let bytes = state
        .read_journal(env, &run_id)
        .await
        .map_err(|e| match e {
            StateError::NotFound { .. } => EngineError::UnknownRun {
                env: env.to_string(),
                run_id: run_id.clone(),
            },
            other => other.into(),
        })?;
    Ok(journal::parse(&run_id, &bytes)?.records)
}

/// Run ids of the environment, oldest first.
pub async fn runs(state: &dyn StateBackend, env: &str) -> Result<Vec<String>, EngineError> {
    Ok(state.list_runs(env).await?)
}
