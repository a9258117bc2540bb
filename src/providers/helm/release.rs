//! Reading a release's state: `helm get metadata -o json` (both helm 3 and 4) for revision,
//! status and chart version, and the labels of its storage Secret for cutover's ownership and
//! inputs labels (helm 4 prints them in the metadata; helm 3 does not).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde::Deserialize;

use crate::providers::kube::KubeClients;
use crate::providers::{ErrorKind, ProviderError, ReleaseInfo, ReleaseStatus, TAG_RUN_ID};

/// Label recording the digest of the chart package and values a revision was installed with.
pub const LABEL_INPUTS: &str = "cutover.dev/inputs";

/// A release as `helm get metadata -o json` prints it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Release name.
    pub name: String,
    /// Chart version of the latest revision.
    pub version: String,
    /// Namespace the release lives in.
    pub namespace: String,
    /// Latest revision number.
    pub revision: u32,
    /// Helm status of the latest revision, e.g. `deployed`.
    pub status: String,
    /// When the latest revision was deployed, as helm prints it.
    #[serde(default)]
    pub deployed_at: Option<String>,
    /// The revision's labels (helm 4 prints them; helm 3 does not).
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A release as cutover sees it before acting on it.
#[derive(Debug, Clone)]
pub struct Current {
    /// Name, namespace, revision, status and chart version.
    pub info: ReleaseInfo,
    /// Labels of the revision's storage Secret (ownership and inputs).
    pub labels: BTreeMap<String, String>,
    /// When the latest revision was written (for telling an abandoned pending-* from a live one).
    pub touched: Option<jiff::Timestamp>,
}

impl Current {
    /// The digest of chart and values the revision was installed with ([`LABEL_INPUTS`]), if cutover installed it.
    pub fn inputs(&self) -> Option<&str> {
        self.labels.get(LABEL_INPUTS).map(String::as_str)
    }

    /// A pending-* or uninstalling revision untouched for longer than `timeout`: the helm that
    /// wrote it has certainly stopped (it would have failed the release at its own timeout).
    pub fn abandoned(&self, timeout: Duration, now: jiff::Timestamp) -> bool {
        let Ok(limit) = jiff::SignedDuration::try_from(timeout) else {
            return false;
        };
        self.touched
            .is_some_and(|t| t.checked_add(limit).is_ok_and(|end| end < now))
    }
}

/// A helm status string as a [`ReleaseStatus`]; unknown strings become `Unknown`.
pub fn parse_status(s: &str) -> ReleaseStatus {
    match s {
        "deployed" => ReleaseStatus::Deployed,
        "failed" => ReleaseStatus::Failed,
        "pending-install" => ReleaseStatus::PendingInstall,
        "pending-upgrade" => ReleaseStatus::PendingUpgrade,
        "pending-rollback" => ReleaseStatus::PendingRollback,
        "uninstalling" => ReleaseStatus::Uninstalling,
        "superseded" => ReleaseStatus::Superseded,
        "uninstalled" => ReleaseStatus::Uninstalled,
        _ => ReleaseStatus::Unknown,
    }
}

/// Whether a helm operation holds the release (pending-* or uninstalling).
pub fn is_in_flight(status: ReleaseStatus) -> bool {
    matches!(
        status,
        ReleaseStatus::PendingInstall
            | ReleaseStatus::PendingUpgrade
            | ReleaseStatus::PendingRollback
            | ReleaseStatus::Uninstalling
    )
}

/// Builds the picture from helm's metadata, reading the storage Secret's labels when helm did
/// not print them.
pub async fn current(
    clients: &KubeClients,
    cluster: &str,
    meta: Metadata,
) -> Result<Option<Current>, ProviderError> {
    let status = parse_status(&meta.status);
    if status == ReleaseStatus::Uninstalled {
        return Ok(None);
    }
    let labels = match meta.labels {
        Some(l) => l,
        None => secret_labels(clients, cluster, &meta.namespace, &meta.name, meta.revision).await?,
    };
    let touched = meta.deployed_at.as_deref().and_then(|t| t.parse().ok());
    let info = ReleaseInfo {
        name: meta.name,
        namespace: meta.namespace,
        revision: meta.revision,
        status,
        chart_version: meta.version,
        run_id: labels.get(TAG_RUN_ID).cloned(),
    };
    Ok(Some(Current {
        info,
        labels,
        touched,
    }))
}

async fn secret_labels(
    clients: &KubeClients,
    cluster: &str,
    namespace: &str,
    name: &str,
    revision: u32,
) -> Result<BTreeMap<String, String>, ProviderError> {
    let api: Api<Secret> = Api::namespaced(clients.client(cluster).await?, namespace);
    let secret_name = format!("sh.helm.release.v1.{name}.v{revision}");
    match api.get_metadata_opt(&secret_name).await {
        Ok(Some(s)) => Ok(s.metadata.labels.unwrap_or_default()),
        // Another storage driver (HELM_DRIVER=configmap, sql): no labels to read.
        Ok(None) => Ok(BTreeMap::new()),
        Err(e) => Err(clients.error(
            cluster,
            &format!("read the storage of release {namespace}/{name}"),
            e,
        )),
    }
}

/// Parses `helm get metadata -o json` output for release `name`.
pub fn parse_metadata(stdout: &str, name: &str) -> Result<Metadata, ProviderError> {
    serde_json::from_str(stdout.trim()).map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("cannot read `helm get metadata {name}` output: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_of_both_helms_parses() {
        let h3 = r#"{"name":"web","chart":"web","version":"1.0.0","appVersion":"1.0.0","namespace":"apps","revision":1,"status":"deployed","deployedAt":"2026-11-21T13:32:23Z"}"#;
        let m = parse_metadata(h3, "web").unwrap();
        assert_eq!(
            (m.version.as_str(), m.revision, m.labels.is_none()),
            ("1.0.0", 1, true)
        );
        let h4 = r#"{"name":"web","chart":"web","version":"1.0.0","appVersion":"1.0.0","labels":{"cutover.dev/run-id":"r1","owner":"helm"},"namespace":"apps","revision":2,"status":"pending-upgrade","deployedAt":"2026-11-21T13:32:23Z","applyMethod":"ssa"}"#;
        let m = parse_metadata(h4, "web").unwrap();
        assert_eq!(parse_status(&m.status), ReleaseStatus::PendingUpgrade);
        assert_eq!(m.labels.unwrap()["cutover.dev/run-id"], "r1");
    }

    #[test]
    fn a_pending_release_is_abandoned_only_after_its_timeout() {
        let touched: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let c = Current {
            info: ReleaseInfo {
                name: "w".into(),
                namespace: "n".into(),
                revision: 2,
                status: ReleaseStatus::PendingUpgrade,
                chart_version: "1".into(),
                run_id: None,
            },
            labels: BTreeMap::new(),
            touched: Some(touched),
        };
        let t = Duration::from_secs(300);
        assert!(!c.abandoned(t, "2026-01-01T00:04:59Z".parse().unwrap()));
        assert!(c.abandoned(t, "2026-01-01T00:05:01Z".parse().unwrap()));
    }
}
