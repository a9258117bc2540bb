//! Reading the Helm releases on a cluster from their storage Secrets (`owner=helm`, type
//! `helm.sh/release.v1`, labels `name`, `status`, `version`), in every namespace, without helm.
//!
//! Per release, the latest revision says what state it is in, and the highest revision labelled
//! `deployed` is what runs; only that one is decoded (each revision holds the whole chart).

use std::collections::BTreeMap;

use crate::providers::release_record::{self as record, Record, RecordError};
use crate::providers::{ProviderError, ReleaseRecords};

const SECRET_TYPE: &str = "helm.sh/release.v1";

/// One release on the cluster.
#[derive(Debug)]
pub struct Found {
    /// Namespace the release lives in.
    pub namespace: String,
    /// Release name.
    pub name: String,
    /// Number of the latest revision.
    pub latest_revision: u32,
    /// Helm status of the latest revision, e.g. `failed`.
    pub latest_status: String,
    /// Name of the latest revision's storage Secret.
    pub latest_secret: String,
    /// The highest deployed revision: its Secret's name and what it decoded to.
    pub deployed: Option<(String, Result<Record, RecordError>)>,
}

struct Revision {
    secret: String,
    revision: u32,
    status: String,
    release: Option<Vec<u8>>,
}

/// `sh.helm.release.v1.NAME.vN` → (NAME, N), for Secrets whose labels are missing.
fn parse_secret_name(secret: &str) -> Option<(String, u32)> {
    let rest = secret.strip_prefix("sh.helm.release.v1.")?;
    let (name, rev) = rest.rsplit_once(".v")?;
    Some((name.to_string(), rev.parse().ok()?))
}

/// Every release stored on `cluster`, sorted by namespace and name.
pub async fn scan(records: &dyn ReleaseRecords, cluster: &str) -> Result<Vec<Found>, ProviderError> {
    let mut by_release: BTreeMap<(String, String), Vec<Revision>> = BTreeMap::new();
    for s in records.release_secrets(cluster).await? {
        if s.secret_type.as_deref() != Some(SECRET_TYPE) {
            continue;
        }
        let from_name = parse_secret_name(&s.name);
        let name = s.labels.get("name").cloned().or_else(|| from_name.as_ref().map(|(n, _)| n.clone()));
        let revision = s
            .labels
            .get("version")
            .and_then(|v| v.parse().ok())
            .or_else(|| from_name.as_ref().map(|(_, r)| *r));
        let (Some(name), Some(revision)) = (name, revision) else {
            tracing::warn!(secret = %s.name, namespace = %s.namespace, "a helm-owned Secret names no release or revision; skipped");
            continue;
        };
        let status = s.labels.get("status").cloned().unwrap_or_default();
        by_release.entry((s.namespace, name)).or_default().push(Revision {
            secret: s.name,
            revision,
            status,
            release: s.release,
        });
    }
    let mut found = Vec::new();
    for ((namespace, name), mut revisions) in by_release {
        revisions.sort_by_key(|r| std::cmp::Reverse(r.revision));
        let latest = &revisions[0];
        // An uninstalled release kept with --keep-history does not run.
        if latest.status == "uninstalled" {
            continue;
        }
        let deployed = revisions.iter().find(|r| r.status == "deployed").map(|r| {
            let decoded = match &r.release {
                Some(bytes) => record::decode(bytes),
                None => Err(RecordError::Missing),
            };
            (r.secret.clone(), decoded)
        });
        found.push(Found {
            namespace,
            name,
            latest_revision: latest.revision,
            latest_status: latest.status.clone(),
            latest_secret: latest.secret.clone(),
            deployed,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_names_with_dots_parse_from_the_secret_name() {
        assert_eq!(parse_secret_name("sh.helm.release.v1.my.app.v12"), Some(("my.app".into(), 12)));
        assert_eq!(parse_secret_name("sh.helm.release.v1.web"), None);
        assert_eq!(parse_secret_name("other"), None);
    }
}
