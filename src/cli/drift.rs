//! `cutover drift --cluster NAME --against LOCK|PLAN`: compare the Helm releases running on a
//! cluster with their pins; exit 8 (drift) with a readable diff when they differ.

use std::path::PathBuf;

use crate::capture::drift;
use crate::capture::secrets::SecretRule;
use crate::cli::common::{Output, context, ops_error, print_json};
use crate::cli::exit::Exit;
use crate::ops::releases::DriftOptions;

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
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
    /// A values path to treat as secret (never shown) besides those whose names say so. Repeatable.
    #[arg(long, value_name = "PATH")]
    pub secret_key: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let opts = DriftOptions {
        cluster: args.cluster.clone(),
        region: args.region.clone(),
        against: args.against.clone(),
        secrets: SecretRule { extra: args.secret_key.clone(), plain: Vec::new() },
    };
    let report = crate::ops::releases::drift(&context()?, &opts).await.map_err(ops_error)?;
    match args.output {
        Output::Json => print_json(&report)?,
        Output::Text => {
            out!("{}", drift::render(&report));
            if report.has_drift() {
                let code = crate::engine::codes::DRIFT;
                let region = format!(" --region {}", args.region);
                outln!(
                    "\n{}  {}\n  next:\n    # record what runs now as new pins (a new file; review it before replacing the old)\n    cutover capture --cluster {}{region} -o {}.lock.yaml\n    # or compare again once the cluster is back on its pins\n    cutover drift --cluster {}{region} --against {}",
                    code.code,
                    code.title,
                    args.cluster,
                    args.cluster,
                    args.cluster,
                    args.against.display()
                );
            }
        }
    }
    Ok(if report.has_drift() { Exit::Drift } else { Exit::Success })
}
