//! `cutover token` and `cutover kubeconfig`: cluster access for kubectl and helm, the way
//! `aws eks get-token` / `aws eks update-kubeconfig` provide it, from the caller's AWS credentials.

use std::io::Write as _;
use std::path::PathBuf;

use crate::cli::common::{context, ops_error};
use crate::cli::exit::Exit;

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
    let info = std::env::var("KUBERNETES_EXEC_INFO").ok();
    let doc = crate::ops::access::token(&context()?, &args.cluster, &args.region, info.as_deref())
        .await
        .map_err(ops_error)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &doc)?;
    writeln!(out)?;
    Ok(Exit::Success)
}

/// Writes a kubeconfig whose user runs `cutover token` (this binary) for every connection.
pub async fn kubeconfig_cmd(args: KubeconfigArgs) -> anyhow::Result<Exit> {
    let cx = context()?;
    let (cluster, region) = (&args.target.cluster, &args.target.region);
    match &args.file {
        Some(path) => {
            crate::ops::access::write_kubeconfig(&cx, cluster, region, path).await.map_err(ops_error)?;
            eprintln!("wrote {}; use it with KUBECONFIG={} kubectl get nodes", path.display(), path.display());
        }
        None => {
            let doc = crate::ops::access::kubeconfig_for(&cx, cluster, region).await.map_err(ops_error)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
    }
    Ok(Exit::Success)
}
