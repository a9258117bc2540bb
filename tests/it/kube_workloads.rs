//! The Kubernetes workload provider against a cloudsim cluster: releasing load balancers waits
//! until the cloud controller has let go of them (the Service finalizer), is bounded by the
//! caller's timeout, and leaves other Services alone; a Service's address appears once its load
//! balancer is provisioned, and plan mistakes (no such Service, not a LoadBalancer) are errors.

use crate::kube_support;

use std::time::{Duration, Instant};

use cloudsim::profile::Latencies;
use cutover::providers::kube::KubeWorkloads;
use cutover::providers::{ErrorKind, WorkloadProvider};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{Api, ListParams, PostParams};
use kube_support::*;
use serde_json::json;

const GREEN: &str = "green";

async fn create_ns(client: &kube::Client, ns: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let _ = api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap(),
        )
        .await;
}

async fn service(client: &kube::Client, ns: &str, name: &str, kind: &str) {
    create_ns(client, ns).await;
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let svc = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"type": kind, "selector": {"app": name}, "ports": [{"port": 8080}]}}))
    .unwrap();
    api.create(&PostParams::default(), &svc).await.unwrap();
}

async fn ingress(client: &kube::Client, ns: &str, name: &str) {
    create_ns(client, ns).await;
    let api: Api<Ingress> = Api::namespaced(client.clone(), ns);
    let ing = serde_json::from_value(json!({"metadata": {"name": name},
        "spec": {"defaultBackend": {"service": {"name": "web", "port": {"number": 8080}}}}}))
    .unwrap();
    api.create(&PostParams::default(), &ing).await.unwrap();
}

fn slow_release() -> Latencies {
    // 1.5 s to release a load balancer, 0.1 s to provision one (real time).
    Latencies {
        lb_release_secs: 1500.0,
        lb_provision_secs: 100.0,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_load_balancers_waits_until_the_cloud_has_let_go() {
    let sim = Sim::start(&[(GREEN, "1.32")], 1, slow_release()).await;
    let kc = sim.cluster(GREEN).clone();
    let client = sim.client(GREEN).await;
    service(&client, "shop", "web", "LoadBalancer").await;
    service(
        &client,
        "ingress",
        "ingress-nginx-controller",
        "LoadBalancer",
    )
    .await;
    service(&client, "shop", "internal", "ClusterIP").await;
    ingress(&client, "shop", "web").await;
    eventually(
        "two load balancers provisioned",
        Duration::from_secs(10),
        async || (kc.load_balancers().len() == 2).then_some(()),
    )
    .await;

    let workloads = KubeWorkloads::new(sim.clients.clone());
    // The engine bounds the call; cut short, it leaves the load balancers releasing, not leaked.
    let started = Instant::now();
    let cut = tokio::time::timeout(
        Duration::from_millis(300),
        workloads.release_load_balancers(GREEN),
    )
    .await;
    assert!(
        cut.is_err(),
        "the release cannot be done within 300 ms when the cloud takes 1.5 s"
    );
    assert_eq!(
        kc.load_balancers().len(),
        2,
        "load balancers are still being released"
    );
    let services: Api<Service> = Api::all(client.clone());
    let deleting: Vec<String> = services
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|s| s.metadata.deletion_timestamp.is_some())
        .map(|s| s.metadata.name.unwrap())
        .collect();
    assert_eq!(
        deleting.len(),
        2,
        "both LoadBalancer Services are deleted but held by the finalizer: {deleting:?}"
    );

    workloads
        .release_load_balancers(GREEN)
        .await
        .expect("release completes");
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "returned after {:?}, before the cloud released",
        started.elapsed()
    );
    assert!(
        kc.load_balancers().is_empty(),
        "no load balancer is left to leak: {:?}",
        kc.load_balancers()
    );
    let left: Vec<String> = services
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.metadata.name.unwrap())
        .collect();
    assert!(
        left.contains(&"internal".to_string()),
        "ClusterIP services are left alone: {left:?}"
    );
    assert!(
        !left.contains(&"web".to_string())
            && !left.contains(&"ingress-nginx-controller".to_string()),
        "{left:?}"
    );
    let ingresses: Api<Ingress> = Api::all(client.clone());
    assert!(
        ingresses
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "ingresses are deleted"
    );

    // Nothing left: a second call (a resumed teardown) succeeds at once.
    let again = Instant::now();
    workloads.release_load_balancers(GREEN).await.unwrap();
    assert!(again.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_address_appears_once_its_load_balancer_is_provisioned() {
    let latencies = Latencies {
        lb_provision_secs: 400.0,
        ..Default::default()
    };
    let sim = Sim::start(&[(GREEN, "1.32")], 1, latencies).await;
    let client = sim.client(GREEN).await;
    let workloads = KubeWorkloads::new(sim.clients.clone());
    service(
        &client,
        "ingress",
        "ingress-nginx-controller",
        "LoadBalancer",
    )
    .await;
    service(&client, "shop", "internal", "ClusterIP").await;

    let first = workloads
        .service_address(GREEN, "ingress", "ingress-nginx-controller")
        .await
        .unwrap();
    assert_eq!(first, None, "no address before the load balancer exists");
    let address = eventually(
        "a load balancer address",
        Duration::from_secs(10),
        async || {
            workloads
                .service_address(GREEN, "ingress", "ingress-nginx-controller")
                .await
                .unwrap()
        },
    )
    .await;
    let lb = sim.cluster(GREEN).load_balancers().pop().unwrap();
    assert_eq!(
        address, lb.hostname,
        "the DNS name of the load balancer, for the weighted record"
    );
    assert!(
        address.ends_with(".elb.us-east-1.cloudsim.test"),
        "{address}"
    );

    let missing = workloads
        .service_address(GREEN, "ingress", "nginx")
        .await
        .unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    assert!(
        missing
            .message
            .contains("service ingress/nginx does not exist on cluster green"),
        "{}",
        missing.message
    );
    let not_lb = workloads
        .service_address(GREEN, "shop", "internal")
        .await
        .unwrap_err();
    assert_eq!(not_lb.kind, ErrorKind::Invalid);
    assert!(
        not_lb.message.contains("is of type ClusterIP"),
        "{}",
        not_lb.message
    );
    let no_cluster = workloads
        .service_address("nope", "shop", "internal")
        .await
        .unwrap_err();
    assert_eq!(no_cluster.kind, ErrorKind::NotFound);
}
