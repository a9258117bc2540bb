//! A run as one OpenTelemetry trace, made from its journal, so it is the same trace however many
//! processes the run took (the trace id is in `run-started`) and a killed process loses nothing:
//! the next one exports what the journal says it did.
//!
//! The tree: a root span for the run (exported by the process that ends it), a span per process
//! (`cutover apply`, `cutover resume`), a span per step and per undo under its process, checkpoints
//! as events. Span ids are derived from the run id and journal sequence numbers, so the same record
//! always makes the same span. Attributes follow the OpenTelemetry CI/CD conventions
//! (`cicd.pipeline.name`, `cicd.pipeline.run.id`, `cicd.pipeline.task.name`, `cicd.pipeline.result`).

use std::borrow::Cow;
use std::time::SystemTime;

use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};
use sha2::Digest as _;

use crate::engine::ids;
use crate::engine::journal::{JournalEvent, JournalRecord, TraceRef};

/// The run's trace, from its first record.
pub fn trace_ref(records: &[JournalRecord]) -> Option<TraceRef> {
    match &records.first()?.event {
        JournalEvent::RunStarted { trace, .. } => trace.clone(),
        _ => None,
    }
}

fn hex_id<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let bytes = hex::decode(hex).ok()?;
    bytes.try_into().ok()
}

/// A span id of its own for `what` in the run (never zero).
fn derived_id(run: &str, what: &str) -> SpanId {
    let digest = sha2::Sha256::digest(format!("{run}\0{what}").as_bytes());
    let mut id: [u8; 8] = digest[..8].try_into().expect("8 bytes");
    id[0] |= 1;
    SpanId::from_bytes(id)
}

fn is_stop(e: &JournalEvent) -> bool {
    matches!(
        e,
        JournalEvent::RunPaused { .. }
            | JournalEvent::RunWaiting { .. }
            | JournalEvent::RunFailed { .. }
            | JournalEvent::RunRolledBack { .. }
            | JournalEvent::RunCompleted
            | JournalEvent::RunRefused { .. }
    )
}

/// The run's root span: derived from the trace id, so it is known before the run id (what helm and
/// command checks are handed as their parent).
fn root_span_id(trace: &TraceRef) -> SpanId {
    derived_id(&trace.trace_id, "run")
}

/// The W3C `traceparent` that puts a subprocess under the run's root span.
pub fn traceparent(trace: &TraceRef) -> String {
    format!("00-{}-{}-01", trace.trace_id, root_span_id(trace))
}

/// The processes of a run: index ranges of the records each appended.
fn sessions(records: &[JournalRecord]) -> Vec<std::ops::Range<usize>> {
    let starts: Vec<usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| matches!(r.event, JournalEvent::RunStarted { .. } | JournalEvent::RunResumed { .. }))
        .map(|(i, _)| i)
        .collect();
    starts.iter().enumerate().map(|(k, &s)| s..starts.get(k + 1).copied().unwrap_or(records.len())).collect()
}

/// The sessions the last process exports: its own, and those before it that were killed before
/// they could (no stop record: the process died mid-run).
pub fn sessions_to_export(records: &[JournalRecord]) -> Vec<std::ops::Range<usize>> {
    let all = sessions(records);
    let Some((last, earlier)) = all.split_last() else { return Vec::new() };
    let mut out: Vec<_> = earlier
        .iter()
        .rev()
        .take_while(|s| !records[(*s).clone()].iter().any(|r| is_stop(&r.event)))
        .cloned()
        .collect();
    out.reverse();
    out.push(last.clone());
    out
}

fn time(r: &JournalRecord) -> SystemTime {
    SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(r.ts.as_nanosecond().max(0) as u64)
}

struct Builder<'a> {
    trace_id: TraceId,
    run: &'a str,
    common: Vec<KeyValue>,
    scope: InstrumentationScope,
}

