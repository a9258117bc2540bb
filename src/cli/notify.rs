//! `cutover notify test PLAN [--sink NAME]`: try the plan's notification sinks.

use std::path::PathBuf;

use crate::cli::common::{load_plan, ops_error};
use crate::cli::exit::{Exit, Reported};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: NotifyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum NotifyCommand {
    /// Send a test notification to each sink of the plan (or one), and say which worked.
    Test(TestArgs),
}

#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// The plan file.
    pub plan: PathBuf,
    /// Only this sink.
    #[arg(long)]
    pub sink: Option<String>,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let NotifyCommand::Test(args) = args.command;
    let plan = load_plan(&args.plan)?;
    let results = crate::ops::notify::test(&crate::cli::common::context()?, &plan, args.sink.as_deref()).await.map_err(ops_error)?;
    let mut failed = 0;
    for (sink, result) in &results {
        match result {
            Ok(attempts) => outln!("{sink}: delivered ({attempts} attempt{})", if *attempts == 1 { "" } else { "s" }),
            Err(why) => {
                failed += 1;
                outln!("{sink}: FAILED: {why}");
            }
        }
    }
    if failed > 0 {
        return Err(Reported::new(Exit::Error, format!("{failed} of {} sinks failed", results.len())).into());
    }
    Ok(Exit::Success)
}
