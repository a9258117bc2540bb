//! Cluster access end to end: a kubeconfig from `cutover kubeconfig` (DescribeCluster's endpoint
//! and CA) whose user runs `cutover token` lets the real kubectl and helm into a cloudsim cluster,
//! which verifies each token's SigV4 signature; a token for another cluster is refused.

use crate::support;

use support::stack::{REGION, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_and_helm_authenticate_with_cutover_tokens() {
    let stack = Stack::start(600.0).await;
    let lb = stack.create_blue("shop-1-31", "1.31").await;
    assert!(lb.contains(".elb."), "blue's load balancer hostname: {lb}");

    let kubeconfig = stack.kubeconfig("shop-1-31");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&kubeconfig).unwrap()).unwrap();
    assert_eq!(doc["users"][0]["user"]["exec"]["args"][0], "token");
    assert!(
        !doc.to_string().contains("k8s-aws-v1."),
        "a kubeconfig holds no token"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let out = stack.kubectl(&kubeconfig, &["get", "nodes", "-o", "json"]);
    assert!(
        out.status.success(),
        "kubectl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "blue's node group has two nodes");
    assert!(items.iter().all(|n| {
        n["status"]["nodeInfo"]["kubeletVersion"]
            .as_str()
            .unwrap()
            .starts_with("v1.31")
    }));

    let out = stack.helm(&kubeconfig, &["list", "-A", "-o", "json"]);
    assert!(
        out.status.success(),
        "helm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let releases: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(releases[0]["name"], "ingress");
    assert_eq!(releases[0]["status"], "deployed");

    // The v1 ExecCredential is answered when the client announces it.
    let out = stack
        .cutover(&["token", "--cluster", "shop-1-31", "--region", REGION])
        .env("KUBERNETES_EXEC_INFO", r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#)
        .output()
        .unwrap();
    assert!(out.status.success());
    let cred: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cred["apiVersion"], "client.authentication.k8s.io/v1");

    // A token minted for another cluster does not open this one.
    let other = stack.run_cutover(&["token", "--cluster", "someone-else", "--region", REGION]);
    let token =
        serde_json::from_slice::<serde_json::Value>(&other.stdout).unwrap()["status"]["token"]
            .as_str()
            .unwrap()
            .to_string();
    let server = doc["clusters"][0]["cluster"]["server"].as_str().unwrap();
    let ca = stack.dir.path().join("ca.pem");
    let described = stack
        .eks()
        .await
        .describe_cluster()
        .name("shop-1-31")
        .send()
        .await
        .unwrap();
    let ca_b64 = described
        .cluster()
        .unwrap()
        .certificate_authority()
        .unwrap()
        .data()
        .unwrap()
        .to_string();
    use base64::Engine as _;
    std::fs::write(
        &ca,
        base64::engine::general_purpose::STANDARD
            .decode(ca_b64)
            .unwrap(),
    )
    .unwrap();
    let empty = stack.dir.path().join("empty-kubeconfig");
    std::fs::write(&empty, "{}").unwrap();
    let out = stack.kubectl(
        &empty,
        &[
            "--server",
            server,
            "--certificate-authority",
            ca.to_str().unwrap(),
            "--token",
            &token,
            "get",
            "nodes",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("Unauthorized"),
        "a token for another cluster must be refused: {stderr}"
    );
}
