//! Walking a run back to a checkpoint (saga compensation).
//!
//! Every step after the target that may have touched the world (done, started, failed, or half
//! compensated) is undone, most recently started first. A step whose `apply` never finished is
//! compensated too: compensations tolerate that. Steps with nothing to undo (checks, waits) are
//! just journaled as compensated so a later forward run repeats them.
//!
//! Consecutive traffic shifts are undone as ONE weight change straight to the weights before the
//! earliest of them, so blue gets all its traffic back in a single atomic batch.
//!
//! The rollback is journaled (`rollback-started` … `run-rolled-back`); if it stops half-way
//! (crash, failed compensation), `resume` continues it to the same target.

use std::sync::Arc;

use super::RunOutcome;
use super::error::EngineError;
use super::executor::{Run, needs_attention};
use super::journal::JournalEvent;
use super::progress::EngineEvent;
use super::status::target_name;
use super::step::{StepDef, StepKind};
use super::steps;

/// What to undo in one go.
pub(crate) enum Unit<'a> {
    /// A step with nothing to undo: only journaled.
    Reset(&'a StepDef),
    One(&'a StepDef),
    /// Consecutive traffic shifts, latest first: one weight change.
    Shifts(Vec<&'a StepDef>),
}

impl<'a> Unit<'a> {
    fn steps(&self) -> Vec<&'a StepDef> {
        match self {
            Unit::Reset(s) | Unit::One(s) => vec![*s],
            Unit::Shifts(v) => v.clone(),
        }
    }
}

/// Journals the start of a rollback and runs it.
pub(crate) async fn start(
    run: &Arc<Run>,
    to: Option<String>,
    cause: String,
    requested_by: Option<String>,
) -> Result<RunOutcome, EngineError> {
    tracing::info!(to = target_name(&to), %cause, "rolling back");
    run.record(JournalEvent::RollbackStarted {
        to: to.clone(),
        cause: cause.clone(),
        requested_by: requested_by.clone(),
    })
    .await?;
    resume(run, to, cause, requested_by).await
}

/// Runs (or continues) compensations back to `to`, then journals the run as rolled back.
pub(crate) async fn resume(
    run: &Arc<Run>,
    to: Option<String>,
    cause: String,
    requested_by: Option<String>,
) -> Result<RunOutcome, EngineError> {
    let keep = match &to {
        // Never fall back to "undo everything" for a name the plan does not have.
        Some(cp) => match run.compiled.checkpoint_position(cp) {
            Some(p) => p + 1,
            None => {
                return Err(EngineError::RollbackRefused(format!(
                    "checkpoint {cp} is not in this plan"
                )));
            }
        },
        None => 0,
    };
    for unit in plan_units(run, keep) {
        let steps = unit.steps();
        if let Unit::Reset(s) = unit {
            run.record(JournalEvent::CompensationDone { step: s.id.clone() })
                .await?;
            continue;
        }
        for s in &steps {
            run.record(JournalEvent::CompensationStarted { step: s.id.clone() })
                .await?;
            run.emit(EngineEvent::Compensating { step: s.id.clone() });
        }
        match steps::compensate(run, &unit).await {
            Ok(()) => {
                for s in &steps {
                    run.record(JournalEvent::CompensationDone { step: s.id.clone() })
                        .await?;
                    run.emit(EngineEvent::Compensated { step: s.id.clone() });
                }
            }
            Err(error) => {
                for s in &steps {
                    run.record(JournalEvent::CompensationFailed {
                        step: s.id.clone(),
                        error: error.to_string(),
                    })
                    .await?;
                }
                let step = steps.last().map(|s| s.id.clone());
                let cause = format!(
                    "rollback to {} stopped: undoing {} failed: {error}. Fix the cause and run \
                     `cutover resume` to continue the rollback",
                    target_name(&to),
                    step.as_deref().unwrap_or("a step"),
                );
                return needs_attention(run, step, cause).await;
            }
        }
    }
    run.record(JournalEvent::RunRolledBack {
        to: to.clone(),
        cause: cause.clone(),
        requested_by: requested_by.clone(),
    })
    .await?;
    Ok(RunOutcome::RolledBack { to, cause, requested_by })
}

/// Steps at compiled position `keep` or later that need undoing, grouped, latest start first.
fn plan_units(run: &Run, keep: usize) -> Vec<Unit<'_>> {
    let mut todo: Vec<(u64, &StepDef)> = run.with_status(|status| {
        run.compiled
            .steps()
            .skip(keep)
            .filter_map(|d| {
                let s = status.step(&d.id)?;
                s.state
                    .needs_compensation()
                    .then_some((s.last_started_seq, d))
            })
            .collect()
    });
    todo.sort_by_key(|t| std::cmp::Reverse(t.0));
    let mut units: Vec<Unit> = Vec::new();
    for (_, def) in todo {
        let is_shift = matches!(def.kind, StepKind::TrafficShift { .. });
        match units.last_mut() {
            Some(Unit::Shifts(group)) if is_shift => group.push(def),
            _ if is_shift => units.push(Unit::Shifts(vec![def])),
            _ if def.compensation.is_none() => units.push(Unit::Reset(def)),
            _ => units.push(Unit::One(def)),
        }
    }
    units
}
