//! `backup`: snapshots of the claims `spec.data` selects, on the cluster that serves the
//! environment now (green once its latest run completed, blue otherwise), then pruning past
//! `spec.data.retain` ([`crate::engine::backup`]). No lock: it changes nothing a run uses, so it
//! can run from cron beside one.

use crate::compose::Context;
use crate::engine::RunPhase;
use crate::engine::backup::BackupReport;
use crate::plan::{Plan, PlanKind};

use super::OpsError;

/// Which cluster serves the environment now, by its journal.
pub async fn serving_cluster(cx: &Context, plan: &Plan) -> Result<String, OpsError> {
    if plan.kind != PlanKind::Upgrade {
        return Err(OpsError::Usage(format!(
            "cutover backup takes the Upgrade plan of the environment that serves (this is a {:?} plan); a drill restores what it took",
            plan.kind
        )));
    }
    let completed = matches!(super::inspect::status(cx, plan).await?, Some(s) if s.phase == RunPhase::Completed);
    Ok(match (&plan.blue, completed) {
        (_, true) | (None, _) => plan.green.name.clone(),
        (Some(blue), false) => blue.cluster.clone(),
    })
}

/// Takes the backup.
pub async fn backup(cx: &Context, plan: &Plan) -> Result<BackupReport, OpsError> {
    let cluster = serving_cluster(cx, plan).await?;
    let work = tempfile::Builder::new()
        .prefix("cutover-backup-")
        .tempdir()
        .map_err(OpsError::io("create a private work directory"))?;
    let providers = cx.providers(plan, work.path()).await?;
    Ok(crate::engine::backup::backup(plan, &providers, &cluster, jiff::Timestamp::now()).await?)
}
