//! `drill`: a disaster-recovery drill of a Drill plan ([`crate::drill`]), wired through the
//! composition root, its report written as Markdown and JSON, and its result decided here — not
//! in the CLI — so every caller (CLI, fleet, dashboard) reads the same verdict.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jiff::Timestamp;

use crate::compose::Context;
use crate::drill::{Drill, DrillReport, Verdict};
use crate::engine::EngineOptions;
use crate::plan::{Plan, PlanKind};

use super::OpsError;
use super::run::RunOptions;

/// How long `--keep` keeps the rebuilt environment when no TTL is given.
pub const DEFAULT_KEEP: Duration = Duration::from_secs(8 * 3600);

/// How a drill is carried out.
pub struct DrillOptions {
    /// Keep the rebuilt environment as a dev cluster for this long (`None`: tear it down).
    pub keep: Option<Duration>,
    /// Where the report files go (must exist).
    pub report_dir: PathBuf,
    /// Concurrency and progress of the rebuild.
    pub run: RunOptions,
}

/// How the drill ended, for exit codes and notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillResult {
    /// Rebuilt and verified within `rtoTarget`.
    Passed,
    /// Recovered and verified, slower than `rtoTarget`.
    MissedRto,
    /// Recovered and verified in time, from data older than `rpoTarget`.
    MissedRpo,
    /// The rebuild failed and was torn down.
    Failed,
    /// The rebuild failed and was kept for inspection (`--keep`).
    FailedKept,
    /// Something of the drill is still there and needs a person.
    LeftBehind,
}

/// A finished drill: its report, where the report files are, and the result.
pub struct DrillDone {
    /// The report, as written to the files.
    pub report: DrillReport,
    /// Where the Markdown report is.
    pub markdown: PathBuf,
    /// Where the JSON report is.
    pub json: PathBuf,
    /// How the drill ended.
    pub result: DrillResult,
}

impl DrillDone {
    /// One sentence for a result other than a pass.
    pub fn why(&self) -> String {
        let r = &self.report;
        match self.result {
            DrillResult::Passed => "drill passed".into(),
            DrillResult::LeftBehind => format!("the drill left cluster {} behind: {}", r.cluster, r.aftermath.detail),
            DrillResult::MissedRto => format!(
                "drill FAILED: recovery took {}, more than the {} target",
                crate::plan::format_elapsed(r.recovery_secs.unwrap_or_default()),
                crate::plan::format_duration(Duration::from_secs_f64(r.rto_target_secs.max(0.0)))
            ),
            DrillResult::MissedRpo => format!("drill FAILED: {}", r.rpo_missed().unwrap_or_default()),
            DrillResult::Failed | DrillResult::FailedKept => {
                format!("drill FAILED: {}", r.failure.as_deref().unwrap_or("the rebuild did not finish"))
            }
        }
    }
}

/// Checks what can be checked before anything is built.
pub fn check(plan: &Plan, opts: &DrillOptions) -> Result<(), OpsError> {
    if plan.kind != PlanKind::Drill {
        return Err(OpsError::Usage(format!(
            "plan {} is a {:?} plan; `cutover drill` runs Drill plans (`kind: Drill`)",
            plan.metadata.name, plan.kind
        )));
    }
    if !opts.report_dir.is_dir() {
        return Err(OpsError::Usage(format!(
            "report directory {} does not exist; create it first",
            opts.report_dir.display()
        )));
    }
    Ok(())
}

