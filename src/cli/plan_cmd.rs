//! `cutover plan PLAN`: the steps a run would take, what each changes and how it is undone.
//! Reads nothing from the cloud and changes nothing.

use std::path::PathBuf;

use crate::cli::common::{Output, load_plan, print_json};
use crate::cli::exit::Exit;
use crate::engine::compile;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file.
    pub plan: PathBuf,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let compiled = compile(&plan);
    if args.output == Output::Json {
        print_json(&compiled)?;
        return Ok(Exit::Success);
    }
    outln!("{:?} {} ({} → {})", plan.kind, plan.metadata.name, plan.blue.as_ref().map(|b| b.cluster.as_str()).unwrap_or("nothing"), plan.green.name);
    if let Some(data) = &plan.data {
        outln!("\n{}", crate::telemetry::report::data_note(data, plan.kind));
    }
    let mut n = 0;
    for stage in &compiled.stages {
        outln!("\n{}{}", stage.title, if stage.parallel { " (independent steps run in parallel)" } else { "" });
        for step in &stage.steps {
            n += 1;
            outln!("  {n:>2}. {}  [{}]", step.title, step.id);
            outln!("      changes: {}", step.changes);
            if let Some(undo) = &step.compensation {
                outln!("      undo:    {undo}");
            }
            if !step.needs.is_empty() {
                outln!("      after:   {}", step.needs.join(", "));
            }
            if step.point_of_no_return {
                outln!("      POINT OF NO RETURN: nothing rolls back past this step");
            }
            for cp in &step.checkpoints_after {
                outln!("      ◆ checkpoint {cp}");
            }
        }
    }
    Ok(Exit::Success)
}
