//! Runbooks: what whoever is on call needs when a run stops short of success — what happened (the
//! stop code, the step, the cause in one sentence), the world as the journal last saw it (weights
//! per record, which clusters exist, the last checkpoint, whether the point of no return was
//! passed), what is safe now, and the exact next commands with the real plan path and names.
//!
//! Built from the journal alone (plus the plan for names), so `cutover explain` rebuilds the
//! runbook of any past run, and the terminal, `cutover status`, the run report and notifications
//! all show the same one.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::codes;
use super::ids;
use super::journal::{JournalEvent, JournalRecord};
use super::status::{RunPhase, RunStatus, StepState};
use crate::plan::{CheckKind, Plan};
use crate::providers::LockInfo;

/// The runbook of a stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Runbook {
    /// Stable stop code (`CUT-CHK-002`), explained in the README's troubleshooting table.
    pub code: String,
    /// What the code means.
    pub title: String,
    /// The environment (`metadata.name`).
    pub environment: String,
    /// The run, if one stopped.
    pub run_id: Option<String>,
    /// The step that stopped the run, if one did.
    pub step: Option<String>,
    /// Why, in one sentence.
    pub cause: String,
    /// The world as the journal last saw it.
    pub world: WorldSeen,
    /// What is safe now.
    pub safe_now: Vec<String>,
    /// The commands to run next, in order of preference.
    pub next: Vec<NextCommand>,
}

/// The world as the journal last saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorldSeen {
    /// Blue's and green's weights per record name.
    pub weights: Vec<RecordSeen>,
    /// Clusters and whether they exist.
    pub clusters: Vec<ClusterSeen>,
    /// The last checkpoint reached (and not rolled back).
    pub last_checkpoint: Option<String>,
    /// Whether the irreversible step started: no rollback from here.
    pub point_of_no_return_passed: bool,
}

/// One record name's weights; `None`: that side's record does not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordSeen {
    /// The DNS name.
    pub record: String,
    /// Blue's weight.
    pub blue: Option<u8>,
    /// Green's weight.
    pub green: Option<u8>,
}

/// A cluster of the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterSeen {
    /// `blue` or `green`.
    pub role: String,
    /// EKS cluster name.
    pub name: String,
    /// Whether it exists, as far as the journal knows.
    pub exists: bool,
}

/// A command to run next and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextCommand {
    /// What it does, in a few words.
    pub why: String,
    /// The command line, ready to paste.
    pub command: String,
}

