//! Latency spreads: a profile latency `{"min", "max"}` is drawn per resource from `--seed` and the
//! resource's name, stays within the spread, differs between resources, is the same for the same
//! seed (a reproducible run) and is kept with the resource across a restart.

use std::path::Path;
use std::sync::Arc;

use crate::support::*;

const NAMES: [&str; 5] = ["c0", "c1", "c2", "c3", "c4"];

async fn start_spread(dir: &Path, seed: u64) -> cloudsim::RunningServer {
    let mut cfg = cloudsim::Config::new(Arc::new(RecordingBackend::default()));
    cfg.profile =
        serde_json::from_str(r#"{"latencies": {"clusterCreateSecs": {"min": 480, "max": 900}}}"#)
            .unwrap();
    cfg.profile.latencies.seed = seed;
    cfg.state_dir = Some(dir.to_path_buf());
    cloudsim::Server::start(cfg).await.unwrap()
}

/// Each cluster's creation deadline as persisted (epoch ms), and its drawn duration in seconds.
fn deadlines(dir: &Path) -> Vec<(u64, f64)> {
    let eks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("eks.json")).unwrap()).unwrap();
    NAMES
        .iter()
        .map(|n| {
            let c = &eks["clusters"][n];
            let due = c["pending"]["dueMs"]
                .as_u64()
                .unwrap_or_else(|| panic!("{n} CREATING: {c}"));
            (
                due,
                (due - c["createdAtMs"].as_u64().unwrap()) as f64 / 1000.0,
            )
        })
        .collect()
}

/// Creates the clusters at real time (they stay CREATING) and returns their deadlines.
async fn create_all(dir: &Path, seed: u64) -> (cloudsim::RunningServer, Vec<(u64, f64)>) {
    let server = start_spread(dir, seed).await;
    let eks = eks_client(&server.url());
    for n in NAMES {
        create_cluster(&eks, n, "1.32").send().await.unwrap();
    }
    (server, deadlines(dir))
}

#[tokio::test]
async fn cluster_creations_draw_their_durations_from_the_spread_reproducibly_and_keep_them() {
    let first = tempfile::tempdir().unwrap();
    let (server, drawn) = create_all(first.path(), 7).await;
    let secs: Vec<f64> = drawn.iter().map(|(_, s)| *s).collect();
    assert!(secs.iter().all(|s| (479.9..=900.1).contains(s)), "{secs:?}");
    let distinct: std::collections::BTreeSet<u64> = secs.iter().map(|s| *s as u64).collect();
    assert!(distinct.len() >= 4, "resources draw apart: {secs:?}");
    server.shutdown().await;

    let server = start_spread(first.path(), 99).await;
    assert_eq!(
        deadlines(first.path()),
        drawn,
        "a restart (even with another seed) keeps each draw"
    );
    let eks = eks_client(&server.url());
    let c = eks
        .describe_cluster()
        .name("c0")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    assert_eq!(c.status().unwrap().as_str(), "CREATING");
    server.shutdown().await;

    let same_seed = tempfile::tempdir().unwrap();
    let (server, again) = create_all(same_seed.path(), 7).await;
    server.shutdown().await;
    for ((_, a), (_, b)) in drawn.iter().zip(&again) {
        assert!(
            (a - b).abs() < 0.05,
            "the same seed, the same durations: {drawn:?} vs {again:?}"
        );
    }
    let other_seed = tempfile::tempdir().unwrap();
    let (server, other) = create_all(other_seed.path(), 8).await;
    server.shutdown().await;
    assert!(
        drawn
            .iter()
            .zip(&other)
            .any(|((_, a), (_, b))| (a - b).abs() > 1.0),
        "another seed, other durations: {drawn:?} vs {other:?}"
    );
}
