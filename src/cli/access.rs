//! `cutover token` and `cutover kubeconfig`: cluster access for kubectl and helm, the way
//! `aws eks get-token` / `aws eks update-kubeconfig` provide it, from the caller's AWS credentials.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use crate::cli::exit::{Exit, Reported};
use crate::providers::aws::kubeconfig::{ClusterAccess, exec_api_version, exec_credential, kubeconfig};
use crate::providers::aws::{credentials, sdk_config, token::eks_token};

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The EKS cluster the token is for.
    #[arg(long)]
    pub cluster: String,
    /// AWS region (default: AWS_REGION / the profile's region).
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
}

#[derive(Debug, clap::Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub target: TokenArgs,
    /// Write here (mode 0600) instead of stdout.
    #[arg(long)]
    pub file: Option<PathBuf>,
}

/// Prints an ExecCredential for kubectl/helm's `exec` plugin. Nothing but the document goes to
/// stdout, because the client parses all of it.
pub async fn token(args: TokenArgs) -> anyhow::Result<Exit> {
    let config = sdk_config(&args.region).await;
    let creds = credentials(&config).await.map_err(|e| Reported::new(Exit::Error, e.to_string()))?;
    let token = eks_token(&creds, &args.region, &args.cluster, SystemTime::now())?;
    let info = std::env::var("KUBERNETES_EXEC_INFO").ok();
    let doc = exec_credential(&token, exec_api_version(info.as_deref()));
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &doc)?;
    writeln!(out)?;
    Ok(Exit::Success)
}

/// Writes a kubeconfig whose user runs `cutover token` (this binary) for every connection.
pub async fn kubeconfig_cmd(args: KubeconfigArgs) -> anyhow::Result<Exit> {
    let config = sdk_config(&args.target.region).await;
    let eks = crate::providers::aws::calls::eks_client(&config);
    let described = eks.describe_cluster().name(&args.target.cluster).send().await.map_err(|e| {
        Reported::new(
            Exit::Error,
            format!(
                "cannot describe cluster {} in {}: {}",
                args.target.cluster,
                args.target.region,
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ),
        )
    })?;
    let cluster = described.cluster().ok_or_else(|| Reported::new(Exit::Error, "DescribeCluster returned no cluster"))?;
    let (Some(endpoint), Some(ca)) = (cluster.endpoint(), cluster.certificate_authority().and_then(|c| c.data())) else {
        return Err(Reported::new(
            Exit::Error,
            format!("cluster {} has no endpoint yet (status {:?}); wait until it is ACTIVE", args.target.cluster, cluster.status()),
        )
        .into());
    };
    let access = ClusterAccess {
        cluster: args.target.cluster.clone(),
        region: args.target.region.clone(),
        endpoint: endpoint.to_string(),
        ca_data: ca.to_string(),
    };
    let exe = std::env::current_exe()?;
    let doc = serde_json::to_string_pretty(&kubeconfig(&access, &exe))?;
    match &args.file {
        Some(path) => {
            write_private(path, doc.as_bytes())?;
            eprintln!("wrote {}; use it with KUBECONFIG={} kubectl get nodes", path.display(), path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{doc}")?;
        }
    }
    Ok(Exit::Success)
}

/// Creates or replaces `path` readable by its owner only: a kubeconfig tells where a production
/// cluster is and how to get in.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
