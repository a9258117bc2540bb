//! A lock file's releases as plan releases, for `releases: {lock: FILE}`: each release installs
//! its exported package (digest-verified like any pinned chart), with the captured values inline
//! and the captured secrets resolved at install time through `secretValues`.
//!
//! A lock is refused while it lists releases it could not pin, or releases whose secrets it could
//! not carry: replaying it as if complete would silently drop or blank them.

use std::path::Path;
use std::time::Duration;

use super as lock;
use super::ReleasesLock;
use crate::plan::{ChartSource, Diagnostic, Release, SecretSource, SecretValue, rules};

/// helm's timeout for a replayed release (a lock records none).
const TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The releases of the lock file at `file`, and the sha256 of its bytes (so a run can refuse a
/// lock edited mid-run, as it does an edited plan).
pub fn releases(file: &Path) -> Result<(Vec<Release>, String), Vec<Diagnostic>> {
    let loaded = lock::load(file)?;
    let bytes = std::fs::read(file).map_err(|e| vec![lock::diagnostic(file, "", format!("cannot read the lock file: {e}"))])?;
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    Ok((convert(file, &loaded)?, digest))
}

fn convert(file: &Path, lock: &ReleasesLock) -> Result<Vec<Release>, Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errs = Vec::new();
    let mut err = |path: String, message: String| errs.push(lock::diagnostic(file, &path, message));
    for (i, p) in lock.problems.iter().enumerate() {
        err(
            format!("problems[{i}]"),
            format!(
                "release {} was not pinned ({}); fix it on {} and capture again, or delete this entry to replay without it",
                p.release, p.message, lock.cluster
            ),
        );
    }
    for (i, r) in lock.releases.iter().enumerate() {
        let at = |f: &str| format!("releases[{i}].{f}");
        if let Err(m) = rules::release_name(&r.name) {
            err(at("name"), m);
        }
        if let Err(m) = rules::dns_label(&r.namespace, "namespace") {
            err(at("namespace"), m);
        }
        if let Err(m) = rules::exact_version(&r.chart.version) {
            err(at("chart.version"), m);
        }
        for why in &r.needs_attention {
            err(
                at("needsAttention"),
                format!("release {}: {why}; supply it another way (edit the values here), then delete this note", r.name),
            );
        }
        let Some(path) = &r.chart.path else {
            err(
                at("chart"),
                format!("release {} has no exported chart; capture again with --export-charts DIR", r.name),
            );
            continue;
        };
        if !path.is_file() {
            err(
                at("chart.path"),
                format!("exported chart {} not found; paths are relative to the lock file", path.display()),
            );
        }
        let mut secret_values = Vec::new();
        for (j, s) in r.secret_values.iter().enumerate() {
            let from = match (&s.from_env, &s.from_file) {
                (Some(env), _) => {
                    if let Err(m) = rules::env_name(env) {
                        err(format!("releases[{i}].secretValues[{j}].fromEnv"), m);
                    }
                    SecretSource::Env(env.clone())
                }
                (None, Some(f)) => SecretSource::File(f.clone()),
                (None, None) => continue,
            };
            secret_values.push(SecretValue { key: s.key.clone(), from });
        }
        out.push(Release {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            chart: ChartSource::Path { path: path.clone() },
            version: r.chart.version.clone(),
            digest: Some(r.chart.digest.clone()),
            values_files: Vec::new(),
            values: r.values.clone(),
            secret_values,
            needs: Vec::new(),
            timeout: TIMEOUT,
            create_namespace: true,
        });
    }
    if errs.is_empty() { Ok(out) } else { Err(errs) }
}
