//! `cutover dashboard`: serves the read-only web UI until interrupted. Prints its URL on stdout
//! (data: scripts read it) and everything else on stderr. The token is read from the variable
//! `--token-from-env` names and goes nowhere else.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::cli::common::context;
use crate::cli::exit::{Exit, Reported};
use crate::dashboard::{self, Access, DashboardError, StateArg, Token};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A state backend to read: `local:DIR` (or DIR) or `s3://BUCKET/PREFIX`; repeatable.
    #[arg(long = "state", value_name = "local:DIR|s3://BUCKET/PREFIX")]
    pub states: Vec<StateArg>,
    /// A directory of plan files: their `spec.state` backends are read too, and their owners,
    /// kinds, gates and paths are shown (the commands name the plan file).
    #[arg(long, value_name = "DIR")]
    pub plans: Option<PathBuf>,
    /// Address to listen on. Anything but loopback needs --token-from-env.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The environment variable holding the bearer token every request must then carry
    /// (`Authorization: Bearer <token>`); required off loopback.
    #[arg(long, value_name = "VAR")]
    pub token_from_env: Option<String>,
    /// Region of S3 buckets given with --state (plans name their own).
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,
}

fn usage(e: DashboardError) -> anyhow::Error {
    let exit = match e {
        DashboardError::Usage(_) => Exit::Usage,
        _ => Exit::Error,
    };
    Reported::new(exit, e.to_string()).into()
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let token = match &args.token_from_env {
        Some(var) => {
            let value = std::env::var(var)
                .map_err(|_| Reported::new(Exit::Usage, format!("--token-from-env {var}: the variable is not set")))?;
            Some(Token::new(&value, var).map_err(usage)?)
        }
        None => None,
    };
    let access = Access::for_listen(args.listen, token).map_err(usage)?;
    let cx = std::sync::Arc::new(context()?);
    let catalog = dashboard::catalog(cx, &args.states, args.plans.as_deref(), &args.region).await.map_err(usage)?;
    for source in &catalog.sources {
        eprintln!("reading {}", source.label);
    }
    for problem in &catalog.plan_problems {
        eprintln!("warning: plan not loaded: {problem}");
    }
    let running = dashboard::start(catalog, dashboard::Config::new(args.listen, access)).await.map_err(usage)?;
    outln!("{}", running.url());
    eprintln!("cutover dashboard: serving read-only on {} (Ctrl-C stops it)", running.url());
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping");
    running.stop().await.map_err(usage)?;
    Ok(Exit::Success)
}
