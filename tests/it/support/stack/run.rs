//! A `cutover` process running in the background ([`CutoverRun`]), so a test can act while it
//! works (flip a fault, restart cloudsim, kill -9 it), and the run journal read back as typed
//! records to tell where the run is.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use cutover::engine::{JournalEvent, JournalRecord};

use super::Stack;

/// How long any one run may take before the test gives up on it.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

pub struct CutoverRun {
    label: String,
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

/// How a run ended.
#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Panics with the run's output unless it exited with `code`.
    pub fn expect_code(&self, code: i32, what: &str) {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }
}

impl Stack {
    /// Starts `cutover ARGS` with the stand-ins' environment; its output goes to files in the
    /// stack's directory, named after `label`.
    pub fn spawn_cutover(&self, label: &str, args: &[&str]) -> CutoverRun {
        let stdout = self.dir.path().join(format!("{label}.stdout"));
        let stderr = self.dir.path().join(format!("{label}.stderr"));
        let child = self
            .cutover(args)
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .spawn()
            .expect("start cutover");
        CutoverRun {
            label: label.to_string(),
            child,
            stdout,
            stderr,
        }
    }

    /// cloudsim's view for a failure message: every cluster's status and the latest events.
    pub fn diagnostics(&self) -> String {
        let Some(cloudsim) = &self.cloudsim else {
            return "--- cloudsim is down".into();
        };
        let clusters = cloudsim.eks().cluster_statuses();
        let events = cloudsim.env().events.snapshot();
        let latest: Vec<String> = events
            .iter()
            .rev()
            .take(25)
            .rev()
            .map(|e| {
                format!(
                    "{} {} {} {}",
                    e.at,
                    e.kind,
                    e.cluster.as_deref().unwrap_or("-"),
                    e.detail
                )
            })
            .collect();
        format!(
            "--- cloudsim clusters {clusters:?}\n--- cloudsim's latest events\n{}",
            latest.join("\n")
        )
    }

    /// What the run labelled `label` has written to stderr so far (its progress lines).
    pub fn stderr_of(&self, label: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{label}.stderr"))).unwrap_or_default()
    }
}

impl CutoverRun {
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Polls `probe` every 20 ms until it yields. Panics with the run's output and cloudsim's
    /// view (cluster statuses, latest events) if the run exits first or nothing comes within the
    /// run timeout: the point the test waits for never came.
    pub async fn wait_until<T, F, Fut>(&mut self, stack: &Stack, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + RUN_TIMEOUT;
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "{}: cutover exited ({status}) before {what}\n--- stderr\n{}\n{}",
                    self.label,
                    self.stderr(),
                    stack.diagnostics()
                );
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: timed out waiting for {what}\n--- stderr\n{}\n{}",
                    self.label,
                    self.stderr(),
                    stack.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, then reap the process (a zombie would keep its pid alive and its lock held).
    pub fn kill9(mut self) -> String {
        self.child.kill().expect("SIGKILL cutover");
        self.child.wait().unwrap();
        self.stderr()
    }

    /// Waits for the process to exit (bounded) and collects its output.
    pub async fn finish(mut self, stack: &Stack) -> Finished {
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: cutover did not finish within {RUN_TIMEOUT:?}\n--- stderr\n{}\n{}",
                    self.label,
                    self.stderr(),
                    stack.diagnostics()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Finished {
            code: status.code(),
            stdout: std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: self.stderr(),
        }
    }
}

/// The records of the latest run journaled in `runs_dir` (empty before the first write). A torn
/// last line (a write cut by kill -9) is left out, as the engine does.
/// The last record that moved the run (not the bookkeeping after it: the session's AWS request
/// counts, notification deliveries).
pub fn last_transition(records: &[JournalRecord]) -> &JournalEvent {
    &records
        .iter()
        .rev()
        .find(|r| !matches!(r.event, JournalEvent::AwsRequests { .. } | JournalEvent::NotificationSent { .. } | JournalEvent::NotificationFailed { .. }))
        .expect("a journal with a transition")
        .event
}

pub fn journal(runs_dir: &Path) -> Vec<JournalRecord> {
    let Ok(entries) = std::fs::read_dir(runs_dir) else {
        return Vec::new();
    };
    let mut journals: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    journals.sort();
    let Some(latest) = journals.last() else {
        return Vec::new();
    };
    let run_id = latest.file_stem().unwrap().to_str().unwrap();
    let bytes = std::fs::read(latest).unwrap_or_default();
    cutover::engine::journal::parse(run_id, &bytes)
        .expect("a journal the engine can read")
        .records
}

pub fn started(records: &[JournalRecord], step: &str) -> bool {
    records
        .iter()
        .any(|r| matches!(&r.event, JournalEvent::StepStarted { step: s, .. } if s == step))
}

pub fn done(records: &[JournalRecord], step: &str) -> bool {
    records
        .iter()
        .any(|r| matches!(&r.event, JournalEvent::StepDone { step: s, .. } if s == step))
}

pub fn checkpoint(records: &[JournalRecord], name: &str) -> bool {
    records
        .iter()
        .any(|r| matches!(&r.event, JournalEvent::Checkpoint { name: n } if n == name))
}

/// The output a step journaled with `step-done`.
pub fn output(records: &[JournalRecord], step: &str) -> Option<serde_json::Value> {
    records.iter().rev().find_map(|r| match &r.event {
        JournalEvent::StepDone { step: s, output } if s == step => Some(output.clone()),
        _ => None,
    })
}

/// The `type` tags of the records, in order (for readable assertions and failure messages).
pub fn kinds(records: &[JournalRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            let v = serde_json::to_value(&r.event).unwrap();
            let kind = v["type"].as_str().unwrap_or("?").to_string();
            match v
                .get("step")
                .or_else(|| v.get("name"))
                .and_then(|s| s.as_str())
            {
                Some(s) => format!("{kind} {s}"),
                None => kind,
            }
        })
        .collect()
}
