//! `preflight`: every pre-flight gate of a plan, run alone — no lock, no journal, nothing changed —
//! so CI can ask "would this upgrade be refused?" before anyone applies it. The same gates run as
//! the `preflight.*` steps of a run ([`crate::engine::preflight::gates`]).

use crate::compose::Context;
use crate::engine::preflight::gates::{self, GateReport};
use crate::plan::{Plan, PreflightGate};

use super::OpsError;

/// Every gate that applies to the plan, in order, with its findings (or who skipped it).
pub async fn preflight(cx: &Context, plan: &Plan) -> Result<Vec<GateReport>, OpsError> {
    let work = tempfile::Builder::new()
        .prefix("cutover-preflight-")
        .tempdir()
        .map_err(OpsError::io("create a private work directory"))?;
    // helm's chart cache and rendered values live here until the gates are done.
    let providers = cx.providers(plan, work.path()).await?;
    let who = cx.caller(&plan.aws.region).await;
    let mut out = Vec::new();
    for gate in PreflightGate::ALL.into_iter().filter(|g| gates::applies(*g, plan)) {
        out.push(gates::run(gate, plan, &providers, &who).await?);
    }
    Ok(out)
}