impl Builder<'_> {
    #[allow(clippy::too_many_arguments)] // one span's fields
    fn span(
        &self,
        id: SpanId,
        parent: SpanId,
        remote_parent: bool,
        name: String,
        start: SystemTime,
        end: SystemTime,
        mut attributes: Vec<KeyValue>,
        events: Vec<opentelemetry::trace::Event>,
        status: Status,
    ) -> SpanData {
        attributes.extend(self.common.iter().cloned());
        let mut span_events = SpanEvents::default();
        span_events.events = events;
        SpanData {
            span_context: SpanContext::new(self.trace_id, id, TraceFlags::SAMPLED, false, TraceState::default()),
            parent_span_id: parent,
            parent_span_is_remote: remote_parent,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name),
            start_time: start,
            end_time: end.max(start),
            attributes,
            dropped_attributes_count: 0,
            events: span_events,
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

/// The spans of `sessions` (and the run's root span, when the run has ended for good).
pub fn spans(records: &[JournalRecord], sessions: &[std::ops::Range<usize>], cluster: &str) -> Vec<SpanData> {
    let (Some(first), Some(trace)) = (records.first(), trace_ref(records)) else { return Vec::new() };
    let Some(trace_bytes) = hex_id::<16>(&trace.trace_id) else { return Vec::new() };
    let plan = match &first.event {
        JournalEvent::RunStarted { plan, .. } => plan.clone(),
        _ => String::new(),
    };
    let b = Builder {
        trace_id: TraceId::from_bytes(trace_bytes),
        run: &first.run,
        common: vec![
            KeyValue::new("cicd.pipeline.name", plan.clone()),
            KeyValue::new("cicd.pipeline.run.id", first.run.clone()),
            KeyValue::new("cutover.cluster", cluster.to_string()),
        ],
        scope: InstrumentationScope::builder("cutover").with_version(env!("CARGO_PKG_VERSION")).build(),
    };
    let root = root_span_id(&trace);
    let mut out = Vec::new();
    for range in sessions {
        let session = &records[range.clone()];
        let (Some(open), Some(close)) = (session.first(), session.last()) else { continue };
        let verb = match &open.event {
            JournalEvent::RunStarted { .. } => "apply",
            _ => "resume",
        };
        let session_id = derived_id(b.run, &format!("session {}", open.seq));
        let mut checkpoints = Vec::new();
        let mut open_steps: Vec<(String, &JournalRecord, bool)> = Vec::new();
        for r in session {
            let (step, undo, end_status) = match &r.event {
                JournalEvent::StepStarted { step, .. } => {
                    open_steps.push((step.clone(), r, false));
                    continue;
                }
                JournalEvent::CompensationStarted { step } => {
                    open_steps.push((step.clone(), r, true));
                    continue;
                }
                JournalEvent::Checkpoint { name } => {
                    checkpoints.push(opentelemetry::trace::Event::new(
                        "checkpoint",
                        time(r),
                        vec![KeyValue::new("cutover.checkpoint", name.clone())],
                        0,
                    ));
                    continue;
                }
                JournalEvent::StepDone { step, .. } => (step, false, Status::Ok),
                JournalEvent::StepFailed { step, error, .. } => (step, false, Status::error(error.clone())),
                JournalEvent::CompensationDone { step } => (step, true, Status::Ok),
                JournalEvent::CompensationFailed { step, error } => (step, true, Status::error(error.clone())),
                _ => continue,
            };
            if let Some(i) = open_steps.iter().position(|(s, _, u)| s == step && *u == undo) {
                let (_, started, _) = open_steps.remove(i);
                out.push(step_span(&b, session_id, step, undo, started, time(r), end_status));
            }
        }
        // Steps the process never finished: it was killed (or stopped) while they ran.
        for (step, started, undo) in open_steps {
            out.push(step_span(&b, session_id, &step, undo, started, time(close), Status::error("interrupted: the process stopped while the step ran")));
        }
        let (parent, remote) = (root, false);
        let status = if session.iter().any(|r| is_stop(&r.event)) { Status::Ok } else { Status::error("the process was killed") };
        out.push(b.span(
            session_id,
            parent,
            remote,
            format!("cutover {verb}"),
            time(open),
            time(close),
            vec![KeyValue::new("cutover.process", verb)],
            checkpoints,
            status,
        ));
    }
    if let Some(result) = final_result(records) {
        let (parent, remote) = match trace.parent_span_id.as_deref().and_then(hex_id::<8>) {
            Some(p) => (SpanId::from_bytes(p), true),
            None => (SpanId::INVALID, false),
        };
        let last = records.last().expect("records are not empty");
        let status = if result == "success" { Status::Ok } else { Status::error(result) };
        out.push(b.span(
            root,
            parent,
            remote,
            format!("cutover run {plan}"),
            time(first),
            time(last),
            vec![KeyValue::new("cicd.pipeline.result", result)],
            Vec::new(),
            status,
        ));
    }
    out
}

fn step_span(b: &Builder<'_>, session: SpanId, step: &str, undo: bool, started: &JournalRecord, end: SystemTime, status: Status) -> SpanData {
    let mut attributes = vec![KeyValue::new("cicd.pipeline.task.name", step.to_string())];
    if let Some(w) = ids::shift_weight(step) {
        attributes.push(KeyValue::new("cutover.weight", i64::from(w)));
    }
    let name = if undo { format!("undo {step}") } else { step.to_string() };
    b.span(derived_id(b.run, &format!("record {}", started.seq)), session, false, name, time(started), end, attributes, Vec::new(), status)
}

/// How the run ended for good (`cicd.pipeline.result`), once it has.
fn final_result(records: &[JournalRecord]) -> Option<&'static str> {
    records.iter().rev().find_map(|r| match &r.event {
        JournalEvent::RunCompleted => Some(Some("success")),
        JournalEvent::RunRolledBack { to: None, requested_by: Some(_), .. } => Some(Some("cancellation")),
        JournalEvent::RunRolledBack { to: None, .. } | JournalEvent::RunRefused { .. } => Some(Some("failure")),
        e if is_stop(e) => Some(None),
        _ => None,
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_are_read_as_w3c_writes_them() {
        let t = TraceRef::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
        assert!(TraceRef::from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
        assert!(TraceRef::from_traceparent("garbage").is_none());
    }

    #[test]
    fn the_same_record_always_makes_the_same_span_id() {
        assert_eq!(derived_id("r", "record 7"), derived_id("r", "record 7"));
        assert_ne!(derived_id("r", "record 7"), derived_id("r", "record 8"));
    }
}
