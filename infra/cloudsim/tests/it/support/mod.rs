//! Shared helpers for cloudsim's EKS, control, restart and moto tests: an in-process stand-in for
//! the Kubernetes half that records what the EKS half asked of it, an aws-sdk-eks client pointed at
//! a server, a tiny HTTP client for the control API, and polling with deadlines.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub mod moto;

use async_trait::async_trait;
use aws_sdk_eks::config::{BehaviorVersion, Credentials, Region};
use cloudsim::eks::backend::{
    ClusterApi, ClusterBackend, ClusterSpec, LoadBalancerInfo, NodeGroupNodes,
};
use cloudsim::env::Env;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One cluster's Kubernetes half as the tests see it: every call the EKS half made.
#[derive(Debug, Default)]
pub struct RecordingCluster {
    pub spec: Mutex<Option<ClusterSpec>>,
    pub nodegroups: Mutex<BTreeMap<String, NodeGroupNodes>>,
    pub removed: Mutex<Vec<String>>,
    pub version: Mutex<String>,
    /// Load balancers the "cluster" holds; tests put some here to see them leak.
    pub lbs: Mutex<Vec<LoadBalancerInfo>>,
    pub shut_down: Mutex<bool>,
    pub port: u16,
}

#[async_trait]
impl ClusterApi for RecordingCluster {
    fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
    fn ca_pem(&self) -> String {
        format!(
            "-----BEGIN CERTIFICATE-----\nrecording-{}\n-----END CERTIFICATE-----\n",
            self.port
        )
    }
    fn sync_nodegroup(&self, ng: &NodeGroupNodes) {
        self.nodegroups
            .lock()
            .unwrap()
            .insert(ng.nodegroup.clone(), ng.clone());
    }
    fn remove_nodegroup(&self, name: &str) {
        self.nodegroups.lock().unwrap().remove(name);
        self.removed.lock().unwrap().push(name.to_string());
    }
    fn set_version(&self, version: &str) {
        *self.version.lock().unwrap() = version.to_string();
    }
    fn load_balancers(&self) -> Vec<LoadBalancerInfo> {
        self.lbs.lock().unwrap().clone()
    }
    fn lb_requests(&self) -> Vec<((String, u16), u64)> {
        Vec::new()
    }
    async fn shutdown(&self) {
        *self.shut_down.lock().unwrap() = true;
    }
}

/// Hands out [`RecordingCluster`]s and keeps them for inspection (the latest one per name).
#[derive(Default)]
pub struct RecordingBackend {
    pub clusters: Mutex<BTreeMap<String, Arc<RecordingCluster>>>,
    next_port: Mutex<u16>,
}

impl RecordingBackend {
    pub fn cluster(&self, name: &str) -> Arc<RecordingCluster> {
        self.clusters
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("cluster {name} was never started"))
    }
}

#[async_trait]
impl ClusterBackend for RecordingBackend {
    async fn start(&self, spec: ClusterSpec, _env: Env) -> anyhow::Result<Arc<dyn ClusterApi>> {
        let port = {
            let mut p = self.next_port.lock().unwrap();
            *p += 1;
            40000 + *p
        };
        let cluster = Arc::new(RecordingCluster {
            port,
            ..Default::default()
        });
        *cluster.version.lock().unwrap() = spec.version.clone();
        *cluster.spec.lock().unwrap() = Some(spec.clone());
        self.clusters
            .lock()
            .unwrap()
            .insert(spec.name.clone(), cluster.clone());
        Ok(cluster)
    }
}

/// Starts an in-memory cloudsim at `time_scale` with a recording backend.
pub async fn start(time_scale: f64) -> (cloudsim::RunningServer, Arc<RecordingBackend>) {
    start_with(time_scale, None).await
}

/// Starts a cloudsim at `time_scale` that persists to (and restores from) `state_dir`.
pub async fn start_with(
    time_scale: f64,
    state_dir: Option<&std::path::Path>,
) -> (cloudsim::RunningServer, Arc<RecordingBackend>) {
    let backend = Arc::new(RecordingBackend::default());
    let mut cfg = cloudsim::Config::new(backend.clone());
    cfg.time_scale = time_scale;
    cfg.state_dir = state_dir.map(|d| d.to_path_buf());
    (
        cloudsim::Server::start(cfg).await.expect("cloudsim starts"),
        backend,
    )
}

