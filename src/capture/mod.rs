//! Capture, replay and drift of the Helm releases on a cluster, from the ground truth helm keeps
//! there: its release records hold the whole chart and the values that were applied.
//!
//! - decoding one release Secret (base64 of gzip of JSON) is the providers' own
//!   ([`crate::providers::release_record`]): pre-flight reads blue's manifests with it too.
//! - [`live`]: listing the release Secrets of a cluster and picking each release's latest
//!   deployed revision.
//! - [`package`]: the chart of a record as a byte-stable `.tgz` helm accepts (subcharts frozen
//!   from the rendered manifest, since helm does not store them).
//! - [`secrets`]: which values are secret, and taking them out of the lock file.
//! - [`lock`]: the lock file (written and read, located errors).
//! - [`replay`]: a lock file's releases as plan releases (`releases: {lock: FILE}`).
//! - [`drift`]: comparing the live releases with a lock file or a plan.
//!
//! `cutover capture` = [`live::scan`] → [`build_lock`] → [`write`].

pub mod drift;
pub mod live;

pub mod package;


pub mod secrets;

use std::path::{Path, PathBuf};

use self::live::Found;
use crate::plan::lockfile::{ReleasesLock, LockedChart, LockedRelease, LockedSecret, Problem};
use self::package::Package;
use self::secrets::SecretRule;

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Reading the cluster's releases failed.
    #[error(transparent)]
    Provider(#[from] crate::providers::ProviderError),
    /// A lock file or chart package could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A lock file and the packages of its charts, before anything is written.
#[derive(Debug)]
pub struct Captured {
    /// The lock file to write.
    pub lock: ReleasesLock,
    /// One per pinned release, in the lock's order.
    pub packages: Vec<Package>,
}

fn problem(f: &Found, secret: &str, message: String) -> Problem {
    Problem { release: format!("{}/{}", f.namespace, f.name), secret: secret.to_string(), message }
}

/// Pins the latest deployed revision of every release found; reports the rest.
pub fn build_lock(cluster: &str, found: Vec<Found>, rule: &SecretRule, captured_at: jiff::Timestamp) -> Captured {
    let mut lock = ReleasesLock {
        api_version: crate::plan::lockfile::API_VERSION.into(),
        kind: crate::plan::lockfile::KIND.into(),
        cluster: cluster.to_string(),
        captured_at: captured_at.to_string(),
        releases: Vec::new(),
        problems: Vec::new(),
        warnings: Vec::new(),
        pod_identities: Vec::new(),
        irsa_roles: Vec::new(),
    };
    let mut packages = Vec::new();
    for f in found {
        let Some((secret, decoded)) = &f.deployed else {
            lock.problems.push(problem(
                &f,
                &f.latest_secret,
                format!(
                    "release is {} at revision {} and has no deployed revision; not pinned (fix it on the cluster, then capture again)",
                    f.latest_status, f.latest_revision
                ),
            ));
            continue;
        };
        let record = match decoded {
            Ok(r) => r,
            Err(e) => {
                lock.problems.push(problem(&f, secret, format!("release Secret {secret} {e}; not pinned")));
                continue;
            }
        };
        if f.latest_revision != record.revision {
            lock.warnings.push(problem(
                &f,
                &f.latest_secret,
                format!(
                    "revision {} is {}; pinned the last deployed revision {}, which is what runs",
                    f.latest_revision, f.latest_status, record.revision
                ),
            ));
        }
        let split = rule.split(&f.name, &record.config);
        let pkg = package::package(record);
        lock.releases.push(LockedRelease {
            name: record.name.clone(),
            namespace: record.namespace.clone(),
            chart: LockedChart {
                name: record.chart.name().to_string(),
                version: record.chart.version().to_string(),
                app_version: record.chart.app_version().map(str::to_string),
                digest: format!("sha256:{}", pkg.sha256),
                content_digest: format!("sha256:{}", pkg.content_sha256),
                path: None,
            },
            status: record.status.clone(),
            revision: record.revision,
            values: split.values,
            secret_values: split
                .secrets
                .into_iter()
                .map(|s| LockedSecret { key: s.key, from_env: Some(s.env), from_file: None })
                .collect(),
            needs_attention: split.unsupported,
        });
        packages.push(pkg);
    }
    Captured { lock, packages }
}

/// Where release `r`'s package goes under the export directory.
pub fn package_path(export_dir: &Path, r: &LockedRelease, pkg: &Package) -> PathBuf {
    export_dir.join(&r.namespace).join(&r.name).join(&pkg.file_name)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaptureError + '_ {
    move |source| CaptureError::Io { path: path.to_path_buf(), source }
}

/// Writes the packages (when `export_dir` is given, recording their paths relative to the lock
/// file where possible) and then the lock file, each through a temporary file and a rename.
pub fn write(captured: &mut Captured, lock_file: &Path, export_dir: Option<&Path>) -> Result<(), CaptureError> {
    let lock_dir = std::path::absolute(lock_file)
        .map_err(io(lock_file))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    if let Some(dir) = export_dir {
        let dir = std::path::absolute(dir).map_err(io(dir))?;
        for (r, pkg) in captured.lock.releases.iter_mut().zip(&captured.packages) {
            let path = package_path(&dir, r, pkg);
            let parent = path.parent().expect("a package path has a directory");
            std::fs::create_dir_all(parent).map_err(io(parent))?;
            write_atomic(&path, &pkg.bytes)?;
            r.chart.path = Some(path.strip_prefix(&lock_dir).map(Path::to_path_buf).unwrap_or(path));
        }
    }
    if let Some(parent) = lock_file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    write_atomic(lock_file, captured.lock.to_text().as_bytes())
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CaptureError> {
    use std::io::Write as _;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(path))?;
    tmp.write_all(bytes).and_then(|_| tmp.as_file().sync_all()).map_err(io(path))?;
    tmp.persist(path).map_err(|e| CaptureError::Io { path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::release_record::{self, RecordError, StoredChart};
    use serde_json::json;

    fn record(name: &str, revision: u32) -> release_record::Record {
        release_record::Record {
            name: name.into(),
            namespace: "apps".into(),
            revision,
            status: "deployed".into(),
            chart: StoredChart {
                metadata: json!({"apiVersion": "v2", "name": "web", "version": "1.0.0"}),
                lock: None,
                templates: vec![],
                values: json!({}),
                schema: None,
                files: vec![],
            },
            config: json!({"auth": {"password": "hunter2"}, "replicas": 2}),
            manifest: String::new(),
            hooks: vec![],
        }
    }

    fn found(name: &str, latest: (u32, &str), deployed: Option<Result<release_record::Record, RecordError>>) -> Found {
        Found {
            namespace: "apps".into(),
            name: name.into(),
            latest_revision: latest.0,
            latest_status: latest.1.into(),
            latest_secret: format!("sh.helm.release.v1.{name}.v{}", latest.0),
            deployed: deployed.map(|d| (format!("sh.helm.release.v1.{name}.vD"), d)),
        }
    }

    #[test]
    fn only_deployed_revisions_are_pinned_and_the_rest_is_reported() {
        let captured = build_lock(
            "blue",
            vec![
                found("web", (3, "failed"), Some(Ok(record("web", 2)))),
                found("broken", (1, "pending-install"), None),
                found("corrupt", (1, "deployed"), Some(Err(RecordError::Gzip("bad header".into())))),
            ],
            &SecretRule::default(),
            jiff::Timestamp::UNIX_EPOCH,
        );
        let lock = captured.lock;
        assert_eq!(lock.releases.len(), 1);
        assert_eq!((lock.releases[0].name.as_str(), lock.releases[0].revision), ("web", 2));
        assert_eq!(lock.releases[0].values, json!({"auth": {}, "replicas": 2}));
        assert_eq!(lock.releases[0].secret_values[0].from_env.as_deref(), Some("CUTOVER_SECRET_WEB_AUTH_PASSWORD"));
        assert!(lock.warnings[0].message.contains("revision 3 is failed; pinned the last deployed revision 2"));
        assert_eq!(lock.problems.len(), 2);
        assert!(lock.problems[0].message.contains("pending-install at revision 1"), "{:?}", lock.problems);
        assert_eq!(lock.problems[1].secret, "sh.helm.release.v1.corrupt.vD");
        assert!(lock.problems[1].message.contains("is not valid gzip"), "{:?}", lock.problems);
        assert!(!lock.to_text().contains("hunter2"));
    }
}
