//! Upgrade insights: a cluster has none until the control API sets them; ListInsights filters
//! them by category, Kubernetes version and status and pages through them; DescribeInsight
//! answers the whole insight as it was set; unknown ids and clusters are ResourceNotFound; they
//! survive a restart on the same state directory.

use aws_sdk_eks::types::{Category, InsightStatusValue, InsightsFilter};
use serde_json::json;

use crate::support::*;

fn deprecated_api_insight() -> serde_json::Value {
    json!({
        "id": "dep-1-33",
        "name": "Deprecated APIs removed in Kubernetes v1.33",
        "category": "UPGRADE_READINESS",
        "kubernetesVersion": "1.33",
        "lastRefreshTime": 1767225600.0,
        "lastTransitionTime": 1767139200.0,
        "description": "Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes v1.33.",
        "insightStatus": {"status": "ERROR", "reason": "Deprecated API usage detected within last 30 days."},
        "recommendation": "Update manifests and API clients to use newer Kubernetes APIs if applicable before upgrading.",
        "additionalInfo": {"EKS update cluster documentation": "https://docs.aws.amazon.com/eks/latest/userguide/update-cluster.html"},
        "resources": [{
            "insightStatus": {"status": "ERROR"},
            "kubernetesResourceUri": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas"
        }],
        "categorySpecificSummary": {"deprecationDetails": [{
            "usage": "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas",
            "replacedWith": "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
            "stopServingVersion": "1.32",
            "startServingReplacementVersion": "1.29",
            "clientStats": [{"userAgent": "helm/v3.19.0", "numberOfRequestsLast30Days": 42, "lastRequestTime": 1767200000.0}]
        }]}
    })
}

/// `PUT /_cloudsim/clusters/{cluster}/insights` with `body` (a JSON list, or anything to be refused).
async fn put_insights(
    server: &cloudsim::RunningServer,
    cluster: &str,
    body: &impl ToString,
) -> (u16, serde_json::Value) {
    let path = format!("/_cloudsim/clusters/{cluster}/insights");
    http(server.addr(), "PUT", &path, Some(&body.to_string())).await
}

fn insight(id: &str, category: &str, version: &str, status: &str) -> serde_json::Value {
    json!({"id": id, "name": format!("check {id}"), "category": category, "kubernetesVersion": version,
           "insightStatus": {"status": status, "reason": format!("{id} is {status}")}})
}

