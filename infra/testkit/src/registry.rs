//! [`OciRegistry`]: Debian's `docker-registry` on a loopback port with storage in a temporary
//! directory, for `oci://` charts.

use std::fs;
use std::path::Path;
use std::time::Duration;

use tempfile::TempDir;

use crate::charts::run;
use crate::process::{Process, scratch_dir};
use crate::tools;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A chart pushed with [`OciRegistry::push`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedChart {
    /// `oci://127.0.0.1:PORT/charts/NAME`, for `helm pull` or a plan's `chart.oci`.
    pub reference: String,
    /// The tag, which is the chart version.
    pub version: String,
    /// The manifest digest helm reported (`sha256:<hex>`).
    pub digest: String,
}

/// A running registry. Dropping it stops the server and deletes its storage.
pub struct OciRegistry {
    process: Process,
    addr: String,
    dir: TempDir,
}

impl OciRegistry {
    /// Starts an empty registry and waits until it listens.
    pub fn start() -> OciRegistry {
        let registry = tools::docker_registry();
        let dir = scratch_dir("registry");
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yml");
        fs::create_dir_all(&storage)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", storage.display()));
        let (process, port) = Process::spawn_listening("oci-registry", START_TIMEOUT, |port| {
            // The http secret only signs upload state between registry replicas; a fixed value
            // keeps the registry from warning about generating one.
            let yaml = format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: testkit-loopback-only\n",
                storage.display()
            );
            fs::write(&config, yaml)
                .unwrap_or_else(|e| panic!("cannot write {}: {e}", config.display()));
            let mut command = std::process::Command::new(&registry);
            command.arg("serve").arg(&config);
            command
        });
        OciRegistry {
            process,
            addr: format!("127.0.0.1:{port}"),
            dir,
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Pushes a packaged chart under `charts/` with helm 4 (plain HTTP).
    pub fn push(&self, chart_tgz: &Path) -> PushedChart {
        self.push_with(&tools::helm4(), chart_tgz)
    }

    /// Pushes a packaged chart under `charts/` with the given helm binary (plain HTTP).
    pub fn push_with(&self, helm: &Path, chart_tgz: &Path) -> PushedChart {
        let mut command = tools::helm_command(helm, &self.dir.path().join("helm-home"));
        command
            .arg("push")
            .arg(chart_tgz)
            .arg(format!("oci://{}/charts", self.addr))
            .arg("--plain-http");
        let output = run(command, &format!("helm push {}", chart_tgz.display()));
        // helm reports on stderr: "Pushed: HOST/charts/NAME:VERSION" then "Digest: sha256:...".
        let report = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        let value = |key: &str| {
            report
                .lines()
                .find_map(|line| line.trim().strip_prefix(key))
                .map(|v| v.trim().to_owned())
                .unwrap_or_else(|| {
                    panic!(
                        "helm push printed no `{key}` line:\n{report}\n{}",
                        self.process.log_report()
                    )
                })
        };
        let pushed = value("Pushed:");
        let (repository, version) = pushed
            .rsplit_once(':')
            .unwrap_or_else(|| panic!("unexpected `Pushed:` line from helm push: {pushed}"));
        PushedChart {
            reference: format!("oci://{repository}"),
            version: version.to_owned(),
            digest: value("Digest:"),
        }
    }

    /// The guarded server process (log, pid, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}
