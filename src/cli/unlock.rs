//! `cutover unlock PLAN`: breaks a stale environment lock (a run that died without releasing it),
//! after showing its holder and getting confirmation. The journal is untouched, so `cutover
//! resume` afterwards continues the dead run.

use std::path::PathBuf;

use crate::cli::common::{confirm, engine_error, load_plan, state_backend};
use crate::cli::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    pub plan: PathBuf,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let state = state_backend(&plan).await?;
    let env = &plan.metadata.name;
    let Some(holder) = crate::engine::lock_holder(state.as_ref(), env).await.map_err(engine_error)? else {
        outln!("{env}: not locked");
        return Ok(Exit::Success);
    };
    let alive = holder.host == crate::engine::this_host() && process_alive(holder.pid);
    confirm(
        &format!(
            "{env} is locked by {holder}.{}\nBreak it only if that run is dead: two runs at once can damage the environment.",
            if alive { "\nWARNING: a process with that pid is running on this host." } else { "" }
        ),
        &holder.run_id,
        args.yes,
    )?;
    crate::engine::break_lock(state.as_ref(), env, &holder).await.map_err(engine_error)?;
    outln!("{env}: lock of run {} broken; `cutover resume` continues that run", holder.run_id);
    Ok(Exit::Success)
}

/// Whether a process with this pid exists here (Linux: /proc). Only a hint for the operator.
fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}
