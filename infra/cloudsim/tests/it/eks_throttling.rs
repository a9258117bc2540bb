//! Throttling and latency faults of the EKS API as aws-sdk-eks experiences them: a burst beyond
//! `eksThrottleRps` gets HTTP 429 ThrottlingException; the SDK's standard retry absorbs it.

use std::time::{Duration, Instant};

use crate::support::*;
use aws_sdk_eks::config::retry::RetryConfig;

/// Fires `n` ListClusters at once; returns (succeeded, error codes of the failures).
async fn burst(client: &aws_sdk_eks::Client, n: usize) -> (usize, Vec<String>) {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let c = client.clone();
        set.spawn(async move { c.list_clusters().send().await });
    }
    let (mut ok, mut errors) = (0, Vec::new());
    while let Some(r) = set.join_next().await {
        match r.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => {
                if let Some(raw) = e.raw_response() {
                    assert_eq!(raw.status().as_u16(), 429, "throttling answers HTTP 429");
                }
                errors.push(code(&e));
            }
        }
    }
    (ok, errors)
}

async fn throttled_events(server: &cloudsim::RunningServer) -> usize {
    event_kinds(server.addr(), None)
        .await
        .iter()
        .filter(|k| *k == "eks-throttled")
        .count()
}

#[tokio::test]
async fn a_burst_over_the_rate_is_throttled_and_the_sdk_retry_absorbs_it() {
    let (server, _) = start(1000.0).await;
    let (status, faults) = http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"eksThrottleRps": 5}"#),
    )
    .await;
    assert_eq!(
        (status, faults["eksThrottleRps"].as_f64()),
        (200, Some(5.0))
    );

    // Without retries the SDK surfaces the throttling: about one second's worth (5) get through.
    let no_retry = eks_client_with(&server.url(), RetryConfig::disabled());
    let (ok, errors) = burst(&no_retry, 20).await;
    assert!((5..=7).contains(&ok), "{ok} of 20 got through");
    assert!(
        errors.iter().all(|c| c == "ThrottlingException"),
        "{errors:?}"
    );
    assert_eq!(
        throttled_events(&server).await,
        errors.len(),
        "each refusal is an event"
    );

    // With the SDK's standard retry (exponential backoff with jitter, 5 attempts here), what we
    // observe is that every call ends up succeeding, after the server refused some attempts.
    // (A new rate starts a full bucket: 10 tokens for 25 calls.)
    http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"eksThrottleRps": 10}"#),
    )
    .await;
    let before = throttled_events(&server).await;
    let retrying = eks_client_with(&server.url(), RetryConfig::standard().with_max_attempts(5));
    let (ok, errors) = burst(&retrying, 25).await;
    let refused = throttled_events(&server).await - before;
    assert!(
        refused >= 12,
        "the burst was throttled ({refused} refusals)"
    );
    assert_eq!(
        (ok, errors),
        (25, vec![]),
        "standard retry absorbed {refused} refusals"
    );

    // Lifting the limit (null) stops throttling at once.
    let (status, _) = http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"eksThrottleRps": null}"#),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(burst(&no_retry, 30).await, (30, vec![]));
    server.shutdown().await;
}

#[tokio::test]
async fn eks_latency_fault_delays_every_call() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());
    http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"eksLatencyMs": 300}"#),
    )
    .await;
    let t = Instant::now();
    eks.list_clusters().send().await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"eksLatencyMs": 0}"#),
    )
    .await;
    let t = Instant::now();
    eks.list_clusters().send().await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(300),
        "{:?}",
        t.elapsed()
    );
    server.shutdown().await;
}
