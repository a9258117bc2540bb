//! The drill report: phases with start, end and duration, check results, the recovery time
//! against the plan's `rtoTarget` and the verdict, built from the run's journal alone (so what
//! it says is what was journaled), rendered as JSON and Markdown.

use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::engine::{CompiledPlan, JournalEvent, JournalRecord};
use crate::plan::Plan;

/// How a drill ended, judged against the plan's `rtoTarget`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Rebuilt, verified, within the recovery time objective.
    Pass,
    /// Rebuilt and verified, but slower than the objective.
    MissedRto,
    /// Rebuilt and verified in time, but a restored volume's data is older than `rpoTarget`.
    MissedRpo,
    /// The rebuild or its checks failed: no recovery.
    Failed,
}

impl Verdict {
    /// The verdict as the report's headline says it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::MissedRto => "FAIL (missed the RTO target)",
            Verdict::MissedRpo => "FAIL (missed the RPO target)",
            Verdict::Failed => "FAIL (the rebuild did not succeed)",
        }
    }
}

/// One stage of the drill run, timed from its journal records.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// Stage name (as in step ids).
    pub name: String,
    /// What the stage does, for people.
    pub title: String,
    /// When its first step started.
    pub started_at: Timestamp,
    /// When it ended; `None` while unfinished.
    pub ended_at: Option<Timestamp>,
    /// Its duration in seconds; `None` while unfinished.
    pub secs: Option<f64>,
    /// `done`, `failed`, or `unfinished`.
    pub result: String,
}

/// One of the plan's checks and how it fared in the drill.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Check name.
    pub name: String,
    /// `passed`, `failed` or `not-run`.
    pub result: String,
    /// What the check saw, or why it did not run.
    pub detail: String,
}

/// What became of the rebuilt environment.
#[derive(Debug, Clone, Serialize)]
pub struct Aftermath {
    /// True when nothing of the drill's cluster is left.
    pub torn_down: bool,
    /// `--keep`: when the kept environment's TTL runs out.
    pub kept_until: Option<Timestamp>,
    /// What was done with the cluster after the drill, for people.
    pub detail: String,
}

/// The report of one disaster-recovery drill, built from its journal.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// The plan's `metadata.name`.
    pub plan: String,
    /// The environment the run journaled under.
    pub environment: String,
    /// Path of the plan file.
    pub plan_file: String,
    /// sha256 of the plan file.
    pub plan_digest: String,
    /// The drill's run id.
    pub run_id: String,
    /// Who ran the drill.
    pub who: String,
    /// Host the drill ran on.
    pub host: String,
    /// AWS region of the rebuild.
    pub region: String,
    /// EKS cluster name of the rebuilt cluster.
    pub cluster: String,
    /// cutover version that ran the drill.
    pub cutover_version: String,
    /// Version of the helm binary found, if any.
    pub helm_version: Option<String>,
    /// Helm version the plan pins.
    pub helm_pinned: String,
    /// When the run started, from the journal.
    pub started_at: Option<Timestamp>,
    /// When the run ended, from the journal; `None` if it did not.
    pub ended_at: Option<Timestamp>,
    /// The drill's stages, in order, with their timings.
    pub phases: Vec<Phase>,
    /// Every check's result.
    pub checks: Vec<CheckResult>,
    /// From the start of the run to every check passing (with a drill record: to the record
    /// sending all its traffic to the rebuilt cluster); `None` when that never happened.
    pub recovery_secs: Option<f64>,
    /// The plan's recovery-time objective in seconds.
    pub rto_target_secs: f64,
    /// Each restored volume: its snapshot's age at the drill's start (RPO) and the restore time.
    pub volumes: Vec<RestoredVolume>,
    /// The plan's recovery-point objective in seconds, when it has one.
    pub rpo_target_secs: Option<f64>,
    /// Pass, missed RTO or RPO, or failed.
    pub verdict: Verdict,
    /// Why the rebuild failed, when it did.
    pub failure: Option<String>,
    /// What became of the rebuilt environment.
    pub aftermath: Aftermath,
    /// `CUTOVER_TIME_SCALE` when set: the cloud was an emulator running that many times faster.
    pub time_scale: Option<f64>,
}

