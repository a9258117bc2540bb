//! Release steps: chart verification before any change, and replaying each pinned release onto
//! green (adopting a revision this run already deployed), undone by uninstalling.

use serde_json::{Value, json};

use crate::providers::{ErrorKind, ProviderError, ReleaseStatus};

use super::Cx;
use super::provision::missing;
use crate::engine::error::StepError;
use crate::engine::retry::Bound;

pub(super) async fn verify_charts(cx: &Cx<'_>) -> Result<Value, StepError> {
    let releases = &cx.p().releases;
    for release in &cx.plan().releases {
        cx.call(
            &format!("verify chart of release {}", release.name),
            Bound::Call,
            || releases.verify_chart(release),
        )
        .await?;
    }
    Ok(json!({ "charts": cx.plan().releases.len() }))
}

pub(super) async fn install(cx: &Cx<'_>, name: &str) -> Result<Value, StepError> {
    let plan = cx.plan();
    let release = plan
        .releases
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| missing("release", name))?;
    let cluster = &plan.green.name;
    let releases = &cx.p().releases;
    let current = cx
        .call(&format!("read release {name}"), Bound::Call, || {
            releases.status(cluster, &release.name, &release.namespace)
        })
        .await?;
    if let Some(info) = current {
        let ours = info.run_id.as_deref() == Some(cx.own().run_id.as_str());
        if ours && info.status == ReleaseStatus::Deployed && info.chart_version == release.version {
            tracing::info!(
                release = name,
                revision = info.revision,
                "adopting the release this run deployed"
            );
            return Ok(json!({ "release": name, "revision": info.revision, "adopted": true }));
        }
    }
    let info = cx
        .call(
            &format!("install release {name}"),
            Bound::Wait(release.timeout),
            || releases.install(cluster, release, cx.own()),
        )
        .await?;
    if info.status != ReleaseStatus::Deployed {
        return Err(StepError::provider(
            format!("install release {name}"),
            ProviderError::new(
                ErrorKind::Other,
                format!(
                    "revision {} ended in status {:?}",
                    info.revision, info.status
                ),
            ),
        ));
    }
    Ok(json!({ "release": name, "revision": info.revision, "adopted": false }))
}

pub(super) async fn undo_install(cx: &Cx<'_>, name: &str) -> Result<(), StepError> {
    let plan = cx.plan();
    let release = plan
        .releases
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| missing("release", name))?;
    let releases = &cx.p().releases;
    cx.call(
        &format!("uninstall release {name}"),
        Bound::Wait(release.timeout),
        || releases.uninstall(&plan.green.name, &release.name, &release.namespace),
    )
    .await
}
