//! [`ChartRepo`]: a static Helm chart repository for one test — chart sources packaged with
//! helm 3, indexed, and served by Python's `http.server` on a loopback port.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tempfile::TempDir;

use crate::process::{Process, scratch_dir};
use crate::tools;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The chart fixtures of this repository (`infra/charts`).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts")
}

/// One packaged chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartPackage {
    /// The chart's name (Chart.yaml `name`).
    pub name: String,
    /// The chart's version (Chart.yaml `version`).
    pub version: String,
    /// The `.tgz` archive.
    pub path: PathBuf,
    /// `sha256:<hex>` of the archive, as `index.yaml` lists it and plans pin it.
    pub digest: String,
}

/// A running chart repository. Dropping it stops the server and deletes the packages.
pub struct ChartRepo {
    packages: Vec<ChartPackage>,
    url: String,
    server: Option<Process>,
    dir: TempDir,
}

impl ChartRepo {
    /// Packages every immediate subdirectory of `sources` that holds a `Chart.yaml`, writes
    /// `index.yaml` and serves the lot at [`ChartRepo::url`].
    pub fn start(sources: impl AsRef<Path>) -> ChartRepo {
        let sources = sources.as_ref();
        let dir = scratch_dir("charts");
        let served = dir.path().join("repo");
        let home = dir.path().join("helm-home");
        fs::create_dir_all(&served)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", served.display()));
        let helm = tools::helm3();

        let packages: Vec<ChartPackage> = chart_sources(sources)
            .iter()
            .map(|source| package(&helm, &home, source, &served))
            .collect();

        let python = tools::python();
        let (server, port) = Process::spawn_listening("chart-repo", START_TIMEOUT, |port| {
            // Absolute URLs in the index, as most public repositories publish them.
            let url = format!("http://127.0.0.1:{port}");
            let mut index = tools::helm_command(&helm, &home);
            index
                .arg("repo")
                .arg("index")
                .arg(&served)
                .args(["--url", &url]);
            run(index, "helm repo index");
            let mut command = Command::new(&python);
            command
                .args([
                    "-m",
                    "http.server",
                    "--bind",
                    "127.0.0.1",
                    &port.to_string(),
                    "--directory",
                ])
                .arg(&served);
            command
        });
        ChartRepo {
            packages,
            url: format!("http://127.0.0.1:{port}"),
            server: Some(server),
            dir,
        }
    }

    /// The repository URL (`http://127.0.0.1:PORT`), for `helm pull --repo` or a plan's `chart.repo`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every package, in the order of their source directories' names.
    pub fn packages(&self) -> &[ChartPackage] {
        &self.packages
    }

    /// The package of `name` at `version`; panics naming what the repository does hold.
    pub fn package(&self, name: &str, version: &str) -> &ChartPackage {
        self.packages
            .iter()
            .find(|p| p.name == name && p.version == version)
            .unwrap_or_else(|| {
                let held: Vec<String> = self
                    .packages
                    .iter()
                    .map(|p| format!("{}@{}", p.name, p.version))
                    .collect();
                panic!(
                    "the chart repository has no {name}@{version}; it holds {}",
                    held.join(", ")
                )
            })
    }

    /// The directory served (packages and `index.yaml`).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// Stops serving (the packages stay on disk), e.g. to prove a replay no longer needs the
    /// repository. Safe to call more than once.
    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            server.kill();
        }
    }

    /// Whether the server still runs.
    pub fn is_serving(&mut self) -> bool {
        self.server.as_mut().is_some_and(Process::is_running)
    }
}

/// `sha256:<hex>` of a file.
pub fn sha256_digest(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

fn chart_sources(sources: &Path) -> Vec<PathBuf> {
    let entries = fs::read_dir(sources)
        .unwrap_or_else(|e| panic!("cannot read chart sources in {}: {e}", sources.display()));
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("Chart.yaml").is_file())
        .collect();
    dirs.sort();
    if dirs.is_empty() {
        panic!(
            "no chart in {}: expected subdirectories holding a Chart.yaml",
            sources.display()
        );
    }
    dirs
}

fn package(helm: &Path, home: &Path, source: &Path, out: &Path) -> ChartPackage {
    let (name, version) = chart_identity(source);
    let mut command = tools::helm_command(helm, home);
    command
        .arg("package")
        .arg(source)
        .arg("--destination")
        .arg(out);
    run(command, &format!("helm package {}", source.display()));
    let path = out.join(format!("{name}-{version}.tgz"));
    if !path.is_file() {
        panic!(
            "helm package {} did not write {}",
            source.display(),
            path.display()
        );
    }
    let digest = sha256_digest(&path);
    ChartPackage {
        name,
        version,
        path,
        digest,
    }
}

/// Chart.yaml's top-level `name` and `version`. Both are plain scalars in any valid chart, so a
/// line scan suffices and testkit needs no YAML parser.
fn chart_identity(source: &Path) -> (String, String) {
    let path = source.join("Chart.yaml");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let field = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
            .map(|value| {
                value
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_owned()
            })
            .filter(|value| !value.is_empty())
            .unwrap_or_else(|| panic!("{} has no top-level `{key}:`", path.display()))
    };
    (field("name"), field("version"))
}

/// Runs a short command to completion; panics with its output if it fails.
pub(crate) fn run(mut command: Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what} ({:?}): {e}", command.get_program()));
    if !output.status.success() {
        panic!(
            "{what} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}