/// One volume a drill restored from a snapshot.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredVolume {
    /// `namespace/name` of the claim.
    pub claim: String,
    /// The snapshot restored.
    pub snapshot: String,
    /// When the snapshot was taken: the point in time the data is from.
    pub snapshot_at: Timestamp,
    /// The drill's start minus `snapshot_at`: the data the environment would have lost.
    pub rpo_secs: f64,
    /// Green's volumes made from the snapshots (all of them; EBS restores them in parallel).
    pub restore_secs: Option<f64>,
    /// The volume made.
    pub volume: Option<String>,
}

/// What the journal says of the restored volumes.
fn restored_volumes(records: &[JournalRecord], started_at: Option<Timestamp>) -> Vec<RestoredVolume> {
    use crate::engine::preflight::data::DataReading;
    let output = |id: &str| {
        records.iter().rev().find_map(|r| match &r.event {
            JournalEvent::StepDone { step, output } if step == id => Some(output.clone()),
            _ => None,
        })
    };
    let reading: Option<DataReading> = output(&crate::engine::ids::preflight(crate::plan::PreflightGate::Data))
        .and_then(|o| serde_json::from_value(o.get("data")?.clone()).ok());
    let volumes = output(crate::engine::ids::DATA_VOLUMES);
    let restore_secs = volumes.as_ref().and_then(|v| v["restore_secs"].as_f64());
    let Some(reading) = reading else { return Vec::new() };
    reading
        .claims
        .iter()
        .filter_map(|c| {
            let (snapshot, at) = c.snapshot.clone()?;
            Some(RestoredVolume {
                claim: c.key(),
                snapshot,
                snapshot_at: at,
                rpo_secs: started_at.map_or(0.0, |s| secs(at, s).max(0.0)),
                restore_secs,
                volume: volumes.as_ref().and_then(|v| v["volumes"][c.key()].as_str().map(str::to_string)),
            })
        })
        .collect()
}

/// Facts about the drill that the journal does not hold.
pub struct Context<'a> {
    /// The drill's plan.
    pub plan: &'a Plan,
    /// The compiled plan, for stage names and titles.
    pub compiled: &'a CompiledPlan,
    /// Version of the helm binary found, if any.
    pub helm_version: Option<String>,
    /// Why the rebuild failed, when it did.
    pub failure: Option<String>,
    /// What became of the rebuilt environment.
    pub aftermath: Aftermath,
    /// Phases measured outside the engine (a forced teardown), appended after the journal's.
    pub extra_phases: Vec<Phase>,
    /// `CUTOVER_TIME_SCALE` when set (see [`DrillReport::time_scale`]).
    pub time_scale: Option<f64>,
}

/// Seconds from `a` to `b`, with millisecond precision.
pub fn secs(a: Timestamp, b: Timestamp) -> f64 {
    (b.as_millisecond() - a.as_millisecond()) as f64 / 1000.0
}

