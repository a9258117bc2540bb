//! Running a run forward: stage by stage, each step journaled `step-started` → side effect →
//! `step-done`, checkpoints journaled as they are reached, and a failure handed to the plan's
//! policy (roll back to the last safe checkpoint, or pause for a human).
//!
//! A stage is a small DAG: a step starts when the steps it `needs` are done. The releases stage
//! runs independent steps concurrently (up to `release_concurrency`); a failure stops new starts,
//! lets running steps finish and journal, then applies the policy. Step tasks live in a `JoinSet`
//! owned by the run's future, so dropping that future (Ctrl-C, a crash test) aborts them at their
//! next `.await`, like a killed process.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::task::JoinSet;

use crate::plan::{FailurePolicy, Plan};
use crate::providers::{Ownership, Providers};

use super::RunOutcome;
use super::error::{EngineError, StepError};
use super::journal::{JournalEvent, JournalRecord, JournalWriter};
use super::options::EngineOptions;
use super::progress::EngineEvent;
use super::retry::Retrier;
use super::rollback;
use super::status::{RunPhase, RunStatus};
use super::step::{CompiledPlan, Stage, StepDef};
use super::steps::{self, StepOutcome};

/// One run in progress: the plan, the providers, and the journal with the state it implies.
pub(crate) struct Run {
    pub plan: Arc<Plan>,
    pub compiled: Arc<CompiledPlan>,
    pub providers: Providers,
    pub opts: EngineOptions,
    pub own: Ownership,
    writer: Arc<tokio::sync::Mutex<JournalWriter>>,
    status: Arc<Mutex<RunStatus>>,
    notifier: Option<super::notify::Notifier>,
    /// The request counts when this session started (what it sent is the difference at its end).
    requests_at_start: std::collections::BTreeMap<String, u64>,
}

impl Run {
    pub fn new(
        plan: Arc<Plan>,
        compiled: Arc<CompiledPlan>,
        providers: Providers,
        opts: EngineOptions,
        writer: JournalWriter,
        status: RunStatus,
    ) -> Self {
        let own = Ownership {
            run_id: status.run_id.clone(),
            plan: plan.metadata.name.clone(),
        };
        let writer = Arc::new(tokio::sync::Mutex::new(writer));
        let status = Arc::new(Mutex::new(status));
        let notifier = (!plan.notify.is_empty()).then(|| {
            // Deliveries are journaled by the same writer, without being notified themselves.
            let (w, s) = (writer.clone(), status.clone());
            let journal: super::notify::Journal = Arc::new(move |event| {
                let (w, s) = (w.clone(), s.clone());
                Box::pin(async move {
                    let record = w.lock().await.append(event).await?;
                    s.lock().expect("run status lock").apply(&record);
                    Ok(())
                })
            });
            super::notify::Notifier::start(plan.clone(), providers.notify.clone(), journal)
        });
        let requests_at_start = opts.requests.map(|count| count()).unwrap_or_default();
        Run { plan, compiled, providers, opts, own, writer, status, notifier, requests_at_start }
    }

    /// Journals one transition (durably) and applies it to the in-memory state.
    pub async fn record(&self, event: JournalEvent) -> Result<JournalRecord, EngineError> {
        let mut writer = self.writer.lock().await;
        let record = writer.append(event).await?;
        self.status.lock().expect("run status lock").apply(&record);
        drop(writer);
        self.notify(&record);
        Ok(record)
    }

    /// Queues the notification of a journaled record (one appended outside [`Run::record`], such
    /// as `run-started`).
    pub fn notify(&self, record: &JournalRecord) {
        if let Some(n) = &self.notifier {
            self.with_status(|s| n.observe(record, s));
        }
    }

    /// A resumed run: what happened before and was never delivered.
    pub fn notify_catch_up(&self, records: &[JournalRecord]) {
        if let Some(n) = &self.notifier {
            n.catch_up(records);
        }
    }

    /// Ends this session of the run: gives deliveries a bounded time to finish, then journals the
    /// AWS requests the session sent. Neither can change how the run ended: a record that cannot
    /// be written is logged.
    pub async fn end_session(&self) {
        if let Some(n) = &self.notifier {
            n.flush().await;
        }
        let Some(count) = self.opts.requests else { return };
        let by_operation: std::collections::BTreeMap<String, u64> = count()
            .into_iter()
            .filter_map(|(op, n)| {
                let added = n.saturating_sub(self.requests_at_start.get(&op).copied().unwrap_or(0));
                (added > 0).then_some((op, added))
            })
            .collect();
        if by_operation.is_empty() {
            return;
        }
        if let Err(e) = self.writer.lock().await.append(JournalEvent::AwsRequests { by_operation }).await {
            tracing::warn!(error = %e, "the session's AWS request counts could not be journaled");
        }
    }

