//! `cutover status PLAN`: where the environment's latest run stands, from its journal, and who
//! holds the lock. Read-only.

use std::path::PathBuf;

use crate::cli::common::{Output, context, load_plan, ops_error, print_json};
use crate::cli::exit::Exit;
use crate::telemetry::format_time;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file.
    pub plan: PathBuf,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let env = &plan.metadata.name;
    let cx = context()?;
    let status = crate::ops::inspect::status(&cx, &plan).await.map_err(ops_error)?;
    let runbook = match &status {
        Some(_) => crate::ops::inspect::history(&cx, &plan, None)
            .await
            .map_err(ops_error)?
            .and_then(|records| crate::engine::runbook::from_journal(&plan, &args.plan, &records)),
        None => None,
    };
    if args.output == Output::Json {
        #[derive(serde::Serialize)]
        struct WithRunbook<'a> {
            #[serde(flatten)]
            status: &'a crate::engine::status::RunStatus,
            runbook: Option<crate::engine::runbook::Runbook>,
        }
        match &status {
            Some(s) => print_json(&WithRunbook { status: s, runbook })?,
            None => print_json(&status)?,
        }
        return Ok(Exit::Success);
    }
    let Some(s) = status else {
        outln!("{env}: no run yet");
        return Ok(Exit::Success);
    };
    outln!("{env}: run {} is {}", s.run_id, s.phase.describe());
    outln!(
        "  started {} by {}, last change {}",
        format_time(s.started_at),
        s.started_by,
        format_time(s.updated_at)
    );
    if !s.checkpoints.is_empty() {
        outln!("  checkpoints: {}", s.checkpoints.join(" → "));
    }
    if let Some(p) = &s.point_of_no_return {
        outln!("  past the point of no return ({p}): rollback is no longer possible");
    }
    match &s.lock {
        Some(lock) => outln!("  lock: held by {lock}"),
        None => outln!("  lock: free"),
    }
    if s.torn_bytes > 0 {
        outln!("  journal: a torn last line ({} bytes) from a crash will be dropped on resume", s.torn_bytes);
    }
    for step in &s.steps {
        outln!("  {:<40} {}", step.id, serde_json::to_value(&step.state)?["state"].as_str().unwrap_or("?"));
    }
    if let Some(rb) = &runbook {
        outln!("\n{}", crate::telemetry::runbook::render_text(rb));
    }
    Ok(Exit::Success)
}