/// Builds the report from the drill run's journal records.
pub fn build(records: &[JournalRecord], cx: Context<'_>) -> DrillReport {
    let stage_of = |step: &str| -> Option<usize> {
        cx.compiled
            .stages
            .iter()
            .position(|s| s.steps.iter().any(|d| d.id == step))
    };
    let mut phases: Vec<Option<Phase>> = vec![None; cx.compiled.stages.len()];
    let (mut who, mut host) = (String::new(), String::new());
    let mut started_at = None;
    let mut verified_at = None;
    let mut rollback: Option<Phase> = None;
    // With a drill record, recovery ends when the record sends all its traffic to the rebuilt
    // cluster (the last shift is INSYNC); without one, when every check has passed.
    let last_shift = cx
        .compiled
        .steps()
        .filter(|d| crate::engine::ids::shift_weight(&d.id).is_some())
        .last()
        .map(|d| d.id.clone());
    let mut served_at: Option<Timestamp> = None;
    for r in records {
        match &r.event {
            JournalEvent::RunStarted { who: w, host: h, .. } => {
                started_at.get_or_insert(r.ts);
                who = w.clone();
                host = h.clone();
            }
            JournalEvent::StepStarted { step, .. } => {
                if let Some(i) = stage_of(step) {
                    let stage = &cx.compiled.stages[i];
                    let p = phases[i].get_or_insert_with(|| Phase {
                        name: stage.name.clone(),
                        title: stage.title.clone(),
                        started_at: r.ts,
                        ended_at: None,
                        secs: None,
                        result: "unfinished".into(),
                    });
                    p.result = "unfinished".into();
                }
            }
            JournalEvent::StepDone { step, .. } | JournalEvent::StepFailed { step, .. } => {
                if let JournalEvent::StepDone { output, .. } = &r.event
                    && Some(step) == last_shift.as_ref()
                {
                    served_at = serde_json::from_value(output["insync_at"].clone()).ok();
                }
                if let Some(p) = stage_of(step).and_then(|i| phases[i].as_mut()) {
                    let failed = matches!(r.event, JournalEvent::StepFailed { .. });
                    p.ended_at = Some(r.ts);
                    p.secs = Some(secs(p.started_at, r.ts));
                    if failed || p.result != "failed" {
                        p.result = if failed { "failed" } else { "done" }.into();
                    }
                }
            }
            JournalEvent::Checkpoint { name } if name == crate::engine::ids::VERIFIED => verified_at = Some(r.ts),
            JournalEvent::RollbackStarted { .. } => {
                rollback = Some(Phase {
                    name: "rollback".into(),
                    title: "Undo the rebuild (releases, node groups, add-ons, cluster)".into(),
                    started_at: r.ts,
                    ended_at: None,
                    secs: None,
                    result: "unfinished".into(),
                })
            }
            JournalEvent::RunRolledBack { .. } | JournalEvent::RunFailed { .. } => {
                if let Some(p) = rollback.as_mut().filter(|p| p.ended_at.is_none()) {
                    p.ended_at = Some(r.ts);
                    p.secs = Some(secs(p.started_at, r.ts));
                    p.result = if matches!(r.event, JournalEvent::RunRolledBack { .. }) {
                        "done"
                    } else {
                        "failed"
                    }
                    .into();
                }
            }
            _ => {}
        }
    }
    // A stage whose steps all finished but which later steps re-opened stays "done"; one with a
    // step still running at the end is unfinished.
    let mut phases: Vec<Phase> = phases.into_iter().flatten().collect();
    phases.extend(rollback);
    phases.extend(cx.extra_phases);

    let checks = cx
        .plan
        .checks
        .iter()
        .map(|c| {
            let id = crate::engine::ids::check(&c.name);
            let mut result = CheckResult {
                name: c.name.clone(),
                result: "not-run".into(),
                detail: String::new(),
            };
            for r in records {
                match &r.event {
                    JournalEvent::StepDone { step, output } if *step == id => {
                        result.result = "passed".into();
                        let attempts = output["attempts"].as_u64().unwrap_or(1);
                        let detail = output["detail"].as_str().unwrap_or_default();
                        result.detail =
                            format!("{detail} ({attempts} attempt{})", if attempts == 1 { "" } else { "s" });
                    }
                    JournalEvent::StepFailed { step, error, .. } if *step == id => {
                        result.result = "failed".into();
                        result.detail = error.clone();
                    }
                    _ => {}
                }
            }
            result
        })
        .collect();

    let rto = cx.plan.rto_target.unwrap_or_default().as_secs_f64();
    let recovered_at = if last_shift.is_some() {
        served_at.filter(|_| verified_at.is_some())
    } else {
        verified_at
    };
    let recovery_secs = match (started_at, recovered_at) {
        (Some(a), Some(b)) => Some(secs(a, b)),
        _ => None,
    };
    let volumes = restored_volumes(records, started_at);
    let rpo_target = cx.plan.rpo_target.map(|d| d.as_secs_f64());
    let stale = rpo_target.is_some_and(|t| volumes.iter().any(|v| v.rpo_secs > t));
    let verdict = match recovery_secs {
        _ if cx.failure.is_some() => Verdict::Failed,
        None => Verdict::Failed,
        Some(r) if r > rto => Verdict::MissedRto,
        Some(_) if stale => Verdict::MissedRpo,
        Some(_) => Verdict::Pass,
    };
    DrillReport {
        plan: cx.plan.metadata.name.clone(),
        environment: cx.compiled.plan.clone(),
        plan_file: cx.plan.source.display().to_string(),
        plan_digest: cx.plan.digest.clone(),
        run_id: records.first().map(|r| r.run.clone()).unwrap_or_default(),
        who,
        host,
        region: cx.plan.aws.region.clone(),
        cluster: cx.plan.green.name.clone(),
        cutover_version: env!("CARGO_PKG_VERSION").to_string(),
        helm_version: cx.helm_version,
        helm_pinned: cx.plan.helm.version.clone(),
        started_at,
        ended_at: records
            .last()
            .map(|r| r.ts)
            .max(phases.iter().filter_map(|p| p.ended_at).max()),
        phases,
        checks,
        recovery_secs,
        rto_target_secs: rto,
        volumes,
        rpo_target_secs: rpo_target,
        verdict,
        failure: cx.failure,
        aftermath: cx.aftermath,
        time_scale: cx.time_scale,
    }
}

