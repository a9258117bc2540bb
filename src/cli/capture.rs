//! `cutover capture --cluster NAME [-o FILE] [--export-charts DIR]`: pin every Helm release running
//! on a cluster into a lock file, read from helm's own release records (no helm needed).

use std::path::PathBuf;

use crate::capture::secrets::SecretRule;
use crate::cli::common::{context, ops_error};
use crate::cli::exit::Exit;
use crate::ops::releases::CaptureOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The EKS cluster to read.
    #[arg(long)]
    pub cluster: String,
    /// AWS region (default: AWS_REGION / the profile's region).
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
    /// The lock file to write (YAML, written in JSON style).
    #[arg(short, long, default_value = "releases.lock.yaml")]
    pub output: PathBuf,
    /// Also write each release's exact chart as a .tgz under DIR/<namespace>/<release>/, so a
    /// replay needs no chart repository; the lock file points at them.
    #[arg(long, value_name = "DIR")]
    pub export_charts: Option<PathBuf>,
    /// A values path (e.g. `db.dsn`) to treat as secret besides those whose names say so
    /// (password, secret, token, credential, api key, private key, access key). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub secret_key: Vec<String>,
    /// A values path whose name looks secret but holds none (e.g. `existingSecret`). Repeatable.
    #[arg(long, value_name = "PATH")]
    pub plain_key: Vec<String>,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    let opts = CaptureOptions {
        cluster: args.cluster.clone(),
        region: args.region.clone(),
        output: args.output.clone(),
        export_charts: args.export_charts.clone(),
        secrets: SecretRule { extra: args.secret_key, plain: args.plain_key },
    };
    let captured = crate::ops::releases::capture(&context()?, &opts).await.map_err(ops_error)?;
    let lock = &captured.lock;
    for w in &lock.warnings {
        eprintln!("warning: {}: {}", w.release, w.message);
    }
    for p in &lock.problems {
        eprintln!("warning: {} (Secret {}): {}", p.release, p.secret, p.message);
    }
    for r in &lock.releases {
        for why in &r.needs_attention {
            eprintln!("warning: {}/{}: {why}; the lock marks it, and a replay refuses it until resolved", r.namespace, r.name);
        }
        for s in &r.secret_values {
            if let Some(env) = &s.from_env {
                eprintln!("note: {}/{}: secret value {} is not in the lock; a replay reads it from ${env}", r.namespace, r.name, s.key);
            }
        }
    }
    outln!(
        "captured {} release(s) from cluster {} into {}{}",
        lock.releases.len(),
        args.cluster,
        args.output.display(),
        args.export_charts.as_ref().map(|d| format!(", charts in {}", d.display())).unwrap_or_default()
    );
    if !lock.problems.is_empty() {
        outln!(
            "{} release(s) not pinned (listed under `problems` in the lock file; a plan refuses the lock until they are resolved)",
            lock.problems.len()
        );
    }
    Ok(Exit::Success)
}
