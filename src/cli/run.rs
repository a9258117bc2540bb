//! `cutover apply`, `resume` and `rollback`: the commands that change the world. Each loads the
//! plan, asks for confirmation, builds the providers and hands over to the engine.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::cli::common::{confirm, engine_error, load_plan, state_backend};
use crate::cli::exit::{Exit, Reported};
use crate::engine::{Engine, EngineOptions, RunOutcome};
use crate::plan::Plan;
use crate::providers::aws::aws_providers;
use crate::providers::health::ClusterHealth;
use crate::providers::helm::{HelmConfig, HelmReleases};
use crate::providers::kube::{KubeClients, KubeWorkloads};
use crate::providers::{Providers, StateBackend};
use crate::telemetry::Progress;
use crate::telemetry::report::{Report, render_process_metrics};

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
    let engine = engine(plan, &args).await?;
    let outcome = match action {
        Action::Apply => engine.engine.apply().await,
        Action::Resume => engine.engine.resume().await,
    };
    finish(&plan_env(&engine.engine), outcome.map_err(engine_error)?, &engine).await
}

pub async fn rollback(args: RollbackArgs) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.run.plan)?;
    confirm(
        &format!("cutover will roll plan {} back to {}: this deletes what the run made after it.", plan.metadata.name, args.to),
        &args.to,
        args.run.yes,
    )?;
    let engine = engine(plan, &args.run).await?;
    let outcome = engine.engine.rollback(&args.to).await.map_err(engine_error)?;
    finish(&plan_env(&engine.engine), outcome, &engine).await
}

/// The engine for a plan, the state it journals in, and the run's private work directory (removed
/// when the command ends). The progress display lives in the engine's options.
pub(super) struct Wired {
    pub(super) engine: Engine,
    pub(super) state: Arc<dyn StateBackend>,
    /// Held only to be removed (with helm's files) when the command ends.
    _work: tempfile::TempDir,
}

pub(super) async fn engine(plan: Plan, args: &ApplyArgs) -> anyhow::Result<Wired> {
    let work = tempfile::Builder::new().prefix("cutover-run-").tempdir()?;
    let providers = cloud_providers(&plan, work.path()).await?;
    let state = state_backend(&plan).await?;
    let progress = Arc::new(Progress::new(args.plain));
    let opts = EngineOptions {
        release_concurrency: args.concurrency.max(1),
        progress,
        who: caller(&plan).await,
        ..EngineOptions::default()
    };
    Ok(Wired { engine: Engine::new(Arc::new(plan), providers, state.clone(), opts), state, _work: work })
}

/// Who is running this, as written into the lock and the journal: the login name and, when STS
/// answers within a few seconds, the AWS identity whose credentials act.
pub(super) async fn caller(plan: &Plan) -> String {
    let user = EngineOptions::default().who;
    let config = crate::providers::aws::sdk_config(&plan.aws.region).await;
    let sts = crate::providers::aws::calls::sts_client(&config);
    let identity = tokio::time::timeout(std::time::Duration::from_secs(5), sts.get_caller_identity().send()).await;
    match identity {
        Ok(Ok(id)) => match id.arn() {
            Some(arn) => format!("{user} as {arn}"),
            None => user,
        },
        _ => user,
    }
}

pub(super) fn plan_env(engine: &Engine) -> String {
    engine.compiled().plan.clone()
}

/// The providers that act on AWS, Helm and Kubernetes for this plan. `work_dir` is private to
/// this process (kubeconfigs, values files and the digest-verified chart cache for helm).
pub(super) async fn cloud_providers(plan: &Plan, work_dir: &Path) -> anyhow::Result<Providers> {
    let aws = aws_providers(plan).await.map_err(|e| Reported::new(Exit::Error, e.to_string()))?;
    let clients = Arc::new(
        KubeClients::for_aws(&aws.config, &plan.aws.region).map_err(|e| Reported::new(Exit::Error, e.to_string()))?,
    );
    let mut helm = HelmConfig::for_plan(plan, std::env::current_exe()?, work_dir.to_path_buf())
        .map_err(|e| Reported::new(Exit::Error, e.to_string()))?;
    // Registries reached over plain HTTP (an internal or local registry); `host:port`, comma-separated.
    helm.plain_http_registries = std::env::var("CUTOVER_HELM_PLAIN_HTTP")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .collect();
    let releases = Arc::new(HelmReleases::new(helm, clients.clone()).map_err(|e| Reported::new(Exit::Error, e.to_string()))?);
    let health = Arc::new(ClusterHealth::new(Arc::new(plan.clone()), clients.clone(), releases.clone()));
    Ok(Providers {
        clusters: aws.clusters,
        workloads: Arc::new(KubeWorkloads::new(clients)),
        releases,
        health,
        traffic: aws.traffic,
    })
}

/// Prints the run report (stdout: it is data) and where the journal is, then maps the outcome
/// to an exit code.
pub(super) async fn finish(env: &str, outcome: RunOutcome, wired: &Wired) -> anyhow::Result<Exit> {
    let state = &wired.state;
    if let Ok(records) = crate::engine::history(state.as_ref(), env, None).await
        && let Some(first) = records.first()
    {
        let report = Report::from_journal(&records);
        out!("{}", report.render_text());
        out!("{}", render_process_metrics(&crate::providers::aws::calls::api_calls()));
        eprintln!("journal: {}", state.journal_location(env, &first.run));
    }
    let exit = match &outcome {
        RunOutcome::Completed => Exit::Success,
        RunOutcome::RolledBack { .. } => Exit::RolledBack,
        RunOutcome::Paused { .. } | RunOutcome::NeedsAttention { .. } => Exit::NeedsAttention,
        RunOutcome::Waiting { .. } => Exit::Waiting,
    };
    if exit != Exit::Success {
        // The progress display has already said how the run ended and what to do next (its last
        // line); repeating it as an error would only add noise. The exit code carries the rest.
        return Err(Reported::new(exit, String::new()).into());
    }
    Ok(exit)
}