fn dur(secs: Option<f64>) -> String {
    secs.map(crate::plan::format_elapsed).unwrap_or_else(|| "-".into())
}

impl DrillReport {
    /// The report for people (and for pasting into a ticket).
    pub fn to_markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(
            m,
            "# Disaster-recovery drill: {} — {}\n",
            self.plan,
            self.verdict.label()
        );
        let recovery = dur(self.recovery_secs);
        let _ = writeln!(
            m,
            "Recovery time **{recovery}** against a target of **{}** (from the start of the run to {}).\n",
            crate::plan::format_duration(std::time::Duration::from_secs_f64(self.rto_target_secs.max(0.0))),
            if self.phases.iter().any(|p| p.name == "traffic") {
                "the drill record sending all its traffic to the rebuilt cluster"
            } else {
                "every check passing"
            }
        );
        if let Some(f) = &self.failure {
            let _ = writeln!(m, "**The rebuild failed:** {f}\n");
        }
        if let Some(why) = self.rpo_missed() {
            let _ = writeln!(m, "**Missed the RPO target:** {why}\n");
        }
        let _ = writeln!(m, "| | |\n|---|---|");
        let rows = [
            ("Run", self.run_id.clone()),
            ("Run by", format!("{} on {}", self.who, self.host)),
            ("Plan", format!("{} (`{}`)", self.plan_file, self.plan_digest)),
            ("Cluster", format!("{} in {}", self.cluster, self.region)),
            ("Started", self.started_at.map(|t| t.to_string()).unwrap_or_default()),
            ("Ended", self.ended_at.map(|t| t.to_string()).unwrap_or_default()),
            ("cutover", self.cutover_version.clone()),
            (
                "helm",
                format!(
                    "{} (plan pins {})",
                    self.helm_version.as_deref().unwrap_or("unknown"),
                    self.helm_pinned
                ),
            ),
        ];
        for (k, v) in rows {
            let _ = writeln!(m, "| {k} | {} |", v.replace('|', "\\|"));
        }
        if let Some(scale) = self.time_scale {
            let _ = writeln!(
                m,
                "\nThe cloud was an emulator running {scale}× faster than AWS (`CUTOVER_TIME_SCALE`); times are wall-clock."
            );
        }
        let _ = writeln!(
            m,
            "\n## Phases\n\n| Phase | Started | Ended | Duration | Result |\n|---|---|---|---|---|"
        );
        for p in &self.phases {
            let _ = writeln!(
                m,
                "| {} | {} | {} | {} | {} |",
                p.title,
                p.started_at,
                p.ended_at.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                dur(p.secs),
                p.result
            );
        }
        let _ = writeln!(m, "\n## Checks\n\n| Check | Result | Detail |\n|---|---|---|");
        for c in &self.checks {
            let _ = writeln!(
                m,
                "| {} | {} | {} |",
                c.name,
                c.result,
                c.detail.replace('|', "\\|").replace('\n', " ")
            );
        }
        if !self.volumes.is_empty() {
            let target = self.rpo_target_secs.map_or("none".to_string(), |t| dur(Some(t)));
            let _ = writeln!(
                m,
                "\n## Data\n\nRPO target: **{target}** (the age of each restored snapshot when the drill started).\n\n| Claim | Snapshot | Taken | RPO | Restore | Volume |\n|---|---|---|---|---|---|"
            );
            for v in &self.volumes {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} | {} |",
                    v.claim,
                    v.snapshot,
                    v.snapshot_at,
                    dur(Some(v.rpo_secs)),
                    dur(v.restore_secs),
                    v.volume.as_deref().unwrap_or("-")
                );
            }
        }
        let _ = writeln!(m, "\n## Afterwards\n\n{}", self.aftermath.detail);
        m
    }

    /// Why the RPO target was missed: each restored volume whose data is older than it.
    pub fn rpo_missed(&self) -> Option<String> {
        let target = self.rpo_target_secs?;
        let stale: Vec<String> = self
            .volumes
            .iter()
            .filter(|v| v.rpo_secs > target)
            .map(|v| format!("{} was restored from {} taken {} before the drill", v.claim, v.snapshot, dur(Some(v.rpo_secs))))
            .collect();
        (!stale.is_empty()).then(|| format!("{} (target {}); take fresher snapshots (`cutover backup` more often)", stale.join("; "), dur(Some(target))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::compile;

    /// The example drill plan, without its drill record unless `with_record`.
    fn plan_with(with_record: bool) -> Plan {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/dr-drill.yaml");
        let mut plan = crate::plan::load(&path).expect("the example drill plan is valid");
        if !with_record {
            plan.traffic = None;
        }
        plan
    }

    fn plan() -> Plan {
        plan_with(false)
    }

    /// A journal of a drill whose steps each take one second, reaching `verified` at `verified`
    /// seconds (or never), then ending as `last`.
    fn journal(plan: &Plan, verified: Option<i64>, last: JournalEvent) -> Vec<JournalRecord> {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let at = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let mut events = vec![(
            0,
            JournalEvent::RunStarted {
                plan: plan.metadata.name.clone(),
                digest: plan.digest.clone(),
                kind: "Drill".into(),
                who: "ana".into(),
                host: "laptop".into(),
                pid: 1,
                version: "0".into(),
                trace: None,
            },
        )];
        events.push((
            1,
            JournalEvent::StepStarted {
                step: "provision.cluster".into(),
                irreversible: false,
            },
        ));
        events.push((
            9,
            JournalEvent::StepDone {
                step: "provision.cluster".into(),
                output: serde_json::json!({}),
            },
        ));
        events.push((
            9,
            JournalEvent::StepStarted {
                step: "verify.check.nodes".into(),
                irreversible: false,
            },
        ));
        match verified {
            Some(v) => {
                let output = serde_json::json!({"attempts": 2, "detail": "2 nodes Ready"});
                events.push((
                    v,
                    JournalEvent::StepDone {
                        step: "verify.check.nodes".into(),
                        output,
                    },
                ));
                events.push((
                    v,
                    JournalEvent::Checkpoint {
                        name: "verified".into(),
                    },
                ));
            }
            None => events.push((
                12,
                JournalEvent::StepFailed {
                    step: "verify.check.nodes".into(),
                    error: "need 2".into(),
                    retryable: false,
                    code: None,
                },
            )),
        }
        events.push((30, last));
        events
            .into_iter()
            .enumerate()
            .map(|(i, (s, event))| JournalRecord {
                seq: i as u64 + 1,
                ts: at(s),
                run: "r1".into(),
                event,
            })
            .collect()
    }

    fn build_for(plan: &Plan, records: &[JournalRecord], failure: Option<&str>) -> DrillReport {
        let compiled = compile(plan);
        build(
            records,
            Context {
                plan,
                compiled: &compiled,
                helm_version: Some("3.19.0".into()),
                failure: failure.map(str::to_string),
                aftermath: Aftermath {
                    torn_down: true,
                    kept_until: None,
                    detail: "gone".into(),
                },
                extra_phases: Vec::new(),
                time_scale: None,
            },
        )
    }

    #[test]
    fn recovery_is_measured_from_the_start_to_the_verified_checkpoint_against_the_target() {
        let plan = plan(); // rtoTarget: 45m
        let fast = build_for(&plan, &journal(&plan, Some(12), JournalEvent::RunCompleted), None);
        assert_eq!(fast.recovery_secs, Some(12.0));
        assert_eq!(fast.verdict, Verdict::Pass);
        assert_eq!(fast.who, "ana");
        let provision = &fast.phases[0];
        assert_eq!(
            (provision.name.as_str(), provision.secs, provision.result.as_str()),
            ("provision", Some(8.0), "done")
        );
        assert_eq!(fast.checks[0].result, "passed");
        assert_eq!(fast.checks[0].detail, "2 nodes Ready (2 attempts)");
        assert_eq!(fast.checks[1].result, "not-run");

        let slow = build_for(
            &plan,
            &journal(&plan, Some(45 * 60 + 1), JournalEvent::RunCompleted),
            None,
        );
        assert_eq!(slow.verdict, Verdict::MissedRto);
        assert!(slow.to_markdown().contains("FAIL (missed the RTO target)"));
    }

    #[test]
    fn a_rebuild_that_never_verified_fails_whatever_the_time() {
        let plan = plan();
        let rolled = JournalEvent::RunRolledBack {
            to: None,
            cause: "check".into(),
            requested_by: None,
        };
        let failed = build_for(&plan, &journal(&plan, None, rolled), Some("check nodes failed"));
        assert_eq!(failed.verdict, Verdict::Failed);
        assert_eq!(failed.recovery_secs, None);
        assert_eq!(failed.checks[0].result, "failed");
        let verify = failed.phases.iter().find(|p| p.name == "verify").unwrap();
        assert_eq!(verify.result, "failed");
        assert!(
            failed
                .to_markdown()
                .contains("The rebuild failed:** check nodes failed")
        );
    }

    #[test]
    fn with_a_drill_record_recovery_ends_when_the_record_serves_the_rebuilt_cluster() {
        let plan = plan_with(true);
        let mut records = journal(&plan, Some(12), JournalEvent::RunCompleted);
        let last = records.pop().unwrap();
        let t0 = records[0].ts;
        let at = |s: i64| t0.checked_add(jiff::SignedDuration::from_secs(s)).unwrap();
        let output = serde_json::json!({"weight": 100, "insync_at": at(20)});
        records.push(JournalRecord {
            seq: 90,
            ts: at(14),
            run: "r1".into(),
            event: JournalEvent::StepStarted {
                step: "traffic.shift.100".into(),
                irreversible: false,
            },
        });
        records.push(JournalRecord {
            seq: 91,
            ts: at(25),
            run: "r1".into(),
            event: JournalEvent::StepDone {
                step: "traffic.shift.100".into(),
                output,
            },
        });
        records.push(last);
        let report = build_for(&plan, &records, None);
        assert_eq!(
            report.recovery_secs,
            Some(20.0),
            "INSYNC of the last shift, not its bake"
        );
        assert!(
            report
                .phases
                .iter()
                .any(|p| p.name == "traffic" && p.secs == Some(11.0))
        );

        // Verified but never served: no recovery.
        let unserved = build_for(&plan, &journal(&plan, Some(12), JournalEvent::RunCompleted), None);
        assert_eq!(unserved.recovery_secs, None);
        assert_eq!(unserved.verdict, Verdict::Failed);
    }
}
