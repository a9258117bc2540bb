//! `GET /metrics` on cloudsim's main listener: every answer a load balancer gives is counted as
//! `cloudsim_lb_requests_total{cluster, service="ns/name", code}` in Prometheus's text format,
//! injected faults (502) included. The whole path: a cluster created through EKS, its Kubernetes
//! API through kube-rs, the load balancer over TCP.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_eks::types::NodegroupScalingConfig;
use cloudsim::eks::kube_backend::KubeBackend;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use serde_json::json;

use crate::kube_support::{self, deployment, http_get, lb_ip, lb_service};
use crate::support::*;

/// The samples of a text exposition, `series → value`, checking each family has HELP and TYPE
/// before its first sample and every line is well formed.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut typed = Vec::new();
    let mut samples = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            typed.push(name.to_string());
        } else if !line.starts_with("# HELP ") {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("a sample line: {line:?}"));
            let name = series.split('{').next().unwrap();
            assert!(
                typed.iter().any(|t| t == name),
                "{name} sampled before its # TYPE"
            );
            if let Some(labels) = series.strip_prefix(name) {
                assert!(
                    labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')),
                    "{line}"
                );
            }
            samples.insert(
                series.to_string(),
                value.parse().unwrap_or_else(|_| panic!("{line}")),
            );
        }
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancer_answers_are_counted_by_cluster_service_and_code() {
    let mut cfg = cloudsim::Config::new(Arc::new(KubeBackend));
    cfg.time_scale = 1000.0;
    cfg.credentials = cloudsim::env::Credentials {
        access_key_id: kube_support::ACCESS_KEY.into(),
        secret_access_key: kube_support::SECRET_KEY.into(),
    };
    let server = cloudsim::Server::start(cfg).await.unwrap();
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;
    eks.create_nodegroup()
        .cluster_name("blue")
        .nodegroup_name("general")
        .node_role("arn:aws:iam::123456789012:role/node")
        .subnets("subnet-aaa")
        .subnets("subnet-bbb")
        .scaling_config(
            NodegroupScalingConfig::builder()
                .min_size(1)
                .desired_size(1)
                .max_size(1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_nodegroup(&eks, "blue", "general", "ACTIVE").await;
    let c = eks
        .describe_cluster()
        .name("blue")
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    let ca = String::from_utf8(
        base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            c.certificate_authority().unwrap().data().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let kube = kube_support::client_at(
        c.endpoint().unwrap(),
        &ca,
        Some(kube_support::token("blue")),
    );

    let deployments: Api<Deployment> = Api::namespaced(kube.clone(), "default");
    let services: Api<Service> = Api::namespaced(kube.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("web", 1, json!({})))
        .await
        .unwrap();
    services
        .create(&PostParams::default(), &lb_service("web", 8080))
        .await
        .unwrap();
    eventually("one ready pod", Duration::from_secs(10), async || {
        (deployments
            .get("web")
            .await
            .unwrap()
            .status?
            .ready_replicas?
            == 1)
            .then_some(())
    })
    .await;
    let ip = lb_ip(&services, "web", Duration::from_secs(10)).await;

    for _ in 0..3 {
        assert_eq!(http_get(&ip, 8080, "api.example.com").await.unwrap().0, 200);
    }
    let (status, _) = http(
        server.addr(),
        "PATCH",
        "/_cloudsim/faults",
        Some(r#"{"lbErrorRate": {"blue/default/web": 1.0}}"#),
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        assert_eq!(http_get(&ip, 8080, "api.example.com").await.unwrap().0, 502);
    }

    let (status, text) = http_text(server.addr(), "GET", "/metrics", None).await;
    assert_eq!(status, 200);
    let samples = parse_exposition(&text);
    let lb: BTreeMap<&str, f64> = samples
        .iter()
        .filter(|(s, _)| s.starts_with("cloudsim_lb_requests_total{"))
        .map(|(s, v)| (s.as_str(), *v))
        .collect();
    assert_eq!(
        lb,
        BTreeMap::from([
            (
                r#"cloudsim_lb_requests_total{cluster="blue",service="default/web",code="200"}"#,
                3.0
            ),
            (
                r#"cloudsim_lb_requests_total{cluster="blue",service="default/web",code="502"}"#,
                2.0
            ),
        ]),
        "{text}"
    );
    assert!(samples["cloudsim_start_time_seconds"] > 1.7e9, "{text}");
    server.shutdown().await;
}
