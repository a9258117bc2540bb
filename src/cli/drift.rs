//! `cutover drift --cluster NAME --against LOCK|PLAN`: compare the Helm releases running on a
//! cluster with their pins; exit 8 (drift) with a readable diff when they differ.

use std::path::PathBuf;

use crate::capture::drift::{self, Pin};
use crate::capture::secrets::SecretRule;
use crate::cli::common::{Output, load_plan, print_json};
use crate::cli::exit::{Exit, Reported};
use crate::providers::kube::KubeClients;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The EKS cluster to read.
    #[arg(long)]
    pub cluster: String,
    /// AWS region (default: AWS_REGION / the profile's region).
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
    /// A lock file from `cutover capture`, or a plan whose releases are the pins.
    #[arg(long, value_name = "FILE")]
    pub against: PathBuf,
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
    /// A values path to treat as secret (never shown) besides those whose names say so. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub secret_key: Vec<String>,
}

fn pins(args: &Args) -> anyhow::Result<Vec<Pin>> {
    let text = std::fs::read_to_string(&args.against)
        .map_err(|e| Reported::new(Exit::Usage, format!("cannot read {}: {e}", args.against.display())))?;
    if crate::capture::lock::is_lock(&text) {
        let lock = crate::capture::lock::load(&args.against).map_err(|diags| {
            for d in &diags {
                eprintln!("{d}");
            }
            Reported::new(Exit::InvalidPlan, format!("{}: the lock file has problems; fix them and run again", args.against.display()))
        })?;
        return Ok(drift::pins_from_lock(&lock));
    }
    let plan = load_plan(&args.against)?;
    Ok(drift::pins_from_plan(&plan).map_err(|e| Reported::new(Exit::InvalidPlan, e.to_string()))?)
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let pins = pins(&args)?;
    let config = crate::providers::aws::sdk_config(&args.region).await;
    let clients = KubeClients::for_aws(&config, &args.region).map_err(|e| Reported::new(Exit::Error, e.to_string()))?;
    let found = crate::capture::live::scan(&clients, &args.cluster)
        .await
        .map_err(|e| Reported::new(Exit::Error, e.to_string()))?;
    let rule = SecretRule { extra: args.secret_key.clone(), plain: Vec::new() };
    let against = args.against.display().to_string();
    let report = drift::compare(&args.cluster, &against, &pins, &found, &rule);
    match args.output {
        Output::Json => print_json(&report)?,
        Output::Text => out!("{}", drift::render(&report)),
    }
    Ok(if report.has_drift() { Exit::Drift } else { Exit::Success })
}
