//! Cluster access for kubectl and helm, the way `aws eks get-token` and `aws eks
//! update-kubeconfig` provide it: an ExecCredential minted from the caller's AWS credentials, and
//! a kubeconfig (no secret inside) whose user runs `cutover token`. Where a cluster is comes from
//! the one describe-for-access, [`ClusterDirectory`](crate::providers::kube::ClusterDirectory).

use std::path::Path;
use std::time::SystemTime;

use base64::Engine as _;

use crate::compose::Context;
use crate::providers::aws::kubeconfig::{ClusterAccess, exec_api_version, exec_credential, kubeconfig};
use crate::providers::aws::{credentials, token::eks_token};
use crate::providers::kube::ClusterDirectory as _;

use super::OpsError;

/// The ExecCredential document for `cluster`, in the apiVersion the client announced in
/// `exec_info` (`KUBERNETES_EXEC_INFO`).
pub async fn token(cx: &Context, cluster: &str, region: &str, exec_info: Option<&str>) -> Result<serde_json::Value, OpsError> {
    let aws = cx.aws(region).await;
    let creds = credentials(&aws.config).await?;
    let token = eks_token(&creds, region, cluster, SystemTime::now())
        .map_err(|e| OpsError::Usage(format!("cannot sign a token for cluster {cluster}: {e}")))?;
    Ok(exec_credential(&token, exec_api_version(exec_info)))
}

/// A kubeconfig for `cluster` whose user runs `cutover token` (the binary at `cutover`).
pub async fn kubeconfig_for(cx: &Context, cluster: &str, region: &str) -> Result<serde_json::Value, OpsError> {
    let endpoint = cx.aws(region).await.directory().access(cluster).await?;
    let access = ClusterAccess {
        cluster: cluster.to_string(),
        region: region.to_string(),
        endpoint: endpoint.server,
        ca_data: base64::engine::general_purpose::STANDARD.encode(&endpoint.ca_pem),
    };
    Ok(kubeconfig(&access, &cx.settings().exe))
}

/// Writes a kubeconfig for `cluster` to `path`, readable by its owner only: it tells where a
/// production cluster is and how to get in.
pub async fn write_kubeconfig(cx: &Context, cluster: &str, region: &str, path: &Path) -> Result<(), OpsError> {
    let doc = kubeconfig_for(cx, cluster, region).await?;
    let text = serde_json::to_string_pretty(&doc).expect("a kubeconfig serializes");
    write_private(path, text.as_bytes()).map_err(OpsError::io(format!("write {}", path.display())))
}

/// Creates or replaces `path` with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
