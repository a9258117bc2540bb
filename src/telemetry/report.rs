//! Run reports: the journal turned into a timeline with per-step durations and the outcome.
//! Built from journal records alone, so `cutover history` can report on any past run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::engine::{JournalEvent, JournalRecord};

/// A run's timeline, from its journal: per-step timings, checkpoints and outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The run's id.
    pub run_id: String,
    /// Time of the first record.
    pub started_at: Option<Timestamp>,
    /// Time of the last record.
    pub updated_at: Option<Timestamp>,
    /// Wall time from the first to the last record, in seconds.
    pub elapsed_secs: f64,
    /// Every step that started, in first-start order.
    pub steps: Vec<StepTiming>,
    /// Checkpoints reached, with when.
    pub checkpoints: Vec<(String, Timestamp)>,
    /// The last terminal record's type (`run-completed`, `run-rolled-back`, ...), if any.
    pub outcome: Option<String>,
    /// With `spec.data.quiesce`: how long the claims had no writer.
    pub downtime: Option<Downtime>,
}

/// The window in which a quiesced workload had no writer: from blue's writers stopping to green
/// serving all traffic (or, after a rollback, to blue's writers starting again).
#[derive(Debug, Clone, Serialize)]
pub struct Downtime {
    /// When blue's writers were gone.
    pub from: Timestamp,
    /// When a writer served again; `None` while none does.
    pub until: Option<Timestamp>,
    /// `green` (all traffic moved) or `blue` (a rollback started blue's writers again).
    pub ended_by: Option<String>,
    /// Seconds, when it ended.
    pub secs: Option<f64>,
}

/// The quiesce window of a run, from the journal.
fn downtime(records: &[JournalRecord]) -> Option<Downtime> {
    let mut window: Option<Downtime> = None;
    for r in records {
        match &r.event {
            JournalEvent::StepDone { step, output } if step == crate::engine::ids::DATA_QUIESCE => {
                let from = serde_json::from_value(output["stopped_at"].clone()).unwrap_or(r.ts);
                window = Some(Downtime { from, until: None, ended_by: None, secs: None });
            }
            JournalEvent::StepDone { step, output } if step == "traffic.shift.100" => {
                if let Some(w) = window.as_mut().filter(|w| w.until.is_none()) {
                    let at: Timestamp = serde_json::from_value(output["insync_at"].clone()).unwrap_or(r.ts);
                    w.until = Some(at);
                    w.ended_by = Some("green".into());
                    w.secs = Some(secs(w.from, at));
                }
            }
            JournalEvent::CompensationDone { step } if step == crate::engine::ids::DATA_QUIESCE => {
                if let Some(w) = window.as_mut().filter(|w| w.until.is_none()) {
                    w.until = Some(r.ts);
                    w.ended_by = Some("blue".into());
                    w.secs = Some(secs(w.from, r.ts));
                }
            }
            _ => {}
        }
    }
    window
}

/// One step's timing in a run report.
#[derive(Debug, Clone, Serialize)]
pub struct StepTiming {
    /// Step id.
    pub step: String,
    /// When the step first started.
    pub started_at: Timestamp,
    /// When it last ended; `None` while running.
    pub ended_at: Option<Timestamp>,
    /// Seconds from its first start to its last end; `None` while running.
    pub secs: Option<f64>,
    /// `done`, `failed`, `compensated`, or `running` when the journal has no outcome.
    pub result: String,
    /// How many times it was started (crashes, resumes and pauses start a step again).
    pub attempts: u32,
}

impl Report {
    /// The report of the run whose journal `records` are.
    pub fn from_journal(records: &[JournalRecord]) -> Report {
        let mut steps: Vec<StepTiming> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        let mut checkpoints = Vec::new();
        let mut outcome = None;
        for r in records {
            match &r.event {
                JournalEvent::StepStarted { step, .. } => match index.get(step) {
                    Some(&i) => {
                        steps[i].attempts += 1;
                        steps[i].result = "running".into();
                        steps[i].ended_at = None;
                        steps[i].secs = None;
                    }
                    None => {
                        index.insert(step.clone(), steps.len());
                        steps.push(StepTiming {
                            step: step.clone(),
                            started_at: r.ts,
                            ended_at: None,
                            secs: None,
                            result: "running".into(),
                            attempts: 1,
                        });
                    }
                },
                JournalEvent::StepDone { step, .. } => end(&mut steps, &index, step, r.ts, "done"),
                JournalEvent::StepFailed { step, .. } => end(&mut steps, &index, step, r.ts, "failed"),
                JournalEvent::CompensationDone { step } => end(&mut steps, &index, step, r.ts, "compensated"),
                JournalEvent::CompensationFailed { step, .. } => {
                    end(&mut steps, &index, step, r.ts, "compensation-failed")
                }
                JournalEvent::Checkpoint { name } => checkpoints.push((name.clone(), r.ts)),
                other => {
                    let kind = event_type(other);
                    if kind.starts_with("run-") && kind != "run-started" && kind != "run-resumed" {
                        outcome = Some(kind);
                    }
                }
            }
        }
        let started_at = records.first().map(|r| r.ts);
        let updated_at = records.last().map(|r| r.ts);
        let elapsed_secs = match (started_at, updated_at) {
            (Some(a), Some(b)) => secs(a, b),
            _ => 0.0,
        };
        Report {
            run_id: records.first().map(|r| r.run.clone()).unwrap_or_default(),
            started_at,
            updated_at,
            elapsed_secs,
            steps,
            checkpoints,
            outcome,
            downtime: downtime(records),
        }
    }