/// Creates a cluster and waits until it is ACTIVE.
pub async fn active_cluster(client: &aws_sdk_eks::Client, name: &str, version: &str) {
    create_cluster(client, name, version)
        .send()
        .await
        .expect("CreateCluster");
    wait_cluster(client, name, "ACTIVE").await;
}

/// An aws-sdk-eks client for `endpoint` with dummy static credentials and the SDK's standard retries.
pub fn eks_client(endpoint: &str) -> aws_sdk_eks::Client {
    eks_client_with(
        endpoint,
        aws_sdk_eks::config::retry::RetryConfig::standard(),
    )
}

pub fn eks_client_with(
    endpoint: &str,
    retry: aws_sdk_eks::config::retry::RetryConfig,
) -> aws_sdk_eks::Client {
    let conf = aws_sdk_eks::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "AKIDTEST",
            "test-secret",
            None,
            None,
            "tests",
        ))
        .retry_config(retry)
        // The workspace builds the SDK without its default TLS stack (ring is the one provider).
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    aws_sdk_eks::Client::from_conf(conf)
}

/// Polls `check` every 20 ms until it yields `Some`, failing the test after `timeout`.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One HTTP/1.1 request with `Connection: close`; returns the status and the JSON body (or `null`).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let (status, body) = http_text(addr, method, path, body).await;
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

/// [`http`] with the body as text (e.g. `/metrics`).
pub async fn http_text(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to cloudsim");
    let body = body.unwrap_or("");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .expect("response within 10 s")
        .unwrap();
    let text = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, body.to_string())
}

/// Kinds of the events recorded so far (optionally only those about `cluster`).
pub async fn event_kinds(addr: SocketAddr, cluster: Option<&str>) -> Vec<String> {
    let path = match cluster {
        Some(c) => format!("/_cloudsim/events?cluster={c}"),
        None => "/_cloudsim/events".to_string(),
    };
    let (status, events) = http(addr, "GET", &path, None).await;
    assert_eq!(status, 200);
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// The SDK error's AWS code (e.g. `ResourceNotFoundException`), for any operation's error.
pub fn code<E, R>(err: &aws_sdk_eks::error::SdkError<E, R>) -> String
where
    E: aws_sdk_eks::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match err.as_service_error() {
        Some(e) => e.code().unwrap_or("<no code>").to_string(),
        None => format!("<not a service error: {err:?}>"),
    }
}

/// A CreateCluster call with everything EKS requires.
pub fn create_cluster(
    client: &aws_sdk_eks::Client,
    name: &str,
    version: &str,
) -> aws_sdk_eks::operation::create_cluster::builders::CreateClusterFluentBuilder {
    client
        .create_cluster()
        .name(name)
        .version(version)
        .role_arn("arn:aws:iam::123456789012:role/eks-cluster")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-aaa")
                .subnet_ids("subnet-bbb")
                .build(),
        )
}

/// Waits until DescribeCluster reports `status`.
pub async fn wait_cluster(
    client: &aws_sdk_eks::Client,
    name: &str,
    status: &str,
) -> aws_sdk_eks::types::Cluster {
    eventually(
        &format!("cluster {name} {status}"),
        Duration::from_secs(20),
        || async {
            let c = client
                .describe_cluster()
                .name(name)
                .send()
                .await
                .ok()?
                .cluster?;
            let now = c.status.as_ref().map(|s| s.as_str().to_string());
            // A FAILED cluster never becomes anything else: say why at once instead of timing out.
            if now.as_deref() == Some("FAILED") && status != "FAILED" {
                panic!(
                    "cluster {name} FAILED while waiting for {status}: {:?}",
                    c.health
                );
            }
            (now.as_deref() == Some(status)).then_some(c)
        },
    )
    .await
}

pub async fn wait_nodegroup(
    client: &aws_sdk_eks::Client,
    cluster: &str,
    ng: &str,
    status: &str,
) -> aws_sdk_eks::types::Nodegroup {
    eventually(
        &format!("node group {ng} {status}"),
        Duration::from_secs(20),
        || async {
            let n = client
                .describe_nodegroup()
                .cluster_name(cluster)
                .nodegroup_name(ng)
                .send()
                .await
                .ok()?
                .nodegroup?;
            (n.status.as_ref().map(|s| s.as_str()) == Some(status)).then_some(n)
        },
    )
    .await
}
