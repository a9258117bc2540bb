//! `cutover unlock PLAN`: breaks a stale environment lock (a run that died without releasing it),
//! after showing its holder and getting confirmation. The journal is untouched, so `cutover
//! resume` afterwards continues the dead run.

use std::path::PathBuf;

use crate::cli::common::{confirm, context, load_plan, ops_error};
use crate::cli::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file.
    pub plan: PathBuf,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let cx = context()?;
    let env = &plan.metadata.name;
    let Some(holder) = crate::ops::inspect::lock_holder(&cx, &plan).await.map_err(ops_error)? else {
        outln!("{env}: not locked");
        return Ok(Exit::Success);
    };
    let alive = crate::ops::inspect::holder_alive(&holder);
    confirm(
        &format!(
            "{env} is locked by {holder}.{}\nBreak it only if that run is dead: two runs at once can damage the environment.",
            if alive { "\nWARNING: a process with that pid is running on this host." } else { "" }
        ),
        &holder.run_id,
        args.yes,
    )?;
    crate::ops::inspect::unlock(&cx, &plan, &holder).await.map_err(ops_error)?;
    outln!("{env}: lock of run {} broken; `cutover resume` continues that run", holder.run_id);
    Ok(Exit::Success)
}

