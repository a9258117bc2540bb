//! `cutover explain PLAN [--run ID]`: the runbook of a run, rebuilt from its journal — the same one
//! the run printed when it stopped (or says the run needs none).

use std::path::PathBuf;

use crate::cli::common::{Output, context, load_plan, ops_error, print_json};
use crate::cli::exit::Exit;
use crate::telemetry::runbook::render_text;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file.
    pub plan: PathBuf,
    /// A run id (default: the latest run; `cutover history --list` shows them).
    #[arg(long)]
    pub run: Option<String>,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let env = &plan.metadata.name;
    let records = crate::ops::inspect::history(&context()?, &plan, args.run.as_deref()).await.map_err(ops_error)?;
    let Some(records) = records else {
        outln!("{env}: no run yet");
        return Ok(Exit::Success);
    };
    let runbook = crate::engine::runbook::from_journal(&plan, &args.plan, &records);
    match (args.output, runbook) {
        (Output::Json, rb) => print_json(&rb)?,
        (Output::Text, Some(rb)) => outln!("{}", render_text(&rb)),
        (Output::Text, None) => {
            let status = crate::engine::status::RunStatus::replay(&records);
            let phase = status.map(|s| s.phase.describe()).unwrap_or_else(|| "unreadable".into());
            outln!("{env}: the run is {phase}; it needs no runbook");
        }
    }
    Ok(Exit::Success)
}
