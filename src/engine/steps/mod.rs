//! Step implementations, one file per kind, and the dispatch from [`StepKind`] to them.
//!
//! Rules every step follows (the engine contract):
//! - `apply` is idempotent and adopts what an earlier, interrupted attempt made (ownership tags,
//!   idempotency tokens, comparing live state with the target) instead of making it twice.
//! - Compensation converges to "as before the step" whether `apply` finished, half-ran or never
//!   ran, and works from the plan plus the journaled output, so it works after a restart.
//! - Outputs hold only what later steps and compensations need, never secret values.
//! - Every wait goes through the retrier with a bound.

mod data;
mod identity;
mod provision;
mod releases;
mod retire;
pub(crate) mod traffic;
mod verify;

use std::future::Future;
use std::sync::Arc;

use jiff::Timestamp;
use serde_json::Value;

use crate::plan::Plan;
use crate::providers::{Ownership, ProviderError, Providers};

use super::error::StepError;
use super::executor::Run;
use super::progress::EngineEvent;
use super::retry::Bound;
use super::rollback::Unit;
use super::step::{StepDef, StepKind};

pub(crate) enum StepOutcome {
    Done(Value),
    /// Not done yet: the run stops and `resume` after this wall-clock time continues.
    Wait(Timestamp),
}

/// What a step sees of its run.
pub(crate) struct Cx<'a> {
    run: &'a Run,
    step: &'a str,
}

impl<'a> Cx<'a> {
    fn plan(&self) -> &'a Plan {
        &self.run.plan
    }

    fn p(&self) -> &'a Providers {
        &self.run.providers
    }

    fn own(&self) -> &'a Ownership {
        &self.run.own
    }

    /// The idempotency token of one side effect of this step.
    fn token(&self, key: &str) -> String {
        self.own().token(&format!("{}/{key}", self.step))
    }

    fn output(&self, step: &str) -> Option<Value> {
        self.run.output(step)
    }

    fn emit(&self, event: EngineEvent) {
        self.run.emit(event);
    }

    fn now(&self) -> Timestamp {
        self.run.now()
    }

    async fn call<T, F, Fut>(&self, what: &str, bound: Bound, f: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.run.retrier(self.step).call(what, bound, f).await
    }
}

/// How long one pre-flight gate may take (it renders every release with helm).
const PREFLIGHT_BOUND: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// Runs a gate; its findings are the step's output, and an error finding refuses the run.
async fn preflight(cx: &Cx<'_>, gate: crate::plan::PreflightGate) -> Result<Value, StepError> {
    let (plan, p, who) = (cx.plan(), cx.p(), cx.run.opts.who.as_str());
    let report = cx
        .call(&format!("pre-flight gate {}", gate.name()), Bound::Wait(PREFLIGHT_BOUND), || {
            super::preflight::gates::run(gate, plan, p, who)
        })
        .await?;
    if report.refuses() {
        let lines: Vec<String> = report.findings.iter().map(ToString::to_string).collect();
        return Err(StepError::Refused(lines.join("\n")));
    }
    Ok(serde_json::to_value(&report).expect("a gate report serializes"))
}

