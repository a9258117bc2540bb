//! `cutover history PLAN`: a run's journal as a readable timeline (or the records as JSON).

use std::path::PathBuf;

use crate::cli::common::{Output, context, load_plan, ops_error, print_json};
use crate::cli::exit::Exit;
use crate::telemetry::report::{Report, event_type};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The plan file.
    pub plan: PathBuf,
    /// A run id (default: the latest run). `--list` shows them.
    #[arg(long)]
    pub run: Option<String>,
    /// List the environment's runs instead.
    #[arg(long)]
    pub list: bool,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let cx = context()?;
    let env = &plan.metadata.name;
    if args.list {
        let runs = crate::ops::inspect::runs(&cx, &plan).await.map_err(ops_error)?;
        match args.output {
            Output::Json => print_json(&runs)?,
            Output::Text => {
                for r in &runs {
                    outln!("{r}");
                }
            }
        }
        return Ok(Exit::Success);
    }
    let Some(records) = crate::ops::inspect::history(&cx, &plan, args.run.as_deref()).await.map_err(ops_error)? else {
        outln!("{env}: no run yet");
        return Ok(Exit::Success);
    };
    if args.output == Output::Json {
        print_json(&records)?;
        return Ok(Exit::Success);
    }
    for r in &records {
        let mut detail = serde_json::to_value(&r.event)?;
        if let Some(map) = detail.as_object_mut() {
            map.remove("type");
        }
        let detail = match detail.as_object() {
            Some(m) if m.is_empty() => String::new(),
            _ => detail.to_string(),
        };
        outln!("{:>4}  {}  {:<22} {detail}", r.seq, crate::telemetry::format_time(r.ts), event_type(&r.event));
    }
    outln!();
    out!("{}", Report::from_journal(&records).render_text());
    Ok(Exit::Success)
}