    /// A fixed-width table for people.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let width = self.steps.iter().map(|s| s.step.len()).max().unwrap_or(4).max(4);
        let _ = writeln!(out, "run {}  ({:.1}s)", self.run_id, self.elapsed_secs);
        let _ = writeln!(out, "{:<width$}  {:>9}  {:<19}  tries", "step", "seconds", "result");
        for s in &self.steps {
            let secs = s.secs.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
            let _ = writeln!(out, "{:<width$}  {:>9}  {:<19}  {}", s.step, secs, s.result, s.attempts);
        }
        for (name, at) in &self.checkpoints {
            let _ = writeln!(out, "checkpoint {name} at {at}");
        }
        if let Some(d) = &self.downtime {
            let _ = match (&d.secs, d.ended_by.as_deref()) {
                (Some(s), Some("green")) => writeln!(out, "quiesce downtime: {s:.1}s (blue's writers stopped at {}, green served all traffic at {})", d.from, d.until.map(|t| t.to_string()).unwrap_or_default()),
                (Some(s), _) => writeln!(out, "quiesce downtime: {s:.1}s (blue's writers stopped at {}, started again on the rollback at {})", d.from, d.until.map(|t| t.to_string()).unwrap_or_default()),
                (None, _) => writeln!(out, "quiesce: blue's writers stopped at {}; no writer serves yet", d.from),
            };
        }
        if let Some(o) = &self.outcome {
            let _ = writeln!(out, "outcome: {o}");
        }
        out
    }
}

fn end(steps: &mut [StepTiming], index: &BTreeMap<String, usize>, step: &str, ts: Timestamp, result: &str) {
    if let Some(&i) = index.get(step) {
        steps[i].ended_at = Some(ts);
        steps[i].secs = Some(secs(steps[i].started_at, ts));
        steps[i].result = result.to_string();
    }
}

fn secs(a: Timestamp, b: Timestamp) -> f64 {
    (b.as_millisecond() - a.as_millisecond()) as f64 / 1000.0
}

/// The kebab-case `type` tag a journal event serialises with.
pub fn event_type(event: &JournalEvent) -> String {
    serde_json::to_value(event)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_default()
}

/// This process's peak resident memory in KiB (`VmHWM` on Linux), for the run report.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The process-level part of a report: AWS requests by operation and peak memory.
pub fn render_process_metrics(calls: &BTreeMap<String, u64>) -> String {
    let mut out = String::new();
    let total: u64 = calls.values().sum();
    let _ = writeln!(out, "aws api requests (this process): {total}");
    for (op, n) in calls {
        let _ = writeln!(out, "  {op:<40} {n:>6}");
    }
    if let Some(kib) = peak_rss_kib() {
        let _ = writeln!(out, "peak memory: {:.1} MiB", kib as f64 / 1024.0);
    }
    out
}

/// What a plan's `spec.data` means, for `cutover plan`: what travels, how consistent it is, and
/// what the way back is.
pub fn data_note(data: &crate::plan::DataSpec, kind: crate::plan::PlanKind) -> String {
    use crate::plan::{DataMode, PlanKind};
    let claims: Vec<String> = data
        .claims
        .iter()
        .map(|c| match &c.name {
            Some(n) => format!("{}/{n}", c.namespace),
            None => format!("{}/{{{}}}", c.namespace, c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")),
        })
        .collect();
    match (data.mode, kind) {
        (DataMode::None, _) => "Data: none travels (spec.data.mode: none): green's claims start empty.".into(),
        (DataMode::Snapshot, PlanKind::Drill) => format!(
            "Data: claims {} are restored from the newest cutover snapshots of environment {}; each volume's RPO is its snapshot's age at the start.",
            claims.join(", "),
            data.from
        ),
        (DataMode::Snapshot, _) if data.quiesce => format!(
            "Data: claims {} travel by EBS snapshot, application-consistent: blue's writers are stopped before the snapshot and traffic moves to green in one step (downtime from the stop until green serves, reported). A rollback starts blue's writers again on their own volumes (kept Retain); writes made on green are not brought back.",
            claims.join(", ")
        ),
        (DataMode::Snapshot, _) => format!(
            "Data: claims {} travel by EBS snapshot, crash-consistent (blue keeps writing; what it writes after the snapshot is not on green): for data the application can rebuild or replicate. Blue's volumes are kept (Retain) as the way back.",
            claims.join(", ")
        ),
    }
}