    /// Reads the journaled state without copying it.
    pub fn with_status<T>(&self, f: impl FnOnce(&RunStatus) -> T) -> T {
        f(&self.status.lock().expect("run status lock"))
    }

    pub fn is_done(&self, step: &str) -> bool {
        self.with_status(|s| s.is_done(step))
    }

    /// The journaled output of a step (present from `step-done` until it is compensated).
    pub fn output(&self, step: &str) -> Option<serde_json::Value> {
        self.with_status(|s| s.step(step).and_then(|st| st.output.clone()))
    }

    pub fn phase(&self) -> RunPhase {
        self.with_status(|s| s.phase.clone())
    }

    pub fn now(&self) -> Timestamp {
        self.opts.clock.now()
    }

    pub fn emit(&self, event: EngineEvent) {
        self.opts.progress.event(&event);
    }

    pub fn retrier<'a>(&'a self, step: &'a str) -> Retrier<'a> {
        Retrier {
            policy: self.opts.retry,
            call_timeout: self.opts.call_timeout,
            progress: self.opts.progress.as_ref(),
            step,
        }
    }

    /// Whether every step up to and including position `pos` is done.
    pub fn reached(&self, pos: usize) -> bool {
        self.with_status(|s| {
            self.compiled
                .steps()
                .take(pos + 1)
                .all(|d| s.is_done(&d.id))
        })
    }

    /// Journals every checkpoint that is reached but not yet journaled (in order).
    pub async fn journal_checkpoints(&self) -> Result<(), EngineError> {
        for cp in &self.compiled.checkpoints {
            let pos = self
                .compiled
                .position(&cp.after_step)
                .expect("checkpoint after a known step");
            let journaled = self.with_status(|s| s.checkpoints.contains(&cp.name));
            if journaled || !self.reached(pos) {
                continue;
            }
            self.record(JournalEvent::Checkpoint {
                name: cp.name.clone(),
            })
            .await?;
            tracing::info!(checkpoint = %cp.name, "checkpoint reached");
            self.emit(EngineEvent::Checkpoint {
                name: cp.name.clone(),
            });
        }
        Ok(())
    }
}

enum StageEnd {
    Done,
    Waiting { step: String, until: Timestamp },
    Failed { step: String, error: StepError },
}

/// Runs every step not yet done, in order, to the end of the plan or the first stop.
pub(crate) async fn drive(run: &Arc<Run>) -> Result<RunOutcome, EngineError> {
    run.journal_checkpoints().await?;
    for stage in &run.compiled.stages {
        if stage.steps.iter().all(|s| run.is_done(&s.id)) {
            continue;
        }
        run.emit(EngineEvent::StageStarted {
            stage: stage.name.clone(),
            title: stage.title.clone(),
        });
        match run_stage(run, stage).await? {
            StageEnd::Done => {}
            StageEnd::Waiting { step, until } => {
                run.record(JournalEvent::RunWaiting {
                    step: step.clone(),
                    until,
                })
                .await?;
                return Ok(RunOutcome::Waiting { step, until });
            }
            StageEnd::Failed { step, error } => return on_failure(run, step, error).await,
        }
    }
    run.record(JournalEvent::RunCompleted).await?;
    Ok(RunOutcome::Completed)
}