pub(crate) async fn apply(run: &Arc<Run>, def: &StepDef) -> Result<StepOutcome, StepError> {
    let cx = Cx { run, step: &def.id };
    let done = |v: Value| Ok(StepOutcome::Done(v));
    match &def.kind {
        StepKind::VerifyCharts => done(releases::verify_charts(&cx).await?),
        StepKind::CheckBlue => done(traffic::check_blue(&cx).await?),
        StepKind::Preflight(gate) => done(preflight(&cx, *gate).await?),
        StepKind::Cluster => done(provision::cluster(&cx).await?),
        StepKind::Addon(name) => done(provision::addon(&cx, name).await?),
        StepKind::Nodegroup(name) => done(provision::nodegroup(&cx, name).await?),
        StepKind::Access(i) => done(provision::access(&cx, *i).await?),
        StepKind::PodIdentity(i) => done(identity::pod_identity(&cx, *i).await?),
        StepKind::OidcProvider => done(identity::oidc_provider(&cx).await?),
        StepKind::IrsaTrust => done(identity::irsa_trust(&cx).await?),
        StepKind::IrsaRetire => done(identity::retire_irsa_trust(&cx).await?),
        StepKind::DataRetain => done(data::retain_blue(&cx).await?),
        StepKind::DataWriters => done(data::writers(&cx).await?),
        StepKind::DataQuiesce => done(data::quiesce(&cx).await?),
        StepKind::DataSnapshot => done(data::snapshot(&cx).await?),
        StepKind::DataVolumes => done(data::volumes(&cx).await?),
        StepKind::DataClaims => done(data::claims(&cx).await?),
        StepKind::Release(name) => done(releases::install(&cx, name).await?),
        StepKind::Check(name) => done(verify::check(&cx, name).await?),
        StepKind::TrafficPrepare => done(traffic::prepare(&cx).await?),
        StepKind::TrafficShift { index, weight } => {
            done(traffic::shift(&cx, *index, *weight).await?)
        }
        StepKind::WaitRetention => retire::wait_retention(&cx).await,
        StepKind::BlueRecords => done(retire::blue_records(&cx).await?),
        StepKind::BlueCluster => done(retire::blue_cluster(&cx).await?),
        StepKind::TeardownGreen => done(retire::teardown_green(&cx).await?),
        StepKind::DrillTrafficRestore => done(traffic::restore(&cx).await?),
    }
}

pub(crate) async fn compensate(run: &Arc<Run>, unit: &Unit<'_>) -> Result<(), StepError> {
    let def = match unit {
        Unit::Reset(_) => return Ok(()),
        Unit::Shifts(group) => {
            let cx = Cx {
                run,
                step: &group[0].id,
            };
            let indexes: Vec<usize> = group
                .iter()
                .filter_map(|d| match d.kind {
                    StepKind::TrafficShift { index, .. } => Some(index),
                    _ => None,
                })
                .collect();
            return traffic::undo_shifts(&cx, &indexes).await;
        }
        Unit::One(def) => def,
    };
    let cx = Cx { run, step: &def.id };
    match &def.kind {
        StepKind::Cluster => provision::undo_cluster(&cx).await,
        StepKind::Addon(name) => provision::undo_addon(&cx, name).await,
        StepKind::Nodegroup(name) => provision::undo_nodegroup(&cx, name).await,
        StepKind::Access(i) => provision::undo_access(&cx, *i).await,
        StepKind::PodIdentity(i) => identity::undo_pod_identity(&cx, *i).await,
        StepKind::OidcProvider => identity::undo_oidc_provider(&cx).await,
        StepKind::IrsaTrust => identity::undo_irsa_trust(&cx).await,
        StepKind::DataRetain => data::undo_retain_blue(&cx).await,
        StepKind::DataQuiesce => data::undo_quiesce(&cx).await,
        StepKind::DataVolumes => data::undo_volumes(&cx).await,
        StepKind::DataClaims => data::undo_claims(&cx).await,
        StepKind::Release(name) => releases::undo_install(&cx, name).await,
        StepKind::TrafficPrepare => traffic::undo_prepare(&cx).await,
        StepKind::BlueRecords => retire::undo_blue_records(&cx).await,
        // Read-only or irreversible: nothing to undo (compile gives them no compensation).
        StepKind::VerifyCharts
        | StepKind::CheckBlue
        | StepKind::Preflight(_)
        | StepKind::Check(_)
        | StepKind::DataWriters
        // Snapshots are kept as backups (pruned after spec.data.retain by `cutover backup`).
        | StepKind::DataSnapshot
        | StepKind::TrafficShift { .. }
        | StepKind::WaitRetention
        | StepKind::BlueCluster
        | StepKind::IrsaRetire
        | StepKind::TeardownGreen
        // Forward-only; the compensations of the shifts and of `prepare` undo the same.
        | StepKind::DrillTrafficRestore => Ok(()),
    }
}