/// Runs the drill to its report, writes `drill-ENV-RUN.md` and `.json`, and decides the result.
pub async fn drill(cx: &Context, plan: Plan, opts: &DrillOptions) -> Result<DrillDone, OpsError> {
    check(&plan, opts)?;
    let (plan, keep_until) = match opts.keep {
        Some(ttl) => {
            let until = crate::dev::expiry(Timestamp::now(), ttl)?;
            (crate::dev::prepare(plan, None, &cx.settings().login, until)?, Some(until))
        }
        None => (plan, None),
    };
    let work = tempfile::Builder::new()
        .prefix("cutover-drill-")
        .tempdir()
        .map_err(OpsError::io("create the drill's private work directory"))?;
    let providers = cx.providers(&plan, work.path()).await?;
    let state = cx.state(&plan).await;
    let engine_opts = EngineOptions {
        release_concurrency: opts.run.concurrency.max(1),
        progress: opts.run.progress.clone(),
        who: cx.caller(&plan.aws.region).await,
        ..EngineOptions::default()
    };
    let helm_version = cx.helm_version().await;
    let plan_for_notify = plan.clone();
    let mut drill = Drill::new(plan, providers, state, engine_opts, keep_until);
    drill.helm_version = helm_version;
    drill.time_scale = cx.settings().time_scale;
    let report = drill.run().await?;
    let (markdown, json) = write_report(&report, &opts.report_dir)?;
    let result = result(&report);
    let done = DrillDone { report, markdown, json, result };
    tell_verdict(cx, &plan_for_notify, &done).await;
    Ok(done)
}

/// The verdict to the plan's sinks (`drill-verdict`); a sink that fails is logged, never fatal.
async fn tell_verdict(cx: &Context, plan: &Plan, done: &DrillDone) {
    if plan.notify.is_empty() {
        return;
    }
    let r = &done.report;
    let id = format!("{}-verdict", r.run_id);
    let mut n = super::notify::blank(plan, crate::plan::NotifyEvent::DrillVerdict, &r.run_id, id, done.why());
    n.cause = r.failure.clone();
    match done.result {
        DrillResult::MissedRto => n.code = Some(crate::engine::codes::RTO_MISSED.code.into()),
        DrillResult::MissedRpo => n.code = Some(crate::engine::codes::RPO_MISSED.code.into()),
        _ => {}
    }
    n.next_command = Some(format!("less {}", done.markdown.display()));
    for (sink, result) in super::notify::deliver(cx, plan, None, &n).await {
        if let Err(why) = result {
            tracing::warn!(%sink, %why, "the drill verdict was not delivered");
        }
    }
}

fn write_report(report: &DrillReport, dir: &Path) -> Result<(PathBuf, PathBuf), OpsError> {
    let stem = dir.join(format!("drill-{}-{}", report.environment, report.run_id));
    let (md, json) = (stem.with_extension("md"), stem.with_extension("json"));
    std::fs::write(&md, report.to_markdown()).map_err(OpsError::io(format!("write {}", md.display())))?;
    let bytes = serde_json::to_vec_pretty(report).expect("a drill report serializes");
    std::fs::write(&json, bytes).map_err(OpsError::io(format!("write {}", json.display())))?;
    Ok((md, json))
}

/// The drill's result: a verdict, unless something was left behind without being asked to.
pub fn result(report: &DrillReport) -> DrillResult {
    let left_behind = !report.aftermath.torn_down && report.aftermath.kept_until.is_none();
    match report.verdict {
        _ if left_behind => DrillResult::LeftBehind,
        Verdict::Pass => DrillResult::Passed,
        Verdict::MissedRto => DrillResult::MissedRto,
        Verdict::MissedRpo => DrillResult::MissedRpo,
        Verdict::Failed if report.aftermath.kept_until.is_some() => DrillResult::FailedKept,
        Verdict::Failed => DrillResult::Failed,
    }
}

/// A drill's verdict as its journal tells it, for readers that have the journal and the plan but
/// not the report files (the dashboard).
#[derive(Debug, Clone, PartialEq)]
pub struct JournaledVerdict {
    /// Pass, missed RTO or RPO, or failed: what the drill's report said or would say.
    pub verdict: Verdict,
    /// From the start of the run to recovery; `None` when it never recovered.
    pub recovery_secs: Option<f64>,
    /// The plan's `rtoTarget` in seconds.
    pub rto_target_secs: f64,
    /// The oldest restored snapshot's age at the drill's start (its RPO), when it restored data.
    pub rpo_secs: Option<f64>,
    /// The plan's `rpoTarget` in seconds, when it has one.
    pub rpo_target_secs: Option<f64>,
}

