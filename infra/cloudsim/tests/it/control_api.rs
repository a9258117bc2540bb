//! The `/_cloudsim/` control API: health, faults (profile at start-up, PUT, PATCH, validation),
//! events with filters, reset; and the EKS surface's answer to an unknown operation.

use std::sync::Arc;

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn faults_start_from_the_profile_and_change_at_run_time() {
    let backend = Arc::new(RecordingBackend::default());
    let mut cfg = cloudsim::Config::new(backend);
    cfg.profile = serde_json::from_value(json!({
        "latencies": {"clusterCreateSecs": 1.0},
        "faults": {"failClusterCreate": ["x"], "lbLatencyMs": 5}
    }))
    .unwrap();
    let server = cloudsim::Server::start(cfg).await.unwrap();
    let addr = server.addr();

    let (status, health) = http(addr, "GET", "/_cloudsim/healthz", None).await;
    assert_eq!((status, health["status"].as_str()), (200, Some("ok")));
    let (_, faults) = http(addr, "GET", "/_cloudsim/faults", None).await;
    assert_eq!(faults["failClusterCreate"], json!(["x"]));
    assert_eq!(faults["lbLatencyMs"], 5);

    let (status, faults) = http(
        addr,
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"neverReady": ["c/apps/web"], "lbLatencyMs": null}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        faults["failClusterCreate"],
        json!(["x"]),
        "PATCH keeps what it does not mention"
    );
    assert_eq!(faults["neverReady"], json!(["c/apps/web"]));
    assert_eq!(
        faults["lbLatencyMs"], 0,
        "null resets a field to its default"
    );
    assert_eq!(
        server.env().faults().never_ready.len(),
        1,
        "the shared environment sees the change"
    );

    let (status, faults) = http(
        addr,
        "PUT",
        "/_cloudsim/faults",
        Some(r#"{"lbErrorRate": {"c/*": 0.5}}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        faults["failClusterCreate"],
        json!([]),
        "PUT replaces the whole set"
    );
    assert_eq!(server.env().faults().lb_error_rate("c", "any", "svc"), 0.5);

    let (status, err) = http(
        addr,
        "PUT",
        "/_cloudsim/faults",
        Some(r#"{"failClusterCreat": ["typo"]}"#),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("failClusterCreat"),
        "{err}"
    );
    let (status, err) = http(
        addr,
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"lbErrorRate": {"c/*": 2}}"#),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(
        server.env().faults().lb_error_rate("c", "any", "svc"),
        0.5,
        "a refused change changes nothing"
    );

    let kinds = event_kinds(addr, None).await;
    assert_eq!(
        kinds,
        ["cloudsim-started", "faults-changed", "faults-changed"]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn events_filter_by_kind_cluster_and_sequence() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, "a", "1.32").send().await.unwrap();
    create_cluster(&eks, "b", "1.32").send().await.unwrap();
    wait_cluster(&eks, "a", "ACTIVE").await;
    wait_cluster(&eks, "b", "ACTIVE").await;

    let (_, all) = http(server.addr(), "GET", "/_cloudsim/events", None).await;
    let all = all.as_array().unwrap().clone();
    let seqs: Vec<u64> = all.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=all.len() as u64).collect::<Vec<_>>());
    let (_, active) = http(
        server.addr(),
        "GET",
        "/_cloudsim/events?kind=cluster-active",
        None,
    )
    .await;
    let mut clusters: Vec<_> = active
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cluster"].as_str().unwrap())
        .collect();
    clusters.sort();
    assert_eq!(clusters, ["a", "b"]);
    let (_, tail) = http(
        server.addr(),
        "GET",
        &format!("/_cloudsim/events?after={}", seqs[seqs.len() - 2]),
        None,
    )
    .await;
    assert_eq!(tail.as_array().unwrap().len(), 1);
    let (status, _) = http(server.addr(), "GET", "/_cloudsim/events?after=x", None).await;
    assert_eq!(status, 400);
    server.shutdown().await;
}

#[tokio::test]
async fn reset_forgets_resources_and_restores_profile_faults() {
    let (server, backend) = start(1000.0).await;
    let eks = eks_client(&server.url());
    create_cluster(&eks, "a", "1.32").send().await.unwrap();
    wait_cluster(&eks, "a", "ACTIVE").await;
    http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"eksLatencyMs": 1}"#),
    )
    .await;

    let (status, _) = http(server.addr(), "POST", "/_cloudsim/reset", None).await;
    assert_eq!(status, 200);
    assert!(
        eks.list_clusters()
            .send()
            .await
            .unwrap()
            .clusters
            .unwrap()
            .is_empty()
    );
    assert!(*backend.cluster("a").shut_down.lock().unwrap());
    let (_, faults) = http(server.addr(), "GET", "/_cloudsim/faults", None).await;
    assert_eq!(faults["eksLatencyMs"], 0);
    assert_eq!(
        event_kinds(server.addr(), None)
            .await
            .last()
            .map(String::as_str),
        Some("reset")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_paths_say_so() {
    let (server, _) = start(1000.0).await;
    let (status, body) = http(server.addr(), "GET", "/_cloudsim/nope", None).await;
    assert_eq!(status, 404);
    assert!(body["message"].as_str().unwrap().contains("README"));
    let (status, body) = http(server.addr(), "PUT", "/clusters/x/whatever", None).await;
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("does not implement"),
        "{body}"
    );
    let (status, _) = http(server.addr(), "POST", "/clusters", Some("{not json")).await;
    assert_eq!(status, 400);
    server.shutdown().await;
}
