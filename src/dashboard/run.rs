//! One run as the dashboard shows it, from its journal records alone (and the plan, when
//! `--plans` has it): the timeline of steps with every apply and compensation span, the groups
//! of steps that ran side by side, checkpoints, the bakes with their gates, the weights, what
//! the outcome means and the exact commands that can be run next.

use jiff::Timestamp;

use crate::engine::{JournalEvent, JournalRecord, RunPhase, RunStatus, ids, runbook};
use crate::plan::Plan;
use crate::providers::LockInfo;

use super::weights::{self, WeightPoint};

/// What a span of a step's life was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// Its `apply`.
    Apply,
    /// Its `compensate` (a rollback undoing it).
    Compensate,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanEnd {
    /// Finished.
    Done,
    /// Failed.
    Failed,
    /// No outcome journaled: it runs now, or the process died while it ran.
    Open,
}

/// One apply or compensate of a step, from its start record to its outcome record.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    /// Apply or compensate.
    pub kind: SpanKind,
    /// When it started.
    pub from: Timestamp,
    /// When it ended; `None` while open.
    pub to: Option<Timestamp>,
    /// How it ended.
    pub end: SpanEnd,
}

/// One step's row of the timeline.
#[derive(Debug, Clone)]
pub struct StepRow {
    /// Step id.
    pub id: String,
    /// Its spans, in order.
    pub spans: Vec<Span>,
    /// Where it stands, in a word (`done`, `failed`, `running`, `compensated`, ...).
    pub state: &'static str,
    /// How many times its apply started (more than one: retried after a pause or a crash).
    pub attempts: u32,
    /// The last error journaled for it.
    pub error: Option<String>,
}

impl StepRow {
    /// From its first start to its last end (to `now` while a span is open).
    pub fn extent(&self, now: Timestamp) -> (Timestamp, Timestamp) {
        let from = self.spans.first().map_or(now, |s| s.from);
        let to = self.spans.iter().map(|s| s.to.unwrap_or(now)).max().unwrap_or(now);
        (from, to)
    }

    /// Seconds its applies took (every attempt), for the duration column.
    pub fn apply_secs(&self, now: Timestamp) -> f64 {
        self.spans
            .iter()
            .filter(|s| s.kind == SpanKind::Apply)
            .map(|s| secs(s.from, s.to.unwrap_or(now)))
            .sum()
    }

    /// Whether a rollback undid (or tried to undo) it.
    pub fn compensated(&self) -> bool {
        self.spans.iter().any(|s| s.kind == SpanKind::Compensate)
    }
}

/// A traffic step's bake: the gates re-checked while the new weights were live.
#[derive(Debug, Clone)]
pub struct Bake {
    /// The shift step (`traffic.shift.50`).
    pub step: String,
    /// Green's weight during the bake.
    pub weight: u8,
    /// The gates the plan re-checks (empty when the plan is not known).
    pub gates: Vec<String>,
    /// `passed`, `failed`, `baking` or `undone`.
    pub result: &'static str,
    /// The failing gate's error.
    pub detail: Option<String>,
    /// Each gate's checks during the bake, from the shift's journaled output (a finished bake).
    pub tallies: Vec<GateTally>,
}

/// How one gate did during a bake, as the shift step journaled it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GateTally {
    /// The gate (a check's name).
    pub gate: String,
    /// Checks run during the bake.
    pub checks: u32,
    /// Checks that passed.
    pub passed: u32,
    /// What the last check saw.
    #[serde(default)]
    pub last: String,
}

/// A command someone ran on this run, from the journal.
#[derive(Debug, Clone)]
pub struct RanCommand {
    /// When.
    pub at: Timestamp,
    /// Who (the caller the journal names).
    pub who: String,
    /// What (`cutover apply`, `cutover resume`, `cutover rollback --to verified`).
    pub command: String,
}

/// A command that can be run next, and why.
#[derive(Debug, Clone)]
pub struct Suggested {
    /// The exact command line.
    pub command: String,
    /// What it does here.
    pub why: String,
}

