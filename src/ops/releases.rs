//! `capture` and `drift`: the Helm releases running on a cluster, read from helm's own release
//! records through the [`ReleaseRecords`](crate::providers::ReleaseRecords) provider — pinned
//! into a releases lock file, or compared with one (or with a plan).

use std::path::PathBuf;

use crate::capture::drift::{self, DriftReport, Pin};
use crate::capture::secrets::SecretRule;
use crate::capture::{Captured, CaptureError};
use crate::compose::Context;
use crate::plan::PlanErrors;
use crate::plan::lockfile::{LockedIrsaRole, LockedPodIdentity};

use super::OpsError;

/// What to capture and where to write it.
#[derive(Debug, Clone)]
pub struct CaptureOptions {
    /// The cluster whose releases are pinned.
    pub cluster: String,
    /// Its AWS region.
    pub region: String,
    /// The releases lock file to write.
    pub output: PathBuf,
    /// Where to export each release's exact chart as a .tgz, if anywhere.
    pub export_charts: Option<PathBuf>,
    /// Which values are secret (kept out of the lock file).
    pub secrets: SecretRule,
}

/// Pins every Helm release on the cluster into a releases lock file (written atomically).
pub async fn capture(cx: &Context, opts: &CaptureOptions) -> Result<Captured, OpsError> {
    let records = cx.workloads(&opts.region).await?;
    let found = crate::capture::live::scan(records.as_ref(), &opts.cluster).await?;
    let irsa_roles = irsa_roles(&found)?;
    let mut captured = crate::capture::build_lock(&opts.cluster, found, &opts.secrets, jiff::Timestamp::now());
    captured.lock.irsa_roles = irsa_roles;
    captured.lock.pod_identities = pod_identities(cx, opts).await?;
    crate::capture::write(&mut captured, &opts.output, opts.export_charts.as_deref()).map_err(|e| match e {
        CaptureError::Provider(p) => OpsError::Provider(p),
        CaptureError::Io { path, source } => OpsError::Io { what: format!("write {}", path.display()), source },
    })?;
    Ok(captured)
}

/// The IRSA roles the deployed releases' ServiceAccounts name.
fn irsa_roles(found: &[crate::capture::live::Found]) -> Result<Vec<LockedIrsaRole>, OpsError> {
    let mut out = Vec::new();
    for f in found {
        let Some((_, Ok(record))) = &f.deployed else { continue };
        let roles = crate::engine::preflight::irsa::service_account_roles(&record.manifest, &f.namespace)
            .map_err(|e| OpsError::Usage(format!("release {}/{}: {e}", f.namespace, f.name)))?;
        out.extend(roles.into_iter().map(|r| LockedIrsaRole { service_account: r.service_account, role_arn: r.role_arn }));
    }
    Ok(out)
}

/// The cluster's own Pod Identity associations (an add-on's come back with the add-on).
async fn pod_identities(cx: &Context, opts: &CaptureOptions) -> Result<Vec<LockedPodIdentity>, OpsError> {
    use crate::providers::PodIdentities as _;
    let eks = cx.aws(&opts.region).await.directory();
    Ok(eks
        .pod_identities(&opts.cluster)
        .await?
        .into_iter()
        .filter(|p| p.owner_arn.is_none())
        .map(|p| LockedPodIdentity { namespace: p.namespace, service_account: p.service_account, role_arn: p.role_arn })
        .collect())
}

/// What to compare a cluster's releases with.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// The cluster whose releases are compared.
    pub cluster: String,
    /// Its AWS region.
    pub region: String,
    /// A releases lock file or a plan.
    pub against: PathBuf,
    /// Which values are secret (compared only as set or unset).
    pub secrets: SecretRule,
}

/// The pins in `against`: a releases lock file's, or a plan's releases with their values merged.
pub fn pins(against: &std::path::Path) -> Result<Vec<Pin>, OpsError> {
    let text = std::fs::read_to_string(against).map_err(OpsError::io(format!("read {}", against.display())))?;
    if crate::plan::lockfile::is_lock(&text) {
        let lock = crate::plan::lockfile::load(against)
            .map_err(|diagnostics| OpsError::InvalidPlan { path: against.to_path_buf(), errors: PlanErrors { diagnostics } })?;
        return Ok(drift::pins_from_lock(&lock));
    }
    let plan = super::load_plan(against)?;
    drift::pins_from_plan(&plan).map_err(|e| OpsError::Usage(e.to_string()))
}

/// Compares the live releases with their pins; [`DriftReport::has_drift`] says whether they differ.
pub async fn drift(cx: &Context, opts: &DriftOptions) -> Result<DriftReport, OpsError> {
    let pins = pins(&opts.against)?;
    let records = cx.workloads(&opts.region).await?;
    let found = crate::capture::live::scan(records.as_ref(), &opts.cluster).await?;
    let against = opts.against.display().to_string();
    Ok(drift::compare(&opts.cluster, &against, &pins, &found, &opts.secrets))
}
