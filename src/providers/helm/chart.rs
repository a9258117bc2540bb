//! Fetching a release's chart into the run's private cache and proving it is the one the plan
//! pinned: `helm pull` of the exact version from an HTTP repository or an OCI registry, or
//! `helm package` / copy of a local path; then the sha256 of the package must equal the plan's
//! digest and its Chart.yaml version the plan's version, before anything is installed. Installs
//! use that cached package, so what was verified is what is installed.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::binary::{Helm, args, normalize_version};
use super::values::Redactor;
use crate::plan::{ChartSource, Release};
use crate::providers::{ErrorKind, ProviderError};

/// A package whose digest and version were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Where the verified package is.
    pub path: PathBuf,
    /// Lowercase hex sha256 of the package.
    pub sha256: String,
}

/// The run's chart cache: one directory per release.
pub struct Charts {
    root: PathBuf,
    /// Registries (`host:port`) spoken to over plain HTTP (local test registries only).
    plain_http: Vec<String>,
    verified: Mutex<HashMap<String, Verified>>,
}

fn other(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Other, message)
}

/// Lowercase hex sha256 of the file at `path`.
pub fn sha256_file(path: &Path) -> Result<String, ProviderError> {
    let bytes =
        fs::read(path).map_err(|e| other(format!("cannot read {}: {e}", path.display())))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Where a chart comes from, for messages.
pub fn describe(release: &Release) -> String {
    match &release.chart {
        ChartSource::Repo { url, name } => format!("chart {name}@{} from {url}", release.version),
        ChartSource::Oci { reference } => format!("chart {reference}:{}", release.version),
        ChartSource::Path { path } => {
            format!("chart {} (version {})", path.display(), release.version)
        }
    }
}

impl Charts {
    /// A cache under `root`; registries in `plain_http` are reached over plain HTTP.
    pub fn new(root: PathBuf, plain_http: Vec<String>) -> Self {
        Charts {
            root,
            plain_http,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The verified package of `release`: the cached one while its bytes are unchanged, else a
    /// fresh fetch and verification (e.g. a resumed run in a new process).
    pub async fn verified(
        &self,
        helm: &Helm,
        release: &Release,
    ) -> Result<Verified, ProviderError> {
        let cached = self
            .verified
            .lock()
            .expect("chart cache")
            .get(&release.name)
            .cloned();
        if let Some(v) = cached
            && sha256_file(&v.path).is_ok_and(|sha| sha == v.sha256)
        {
            return Ok(v);
        }
        self.fetch(helm, release).await
    }

    /// Fetches and verifies the chart of `release`, replacing any cached package.
    pub async fn fetch(&self, helm: &Helm, release: &Release) -> Result<Verified, ProviderError> {
        let dir = self.root.join(&release.name);
        fs::create_dir_all(&dir)
            .map_err(|e| other(format!("cannot create {}: {e}", dir.display())))?;
        let pull = tempfile::Builder::new()
            .prefix("pull-")
            .tempdir_in(&dir)
            .map_err(|e| {
                other(format!(
                    "cannot create a directory in {}: {e}",
                    dir.display()
                ))
            })?;
        let dest = pull.path().join("out");
        fs::create_dir(&dest)
            .map_err(|e| other(format!("cannot create {}: {e}", dest.display())))?;
        let what = describe(release);
        match &release.chart {
            ChartSource::Path { path } if path.is_file() => {
                let name = path
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| "chart.tgz".into());
                fs::copy(path, dest.join(name))
                    .map_err(|e| other(format!("cannot copy {}: {e}", path.display())))?;
            }
            source => {
                let mut a = match source {
                    ChartSource::Repo { url, name } => args([
                        "pull",
                        name.as_str(),
                        "--repo",
                        url.as_str(),
                        "--version",
                        release.version.as_str(),
                    ]),
                    ChartSource::Oci { reference } => {
                        let mut a = args([
                            "pull",
                            reference.as_str(),
                            "--version",
                            release.version.as_str(),
                        ]);
                        if self.is_plain_http(reference) {
                            a.push("--plain-http".into());
                        }
                        a
                    }
                    ChartSource::Path { path } => args(["package".as_ref(), path.as_os_str()]),
                };
                a.extend(args(["--destination".as_ref(), dest.as_os_str()]));
                // An empty working directory: helm 3 prefers a same-named local directory to --repo.
                let done = helm
                    .run(&a, pull.path(), &Redactor::default(), "fetch chart")
                    .await?;
                if !done.success {
                    return Err(ProviderError::new(
                        done.kind(),
                        format!("cannot fetch {what}: {}", done.quote()),
                    ));
                }
            }
        }
        let package = single_package(&dest, &what)?;
        let sha256 = sha256_file(&package)?;
        if let Some(pinned) = &release.digest {
            if *pinned != sha256 {
                let hint = if matches!(&release.chart, ChartSource::Path { path } if path.is_dir())
                {
                    "; a chart directory packages differently each time (helm stamps the time into the archive), so pin a packaged .tgz instead"
                } else {
                    "; if the chart was republished on purpose, review it and update the digest in the plan"
                };
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "release {}: {what} has digest sha256:{sha256}, but the plan pins sha256:{pinned}; nothing was installed{hint}",
                        release.name
                    ),
                ));
            }
        } else {
            tracing::warn!(release = %release.name, sha256 = %sha256, "the plan pins no digest for this chart; installing it unverified");
        }
        let version = chart_version(helm, &package, pull.path()).await?;
        if normalize_version(&version) != normalize_version(&release.version) {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "release {}: {what} is version {version}, not {}",
                    release.name, release.version
                ),
            ));
        }
        let file = package
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| "chart.tgz".into());
        let path = dir.join(file);
        fs::rename(&package, &path)
            .map_err(|e| other(format!("cannot move the chart into {}: {e}", dir.display())))?;
        let verified = Verified { path, sha256 };
        tracing::info!(release = %release.name, sha256 = %verified.sha256, "chart verified");
        self.verified
            .lock()
            .expect("chart cache")
            .insert(release.name.clone(), verified.clone());
        Ok(verified)
    }

    fn is_plain_http(&self, reference: &str) -> bool {
        let host = reference
            .trim_start_matches("oci://")
            .split('/')
            .next()
            .unwrap_or_default();
        self.plain_http.iter().any(|h| h == host)
    }
}

fn single_package(dir: &Path, what: &str) -> Result<PathBuf, ProviderError> {
    let found: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| other(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(other(format!("fetching {what} produced no package"))),
        _ => Err(other(format!(
            "fetching {what} produced {} files, expected one package",
            found.len()
        ))),
    }
}

/// The `version:` of a package's Chart.yaml (`helm show chart`).
async fn chart_version(helm: &Helm, package: &Path, cwd: &Path) -> Result<String, ProviderError> {
    let done = helm
        .run(
            &args(["show".as_ref(), "chart".as_ref(), package.as_os_str()]),
            cwd,
            &Redactor::default(),
            "show chart",
        )
        .await?;
    if !done.success {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{} is not a valid chart package: {}",
                package.display(),
                done.quote()
            ),
        ));
    }
    done.stdout
        .lines()
        .find_map(|l| l.strip_prefix("version:"))
        .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        .ok_or_else(|| {
            other(format!(
                "{} has no version in its Chart.yaml",
                package.display()
            ))
        })
}
