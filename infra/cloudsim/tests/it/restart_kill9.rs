//! The `cloudsim` binary with `--state-dir` survives kill -9: a cluster killed mid-CREATING becomes
//! ACTIVE on its original schedule after a restart on the same state directory and port, and the
//! faults and events recorded before the kill are still there. A second kill with the cluster
//! ACTIVE brings it back serving on the same endpoint.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// 540 s of simulated cluster creation at 200× = 2.7 s.
const SCALE: &str = "200";
const CREATE_REAL: Duration = Duration::from_millis(2700);

async fn spawn_cloudsim(addr: SocketAddr, state: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cloudsim"))
        .args([
            "serve",
            "--listen",
            &addr.to_string(),
            "--time-scale",
            SCALE,
            "--state-dir",
        ])
        .arg(state)
        .env("CLOUDSIM_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("run the cloudsim binary");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("cloudsim prints its address within 30 s")
        .unwrap()
        .expect("cloudsim exited before serving");
    assert_eq!(line, format!("cloudsim listening on http://{addr}"));
    child
}

async fn kill9(mut child: Child) {
    child.start_kill().unwrap(); // SIGKILL on Unix: no shutdown code runs
    child.wait().await.unwrap();
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[tokio::test]
async fn state_faults_and_events_survive_kill_9() {
    let state = tempfile::tempdir().unwrap();
    let addr = free_addr();
    let url = format!("http://{addr}");
    let eks = eks_client(&url);

    let first = spawn_cloudsim(addr, state.path()).await;
    let (status, _) = http(
        addr,
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"lbLatencyMs": 7, "neverReady": ["blue/apps/web"]}"#),
    )
    .await;
    assert_eq!(status, 200);
    let created_at = Instant::now();
    create_cluster(&eks, "green", "1.32")
        .client_request_token("t1")
        .send()
        .await
        .unwrap();
    let before_kill = http(addr, "GET", "/_cloudsim/events", None).await.1;
    tokio::time::sleep(Duration::from_millis(500)).await;
    kill9(first).await;

    let second = spawn_cloudsim(addr, state.path()).await;
    let c = eks
        .describe_cluster()
        .name("green")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(
        c.status.unwrap().as_str(),
        "CREATING",
        "still creating right after the restart"
    );
    let again = create_cluster(&eks, "green", "1.32")
        .client_request_token("t1")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(
        again.created_at, c.created_at,
        "the idempotency token survived too"
    );

    let (_, faults) = http(addr, "GET", "/_cloudsim/faults", None).await;
    assert_eq!(faults["lbLatencyMs"], 7);
    assert_eq!(faults["neverReady"], serde_json::json!(["blue/apps/web"]));
    let (_, events) = http(addr, "GET", "/_cloudsim/events", None).await;
    let events = events.as_array().unwrap();
    let n = before_kill.as_array().unwrap().len();
    assert_eq!(
        events[..n],
        before_kill.as_array().unwrap()[..],
        "events before the kill are kept as they were"
    );
    assert_eq!(events[n]["kind"], "cloudsim-started");
    assert_eq!(events[n]["detail"]["restored"], true);

    let active = wait_cluster(&eks, "green", "ACTIVE").await;
    let took = created_at.elapsed();
    assert!(
        took >= CREATE_REAL - Duration::from_millis(100),
        "ACTIVE early, after {took:?}"
    );
    assert!(
        took <= CREATE_REAL + Duration::from_secs(3),
        "ACTIVE late, after {took:?}"
    );
    let endpoint = active.endpoint.expect("an ACTIVE cluster has an endpoint");

    // Killed while ACTIVE: it comes back ACTIVE on the same endpoint.
    kill9(second).await;
    let third = spawn_cloudsim(addr, state.path()).await;
    let c = eks
        .describe_cluster()
        .name("green")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.status.unwrap().as_str(), "ACTIVE");
    assert_eq!(c.endpoint.as_deref(), Some(endpoint.as_str()));
    let kinds = event_kinds(addr, Some("green")).await;
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("cluster-restored"),
        "{kinds:?}"
    );
    kill9(third).await;
}