/// What the run's state means and what to do. A stopped run whose plan is known shows its
/// runbook (the same one `cutover explain` prints: stop code, what is safe, the commands); a
/// running or completed run, or one whose plan is not in `--plans`, shows where it stands and the
/// commands that apply.
#[derive(Debug, Clone)]
pub struct NextSteps {
    /// `RunOutcome::describe()` once the run stopped, else where it stands.
    pub summary: String,
    /// The runbook's stop code and title (`CUT-GATE-001`, "A gate failed"), when there is one.
    pub code: Option<(String, String)>,
    /// What is true and safe now, from the runbook.
    pub safe_now: Vec<String>,
    /// The commands that apply now.
    pub commands: Vec<Suggested>,
}

/// A run, ready to render.
#[derive(Debug, Clone)]
pub struct RunView {
    /// The run as the journal tells it.
    pub status: RunStatus,
    /// Seq of the last record read (the live stream continues after it).
    pub last_seq: u64,
    /// When the page was built: open spans end here.
    pub now: Timestamp,
    /// Timeline rows grouped: steps whose spans overlapped ran side by side and share a group.
    pub groups: Vec<Vec<StepRow>>,
    /// Checkpoints reached, with when (rolled-back ones included, marked by `status`).
    pub checkpoints: Vec<(String, Timestamp)>,
    /// Weight changes over the run.
    pub weights: Vec<WeightPoint>,
    /// The traffic steps' bakes.
    pub bakes: Vec<Bake>,
    /// Commands run on this run.
    pub ran: Vec<RanCommand>,
    /// AWS requests by operation, summed over the run's sessions (each journals its own).
    pub requests: std::collections::BTreeMap<String, u64>,
    /// What to do next.
    pub next: NextSteps,
    /// The journal records (the selected step's are shown).
    pub records: Vec<JournalRecord>,
}

/// Seconds from `a` to `b`.
pub fn secs(a: Timestamp, b: Timestamp) -> f64 {
    (b.as_millisecond() - a.as_millisecond()).max(0) as f64 / 1000.0
}

/// Builds the view of a run from its records; `None` when they do not start a run. `lock` is
/// the environment's holder now; `plan` adds gate names and the plan path to the commands.
pub fn view(records: &[JournalRecord], lock: Option<LockInfo>, plan: Option<&Plan>, now: Timestamp) -> Option<RunView> {
    let mut status = RunStatus::replay(records)?;
    status.lock = lock;
    let rows = rows(records);
    let weights = weights::series(records);
    let bakes = bakes(&rows, plan, records);
    let next = next_steps(&status, plan, records);
    Some(RunView {
        last_seq: records.last().map_or(0, |r| r.seq),
        now,
        groups: group(rows, now),
        checkpoints: records
            .iter()
            .filter_map(|r| match &r.event {
                JournalEvent::Checkpoint { name } => Some((name.clone(), r.ts)),
                _ => None,
            })
            .collect(),
        weights,
        bakes,
        ran: ran(records),
        requests: requests(records),
        next,
        status,
        records: records.to_vec(),
    })
}

fn rows(records: &[JournalRecord]) -> Vec<StepRow> {
    let mut rows: Vec<StepRow> = Vec::new();
    let row = |rows: &mut Vec<StepRow>, id: &str| -> usize {
        rows.iter().position(|r| r.id == id).unwrap_or_else(|| {
            rows.push(StepRow { id: id.to_string(), spans: Vec::new(), state: "running", attempts: 0, error: None });
            rows.len() - 1
        })
    };
    let close = |row: &mut StepRow, kind: SpanKind, at: Timestamp, end: SpanEnd| {
        if let Some(span) = row.spans.iter_mut().rev().find(|s| s.kind == kind && s.end == SpanEnd::Open) {
            span.to = Some(at);
            span.end = end;
        }
    };
    for r in records {
        let (id, kind) = match &r.event {
            JournalEvent::StepStarted { step, .. } => (step, SpanKind::Apply),
            JournalEvent::StepDone { step, .. } | JournalEvent::StepFailed { step, .. } => (step, SpanKind::Apply),
            JournalEvent::CompensationStarted { step }
            | JournalEvent::CompensationDone { step }
            | JournalEvent::CompensationFailed { step, .. } => (step, SpanKind::Compensate),
            _ => continue,
        };
        let i = row(&mut rows, id);
        let row = &mut rows[i];
        match &r.event {
            JournalEvent::StepStarted { .. } | JournalEvent::CompensationStarted { .. } => {
                // A crash leaves a span open; the next start closes it as cut short.
                close(row, kind, r.ts, SpanEnd::Failed);
                row.spans.push(Span { kind, from: r.ts, to: None, end: SpanEnd::Open });
                if kind == SpanKind::Apply {
                    row.attempts += 1;
                    row.state = "running";
                } else {
                    row.state = "compensating";
                }
            }
            JournalEvent::StepDone { .. } => {
                close(row, kind, r.ts, SpanEnd::Done);
                row.state = "done";
            }
            JournalEvent::StepFailed { error, .. } => {
                close(row, kind, r.ts, SpanEnd::Failed);
                row.state = "failed";
                row.error = Some(error.clone());
            }
            JournalEvent::CompensationDone { .. } => {
                close(row, kind, r.ts, SpanEnd::Done);
                row.state = "compensated";
            }
            JournalEvent::CompensationFailed { error, .. } => {
                close(row, kind, r.ts, SpanEnd::Failed);
                row.state = "compensation-failed";
                row.error = Some(error.clone());
            }
            _ => {}
        }
    }
    rows
}

