//! Shared support for the Kubernetes-side tests: an in-process cluster with a fast clock, EKS tokens
//! presigned with aws-sigv4 (what `cutover token` will use), kubeconfigs whose user runs an exec
//! credential plugin, the real helm/kubectl binaries, and a static chart repository.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use cloudsim::clock::Clock;
use cloudsim::env::{Credentials, Env, SimEnv};
use cloudsim::kube::{KubeCluster, KubeClusterConfig, NodeGroupNodes};
use serde_json::json;

pub mod storage;

/// One polling helper for both halves.
pub use crate::support::eventually;

pub const ACCESS_KEY: &str = "AKIDCLOUDSIMTEST";
pub const SECRET_KEY: &str = "cloudsim-test-secret-key";
pub const REGION: &str = "us-east-1";

/// [`env`] whose EBS driver makes volumes in the EC2 at `ec2` (moto).
pub fn env_with_ec2(ec2: &str) -> Env {
    let base = env(None);
    Arc::new(SimEnv {
        clock: Clock::new(1000.0),
        latencies: Default::default(),
        faults: RwLock::new(Default::default()),
        events: Default::default(),
        credentials: base.credentials.clone(),
        region: REGION.into(),
        state_dir: None,
        ec2: Some(cloudsim::ec2::Ec2Link::new(ec2, REGION, ACCESS_KEY, SECRET_KEY)),
    })
}

/// A simulation environment whose delays are 1/1000 of the real ones (a 15 s pod start = 15 ms).
pub fn env(state_dir: Option<PathBuf>) -> Env {
    Arc::new(SimEnv {
        clock: Clock::new(1000.0),
        latencies: Default::default(),
        faults: RwLock::new(Default::default()),
        events: Default::default(),
        credentials: Credentials {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
        },
        region: REGION.into(),
        state_dir,
        ec2: None,
    })
}

pub async fn cluster(name: &str, env: &Env) -> Arc<KubeCluster> {
    KubeCluster::start(
        KubeClusterConfig {
            name: name.into(),
            version: "1.32".into(),
            state_dir: None,
        },
        env.clone(),
    )
    .await
    .expect("cluster starts")
}

pub fn nodegroup(name: &str, count: u32) -> NodeGroupNodes {
    NodeGroupNodes {
        nodegroup: name.into(),
        count,
        instance_type: "m6i.large".into(),
        labels: [("team".to_string(), "platform".to_string())].into(),
        taints: vec![],
        capacity_type: "ON_DEMAND".into(),
        zones: vec![],
    }
}

/// An EKS token for `cluster`, presigned at `at` with the given secret, like `aws eks get-token`.
pub fn token_with(cluster: &str, secret: &str, at: SystemTime) -> String {
    use aws_sigv4::http_request::{
        SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
    let identity =
        aws_credential_types::Credentials::new(ACCESS_KEY, secret, None, None, "test").into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("sts")
        .time(at)
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let url =
        format!("https://sts.{REGION}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let signable = SignableRequest::new(
        "GET",
        &url,
        [("x-k8s-aws-id", cluster)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut req = http::Request::builder()
        .uri(&url)
        .body(())
        .expect("request");
    instructions.apply_to_request_http1x(&mut req);
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(req.uri().to_string())
    )
}

pub fn token(cluster: &str) -> String {
    token_with(cluster, SECRET_KEY, SystemTime::now())
}

/// Writes a kubeconfig for `kc` into `dir`, authenticating through an exec plugin that prints an
/// ExecCredential carrying a freshly presigned token. Returns its path.
pub fn kubeconfig(dir: &Path, kc: &KubeCluster) -> PathBuf {
    let cred = json!({
        "kind": "ExecCredential", "apiVersion": "client.authentication.k8s.io/v1beta1", "spec": {},
        "status": {"expirationTimestamp": jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_mins(14)).unwrap().to_string(),
                   "token": token(kc.name())},
    });
    let cred_path = dir.join("credential.json");
    std::fs::write(&cred_path, serde_json::to_vec(&cred).unwrap()).unwrap();
    let plugin = dir.join("token-plugin.sh");
    std::fs::write(
        &plugin,
        format!("#!/bin/sh\ncat '{}'\n", cred_path.display()),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": kc.name(), "cluster": {"server": kc.endpoint(),
                      "certificate-authority-data": base64::engine::general_purpose::STANDARD.encode(kc.ca_pem())}}],
        "users": [{"name": "eks", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                   "command": plugin.to_str().unwrap(), "args": [], "interactiveMode": "Never"}}}],
        "contexts": [{"name": kc.name(), "context": {"cluster": kc.name(), "user": "eks", "namespace": "default"}}],
        "current-context": kc.name(),
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// A kube crate client for `kc` using a static bearer token.
pub async fn client_with_token(kc: &KubeCluster, token: Option<String>) -> kube::Client {
    client_at(&kc.endpoint(), &kc.ca_pem(), token)
}

