//! `cutover backup PLAN [-o json]`: snapshot the claims `spec.data` selects on the cluster that
//! serves now, tagged for drills, and prune cutover's snapshots past `spec.data.retain`.

use std::path::PathBuf;

use crate::cli::common::{Output, context, load_plan, ops_error, print_json};
use crate::cli::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The environment's Upgrade plan (with `spec.data`).
    pub plan: PathBuf,
    /// Text for people, or JSON.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let report = crate::ops::backup::backup(&context()?, &plan).await.map_err(ops_error)?;
    match args.output {
        Output::Json => print_json(&report)?,
        Output::Text => {
            outln!("backup of {} on cluster {}", report.environment, report.cluster);
            for t in &report.taken {
                outln!("  {}: {} of {} (started {})", t.claim, t.snapshot, t.volume, t.started);
            }
            if report.pruned.is_empty() {
                outln!("nothing past retention to prune");
            } else {
                outln!("pruned past retention: {}", report.pruned.join(", "));
            }
        }
    }
    Ok(Exit::Success)
}
