//! Checks: `verify` steps retry a check until it passes (with the consecutive successes it asks
//! for) or its timeout runs out; bakes re-run the traffic gates for the whole bake duration.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::plan::{Check, CheckKind};
use crate::providers::CheckTarget;

use super::Cx;
use super::provision::missing;
use crate::engine::error::StepError;
use crate::plan::format_duration;
use crate::engine::progress::EngineEvent;
use crate::engine::retry::Bound;

fn target(cx: &Cx<'_>) -> CheckTarget {
    let plan = cx.plan();
    CheckTarget {
        green_cluster: plan.green.name.clone(),
        blue_cluster: plan.blue.as_ref().map(|b| b.cluster.clone()),
        plan: plan.metadata.name.clone(),
        run_id: cx.own().run_id.clone(),
        step: cx.step.to_string(),
        weight: crate::engine::ids::shift_weight(cx.step),
    }
}

/// How often a check is attempted.
pub(super) fn interval(cx: &Cx<'_>, check: &Check) -> Duration {
    match &check.kind {
        CheckKind::Http(http) => http.interval,
        _ => cx.run.opts.check_interval,
    }
}

pub(super) async fn check(cx: &Cx<'_>, name: &str) -> Result<Value, StepError> {
    let check = cx
        .plan()
        .checks
        .iter()
        .find(|c| c.name == name)
        .ok_or_else(|| missing("check", name))?;
    let needed = match &check.kind {
        CheckKind::Http(http) => http.successes.max(1),
        _ => 1,
    };
    // A Prometheus check passes once its sample has stayed within bounds for `for`.
    let hold = match &check.kind {
        CheckKind::Prometheus(p) => p.hold,
        _ => Duration::ZERO,
    };
    let mut held_since: Option<Instant> = None;
    let every = interval(cx, check);
    let deadline = Instant::now() + check.timeout;
    let target = target(cx);
    let health = &cx.p().health;
    cx.emit(EngineEvent::Waiting {
        step: cx.step.to_string(),
        what: format!("check {name}"),
        timeout_ms: check.timeout.as_millis() as u64,
    });
    let (mut attempts, mut streak) = (0u32, 0u32);
    loop {
        attempts += 1;
        // Each attempt once: this loop is the retry, and an error is just a failed attempt.
        let outcome = cx
            .run
            .retrier(cx.step)
            .once(&format!("check {name}"), || health.check(&target, check))
            .await;
        let detail = match outcome {
            Ok(o) if o.passed => {
                streak += 1;
                let since = *held_since.get_or_insert_with(Instant::now);
                if streak >= needed && since.elapsed() >= hold {
                    return Ok(json!({ "check": name, "attempts": attempts, "detail": o.detail }));
                }
                tokio::time::sleep(every).await;
                continue;
            }
            Ok(o) => o.detail,
            Err(e) => e.to_string(),
        };
        streak = 0;
        held_since = None;
        if Instant::now() + every > deadline {
            return Err(StepError::CheckFailed {
                check: name.to_string(),
                detail: format!(
                    "{detail} (still failing after {attempts} attempts over {})",
                    format_duration(check.timeout)
                ),
            });
        }
        tokio::time::sleep(every).await;
    }
}

/// How one gate did during a bake, journaled in the shift step's output (`bake`) so a run's
/// history shows what was checked, not only that the bake ended.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct GateTally {
    gate: String,
    /// Checks run during the bake.
    checks: u32,
    /// Checks that passed.
    passed: u32,
    /// What the last check saw.
    last: String,
}

/// Re-runs every gate for `bake`, at the shortest gate interval; the first failure fails the bake
/// (its error says how many checks of that gate passed before it).
pub(super) async fn bake(cx: &Cx<'_>, bake: Duration) -> Result<Vec<GateTally>, StepError> {
    let plan = cx.plan();
    let Some(traffic) = &plan.traffic else {
        return Ok(Vec::new());
    };
    let gates: Vec<&Check> = traffic
        .gates
        .iter()
        .map(|g| {
            plan.checks
                .iter()
                .find(|c| &c.name == g)
                .ok_or_else(|| missing("check", g))
        })
        .collect::<Result<_, _>>()?;
    let every = gates
        .iter()
        .map(|g| interval(cx, g))
        .min()
        .unwrap_or(cx.run.opts.check_interval);
    let end = Instant::now() + bake;
    let target = target(cx);
    let health = &cx.p().health;
    let mut tallies: Vec<GateTally> = gates
        .iter()
        .map(|g| GateTally { gate: g.name.clone(), checks: 0, passed: 0, last: String::new() })
        .collect();
    loop {
        for (gate, tally) in gates.iter().zip(tallies.iter_mut()) {
            let outcome = cx
                .call(&format!("gate {}", gate.name), Bound::Call, || {
                    health.check(&target, gate)
                })
                .await?;
            tally.checks += 1;
            if !outcome.passed {
                let before = match tally.passed {
                    0 => "its first check in this bake".to_string(),
                    n => format!("{n} passing checks in this bake"),
                };
                return Err(StepError::CheckFailed {
                    check: gate.name.clone(),
                    detail: format!("{} (after {before})", outcome.detail),
                });
            }
            tally.passed += 1;
            tally.last = outcome.detail;
        }
        let now = Instant::now();
        if now >= end {
            return Ok(tallies);
        }
        let remaining = end - now;
        cx.emit(EngineEvent::Baking {
            step: cx.step.to_string(),
            remaining_ms: remaining.as_millis() as u64,
        });
        tokio::time::sleep(every.min(remaining)).await;
    }
}
