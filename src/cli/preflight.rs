//! `cutover preflight PLAN [-o json]`: the plan's pre-flight gates alone (removed APIs, EKS upgrade
//! insights, add-on versions, subnets); changes nothing. Exit 0 when nothing refuses, 3 otherwise.

use std::path::PathBuf;

use crate::cli::common::{Output, context, load_plan, ops_error, print_json};
use crate::cli::exit::{Exit, Reported};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file.
    pub plan: PathBuf,
    /// Findings as text for people, or JSON for CI.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let reports = crate::ops::preflight::preflight(&context()?, &plan).await.map_err(ops_error)?;
    let refused = reports.iter().filter(|r| r.refuses()).count();
    match args.output {
        Output::Json => print_json(&serde_json::json!({ "plan": plan.metadata.name, "refused": refused > 0, "gates": reports }))?,
        Output::Text => {
            for r in &reports {
                let gate = r.gate.name();
                match &r.skipped_by {
                    Some(who) => outln!("{gate}: skipped by the plan (run by {who})"),
                    None if r.findings.is_empty() => outln!("{gate}: ok"),
                    None => {
                        outln!("{gate}:");
                        for f in &r.findings {
                            outln!("  {f}");
                        }
                    }
                }
            }
        }
    }
    if refused > 0 {
        return Err(Reported::new(
            Exit::InvalidPlan,
            format!("{refused} pre-flight gate(s) refuse this plan; nothing was changed"),
        )
        .into());
    }
    Ok(Exit::Success)
}
