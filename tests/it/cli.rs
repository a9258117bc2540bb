//! The CLI as an operator meets it: exit codes, where data and diagnostics go, confirmation, and
//! the read-only views of a run (`status`, `history`) and of its lock (`unlock`).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use cutover::engine::RunOutcome;
use cutover::providers::state_local::LocalState;
use cutover::providers::{LockInfo, StateBackend};

fn cutover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .env_remove("RUST_LOG")
        .output()
        .expect("run cutover")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A DevCluster plan whose state lives in `dir`.
fn dev_plan(dir: &Path) -> PathBuf {
    let path = dir.join("dev.yaml");
    let yaml = format!(
        r#"apiVersion: cutover.dev/v1
kind: DevCluster
metadata: {{name: cli-dev, owner: me@example.com}}
spec:
  aws: {{region: eu-west-1}}
  state: {{backend: local, path: {state}}}
  green:
    cluster: cli-dev-1-32
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks-cluster
    subnets: [subnet-a, subnet-b]
    nodegroups:
      - {{name: dev, instanceTypes: [t3.large], scaling: {{min: 1, desired: 1, max: 2}}, nodeRoleArn: arn:aws:iam::111122223333:role/eks-node}}
  helm: {{version: "3.19.0"}}
  releases:
    - {{name: api, namespace: payments, chart: {{oci: oci://registry.example.com/charts/api, version: 2.4.1}}}}
  checks:
    - {{name: nodes, nodesReady: {{min: 1}}}}
  ttl: 8h
"#,
        state = dir.join("state").display()
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

#[test]
fn validate_accepts_every_example_plan() {
    let out = cutover(&["validate", "plans/quarterly-upgrade.yaml", "plans/dev-cluster.yaml", "plans/dr-drill.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches(": ok (").count(), 3, "{stdout}");
}

#[test]
fn invalid_plan_exits_3_with_located_diagnostics_on_stderr() {
    let out = cutover(&["validate", "plans/dev-cluster.yaml", "tests/fixtures/plans/malformed/bad-cluster-name.yaml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("tests/fixtures/plans/malformed/bad-cluster-name.yaml:10:14: spec.green.cluster:"),
        "{stderr}"
    );
    assert!(text(&out.stdout).contains("plans/dev-cluster.yaml: ok"), "valid files are still reported");
}

#[test]
fn validate_json_lists_problems_with_positions() {
    let out = cutover(&["validate", "-o", "json", "tests/fixtures/plans/malformed/bad-cluster-name.yaml"]);
    assert_eq!(out.status.code(), Some(3));
    let verdicts: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(verdicts[0]["valid"], false);
    assert_eq!(verdicts[0]["problems"][0]["line"], 10);
    assert_eq!(verdicts[0]["problems"][0]["path"], "spec.green.cluster");
    assert!(out.stderr.is_empty(), "JSON mode keeps diagnostics in the document: {}", text(&out.stderr));
}

#[test]
fn plan_json_shows_stages_checkpoints_and_the_point_of_no_return() {
    let out = cutover(&["plan", "-o", "json", "plans/quarterly-upgrade.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let compiled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let checkpoints: Vec<&str> =
        compiled["checkpoints"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(checkpoints.first(), Some(&"green-ready"));
    assert_eq!(checkpoints.last(), Some(&"blue-retired"));
    let irreversible: Vec<&str> = compiled["stages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["steps"].as_array().unwrap())
        .filter(|s| s["point_of_no_return"] == true)
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(irreversible, ["retire.blue-cluster"]);
}

#[test]
fn apply_without_yes_on_a_pipe_refuses_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dev_plan(dir.path());
    let out = cutover(&["apply", plan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pass --yes"), "{}", text(&out.stderr));
    assert!(!dir.path().join("state").exists(), "no state may be written before confirmation");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = cutover(&["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let committed = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/plan.schema.json")).unwrap();
    assert_eq!(text(&out.stdout), committed);
}

#[test]
fn completions_are_generated_for_bash() {
    let out = cutover(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("cutover__subcmd__rollback"), "completions cover subcommands");
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["plan", "plans/quarterly-upgrade.yaml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
}

#[tokio::test(start_paused = true)]
async fn status_and_history_read_a_finished_run_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dev_plan(dir.path());
    let plan = cutover::plan::load(&plan_path).unwrap();
    let harness = support::Harness::with_world(plan.clone(), support::fakes::World::new());
    let state = Arc::new(LocalState::new(dir.path().join("state")));
    let outcome = harness.engine_on(state).apply().await.unwrap();
    assert_eq!(outcome, RunOutcome::Completed);

    let out = cutover(&["status", "-o", "json", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["phase"], "completed");
    assert_eq!(status["plan"], "cli-dev");
    assert!(status["lock"].is_null(), "a finished run holds no lock");

    let out = cutover(&["history", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let timeline = text(&out.stdout);
    for expected in ["run-started", "step-done", "provision.cluster", "releases.install.api", "outcome: run-completed"] {
        assert!(timeline.contains(expected), "history lacks {expected}:\n{timeline}");
    }
}

#[tokio::test(start_paused = true)]
async fn unlock_needs_confirmation_then_breaks_only_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dev_plan(dir.path());
    let state = LocalState::new(dir.path().join("state"));
    let holder = LockInfo {
        run_id: "20260101T000000Z-dead".into(),
        host: "elsewhere".into(),
        pid: 4_000_000,
        user: "someone".into(),
        started_at: "2026-01-01T00:00:00Z".parse().unwrap(),
    };
    state.acquire_lock("cli-dev", &holder).await.unwrap();
    // The dead run's journal: what `resume` continues after the lock is broken.
    let journal = dir.path().join("state/cli-dev/runs/20260101T000000Z-dead.jsonl");
    std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
    let record = r#"{"seq":1,"ts":"2026-01-01T00:00:00Z","run":"20260101T000000Z-dead","type":"run-started","plan":"cli-dev","digest":"d","kind":"DevCluster","who":"someone","host":"elsewhere","pid":4000000,"version":"0.1.0"}"#;
    std::fs::write(&journal, format!("{record}\n")).unwrap();
    state.set_current_run("cli-dev", "20260101T000000Z-dead").await.unwrap();

    let out = cutover(&["status", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));

    let out = cutover(&["unlock", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a pipe cannot confirm");
    assert!(text(&out.stderr).contains("20260101T000000Z-dead"), "the holder is shown: {}", text(&out.stderr));
    assert!(state.read_lock("cli-dev").await.unwrap().is_some());

    let out = cutover(&["unlock", "--yes", plan_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(state.read_lock("cli-dev").await.unwrap().is_none());
    // Only the lock: the journal is byte for byte what it was, and the run is still the current one.
    assert_eq!(std::fs::read_to_string(&journal).unwrap(), format!("{record}\n"));
    let out = cutover(&["status", "-o", "json", plan_path.to_str().unwrap()]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["run_id"], "20260101T000000Z-dead", "{status}");
    assert_eq!(status["lock"], serde_json::Value::Null, "{status}");
}

#[test]
fn without_credentials_an_aws_command_says_so_in_one_line_without_the_sdks_own_logs() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args(["token", "--cluster", "x", "--region", "us-east-1"])
        .stdin(Stdio::null())
        .env_remove("RUST_LOG")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("AWS_PROFILE")
        .env("HOME", home.path())
        .env("AWS_CONFIG_FILE", home.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("WARN"), "the SDK's own logs need -v: {stderr}");
    assert!(!stderr.contains("{ "), "no debug dump: {stderr}");
    assert!(stderr.contains("credentials"), "{stderr}");
    assert!(out.stdout.is_empty(), "no half-written credential on stdout");
}

#[tokio::test]
async fn an_unreachable_endpoint_is_one_sentence_naming_what_to_check() {
    use cutover::providers::TrafficProvider as _;
    let port = testkit::free_port();
    let config = crate::aws_common::sdk_config_quick_retry(&format!("http://127.0.0.1:{port}")).await;
    let dns = cutover::providers::aws::route53::Route53Traffic::new(&config, &cutover::plan::Timeouts::default());
    let err = dns.records("Z1", "api.example.com", cutover::plan::RecordType::Cname).await.unwrap_err();
    assert!(err.message.contains("could not connect"), "{}", err.message);
    assert!(err.message.contains("AWS_ENDPOINT_URL"), "{}", err.message);
    assert!(!err.message.contains("DispatchFailure") && !err.message.contains('{'), "{}", err.message);
    assert!(err.retryable(), "a refused connection is worth retrying");
}
