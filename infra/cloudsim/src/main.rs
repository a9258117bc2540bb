//! The `cloudsim` binary: `cloudsim serve ...` parses its flags into a [`cloudsim::Config`] and runs
//! [`cloudsim::Server`] until SIGINT/SIGTERM. Prints `cloudsim listening on http://ADDR` on stdout
//! once it serves (tests and scripts wait for that line); logs go to stderr.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use cloudsim::eks::kube_backend::KubeBackend;
use cloudsim::env::Credentials;
use cloudsim::profile::Profile;
use cloudsim::{Config, Server};

#[derive(Parser)]
#[command(
    name = "cloudsim",
    version,
    about = "A local EKS + Kubernetes API emulator for tests and demos"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the EKS API and the /_cloudsim/ control API (each cluster's Kubernetes API gets its own port).
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address for the EKS and control API (point AWS_ENDPOINT_URL_EKS at it). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Simulated seconds per real second: 60 makes a 9-minute cluster creation take 9 seconds.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// JSON latency profile and start-up faults (every field optional; see the README).
    #[arg(long)]
    profile: Option<PathBuf>,
    /// Persist all state here and restore it on start (survives kill -9).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Region in ARNs and token verification.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Seeds the latencies the profile gives as spreads ({"min", "max"}): the same seed, the same durations.
    #[arg(long, default_value_t = cloudsim::profile::DEFAULT_SEED)]
    seed: u64,
    /// Account id in ARNs.
    #[arg(long, env = "CLOUDSIM_ACCOUNT_ID", default_value = cloudsim::eks::DEFAULT_ACCOUNT_ID)]
    account_id: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CLOUDSIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let Command::Serve(args) = Cli::parse().command;
    let profile = match &args.profile {
        None => Profile::default(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read profile {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| {
                format!("profile {} is not a valid cloudsim profile", path.display())
            })?
        }
    };
    if !(args.account_id.len() == 12 && args.account_id.chars().all(|c| c.is_ascii_digit())) {
        anyhow::bail!("--account-id must be 12 digits, got {:?}", args.account_id);
    }
    let mut cfg = Config::new(Arc::new(KubeBackend));
    cfg.listen = args.listen;
    cfg.time_scale = args.time_scale;
    cfg.profile = profile;
    cfg.profile.latencies.seed = args.seed;
    cfg.state_dir = args.state_dir;
    cfg.region = args.region;
    cfg.account_id = args.account_id;
    if let (Ok(id), Ok(secret)) = (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        cfg.credentials = Credentials {
            access_key_id: id,
            secret_access_key: secret,
        };
    } else {
        tracing::info!(
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY not set: tokens must be signed with cloudsim's example credentials"
        );
    }
    let server = Server::start(cfg).await?;
    println!("cloudsim listening on {}", server.url());
    wait_for_signal().await?;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