#[tokio::test]
async fn insights_are_listed_with_filters_and_described_as_set() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;

    let none = eks
        .list_insights()
        .cluster_name("blue")
        .send()
        .await
        .unwrap();
    assert!(
        none.insights().is_empty(),
        "no insights until a test sets them"
    );

    let insights = json!([
        deprecated_api_insight(),
        insight("skew", "UPGRADE_READINESS", "1.33", "PASSING"),
        insight("addons", "UPGRADE_READINESS", "1.34", "WARNING"),
        insight("sg", "MISCONFIGURATION", "1.33", "PASSING"),
    ]);
    let (status, stored) = put_insights(&server, "blue", &insights).await;
    assert_eq!(status, 200, "{stored}");

    let all = eks
        .list_insights()
        .cluster_name("blue")
        .send()
        .await
        .unwrap();
    let mut ids: Vec<&str> = all.insights().iter().map(|i| i.id().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, ["addons", "dep-1-33", "sg", "skew"]);
    let dep = all
        .insights()
        .iter()
        .find(|i| i.id() == Some("dep-1-33"))
        .unwrap();
    assert_eq!(dep.category(), Some(&Category::UpgradeReadiness));
    assert_eq!(dep.kubernetes_version(), Some("1.33"));
    assert_eq!(
        dep.insight_status().unwrap().status(),
        Some(&InsightStatusValue::Error)
    );
    assert_eq!(dep.last_refresh_time().unwrap().secs(), 1767225600);

    let filtered = |f: InsightsFilter| {
        let eks = eks.clone();
        async move {
            let out = eks
                .list_insights()
                .cluster_name("blue")
                .filter(f)
                .send()
                .await
                .unwrap();
            let mut ids: Vec<String> = out
                .insights()
                .iter()
                .map(|i| i.id().unwrap().to_string())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(
        filtered(
            InsightsFilter::builder()
                .categories(Category::Misconfiguration)
                .build()
        )
        .await,
        ["sg"]
    );
    assert_eq!(
        filtered(
            InsightsFilter::builder()
                .kubernetes_versions("1.34")
                .build()
        )
        .await,
        ["addons"]
    );
    assert_eq!(
        filtered(
            InsightsFilter::builder()
                .statuses(InsightStatusValue::Passing)
                .statuses(InsightStatusValue::Warning)
                .categories(Category::UpgradeReadiness)
                .build()
        )
        .await,
        ["addons", "skew"]
    );

    let first = eks
        .list_insights()
        .cluster_name("blue")
        .max_results(3)
        .send()
        .await
        .unwrap();
    assert_eq!(first.insights().len(), 3);
    let rest = eks
        .list_insights()
        .cluster_name("blue")
        .max_results(3)
        .next_token(first.next_token().expect("a second page"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.insights().len(), 1);
    assert_eq!(rest.next_token(), None);

    let full = eks
        .describe_insight()
        .cluster_name("blue")
        .id("dep-1-33")
        .send()
        .await
        .unwrap()
        .insight
        .unwrap();
    assert_eq!(
        full.name(),
        Some("Deprecated APIs removed in Kubernetes v1.33")
    );
    assert!(
        full.recommendation()
            .unwrap()
            .starts_with("Update manifests")
    );
    assert_eq!(full.additional_info().unwrap().len(), 1);
    assert_eq!(
        full.resources()[0].kubernetes_resource_uri(),
        Some("/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas")
    );
    let detail = &full
        .category_specific_summary()
        .unwrap()
        .deprecation_details()[0];
    assert_eq!(
        detail.replaced_with(),
        Some("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas")
    );
    assert_eq!(detail.stop_serving_version(), Some("1.32"));
    assert_eq!(detail.start_serving_replacement_version(), Some("1.29"));
    let client = &detail.client_stats()[0];
    assert_eq!(client.user_agent(), Some("helm/v3.19.0"));
    assert_eq!(client.number_of_requests_last30_days(), 42);
    assert_eq!(client.last_request_time().unwrap().secs(), 1767200000);

    let skew = eks
        .describe_insight()
        .cluster_name("blue")
        .id("skew")
        .send()
        .await
        .unwrap();
    assert!(
        skew.insight().unwrap().last_refresh_time().is_some(),
        "times not given are filled in"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_insights_and_clusters_are_not_found_and_bad_documents_refused() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;

    let err = eks
        .describe_insight()
        .cluster_name("blue")
        .id("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = eks
        .list_insights()
        .cluster_name("ghost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = eks
        .describe_insight()
        .cluster_name("ghost")
        .id("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");

    let body = json!([insight("a", "UPGRADE_READINESS", "1.33", "PASSING")]);
    let (status, _) = put_insights(&server, "ghost", &body).await;
    assert_eq!(status, 404, "insights of a cluster that does not exist");
    let bad = json!([insight("a", "UPGRADE_READINESS", "1.33", "FINE")]);
    let (status, err) = put_insights(&server, "blue", &bad).await;
    assert_eq!(status, 400);
    assert!(err["message"].as_str().unwrap().contains("FINE"), "{err}");
    let twice = json!([
        insight("a", "UPGRADE_READINESS", "1.33", "PASSING"),
        insight("a", "MISCONFIGURATION", "1.33", "PASSING")
    ]);
    let (status, _) = put_insights(&server, "blue", &twice).await;
    assert_eq!(status, 400, "two insights with one id");
    server.shutdown().await;
}

#[tokio::test]
async fn insights_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_with(1000.0, Some(dir.path())).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;
    let body = json!([deprecated_api_insight()]);
    let (status, _) = put_insights(&server, "blue", &body).await;
    assert_eq!(status, 200);
    server.shutdown().await;

    let (server, _) = start_with(1000.0, Some(dir.path())).await;
    let eks = eks_client(&server.url());
    let again = eks
        .describe_insight()
        .cluster_name("blue")
        .id("dep-1-33")
        .send()
        .await
        .unwrap();
    assert_eq!(again.insight().unwrap().kubernetes_version(), Some("1.33"));
    let (_, stored) = http(
        server.addr(),
        "GET",
        "/_cloudsim/clusters/blue/insights",
        None,
    )
    .await;
    assert_eq!(
        stored[0]["categorySpecificSummary"]["deprecationDetails"][0]["clientStats"][0]["numberOfRequestsLast30Days"],
        42
    );
    server.shutdown().await;
}
