//! The helm binary: finding it (`CUTOVER_HELM`, else `helm` on PATH), checking it is the version
//! the plan pins, and running it — output streamed line by line to the run log (tracing, debug,
//! secrets redacted), never to the terminal, with the child killed if the caller is cancelled.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};

use super::values::Redactor;
use crate::providers::{ErrorKind, ProviderError};

/// How many of helm's last stderr lines an error message quotes.
const QUOTED_LINES: usize = 6;
const QUOTED_CHARS: usize = 1200;

/// `CUTOVER_HELM` if set, else the first `helm` on PATH.
pub fn locate() -> Result<PathBuf, ProviderError> {
    if let Some(p) = std::env::var_os("CUTOVER_HELM").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "CUTOVER_HELM is {} but that is not an executable file",
                    p.display()
                ),
            ))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("helm"))
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "no helm binary found: put the helm version the plan pins on PATH, or set CUTOVER_HELM=/path/to/helm",
            )
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

pub use crate::plan::rules::normalize_version;

/// What a finished helm run printed.
#[derive(Debug)]
pub struct Finished {
    /// helm exited with status 0.
    pub success: bool,
    /// Exit code; `None` when helm was killed by a signal.
    pub code: Option<i32>,
    /// Everything helm printed on stdout.
    pub stdout: String,
    /// The last stderr lines (redacted).
    pub stderr_tail: Vec<String>,
}

impl Finished {
    /// helm's last words, for an error message.
    pub fn quote(&self) -> String {
        let lines: Vec<&str> = self
            .stderr_tail
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect();
        let start = lines.len().saturating_sub(QUOTED_LINES);
        let mut text = lines[start..].join(" | ");
        if text.len() > QUOTED_CHARS {
            let cut = text
                .char_indices()
                .map(|(i, _)| i)
                .take_while(|i| *i <= QUOTED_CHARS)
                .last()
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        if text.is_empty() {
            "helm printed nothing on stderr".into()
        } else {
            text
        }
    }

    /// What helm's failure means for retrying.
    pub fn kind(&self) -> ErrorKind {
        classify(&self.stderr_tail.join("\n"))
    }
}

/// Maps helm's error text onto an error kind (only transient ones are retried by the engine).
pub fn classify(text: &str) -> ErrorKind {
    let t = text.to_ascii_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| t.contains(n));
    if any(&["another operation (install/upgrade/rollback) is in progress"]) {
        ErrorKind::Unavailable
    } else if any(&[
        "context deadline exceeded",
        "timed out waiting",
        "not ready. status",
    ]) {
        ErrorKind::WaitTimedOut
    } else if any(&["too many requests", "429", "rate limit"]) {
        ErrorKind::Throttled
    } else if any(&[
        "unauthorized",
        "forbidden",
        "you must be logged in",
        "401",
        "403",
    ]) {
        ErrorKind::Denied
    } else if any(&[
        "kubernetes cluster unreachable",
        "connection refused",
        "connection reset",
        "i/o timeout",
        "tls handshake timeout",
        "no such host",
        "service unavailable",
        "bad gateway",
        "unexpected eof",
    ]) {
        ErrorKind::Unavailable
    } else if any(&["not found", "no such file"]) {
        ErrorKind::NotFound
    } else {
        ErrorKind::Other
    }
}

/// One helm binary and the environment its runs get.
#[derive(Debug, Clone)]
pub struct Helm {
    /// Path of the helm binary.
    pub path: PathBuf,
    /// Added to helm's environment (and so to the `cutover token` it runs for credentials).
    pub env: Vec<(OsString, OsString)>,
}

impl Helm {
    /// `helm version --short`, normalized (`3.19.0`).
    pub async fn version(&self) -> Result<String, ProviderError> {
        let dir = std::env::temp_dir();
        let out = self
            .run(
                &["version".into(), "--short".into()],
                &dir,
                &Redactor::default(),
                "version",
            )
            .await?;
        if !out.success {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "`{} version --short` failed: {}",
                    self.path.display(),
                    out.quote()
                ),
            ));
        }
        Ok(normalize_version(out.stdout.trim()).to_string())
    }

    /// Runs helm with `args` in `cwd` and waits for it. Fails only when helm cannot be started;
    /// a helm that exits non-zero is a [`Finished`] with `success: false`.
    pub async fn run(
        &self,
        args: &[OsString],
        cwd: &Path,
        redact: &Redactor,
        what: &str,
    ) -> Result<Finished, ProviderError> {
        let shown: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        tracing::debug!(target: "cutover::helm", what, args = %redact.apply(&shown.join(" ")), "running helm");
        let mut cmd = tokio::process::Command::new(&self.path);
        cmd.args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A cancelled step (engine timeout, Ctrl-C) must not leave helm running on.
            .kill_on_drop(true)
            // The kubeconfig is always passed explicitly.
            .env_remove("KUBECONFIG")
            .env_remove("HELM_KUBECONTEXT");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("cannot run helm at {}: {e}", self.path.display()),
            )
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let read_out = async {
            let mut text = String::new();
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = redact.apply(&line);
                // Rendered manifests hold Secrets whose values are base64, which the redactor
                // cannot recognise: `helm template` output is never logged.
                if what != "template" {
                    tracing::debug!(target: "cutover::helm", what, stream = "stdout", "{line}");
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        };
        let read_err = async {
            let mut tail = VecDeque::new();
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let line = redact.apply(&line);
                tracing::debug!(target: "cutover::helm", what, stream = "stderr", "{line}");
                if tail.len() == 40 {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
            tail
        };
        let (status, stdout, tail) = tokio::join!(child.wait(), read_out, read_err);
        let status = status.map_err(|e| {
            ProviderError::new(ErrorKind::Other, format!("waiting for helm {what}: {e}"))
        })?;
        tracing::debug!(target: "cutover::helm", what, code = ?status.code(), "helm finished");
        Ok(Finished {
            success: status.success(),
            code: status.code(),
            stdout,
            stderr_tail: tail.into_iter().collect(),
        })
    }
}

/// `OsString` arguments from mixed strings and paths.
pub fn args<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    items
        .into_iter()
        .map(|s| s.as_ref().to_os_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_compare_without_v_and_build_metadata() {
        assert_eq!(normalize_version("v3.19.0+g3d8990f\n"), "3.19.0");
        assert_eq!(normalize_version("4.1.4"), "4.1.4");
        assert_eq!(normalize_version("v4.0.0-rc.1+gabc"), "4.0.0-rc.1");
    }

    #[test]
    fn helm_errors_map_to_retryable_kinds_only_when_transient() {
        assert_eq!(
            classify(
                "Error: Kubernetes cluster unreachable: Get \"https://x/version\": dial tcp: connection refused"
            ),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify("Error: UPGRADE FAILED: context deadline exceeded"),
            ErrorKind::WaitTimedOut
        );
        assert_eq!(
            classify("Error: chart \"web\" version \"9.9.9\" not found in http://repo repository"),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify(
                "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
            ),
            ErrorKind::Unavailable
        );
        assert_eq!(
            classify("Error: template: web/templates/x.yaml:3: bad"),
            ErrorKind::Other
        );
    }
}