/// A kube crate client for the API at `endpoint` whose CA is `ca` (PEM), with a bearer token.
pub fn client_at(endpoint: &str, ca: &str, token: Option<String>) -> kube::Client {
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            ca.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let mut config = kube::Config::new(endpoint.parse().unwrap());
    config.root_cert = Some(vec![der]);
    config.auth_info.token = token.map(Into::into);
    config.default_namespace = "default".into();
    kube::Client::try_from(config).expect("client")
}

pub async fn client(kc: &KubeCluster) -> kube::Client {
    client_with_token(kc, Some(token(kc.name()))).await
}

/// A Deployment of `replicas` pods labelled `app: NAME`.
pub fn deployment(
    name: &str,
    replicas: i32,
    annotations: serde_json::Value,
) -> k8s_openapi::api::apps::v1::Deployment {
    serde_json::from_value(json!({"metadata": {"name": name, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})).unwrap()
}

/// A LoadBalancer Service selecting `app: NAME` on `port`.
pub fn lb_service(name: &str, port: u16) -> k8s_openapi::api::core::v1::Service {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"type": "LoadBalancer", "selector": {"app": name}, "ports": [{"port": port}]}})).unwrap()
}

/// Waits until the LoadBalancer Service `name` has an ingress IP, and returns it.
pub async fn lb_ip(
    services: &kube::Api<k8s_openapi::api::core::v1::Service>,
    name: &str,
    timeout: Duration,
) -> String {
    eventually("load balancer ingress", timeout, async || {
        let svc = services.get_opt(name).await.ok()??;
        svc.status?.load_balancer?.ingress?.first()?.ip.clone()
    })
    .await
}

/// Where the real binaries live (scripts/install-tools.sh puts them there).
pub fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("CUTOVER_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                .join(".cache/cutover/tools")
        });
    let path = dir.join("bin").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/install-tools.sh (or set CUTOVER_TOOLS_DIR)",
        path.display()
    );
    path
}

/// Runs a tool to completion (blocking; call from spawn_blocking), with a hard timeout.
pub fn run(cmd: &mut Command, timeout: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tool starts");
    let start = std::time::Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return child.wait_with_output().expect("output");
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "{cmd:?} timed out after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs and asserts success, returning stdout.
pub async fn ok(mut cmd: Command) -> String {
    let shown = format!("{cmd:?}");
    let out = tokio::task::spawn_blocking(move || run(&mut cmd, Duration::from_secs(120)))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{shown} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A static chart repository served by `python3 -m http.server` on loopback.
pub struct ChartRepo {
    pub url: String,
    child: Child,
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ChartRepo {
    pub fn serve(dir: &Path) -> ChartRepo {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m http.server starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the chart repository did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        ChartRepo { url, child }
    }
}

/// A plain HTTP GET to `ip:port` with a Host header; returns (status, body).
pub async fn http_get(ip: &str, port: u16, host: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect((ip, port)).await?;
    s.write_all(
        format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let code = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Ok((code, body))
}