/// Consecutive rows (in first-start order) whose extents overlap form one group: they ran side
/// by side (a stage's DAG, releases without `needs` between them, compensations undone at once).
fn group(rows: Vec<StepRow>, now: Timestamp) -> Vec<Vec<StepRow>> {
    let mut groups: Vec<Vec<StepRow>> = Vec::new();
    let mut group_end: Option<Timestamp> = None;
    for row in rows {
        let (from, to) = row.extent(now);
        match (groups.last_mut(), group_end) {
            // Strictly overlapping: a step that starts the moment another ends ran after it.
            (Some(g), Some(end)) if from < end => {
                g.push(row);
                group_end = Some(end.max(to));
            }
            _ => {
                groups.push(vec![row]);
                group_end = Some(to);
            }
        }
    }
    groups
}

fn bakes(rows: &[StepRow], plan: Option<&Plan>, records: &[JournalRecord]) -> Vec<Bake> {
    let gates: Vec<String> = plan.and_then(|p| p.traffic.as_ref()).map(|t| t.gates.clone()).unwrap_or_default();
    rows.iter()
        .filter_map(|row| {
            let weight = ids::shift_weight(&row.id)?;
            let result = match row.state {
                "done" => "passed",
                "failed" => "failed",
                "running" => "baking",
                _ => "undone",
            };
            // The step's error names the gate that failed (`check smoke failed: ...`).
            let failed = row.spans.iter().any(|s| s.kind == SpanKind::Apply && s.end == SpanEnd::Failed);
            Some(Bake {
                step: row.id.clone(),
                weight,
                gates: gates.clone(),
                result: if result == "undone" && failed { "failed" } else { result },
                detail: row.error.clone().filter(|_| failed),
                tallies: tallies(records, &row.id),
            })
        })
        .collect()
}

/// The gate tallies in the latest `step-done` of `step` (none before the bake ended).
fn tallies(records: &[JournalRecord], step: &str) -> Vec<GateTally> {
    records
        .iter()
        .rev()
        .find_map(|r| match &r.event {
            JournalEvent::StepDone { step: s, output } if s == step => Some(output.get("bake").cloned()),
            _ => None,
        })
        .flatten()
        .and_then(|bake| serde_json::from_value(bake).ok())
        .unwrap_or_default()
}

/// What the run's sessions journaled they sent to AWS, summed by operation.
fn requests(records: &[JournalRecord]) -> std::collections::BTreeMap<String, u64> {
    let mut total = std::collections::BTreeMap::new();
    for r in records {
        if let JournalEvent::AwsRequests { by_operation } = &r.event {
            for (op, n) in by_operation {
                *total.entry(op.clone()).or_insert(0) += n;
            }
        }
    }
    total
}

fn ran(records: &[JournalRecord]) -> Vec<RanCommand> {
    let mut out: Vec<RanCommand> = Vec::new();
    for r in records {
        let (who, command) = match &r.event {
            JournalEvent::RunStarted { who, .. } => (who.clone(), "cutover apply".to_string()),
            JournalEvent::RunResumed { who, .. } => (who.clone(), "cutover resume".to_string()),
            JournalEvent::RollbackStarted { to, requested_by: Some(who), .. } => {
                let to = to.as_deref().unwrap_or(crate::engine::START);
                // `rollback` journals run-resumed first: that entry was this rollback.
                if out.last().is_some_and(|c| c.command == "cutover resume" && &c.who == who) {
                    out.pop();
                }
                (who.clone(), format!("cutover rollback --to {to}"))
            }
            _ => continue,
        };
        out.push(RanCommand { at: r.ts, who, command });
    }
    out
}

