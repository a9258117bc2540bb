//! Kubeconfigs and ExecCredentials for EKS clusters, so kubectl and helm authenticate through
//! `cutover token` exactly as they would through `aws eks get-token`.
//!
//! Both are written as JSON: every kubeconfig reader accepts it (YAML is a superset of JSON), and it
//! spares a YAML serializer.

use std::path::Path;
use std::time::SystemTime;

use serde_json::{Value, json};

use super::token::EksToken;

const V1BETA1: &str = "client.authentication.k8s.io/v1beta1";
const V1: &str = "client.authentication.k8s.io/v1";

/// The ExecCredential apiVersion to answer with: the one the client announced in
/// `KUBERNETES_EXEC_INFO` (kubectl ≥ 1.22 sets it), else v1beta1, which every client understands.
pub fn exec_api_version(exec_info: Option<&str>) -> &'static str {
    let announced = exec_info
        .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
        .and_then(|v| v.get("apiVersion").and_then(Value::as_str).map(str::to_string));
    match announced.as_deref() {
        Some(V1) => V1,
        _ => V1BETA1,
    }
}

/// The ExecCredential document a kubeconfig `exec` user prints on stdout.
pub fn exec_credential(token: &EksToken, api_version: &str) -> Value {
    json!({
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {
            "expirationTimestamp": rfc3339(token.expires_at),
            "token": token.expose(),
        }
    })
}

/// What a kubeconfig needs to reach a cluster.
#[derive(Debug, Clone)]
pub struct ClusterAccess {
    /// EKS cluster name.
    pub cluster: String,
    /// AWS region of the cluster.
    pub region: String,
    /// API server URL.
    pub endpoint: String,
    /// base64 of the CA bundle in PEM, as DescribeCluster returns it.
    pub ca_data: String,
}

/// A kubeconfig whose user runs `<cutover> token --cluster NAME --region R` for each connection.
/// It holds no secret: the token is minted on demand from the caller's AWS credentials.
pub fn kubeconfig(access: &ClusterAccess, cutover: &Path) -> Value {
    let name = &access.cluster;
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": name,
        "clusters": [{"name": name, "cluster": {"server": access.endpoint, "certificate-authority-data": access.ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": V1BETA1,
            "command": cutover.display().to_string(),
            "args": ["token", "--cluster", name, "--region", access.region],
            "interactiveMode": "Never",
            "provideClusterInfo": false,
        }}}],
        "preferences": {},
    })
}

fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t).map(|ts| ts.round(jiff::Unit::Second).unwrap_or(ts).to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::aws::token::eks_token;
    use aws_credential_types::Credentials;

    #[test]
    fn answers_with_the_api_version_the_client_announced() {
        assert_eq!(exec_api_version(None), V1BETA1);
        assert_eq!(exec_api_version(Some(r#"{"apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#)), V1);
        assert_eq!(exec_api_version(Some(r#"{"apiVersion":"client.authentication.k8s.io/v1beta1"}"#)), V1BETA1);
        assert_eq!(exec_api_version(Some("not json")), V1BETA1);
    }

    #[test]
    fn exec_credential_carries_token_and_expiry() {
        let creds = Credentials::new("AKID", "SECRET", None, None, "test");
        let token = eks_token(&creds, "us-east-1", "c1", SystemTime::now()).unwrap();
        let doc = exec_credential(&token, V1);
        assert_eq!(doc["apiVersion"], V1);
        assert_eq!(doc["status"]["token"], token.expose());
        let expiry: jiff::Timestamp = doc["status"]["expirationTimestamp"].as_str().unwrap().parse().unwrap();
        let secs = expiry.as_second() - jiff::Timestamp::now().as_second();
        // 14 minutes, give or take the second the expiry is rounded to.
        assert!((14 * 60 - 5..=14 * 60 + 1).contains(&secs), "expiry {secs} s from now");
    }

    #[test]
    fn kubeconfig_execs_cutover_token_and_holds_no_token() {
        let access = ClusterAccess {
            cluster: "green".into(),
            region: "eu-west-1".into(),
            endpoint: "https://127.0.0.1:6443".into(),
            ca_data: "Q0E=".into(),
        };
        let doc = kubeconfig(&access, Path::new("/usr/local/bin/cutover"));
        let exec = &doc["users"][0]["user"]["exec"];
        assert_eq!(exec["command"], "/usr/local/bin/cutover");
        assert_eq!(exec["args"], json!(["token", "--cluster", "green", "--region", "eu-west-1"]));
        assert_eq!(doc["clusters"][0]["cluster"]["certificate-authority-data"], "Q0E=");
        assert!(!doc.to_string().contains("k8s-aws-v1."));
    }
}