/// Judges a finished drill run from its journal against `plan`'s `rtoTarget`, by the report's
/// own rules ([`crate::drill::report::build`]); `None` while the run is unfinished or when
/// `plan` is not a drill.
pub fn journaled_verdict(plan: &Plan, records: &[crate::engine::JournalRecord]) -> Option<JournaledVerdict> {
    if plan.kind != PlanKind::Drill {
        return None;
    }
    let outcome = crate::engine::RunStatus::replay(records)?.phase.outcome()?;
    let failure = (outcome != crate::engine::RunOutcome::Completed).then(|| outcome.describe());
    let compiled = crate::engine::compile(plan);
    let report = crate::drill::report::build(
        records,
        crate::drill::report::Context {
            plan,
            compiled: &compiled,
            helm_version: None,
            failure,
            // What became of the cluster is not journaled; the verdict does not depend on it.
            aftermath: crate::drill::Aftermath { torn_down: false, kept_until: None, detail: String::new() },
            extra_phases: Vec::new(),
            time_scale: None,
        },
    );
    Some(JournaledVerdict {
        verdict: report.verdict,
        recovery_secs: report.recovery_secs,
        rto_target_secs: report.rto_target_secs,
        rpo_secs: report.volumes.iter().map(|v| v.rpo_secs).reduce(f64::max),
        rpo_target_secs: report.rpo_target_secs,
    })
}

impl DrillDone {
    /// What to do after a drill that did not pass: the stop code, what is safe, and the commands,
    /// with the plan's real path (a missed RPO names the environment's Upgrade plan when it sits
    /// beside the drill's).
    pub fn runbook(&self, plan: &Plan) -> Option<crate::engine::runbook::Runbook> {
        use crate::engine::codes;
        use crate::engine::runbook::{Runbook, cmd, sh};
        let p = sh(&plan.source.display().to_string());
        let report = sh(&self.markdown.display().to_string());
        let read = cmd("read the report: each phase, check and volume with its timing", format!("less {report}"));
        let safe = if self.report.aftermath.torn_down {
            "the drill's environment is torn down; production was not touched".to_string()
        } else {
            self.report.aftermath.detail.clone()
        };
        let (code, next) = match self.result {
            DrillResult::MissedRto => (
                codes::RTO_MISSED,
                vec![
                    read,
                    cmd("rebuild again and keep it for 8h to look at the slow phase", format!("cutover drill {p} --keep --ttl 8h")),
                    cmd("run the drill again once the slow phase is fixed", format!("cutover drill {p}")),
                ],
            ),
            DrillResult::MissedRpo => {
                let from = plan.data.as_ref().map_or(plan.metadata.name.as_str(), |d| d.from.as_str());
                let upgrade = upgrade_plan_of(plan, from)
                    .map(|path| sh(&path.display().to_string()))
                    .unwrap_or_else(|| format!("THE-UPGRADE-PLAN-OF-{from}.yaml"));
                (
                    codes::RPO_MISSED,
                    vec![
                        read,
                        cmd(&format!("take a fresh backup of {from} now (and schedule it more often than rpoTarget)"), format!("cutover backup {upgrade}")),
                        cmd("then run the drill again", format!("cutover drill {p}")),
                    ],
                )
            }
            _ => return None,
        };
        Some(Runbook {
            code: code.code.into(),
            title: code.title.into(),
            environment: plan.metadata.name.clone(),
            run_id: Some(self.report.run_id.clone()),
            step: None,
            cause: self.why(),
            world: Default::default(),
            safe_now: vec![safe],
            next,
        })
    }
}

/// The Upgrade plan of environment `env` among the YAML files beside `plan`, if one is there.
fn upgrade_plan_of(plan: &Plan, env: &str) -> Option<PathBuf> {
    let dir = plan.source.parent()?;
    std::fs::read_dir(dir).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|path| {
        path.extension().is_some_and(|e| e == "yaml" || e == "yml")
            && crate::plan::load(path).is_ok_and(|p| p.kind == PlanKind::Upgrade && p.metadata.name == env)
    })
}