/// What the run's state means and the commands for it: the runbook when the run stopped and its
/// plan is known, else the commands of its phase with the plan's path when it is known.
pub fn next_steps(status: &RunStatus, plan: Option<&Plan>, records: &[JournalRecord]) -> NextSteps {
    let summary = match status.phase.outcome() {
        Some(outcome) => outcome.describe(),
        None => super::pages::phase_label(status),
    };
    let runbook = plan.and_then(|plan| runbook::for_run(plan, &plan.source, status, records));
    if let Some(rb) = runbook {
        return NextSteps {
            summary,
            code: Some((rb.code, rb.title)),
            safe_now: rb.safe_now,
            commands: rb.next.into_iter().map(|n| Suggested { command: n.command, why: n.why }).collect(),
        };
    }
    let p = plan.map_or_else(|| "PLAN".to_string(), |p| p.source.display().to_string());
    let cmd = |c: String, why: &str| Suggested { command: c, why: why.to_string() };
    let status_cmd = cmd(format!("cutover status {p}"), "where the run stands and who holds the lock");
    let history_cmd = cmd(format!("cutover history {p} --run {}", status.run_id), "the journal as a timeline");
    let rollback = |to: &str, why| cmd(format!("cutover rollback {p} --to {to}"), why);
    let last_checkpoint = status.checkpoints.last().map_or(crate::engine::START, String::as_str);
    let can_roll_back = status.point_of_no_return.is_none();
    let mut commands = Vec::new();
    match &status.phase {
        RunPhase::Running | RunPhase::RollingBack { .. } if status.lock.is_some() => {
            commands.push(status_cmd);
        }
        RunPhase::Running | RunPhase::RollingBack { .. } => {
            commands.push(cmd(format!("cutover resume {p}"), "no process holds the lock: the run was interrupted; continue it"));
            commands.push(status_cmd);
        }
        RunPhase::Paused { .. } => {
            commands.push(cmd(format!("cutover resume {p}"), "retry the failed step once its cause is fixed"));
            if can_roll_back {
                commands.push(rollback(last_checkpoint, "undo back to the last checkpoint"));
            }
        }
        RunPhase::Waiting { .. } => {
            commands.push(cmd(format!("cutover resume {p}"), "continue once the wait is over"));
        }
        RunPhase::NeedsAttention { .. } => {
            commands.push(status_cmd);
            commands.push(history_cmd);
            commands.push(cmd(format!("cutover resume {p}"), "continue once the cause is dealt with"));
            if can_roll_back {
                commands.push(rollback(last_checkpoint, "or undo back to the last checkpoint"));
            }
        }
        RunPhase::RolledBack { to: Some(_), .. } => {
            commands.push(cmd(format!("cutover resume {p}"), "go forward again from the checkpoint"));
            if can_roll_back {
                commands.push(rollback(crate::engine::START, "or undo everything this run did"));
            }
        }
        RunPhase::RolledBack { to: None, .. } => {
            commands.push(cmd(format!("cutover apply {p}"), "start a new run once the cause is fixed"));
        }
        RunPhase::Completed => {
            commands.push(cmd(format!("cutover next {p} --version VERSION -o NEXT.yaml"), "write next quarter's plan"));
            commands.push(history_cmd);
        }
        RunPhase::Refused { .. } => {
            commands.push(cmd(format!("cutover preflight {p}"), "re-run the gates after fixing the plan or the world"));
            commands.push(cmd(format!("cutover apply {p}"), "then start again"));
        }
    }
    NextSteps { summary, code: None, safe_now: Vec::new(), commands }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run built from `(seconds after 09:00, event)` pairs.
    fn records(events: Vec<(i64, JournalEvent)>) -> Vec<JournalRecord> {
        let start: Timestamp = "2026-03-01T09:00:00Z".parse().unwrap();
        let mut all = vec![(
            0,
            JournalEvent::RunStarted {
                plan: "p".into(),
                digest: "d".into(),
                kind: "Upgrade".into(),
                who: "ana".into(),
                host: "h".into(),
                pid: 1,
                version: "0".into(),
                trace: None,
            },
        )];
        all.extend(events);
        all.into_iter()
            .enumerate()
            .map(|(i, (s, event))| JournalRecord {
                seq: i as u64 + 1,
                ts: start + jiff::SignedDuration::from_secs(s),
                run: "r".into(),
                event,
            })
            .collect()
    }

    fn started(step: &str) -> JournalEvent {
        JournalEvent::StepStarted { step: step.into(), irreversible: false }
    }

    fn done(step: &str) -> JournalEvent {
        JournalEvent::StepDone { step: step.into(), output: serde_json::json!({}) }
    }

    #[test]
    fn overlapping_steps_share_a_group_and_retries_and_undos_are_spans() {
        let now: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let recs = records(vec![
            (1, started("provision.cluster")),
            (5, done("provision.cluster")),
            (5, started("provision.addon.a")),
            (6, started("provision.addon.b")),
            (8, done("provision.addon.a")),
            (9, done("provision.addon.b")),
            (10, started("traffic.shift.10")),
            (12, JournalEvent::StepFailed { step: "traffic.shift.10".into(), error: "check smoke failed".into(), retryable: false, code: None }),
            (13, started("traffic.shift.10")),
            (20, JournalEvent::StepFailed { step: "traffic.shift.10".into(), error: "check smoke failed again".into(), retryable: false, code: None }),
            (21, JournalEvent::CompensationStarted { step: "traffic.shift.10".into() }),
            (22, JournalEvent::CompensationDone { step: "traffic.shift.10".into() }),
            (23, JournalEvent::RunRolledBack { to: Some("verified".into()), cause: "check smoke failed again".into(), requested_by: None }),
        ]);
        let view = view(&recs, None, None, now).unwrap();
        let ids: Vec<Vec<&str>> = view.groups.iter().map(|g| g.iter().map(|r| r.id.as_str()).collect()).collect();
        assert_eq!(ids, [vec!["provision.cluster"], vec!["provision.addon.a", "provision.addon.b"], vec!["traffic.shift.10"]]);
        let shift = &view.groups[2][0];
        assert_eq!((shift.attempts, shift.state, shift.compensated()), (2, "compensated", true));
        assert_eq!(shift.spans.len(), 3);
        assert_eq!(shift.apply_secs(now), 9.0, "both attempts count, the undo does not");
        assert_eq!(view.bakes.len(), 1);
        assert_eq!((view.bakes[0].result, view.bakes[0].detail.as_deref()), ("failed", Some("check smoke failed again")));
        assert!(view.next.summary.starts_with("run failed and was rolled back to verified"), "{}", view.next.summary);
        let commands: Vec<&str> = view.next.commands.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(commands, ["cutover resume PLAN", "cutover rollback PLAN --to start"]);
    }

    #[test]
    fn a_requested_rollback_is_one_command_and_a_crash_leaves_an_open_span_closed_by_the_next_start() {
        let now: Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let recs = records(vec![
            (1, started("provision.cluster")),
            (30, JournalEvent::RunResumed { who: "bo".into(), host: "h".into(), pid: 2, version: "0".into() }),
            (31, started("provision.cluster")),
            (40, done("provision.cluster")),
            (50, JournalEvent::RunResumed { who: "cy".into(), host: "h".into(), pid: 3, version: "0".into() }),
            (50, JournalEvent::RollbackStarted { to: None, cause: "asked".into(), requested_by: Some("cy".into()) }),
            (51, JournalEvent::CompensationStarted { step: "provision.cluster".into() }),
        ]);
        let view = view(&recs, None, None, now).unwrap();
        let ran: Vec<(&str, &str)> = view.ran.iter().map(|c| (c.who.as_str(), c.command.as_str())).collect();
        assert_eq!(ran, [("ana", "cutover apply"), ("bo", "cutover resume"), ("cy", "cutover rollback --to start")]);
        let row = &view.groups[0][0];
        assert_eq!(row.spans[0].end, SpanEnd::Failed, "the crashed attempt is closed when the run started it again");
        assert_eq!(row.spans[2].end, SpanEnd::Open, "the undo runs (or was cut short)");
        assert_eq!(row.state, "compensating");
        let commands: Vec<&str> = view.next.commands.iter().map(|c| c.command.as_str()).collect();
        assert_eq!(commands, ["cutover resume PLAN", "cutover status PLAN"], "no lock: the rollback was interrupted");
    }
}
