//! `apply`, `resume` and `rollback`: the flows that change the world. Each wires the engine for a
//! plan through the composition root ([`wire`], shared with dev clusters and drills), runs it,
//! and returns how the run ended with its journal, so the caller can report it.

use std::sync::Arc;

use crate::compose::Context;
use crate::engine::journal::TraceRef;
use crate::engine::{Engine, EngineOptions, JournalRecord, ProgressSink, RunOutcome};
use crate::plan::Plan;
use crate::providers::StateBackend;

use super::OpsError;

/// How a run is carried out (not what it does: that is the plan).
#[derive(Clone)]
pub struct RunOptions {
    /// How many independent steps of a stage run at once (node groups, add-ons, releases).
    pub concurrency: usize,
    /// Where progress goes (a terminal display, plain lines, a fleet's table, nothing).
    pub progress: Arc<dyn ProgressSink>,
    /// An OTLP/HTTP collector's base URL: the run is exported there as a trace.
    pub otlp_endpoint: Option<String>,
    /// The caller's W3C `traceparent` (CI): a new run's trace hangs under it.
    pub traceparent: Option<String>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { concurrency: 4, progress: Arc::new(crate::engine::NoopSink), otlp_endpoint: None, traceparent: None }
    }
}

/// How long exporting a process's spans may take.
const TRACE_EXPORT_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// What the flow asks of the engine.
#[derive(Debug, Clone)]
pub enum Action {
    /// Start a new run.
    Apply,
    /// Continue the environment's unfinished run.
    Resume,
    /// Walk the run back to checkpoint `to` (`start`: undo everything).
    Rollback {
        /// The checkpoint.
        to: String,
    },
}

/// How a run ended, with what is needed to report it.
#[derive(Debug)]
pub struct RunResult {
    /// The environment (the plan's name).
    pub env: String,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// The run's journal as it stands now (empty if it could not be read back; see `journal_error`).
    pub records: Vec<JournalRecord>,
    /// Where the journal is (a path or an `s3://` URL).
    pub journal: Option<String>,
    /// Why the journal could not be read back for the report, if it could not.
    pub journal_error: Option<String>,
    /// AWS API requests this process made, by operation.
    pub api_calls: std::collections::BTreeMap<String, u64>,
    /// The trace export, when asked for: spans exported, or why they were dropped (and how many).
    pub trace: Option<Result<usize, (usize, String)>>,
}

/// The engine for a plan, the state it journals in, and the run's private work directory (removed
/// with helm's files when this value drops).
pub struct Wired {
    /// The engine, with every provider.
    pub engine: Engine,
    /// Where the run is journaled.
    pub state: Arc<dyn StateBackend>,
    _work: tempfile::TempDir,
}

/// Builds the engine for `plan`: providers, state backend and the caller, from the context.
pub async fn wire(cx: &Context, plan: Plan, opts: &RunOptions) -> Result<Wired, OpsError> {
    wire_traced(cx, plan, opts, None).await
}

/// [`wire`] for a run in `trace`: journaled by a new run, and handed to helm and command checks
/// as `TRACEPARENT` so what they do can join the run's trace.
async fn wire_traced(cx: &Context, plan: Plan, opts: &RunOptions, trace: Option<TraceRef>) -> Result<Wired, OpsError> {
    let work = tempfile::Builder::new()
        .prefix("cutover-run-")
        .tempdir()
        .map_err(OpsError::io("create the run's private work directory"))?;
    let env: Vec<(String, String)> =
        trace.iter().map(|t| ("TRACEPARENT".to_string(), crate::telemetry::trace::traceparent(t))).collect();
    let providers = cx.providers_with_env(&plan, work.path(), &env).await?;
    let state = cx.state(&plan).await;
    let engine_opts = EngineOptions {
        release_concurrency: opts.concurrency.max(1),
        progress: opts.progress.clone(),
        who: cx.caller(&plan.aws.region).await,
        trace,
        requests: Some(crate::providers::aws::calls::api_calls),
        ..EngineOptions::default()
    };
    Ok(Wired { engine: Engine::new(Arc::new(plan), providers, state.clone(), engine_opts), state, _work: work })
}

/// Runs `action` on the plan's environment and returns how it ended.
pub async fn run(cx: &Context, plan: Plan, action: Action, opts: &RunOptions) -> Result<RunResult, OpsError> {
    // A new run's trace: the caller's (CI's TRACEPARENT) or a fresh one; a resumed run keeps its own.
    let trace = match &action {
        Action::Apply => Some(opts.traceparent.as_deref().and_then(TraceRef::from_traceparent).unwrap_or_else(TraceRef::fresh)),
        Action::Resume | Action::Rollback { .. } => super::inspect::history(cx, &plan, None)
            .await
            .ok()
            .flatten()
            .and_then(|records| crate::telemetry::trace::trace_ref(&records)),
    };
    let wired = wire_traced(cx, plan, opts, trace).await?;
    let outcome = match &action {
        Action::Apply => wired.engine.apply().await?,
        Action::Resume => wired.engine.resume().await?,
        Action::Rollback { to } => wired.engine.rollback(to).await?,
    };
    let mut result = finish(cx, &wired, outcome).await;
    if let Some(endpoint) = &opts.otlp_endpoint {
        result.trace = Some(export_trace(endpoint, &wired, &result.records).await);
    }
    Ok(result)
}

/// Exports what this process did (and what killed processes before it could not) as spans.
async fn export_trace(endpoint: &str, wired: &Wired, records: &[JournalRecord]) -> Result<usize, (usize, String)> {
    use crate::telemetry::trace;
    let green = wired.engine.plan().green.name.clone();
    let spans = trace::spans(records, &trace::sessions_to_export(records), &green);
    let count = spans.len();
    crate::providers::otlp::export(endpoint, spans, TRACE_EXPORT_BOUND).await.map_err(|why| (count, why))
}

/// The result of a run that has stopped: its outcome and its journal read back.
pub async fn finish(cx: &Context, wired: &Wired, outcome: RunOutcome) -> RunResult {
    let env = wired.engine.compiled().plan.clone();
    let mut result = RunResult {
        env: env.clone(),
        outcome,
        records: Vec::new(),
        journal: None,
        journal_error: None,
        api_calls: cx.api_calls(),
        trace: None,
    };
    match crate::engine::history(wired.state.as_ref(), &env, None).await {
        Ok(records) => {
            result.journal = records.first().map(|r| wired.state.journal_location(&env, &r.run));
            result.records = records;
        }
        Err(e) => {
            tracing::warn!(error = %e, "the run's journal could not be read back for its report");
            result.journal_error = Some(e.to_string());
        }
    }
    result
}
