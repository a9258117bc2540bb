//! `cutover next PLAN --version V [--cluster NAME] [-o FILE]`: next quarter's plan from this
//! quarter's completed run ([`crate::ops::next`]); the changed lines go to stderr as a diff.

use std::path::PathBuf;

use crate::cli::common::{context, ops_error};
use crate::cli::exit::Exit;
use crate::ops::next::NextOptions;

#[derive(Debug, clap::Args)]
// `--version` names next quarter's Kubernetes version here, not cutover's own.
#[command(disable_version_flag = true)]
pub struct Args {
    /// This quarter's plan (its run in the environment must have completed).
    pub plan: PathBuf,
    /// Kubernetes version of next quarter's green cluster, e.g. 1.34.
    #[arg(long)]
    pub version: String,
    /// Name of next quarter's green cluster (default: green's name with the version moved on,
    /// e.g. payments-1-32 → payments-1-34).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Write the plan here (default: stdout). Written atomically; may be the input file.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let opts = NextOptions { version: args.version.clone(), cluster: args.cluster.clone(), output: args.output.clone() };
    let next = crate::ops::next::next(&context()?, &args.plan, &opts).await.map_err(ops_error)?;
    for line in &next.diff {
        eprintln!("{line}");
    }
    match &args.output {
        Some(path) => {
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::fs::write(tmp.path(), &next.text)?;
            tmp.persist(path)?;
            eprintln!(
                "wrote {}: blue {} (serves now), green {} at {}",
                path.display(),
                next.blue,
                next.green,
                args.version
            );
        }
        None => out!("{}", next.text),
    }
    Ok(Exit::Success)
}
