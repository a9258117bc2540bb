//! `cutover apply`, `resume` and `rollback`: load the plan, confirm, one call to
//! [`crate::ops::run`], print the run report.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::common::{confirm, context, load_plan, ops_error};
use crate::cli::exit::{Exit, Reported};
use crate::engine::RunOutcome;
use crate::ops::run::{Action, RunOptions, RunResult};
use crate::telemetry::Progress;
use crate::telemetry::report::{Report, render_process_metrics};
use crate::telemetry::runbook::render_text;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The plan file.
    pub plan: PathBuf,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How many independent steps of a stage run at once (node groups, add-ons, releases whose
    /// `needs` allow).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Export the run as an OpenTelemetry trace to this OTLP/HTTP collector (base URL).
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// The caller's trace, as CI systems pass it; a new run's trace hangs under it.
    #[arg(long, env = "TRACEPARENT", hide = true)]
    pub traceparent: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub run: ApplyArgs,
    /// Checkpoint to walk back to (`start` undoes everything the run did).
    #[arg(long)]
    pub to: String,
}

/// The run options these flags ask for, with the progress display.
pub(super) fn run_options(concurrency: usize, plain: bool) -> RunOptions {
    RunOptions { concurrency, progress: Arc::new(Progress::new(plain)), ..RunOptions::default() }
}

/// [`run_options`] with the run's trace export.
fn traced_options(args: &ApplyArgs) -> RunOptions {
    RunOptions { otlp_endpoint: args.otlp_endpoint.clone(), traceparent: args.traceparent.clone(), ..run_options(args.concurrency, args.plain) }
}

pub async fn apply(args: ApplyArgs, resume: bool) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let verb = if resume { "resume" } else { "apply" };
    confirm(
        &format!(
            "cutover will {verb} plan {} ({:?}) in {}: this creates and deletes cloud resources.",
            plan.metadata.name, plan.kind, plan.aws.region
        ),
        &plan.metadata.name,
        args.yes,
    )?;
    let action = if resume { Action::Resume } else { Action::Apply };
    let cx = context()?;
    let result = crate::ops::run::run(&cx, plan.clone(), action, &traced_options(&args))
        .await
        .map_err(|e| lock_runbook(&plan, &args.plan, e))?;
    finish(&result, &plan, &args.plan)
}

/// A held lock gets its runbook (on stderr: the command did not run) before the error.
pub(super) fn lock_runbook(plan: &crate::plan::Plan, path: &std::path::Path, err: crate::ops::OpsError) -> anyhow::Error {
    if let crate::ops::OpsError::Engine(crate::engine::EngineError::LockHeld { holder, .. }) = &err {
        let alive = crate::ops::inspect::holder_alive(holder);
        eprintln!("{}", render_text(&crate::engine::runbook::lock_held(plan, path, holder, alive)));
    }
    ops_error(err)
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.run.plan)?;
    confirm(
        &format!("cutover will roll plan {} back to {}: this deletes what the run made after it.", plan.metadata.name, args.to),
        &args.to,
        args.run.yes,
    )?;
    let cx = context()?;
    let opts = traced_options(&args.run);
    let result = crate::ops::run::run(&cx, plan.clone(), Action::Rollback { to: args.to }, &opts)
        .await
        .map_err(|e| lock_runbook(&plan, &args.run.plan, e))?;
    finish(&result, &plan, &args.run.plan)
}

/// Prints the run report (stdout: it is data) with the runbook when the run stopped short of
/// success, and where the journal is, then maps the outcome to an exit code.
pub(super) fn finish(result: &RunResult, plan: &crate::plan::Plan, plan_path: &std::path::Path) -> anyhow::Result<Exit> {
    if !result.records.is_empty() {
        out!("{}", Report::from_journal(&result.records).render_text());
        out!("{}", render_process_metrics(&result.api_calls));
        if let Some(rb) = crate::engine::runbook::from_journal(plan, plan_path, &result.records) {
            outln!("\n{}", render_text(&rb));
        }
    }
    if let Some(location) = &result.journal {
        eprintln!("journal: {location}");
    }
    match &result.trace {
        Some(Ok(n)) => eprintln!("trace: {n} spans exported"),
        Some(Err((n, why))) => eprintln!("warning: {n} spans were not exported: {why}"),
        None => {}
    }
    if let Some(why) = &result.journal_error {
        eprintln!("warning: the run's journal could not be read back for its report: {why}");
    }
    let exit = outcome_exit(&result.outcome);
    if exit != Exit::Success {
        // The progress display has already said how the run ended and what to do next (its last
        // line); repeating it as an error would only add noise. The exit code carries the rest.
        return Err(Reported::new(exit, String::new()).into());
    }
    Ok(exit)
}

pub(super) fn outcome_exit(outcome: &RunOutcome) -> Exit {
    match outcome {
        RunOutcome::Completed => Exit::Success,
        // A rollback a person asked for that completes is a success; an automatic one is not.
        RunOutcome::RolledBack { requested_by: Some(_), .. } => Exit::Success,
        RunOutcome::RolledBack { requested_by: None, .. } => Exit::RolledBack,
        RunOutcome::Paused { .. } | RunOutcome::NeedsAttention { .. } => Exit::NeedsAttention,
        RunOutcome::Waiting { .. } => Exit::Waiting,
        // Like an invalid plan: nothing was created, and the plan (or the world) must change.
        RunOutcome::Refused { .. } => Exit::InvalidPlan,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollback_someone_asked_for_is_a_success_and_an_automatic_one_is_not() {
        let asked = RunOutcome::RolledBack { to: None, cause: "asked".into(), requested_by: Some("ana".into()) };
        let automatic = RunOutcome::RolledBack { to: None, cause: "check failed".into(), requested_by: None };
        assert_eq!(outcome_exit(&asked), Exit::Success);
        assert_eq!(outcome_exit(&automatic), Exit::RolledBack);
    }
}
