//! `cutover apply`, `resume` and `rollback`: the commands that change the world. Each loads the
//! plan, asks for confirmation, builds the providers and hands over to the engine.

use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::common::{confirm, engine_error, load_plan, state_backend};
use crate::cli::exit::{Exit, Reported};
use crate::engine::{Engine, EngineOptions, RunOutcome};
use crate::plan::Plan;
use crate::providers::{Providers, StateBackend};
use crate::telemetry::Progress;
use crate::telemetry::progress::describe;
use crate::telemetry::report::Report;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The plan file.
    pub plan: PathBuf,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// How many releases may install at once when their `needs` allow.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
}

#[derive(Debug, clap::Args)]
pub struct RollbackArgs {
    #[command(flatten)]
    pub run: ApplyArgs,
    /// Checkpoint to walk back to (`start` undoes everything the run did).
    #[arg(long)]
    pub to: String,
}

#[derive(Debug, Clone, Copy)]
pub enum Action {
    Apply,
    Resume,
}

pub async fn run(action: Action, args: ApplyArgs) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let verb = match action {
        Action::Apply => "apply",
        Action::Resume => "resume",
    };
    confirm(
        &format!(
            "cutover will {verb} plan {} ({:?}) in {}: this creates and deletes cloud resources.",
            plan.metadata.name, plan.kind, plan.aws.region
        ),
        &plan.metadata.name,
        args.yes,
    )?;
    let engine = engine(plan, &args)?;
    let outcome = match action {
        Action::Apply => engine.0.apply().await,
        Action::Resume => engine.0.resume().await,
    };
    finish(&plan_env(&engine.0), outcome.map_err(engine_error)?, &engine).await
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.run.plan)?;
    confirm(
        &format!("cutover will roll plan {} back to {}: this deletes what the run made after it.", plan.metadata.name, args.to),
        &args.to,
        args.run.yes,
    )?;
    let engine = engine(plan, &args.run)?;
    let outcome = engine.0.rollback(&args.to).await.map_err(engine_error)?;
    finish(&plan_env(&engine.0), outcome, &engine).await
}

/// The engine for a plan and the state it journals in (the progress display lives in its options).
struct Wired(Engine, Arc<dyn StateBackend>);

fn engine(plan: Plan, args: &ApplyArgs) -> anyhow::Result<Wired> {
    let providers = cloud_providers(&plan)?;
    let state = state_backend(&plan)?;
    let progress = Arc::new(Progress::new(args.plain));
    let opts = EngineOptions { release_concurrency: args.concurrency.max(1), progress, ..EngineOptions::default() };
    Ok(Wired(Engine::new(Arc::new(plan), providers, state.clone(), opts), state))
}

fn plan_env(engine: &Engine) -> String {
    engine.compiled().plan.clone()
}

/// The providers that act on AWS, Helm and Kubernetes for this plan.
fn cloud_providers(_plan: &Plan) -> anyhow::Result<Providers> {
    Err(Reported::new(
        Exit::Error,
        "no cloud provider is available in this build of cutover: the EKS, Helm, Kubernetes and \
         Route53 providers are not implemented yet, so nothing was changed and no run was started. \
         `cutover plan PLAN` shows the steps a run would take.",
    )
    .into())
}

/// Prints the run report (stdout: it is data) and where the journal is, then maps the outcome
/// to an exit code.
async fn finish(env: &str, outcome: RunOutcome, wired: &Wired) -> anyhow::Result<Exit> {
    let Wired(_, state) = wired;
    if let Ok(records) = crate::engine::history(state.as_ref(), env, None).await
        && let Some(first) = records.first()
    {
        let report = Report::from_journal(&records);
        out!("{}", report.render_text());
        eprintln!("journal: {}", state.journal_location(env, &first.run));
    }
    let exit = match &outcome {
        RunOutcome::Completed => Exit::Success,
        RunOutcome::RolledBack { .. } => Exit::RolledBack,
        RunOutcome::Paused { .. } | RunOutcome::NeedsAttention { .. } => Exit::NeedsAttention,
        RunOutcome::Waiting { .. } => Exit::Waiting,
    };
    if exit != Exit::Success {
        return Err(Reported::new(exit, describe(&outcome)).into());
    }
    Ok(exit)
}