/// Quotes a shell word when it needs it.
pub fn sh(word: &str) -> String {
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A next command and why it is next.
pub fn cmd(why: &str, command: String) -> NextCommand {
    NextCommand { why: why.to_string(), command }
}

/// The first sentence (or line) of a cause, for the summary; the whole text stays in the journal.
fn one_sentence(cause: &str) -> String {
    let line = cause.lines().next().unwrap_or_default().trim();
    match line.find(". ") {
        Some(i) if i > 20 => line[..=i].to_string(),
        _ => line.to_string(),
    }
}

/// Weights per record as the journal last saw them.
fn weights_seen(records: &[JournalRecord]) -> Vec<RecordSeen> {
    let mut seen: BTreeMap<String, (Option<u8>, Option<u8>)> = BTreeMap::new();
    let mut outputs: BTreeMap<&str, &Value> = BTreeMap::new();
    let set = |list: &Value, seen: &mut BTreeMap<String, (Option<u8>, Option<u8>)>| {
        for r in list.as_array().into_iter().flatten() {
            if let Some(name) = r["record"].as_str() {
                let w = |v: &Value| v.as_u64().map(|w| w as u8);
                seen.insert(name.to_string(), (w(&r["blue"]), w(&r["green"])));
            }
        }
    };
    for r in records {
        match &r.event {
            JournalEvent::StepDone { step, output } => {
                outputs.insert(step, output);
                if step == ids::RETIRE_BLUE_RECORDS {
                    seen.values_mut().for_each(|w| w.0 = None);
                } else if output["after"].is_array() {
                    set(&output["after"], &mut seen);
                } else if output["records"].is_array() {
                    set(&output["records"], &mut seen);
                }
            }
            JournalEvent::CompensationDone { step } => {
                if ids::shift_weight(step).is_some()
                    && let Some(out) = outputs.get(step.as_str())
                {
                    set(&out["before"], &mut seen);
                } else if step == ids::TRAFFIC_PREPARE {
                    seen.values_mut().for_each(|w| w.1 = None);
                }
            }
            _ => {}
        }
    }
    seen.into_iter().map(|(record, (blue, green))| RecordSeen { record, blue, green }).collect()
}

/// Weights per record from the run's state alone (the outputs of steps done and not undone), for
/// snapshots taken while the run goes on.
pub(crate) fn weights_from_status(status: &RunStatus) -> Vec<RecordSeen> {
    let mut seen: BTreeMap<String, (Option<u8>, Option<u8>)> = BTreeMap::new();
    for s in &status.steps {
        let Some(out) = &s.output else { continue };
        let list = if s.id == ids::RETIRE_BLUE_RECORDS {
            seen.values_mut().for_each(|w| w.0 = None);
            continue;
        } else if out["after"].is_array() {
            &out["after"]
        } else if out["records"].is_array() {
            &out["records"]
        } else {
            continue;
        };
        for r in list.as_array().into_iter().flatten() {
            if let Some(name) = r["record"].as_str() {
                let w = |v: &Value| v.as_u64().map(|w| w as u8);
                seen.insert(name.to_string(), (w(&r["blue"]), w(&r["green"])));
            }
        }
    }
    seen.into_iter().map(|(record, (blue, green))| RecordSeen { record, blue, green }).collect()
}

fn clusters_seen(plan: &Plan, status: &RunStatus) -> Vec<ClusterSeen> {
    let mut out = Vec::new();
    if let Some(blue) = &plan.blue {
        let gone = status.is_done(ids::RETIRE_BLUE_CLUSTER);
        out.push(ClusterSeen { role: "blue".into(), name: blue.cluster.clone(), exists: !gone });
    }
    let made = status.step(ids::PROVISION_CLUSTER).is_some_and(|s| s.state != StepState::Compensated);
    let torn_down = status.is_done(ids::TEARDOWN_CLUSTER);
    out.push(ClusterSeen { role: "green".into(), name: plan.green.name.clone(), exists: made && !torn_down });
    out
}

/// Commands that show the failing object on green, when the step names one.
fn diagnose(plan: &Plan, step: &str) -> Vec<NextCommand> {
    let green = &plan.green.name;
    let kubeconfig = format!("{green}.kubeconfig");
    let get_kubeconfig = cmd(
        "write a kubeconfig for green (its user runs `cutover token`)",
        format!("cutover kubeconfig --cluster {} --region {} --file {}", sh(green), sh(&plan.aws.region), sh(&kubeconfig)),
    );
    let kubectl = |args: String| format!("kubectl --kubeconfig {} {args}", sh(&kubeconfig));
    if let Some(name) = step.strip_prefix("releases.install.")
        && let Some(r) = plan.releases.iter().find(|r| r.name == name)
    {
        return vec![
            get_kubeconfig,
            cmd("see the release's status and notes", format!("helm --kubeconfig {} -n {} status {}", sh(&kubeconfig), sh(&r.namespace), sh(name))),
            cmd("see why its pods are not ready", kubectl(format!("-n {} describe pods -l app.kubernetes.io/instance={}", sh(&r.namespace), sh(name)))),
        ];
    }
    let check = step.strip_prefix("verify.check.").map(str::to_string).or_else(|| {
        // A gate failing in a bake: the failing check is named in the cause, the gates are few.
        ids::shift_weight(step).and(plan.traffic.as_ref()).and_then(|t| t.gates.first().cloned())
    });
    if let Some(name) = check
        && let Some(c) = plan.checks.iter().find(|c| c.name == name)
    {
        let look = match &c.kind {
            CheckKind::NodesReady { .. } => Some(cmd("see green's nodes", kubectl("get nodes -o wide".into()))),
            CheckKind::WorkloadsReady { namespaces } => Some(cmd(
                "see which workloads are not available",
                kubectl(format!("-n {} describe deployments,statefulsets,daemonsets", sh(namespaces.first().map(String::as_str).unwrap_or("default")))),
            )),
            CheckKind::ReleasesDeployed => Some(cmd("see the releases on green", format!("helm --kubeconfig {} list -A", sh(&kubeconfig)))),
            _ => None,
        };
        let mut out = vec![get_kubeconfig];
        out.extend(look);
        return out;
    }
    if step.starts_with("provision.") {
        return vec![cmd(
            "see green in EKS (status and health issues)",
            format!("aws eks describe-cluster --region {} --name {}", sh(&plan.aws.region), sh(green)),
        )];
    }
    Vec::new()
}

/// The runbook of a stopped run; `None` while it runs and when it succeeded.
pub fn for_run(plan: &Plan, plan_path: &Path, status: &RunStatus, records: &[JournalRecord]) -> Option<Runbook> {
    let code = codes::for_run(status)?;
    let p = sh(&plan_path.display().to_string());
    let world = WorldSeen {
        weights: if records.is_empty() { weights_from_status(status) } else { weights_seen(records) },
        clusters: clusters_seen(plan, status),
        last_checkpoint: status.checkpoints.last().cloned(),
        point_of_no_return_passed: status.point_of_no_return.is_some(),
    };
    let blue_serves = world.weights.iter().all(|w| w.green.unwrap_or(0) == 0);
    let traffic_line = if world.weights.is_empty() {
        None
    } else if blue_serves {
        Some("blue carries all traffic".to_string())
    } else {
        let each: Vec<String> = world
            .weights
            .iter()
            .map(|w| format!("{} blue {} / green {}", w.record, weight(w.blue), weight(w.green)))
            .collect();
        Some(format!("traffic: {}", each.join(", ")))
    };
    let resume = || cmd("continue the run from where it stopped", format!("cutover resume {p}"));
    let status_cmd = cmd("see every step of the run", format!("cutover status {p}"));
    let (step, cause, mut safe_now, mut next) = match &status.phase {
        RunPhase::Refused { step, cause } => (
            Some(step.clone()),
            cause.clone(),
            vec!["nothing was created or changed".to_string()],
            vec![
                cmd("check the fixed plan (or world) without starting a run", format!("cutover preflight {p}")),
                cmd("start the upgrade again", format!("cutover apply {p}")),
            ],
        ),
        RunPhase::Waiting { step, until } => {
            let mut next = vec![cmd(&format!("continue after {until} (blue's retention)"), format!("cutover resume {p}"))];
            if status.point_of_no_return.is_none() && status.checkpoints.iter().any(|c| c == ids::VERIFIED) {
                next.push(cmd("move traffic back to blue instead (green is kept)", format!("cutover rollback {p} --to {}", ids::VERIFIED)));
            }
            let safe = vec![format!("blue is kept as the way back until {until}; nothing changes before `cutover resume`")];
            (Some(step.clone()), format!("waiting until {until}"), safe, next)
        }
        RunPhase::Paused { step, cause } => {
            let back = status.checkpoints.iter().rev().find(|c| *c == ids::VERIFIED || *c == ids::RELEASES_READY || *c == ids::GREEN_READY);
            let mut next = diagnose(plan, step);
            next.push(resume());
            next.push(cmd(
                "or undo the run back to a safe checkpoint",
                format!("cutover rollback {p} --to {}", back.map(String::as_str).unwrap_or("start")),
            ));
            (Some(step.clone()), cause.clone(), vec!["the run changes nothing until it is resumed or rolled back".into()], next)
        }
        RunPhase::RolledBack { to, cause, .. } => {
            let step = status.last_failure.as_ref().map(|(s, _)| s.clone());
            let mut next = step.as_deref().map(|s| diagnose(plan, s)).unwrap_or_default();
            let mut safe = Vec::new();
            match to {
                Some(cp) => {
                    safe.push(format!("green is kept at checkpoint {cp}, for inspection"));
                    next.push(cmd(&format!("after fixing the cause, retry from {cp}"), format!("cutover resume {p}")));
                    next.push(cmd("or tear green down", format!("cutover rollback {p} --to start")));
                }
                None => {
                    safe.push("everything the run made is undone".into());
                    next.push(cmd("after fixing the cause, start again", format!("cutover apply {p}")));
                }
            }
            (step, cause.clone(), safe, next)
        }
        RunPhase::NeedsAttention { step, cause } => {
            let mut next = step.as_deref().map(|s| diagnose(plan, s)).unwrap_or_default();
            let safe = if code == codes::ROLLBACK_FAILED {
                next.push(cmd("after fixing the cause, finish the rollback", format!("cutover resume {p}")));
                vec!["the rollback is unfinished; the journal knows what is left to undo".to_string()]
            } else if code == codes::PAST_NO_RETURN {
                next.push(cmd("after fixing the cause, finish the run (rollback is impossible)", format!("cutover resume {p}")));
                vec!["green carries all traffic; blue is being retired".to_string()]
            } else {
                next.push(cmd("after putting back what the message expects, continue", format!("cutover resume {p}")));
                vec![format!("cutover changed nothing at {}", step.as_deref().unwrap_or("the step"))]
            };
            (step.clone(), cause.clone(), safe, next)
        }
        RunPhase::Running | RunPhase::RollingBack { .. } | RunPhase::Completed => return None,
    };
    if let Some(line) = traffic_line
        && code != codes::PREFLIGHT_REFUSED
    {
        safe_now.insert(0, line);
    }
    if world.point_of_no_return_passed {
        safe_now.push("past the point of no return: rollback is no longer possible".into());
    }
    next.push(status_cmd);
    next.push(cmd("show this runbook again", format!("cutover explain {p} --run {}", status.run_id)));
    Some(Runbook {
        code: code.code.into(),
        title: code.title.into(),
        environment: plan.metadata.name.clone(),
        run_id: Some(status.run_id.clone()),
        step,
        cause: one_sentence(&cause),
        world,
        safe_now,
        next,
    })
}

fn weight(w: Option<u8>) -> String {
    w.map(|w| w.to_string()).unwrap_or_else(|| "-".into())
}

/// The runbook of a run that could not start because another holds the lock.
pub fn lock_held(plan: &Plan, plan_path: &Path, holder: &LockInfo, alive: bool) -> Runbook {
    let p = sh(&plan_path.display().to_string());
    let (safe, next) = if alive {
        (
            "the other run is alive: let it finish".to_string(),
            vec![cmd("follow the other run", format!("cutover status {p}"))],
        )
    } else {
        (
            format!("the holder's process ({}, pid {}) is gone: the lock is stale", holder.host, holder.pid),
            vec![
                cmd("release the stale lock (asks to confirm the holder)", format!("cutover unlock {p}")),
                cmd("then continue the stopped run", format!("cutover resume {p}")),
            ],
        )
    };
    Runbook {
        code: codes::LOCK_HELD.code.into(),
        title: codes::LOCK_HELD.title.into(),
        environment: plan.metadata.name.clone(),
        run_id: Some(holder.run_id.clone()),
        step: None,
        cause: format!("the lock is held by {holder}"),
        world: WorldSeen::default(),
        safe_now: vec![safe],
        next,
    }
}

/// The runbook of the run whose journal is `records`, if it stopped short of success.
pub fn from_journal(plan: &Plan, plan_path: &Path, records: &[JournalRecord]) -> Option<Runbook> {
    let status = RunStatus::replay(records)?;
    for_run(plan, plan_path, &status, records)
}
