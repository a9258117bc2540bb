//! `cutover drill PLAN [--keep]`: a disaster-recovery drill (see [`crate::drill`]): wires the
//! real providers, runs the drill, writes its report as Markdown and JSON, and maps the verdict
//! to the exit code (0 pass, 9 missed RTO, 4 rebuild failed and torn down, 5 something is left).

use std::path::PathBuf;
use std::time::Duration;

use crate::cli::common::{Output, confirm, context, load_plan, ops_error, print_json};
use crate::cli::exit::{Exit, Reported};
use crate::cli::run::run_options;
use crate::ops::drill::{DEFAULT_KEEP, DrillOptions, DrillResult};
use crate::plan::parse_duration;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Drill plan.
    pub plan: PathBuf,
    /// Keep the rebuilt environment for inspection, as a dev cluster that expires after --ttl.
    #[arg(long)]
    pub keep: bool,
    /// With --keep: how long the kept environment lives (default 8h).
    #[arg(long, value_parser = parse_duration, requires = "keep")]
    pub ttl: Option<Duration>,
    /// Directory for the report files (drill-ENV-RUN.md and .json).
    #[arg(long, default_value = ".")]
    pub report_dir: PathBuf,
    /// Print the report as Markdown (text) or JSON on stdout.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let opts = DrillOptions {
        keep: args.keep.then(|| args.ttl.unwrap_or(DEFAULT_KEEP)),
        report_dir: args.report_dir.clone(),
        run: run_options(4, args.plain),
    };
    crate::ops::drill::check(&plan, &opts).map_err(ops_error)?;
    let afterwards = if args.keep { "keeps it for inspection" } else { "then deletes it" };
    confirm(
        &format!(
            "cutover will rebuild {} as cluster {} in {} from nothing, and {afterwards}.",
            plan.metadata.name, plan.green.name, plan.aws.region
        ),
        &plan.metadata.name,
        args.yes,
    )?;
    let plan_for_runbook = plan.clone();
    let done = crate::ops::drill::drill(&context()?, plan, &opts).await.map_err(ops_error)?;
    match args.output {
        Output::Json => print_json(&done.report)?,
        Output::Text => out!("{}", done.report.to_markdown()),
    }
    eprintln!("drill report: {} and {}", done.markdown.display(), done.json.display());
    let exit = match done.result {
        DrillResult::Passed => return Ok(Exit::Success),
        DrillResult::LeftBehind | DrillResult::FailedKept => Exit::NeedsAttention,
        DrillResult::MissedRto | DrillResult::MissedRpo => Exit::RtoMissed,
        DrillResult::Failed => Exit::RolledBack,
    };
    if let Some(rb) = done.runbook(&plan_for_runbook) {
        eprintln!("{}", crate::telemetry::runbook::render_text(&rb));
    }
    let why = match done.result {
        DrillResult::MissedRto => format!("{}: {}", crate::engine::codes::RTO_MISSED.code, done.why()),
        DrillResult::MissedRpo => format!("{}: {}", crate::engine::codes::RPO_MISSED.code, done.why()),
        _ => done.why(),
    };
    Err(Reported::new(exit, why).into())
}