async fn run_stage(run: &Arc<Run>, stage: &Stage) -> Result<StageEnd, EngineError> {
    let limit = if stage.parallel {
        run.opts.release_concurrency.max(1)
    } else {
        1
    };
    let mut tasks: JoinSet<Result<StepOutcome, StepError>> = JoinSet::new();
    let mut running: HashMap<tokio::task::Id, String> = HashMap::new();
    let mut failure: Option<(String, StepError)> = None;
    let mut waiting: Option<(String, Timestamp)> = None;
    loop {
        if failure.is_none() && waiting.is_none() {
            let busy: HashSet<&String> = running.values().collect();
            let ready: Vec<&StepDef> = stage
                .steps
                .iter()
                .filter(|d| !busy.contains(&d.id) && !run.is_done(&d.id))
                .filter(|d| d.needs.iter().all(|n| run.is_done(n)))
                .take(limit.saturating_sub(running.len()))
                .collect();
            for def in ready {
                run.record(JournalEvent::StepStarted {
                    step: def.id.clone(),
                    irreversible: def.point_of_no_return,
                })
                .await?;
                tracing::info!(step = %def.id, "step started");
                run.emit(EngineEvent::StepStarted {
                    step: def.id.clone(),
                    title: def.title.clone(),
                });
                let (task_run, task_def) = (run.clone(), def.clone());
                let handle = tasks.spawn(async move { steps::apply(&task_run, &task_def).await });
                running.insert(handle.id(), def.id.clone());
            }
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let (id, result) = match joined {
            Ok((id, result)) => (id, result),
            Err(e) => (
                e.id(),
                Err(StepError::Internal(format!(
                    "step task ended abnormally: {e}"
                ))),
            ),
        };
        let step = running.remove(&id).expect("every task is a known step");
        match result {
            Ok(StepOutcome::Done(output)) => {
                run.record(JournalEvent::StepDone {
                    step: step.clone(),
                    output,
                })
                .await?;
                tracing::info!(%step, "step done");
                run.emit(EngineEvent::StepDone { step });
                run.journal_checkpoints().await?;
            }
            Ok(StepOutcome::Wait(until)) => {
                run.emit(EngineEvent::WaitingUntil {
                    step: step.clone(),
                    until,
                });
                waiting = Some((step, until));
            }
            Err(error) => {
                // The progress display shows the failure; the log keeps it for -v and JSON logs.
                tracing::info!(%step, %error, "step failed");
                run.record(JournalEvent::StepFailed {
                    step: step.clone(),
                    error: error.to_string(),
                    retryable: error.retryable(),
                    code: Some(super::codes::for_step_error(&error, &step).code.to_string()),
                })
                .await?;
                run.emit(EngineEvent::StepFailed {
                    step: step.clone(),
                    error: error.to_string(),
                });
                failure.get_or_insert((step, error));
            }
        }
    }
    if let Some((step, error)) = failure {
        return Ok(StageEnd::Failed { step, error });
    }
    if let Some((step, until)) = waiting {
        return Ok(StageEnd::Waiting { step, until });
    }
    if let Some(stuck) = stage.steps.iter().find(|d| !run.is_done(&d.id)) {
        // Validation rejects unknown or cyclic `needs`; reaching here is a bug, said plainly.
        let error = StepError::Internal(format!("its needs {:?} can never be met", stuck.needs));
        return Ok(StageEnd::Failed {
            step: stuck.id.clone(),
            error,
        });
    }
    Ok(StageEnd::Done)
}

/// Applies the failure policy. Interlocks, bugs and a failed irreversible step always stop for a
/// human: rolling back automatically there could make things worse.
async fn on_failure(
    run: &Arc<Run>,
    step: String,
    error: StepError,
) -> Result<RunOutcome, EngineError> {
    let irreversible = run
        .compiled
        .step(&step)
        .is_some_and(|d| d.point_of_no_return);
    if irreversible {
        let cause = format!(
            "{step} failed: {error}. It is past the point of no return and cannot be rolled back: \
             fix the cause and run `cutover resume` to finish it"
        );
        return needs_attention(run, Some(step), cause).await;
    }
    // Refused before anything was made (a pre-flight gate's findings, or the world not as the
    // plan says): nothing to roll back, and the plan or the world must change, like an invalid plan.
    let nothing_made = || {
        run.with_status(|s| {
            !s.steps.iter().any(|st| {
                st.state.needs_compensation() && run.compiled.step(&st.id).is_some_and(|d| d.changes_world())
            })
        })
    };
    if let StepError::Refused(why) | StepError::Precondition(why) = &error
        && nothing_made()
    {
        run.record(JournalEvent::RunRefused { step: step.clone(), cause: why.clone() }).await?;
        return Ok(RunOutcome::Refused { step, cause: why.clone() });
    }
    if matches!(error, StepError::Interlock(_) | StepError::Internal(_)) {
        let cause = format!(
            "{step} stopped: {error}. Nothing was rolled back; once the world is as expected run \
             `cutover resume`, or `cutover rollback --to CHECKPOINT`"
        );
        return needs_attention(run, Some(step), cause).await;
    }
    let cause = format!("{step} failed: {error}");
    match run.plan.on_failure {
        FailurePolicy::Pause => {
            run.record(JournalEvent::RunPaused {
                step: step.clone(),
                cause: cause.clone(),
            })
            .await?;
            Ok(RunOutcome::Paused { step, cause })
        }
        FailurePolicy::Rollback => {
            let to = automatic_target(run);
            rollback::start(run, to, cause, None).await
        }
    }
}

pub(crate) async fn needs_attention(
    run: &Arc<Run>,
    step: Option<String>,
    cause: String,
) -> Result<RunOutcome, EngineError> {
    run.record(JournalEvent::RunFailed {
        step: step.clone(),
        cause: cause.clone(),
    })
    .await?;
    Ok(RunOutcome::NeedsAttention { step, cause })
}

/// The last reached checkpoint that is a safe resting point; `None` means undo everything.
fn automatic_target(run: &Run) -> Option<String> {
    run.compiled
        .checkpoints
        .iter()
        .filter(|c| c.automatic_target)
        .filter(|c| {
            run.compiled
                .position(&c.after_step)
                .is_some_and(|p| run.reached(p))
        })
        .last()
        .map(|c| c.name.clone())
}
