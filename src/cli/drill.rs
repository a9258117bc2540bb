//! `cutover drill PLAN [--keep]`: a disaster-recovery drill (see [`crate::drill`]): wires the
//! real providers, runs the drill, writes its report as Markdown and JSON, and maps the verdict
//! to the exit code (0 pass, 9 missed RTO, 4 rebuild failed and torn down, 5 something is left).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use crate::cli::common::{Output, confirm, engine_error, load_plan, print_json, state_backend};
use crate::cli::exit::{Exit, Reported};
use crate::cli::run as wiring;
use crate::drill::{Drill, Verdict};
use crate::engine::EngineOptions;
use crate::plan::{PlanKind, parse_duration};
use crate::providers::helm::binary::{Helm, locate};
use crate::telemetry::Progress;

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
    #[arg(long, short = 'y')]
    pub yes: bool,
    #[arg(long)]
    pub plain: bool,
}

const DEFAULT_KEEP: Duration = Duration::from_secs(8 * 3600);

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let mut plan = load_plan(&args.plan)?;
    if plan.kind != PlanKind::Drill {
        return Err(Reported::new(
            Exit::Usage,
            format!(
                "plan {} is a {:?} plan; `cutover drill` runs Drill plans (`kind: Drill`)",
                plan.metadata.name, plan.kind
            ),
        )
        .into());
    }
    if !args.report_dir.is_dir() {
        return Err(Reported::new(
            Exit::Usage,
            format!(
                "report directory {} does not exist; create it first",
                args.report_dir.display()
            ),
        )
        .into());
    }
    let afterwards = if args.keep {
        "keeps it for inspection"
    } else {
        "then deletes it"
    };
    confirm(
        &format!(
            "cutover will rebuild {} as cluster {} in {} from nothing, and {afterwards}.",
            plan.metadata.name, plan.green.name, plan.aws.region
        ),
        &plan.metadata.name,
        args.yes,
    )?;
    let keep_until = if args.keep {
        let until = crate::dev::expiry(Timestamp::now(), args.ttl.unwrap_or(DEFAULT_KEEP))
            .map_err(|e| Reported::new(Exit::Usage, e.to_string()))?;
        plan = crate::dev::prepare(plan, None, &super::dev::login(), until)
            .map_err(|e| Reported::new(Exit::Usage, e.to_string()))?;
        Some(until)
    } else {
        None
    };

    let work = tempfile::Builder::new().prefix("cutover-drill-").tempdir()?;
    let providers = wiring::cloud_providers(&plan, work.path()).await?;
    let state = state_backend(&plan).await?;
    let opts = EngineOptions {
        progress: Arc::new(Progress::new(args.plain)),
        who: wiring::caller(&plan).await,
        ..EngineOptions::default()
    };
    let helm_version = match locate() {
        Ok(path) => Helm { path, env: Vec::new() }.version().await.ok(),
        Err(_) => None,
    };
    let mut drill = Drill::new(plan, providers, state, opts, keep_until);
    drill.helm_version = helm_version;
    drill.time_scale = std::env::var(crate::providers::aws::poll::TIME_SCALE_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok());
    let report = drill.run().await.map_err(engine_error)?;

    let stem = args
        .report_dir
        .join(format!("drill-{}-{}", report.environment, report.run_id));
    let (md, json) = (stem.with_extension("md"), stem.with_extension("json"));
    std::fs::write(&md, report.to_markdown())?;
    std::fs::write(&json, serde_json::to_vec_pretty(&report)?)?;
    match args.output {
        Output::Json => print_json(&report)?,
        Output::Text => out!("{}", report.to_markdown()),
    }
    eprintln!("drill report: {} and {}", md.display(), json.display());

    let left_behind = !report.aftermath.torn_down && report.aftermath.kept_until.is_none();
    let (exit, why) = match report.verdict {
        _ if left_behind => (
            Exit::NeedsAttention,
            format!(
                "the drill left cluster {} behind: {}",
                report.cluster, report.aftermath.detail
            ),
        ),
        Verdict::Pass => return Ok(Exit::Success),
        Verdict::MissedRto => (
            Exit::RtoMissed,
            format!(
                "drill FAILED: recovery took {:.1}s, more than the {:.0}s target",
                report.recovery_secs.unwrap_or_default(),
                report.rto_target_secs
            ),
        ),
        Verdict::Failed => (
            if report.aftermath.kept_until.is_some() {
                Exit::NeedsAttention
            } else {
                Exit::RolledBack
            },
            format!(
                "drill FAILED: {}",
                report.failure.as_deref().unwrap_or("the rebuild did not finish")
            ),
        ),
    };
    Err(Reported::new(exit, why).into())
}
