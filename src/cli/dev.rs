//! `cutover dev up|list|extend|down|reap`: throwaway dev clusters with a TTL. `up` runs a
//! DevCluster plan through the engine (its own environment per `--name`); the others act on the
//! region's clusters by their tags (see [`crate::dev`]).

use std::path::PathBuf;
use std::time::Duration;

use jiff::Timestamp;

use crate::cli::common::{Output, confirm, context, load_plan, ops_error, print_json};
use crate::cli::exit::{Exit, Reported};
use crate::cli::run::{finish, outcome_exit, run_options};
use crate::dev;
use crate::plan::{format_duration, parse_duration};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: DevCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum DevCommand {
    /// Build a dev cluster from a DevCluster plan (releases and checks; no blue, no traffic).
    Up(UpArgs),
    /// The region's dev clusters: owner, age, time left, nodes and instance types.
    List(ListArgs),
    /// Move a dev cluster's expiry to TTL from now (never earlier than it is).
    Extend(ExtendArgs),
    /// Delete a dev cluster (load balancers, node groups, add-ons, cluster).
    Down(DownArgs),
    /// Delete every expired dev cluster of the region; nothing else is touched.
    Reap(ReapArgs),
}

#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// The DevCluster plan.
    pub plan: PathBuf,
    /// Name of this dev cluster: its EKS cluster name and its environment (lock and journal), so
    /// several dev clusters from one plan never share either. Default: the plan's names.
    #[arg(long)]
    pub name: Option<String>,
    /// Lifetime from when the cluster is ready (default: the plan's `ttl`), e.g. 8h.
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// Owner written into the cluster's tags (default: your login name).
    #[arg(long)]
    pub owner: Option<String>,
    /// Where to write the cluster's kubeconfig (default: ./NAME.kubeconfig).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub plain: bool,
}

#[derive(Debug, clap::Args)]
pub struct Region {
    /// AWS region (default: AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    pub region: String,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub region: Region,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, clap::Args)]
pub struct ExtendArgs {
    /// The dev cluster's name (as `cutover dev list` shows it).
    pub name: String,
    /// New lifetime, counted from now (e.g. 4h).
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Duration,
    #[command(flatten)]
    pub region: Region,
}

#[derive(Debug, clap::Args)]
pub struct DownArgs {
    /// The dev cluster's name (as `cutover dev list` shows it).
    pub name: String,
    #[command(flatten)]
    pub region: Region,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReapArgs {
    #[command(flatten)]
    pub region: Region,
    /// Only say what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: tell this plan's notification sinks (`dev-expiring`) about each expired cluster.
    #[arg(long, value_name = "PLAN", requires = "dry_run")]
    pub notify: Option<PathBuf>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

pub async fn run(args: Args) -> anyhow::Result<Exit> {
    match args.command {
        DevCommand::Up(a) => up(a).await,
        DevCommand::List(a) => list(a).await,
        DevCommand::Extend(a) => extend(a).await,
        DevCommand::Down(a) => down(a).await,
        DevCommand::Reap(a) => reap(a).await,
    }
}

async fn up(args: UpArgs) -> anyhow::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let plan_for_runbook = plan.clone();
    let cx = context()?;
    let up = crate::ops::dev::prepare_up(plan, args.name.as_deref(), args.ttl, args.owner.clone(), &cx.settings().login)
        .map_err(ops_error)?;
    let (name, region, owner) = (up.name.clone(), up.region.clone(), up.owner.clone());
    confirm(
        &format!("cutover will build dev cluster {name} in {region} (owner {owner}, TTL {}).", format_duration(up.ttl)),
        &name,
        args.yes,
    )?;
    let ttl = up.ttl;
    let path = args.kubeconfig.unwrap_or_else(|| PathBuf::from(format!("{name}.kubeconfig")));
    let done = crate::ops::dev::up(&cx, up, path, &run_options(4, args.plain)).await.map_err(ops_error)?;
    finish(&done.run, &plan_for_runbook, &args.plan)?;
    let (Some(expires_at), Some(path)) = (done.expires_at, done.kubeconfig) else {
        return Ok(outcome_exit(&done.run.outcome));
    };
    eprintln!("wrote {}; use it with KUBECONFIG={} kubectl get nodes", path.display(), path.display());
    outln!(
        "dev cluster {name} is ready in {region}; owner {owner}; expires at {} (in {})",
        dev::expiry_tag(expires_at),
        format_duration(ttl)
    );
    outln!("  kubeconfig: {}   (KUBECONFIG={} kubectl get nodes)", path.display(), path.display());
    outln!("  token:      cutover token --cluster {name} --region {region}");
    outln!("  more time:  cutover dev extend {name} --ttl 4h --region {region}");
    outln!("  done:       cutover dev down {name} --region {region}");
    Ok(Exit::Success)
}

async fn list(args: ListArgs) -> anyhow::Result<Exit> {
    let now = Timestamp::now();
    let clusters = crate::ops::dev::list(&context()?, &args.region.region).await.map_err(ops_error)?;
    if args.output == Output::Json {
        print_json(&clusters)?;
        return Ok(Exit::Success);
    }
    if clusters.is_empty() {
        outln!("no dev clusters in {}", args.region.region);
        return Ok(Exit::Success);
    }
    let w = clusters.iter().map(|c| c.name.len()).max().unwrap_or(4).max(4);
    let ow = clusters.iter().map(|c| c.owner.len()).max().unwrap_or(5).max(5);
    outln!(
        "{:<w$}  {:<ow$}  {:>8}  {:>18}  {:>5}  instance types",
        "name",
        "owner",
        "age",
        "expires in",
        "nodes"
    );
    for c in &clusters {
        outln!(
            "{:<w$}  {:<ow$}  {:>8}  {:>18}  {:>5}  {}",
            c.name,
            c.owner,
            c.age(now),
            c.expires_in(),
            c.nodes,
            if c.instance_types.is_empty() {
                "-".to_string()
            } else {
                c.instance_types.join(",")
            }
        );
    }
    Ok(Exit::Success)
}

async fn extend(args: ExtendArgs) -> anyhow::Result<Exit> {
    let done =
        crate::ops::dev::extend(&context()?, &args.region.region, &args.name, args.ttl).await.map_err(ops_error)?;
    if done.changed {
        outln!(
            "{} now expires at {} (was {})",
            done.name,
            dev::expiry_tag(done.after),
            dev::expiry_tag(done.before)
        );
    } else {
        outln!(
            "{} already expires at {}, later than that; unchanged",
            done.name,
            dev::expiry_tag(done.before)
        );
    }
    Ok(Exit::Success)
}

async fn down(args: DownArgs) -> anyhow::Result<Exit> {
    confirm(
        &format!(
            "cutover will delete dev cluster {} in {} with everything on it.",
            args.name, args.region.region
        ),
        &args.name,
        args.yes,
    )?;
    crate::ops::dev::down(&context()?, &args.region.region, &args.name).await.map_err(ops_error)?;
    outln!("deleted dev cluster {}", args.name);
    Ok(Exit::Success)
}

async fn reap(args: ReapArgs) -> anyhow::Result<Exit> {
    if !args.dry_run {
        confirm(
            &format!(
                "cutover will delete every expired dev cluster in {}.",
                args.region.region
            ),
            &args.region.region,
            args.yes,
        )?;
    }
    let cx = context()?;
    let report = crate::ops::dev::reap(&cx, &args.region.region, args.dry_run).await.map_err(ops_error)?;
    if let Some(path) = &args.notify {
        let plan = load_plan(path)?;
        for (sink, result) in crate::ops::dev::tell_expiring(&cx, &plan, &args.region.region, &report.deleted).await {
            if let Err(why) = result {
                eprintln!("warning: sink {sink}: {why}");
            }
        }
    }
    if args.output == Output::Json {
        print_json(&report)?;
    } else {
        let verb = if args.dry_run { "would delete" } else { "deleted" };
        for name in &report.deleted {
            outln!("{verb} {name}");
        }
        for (name, why) in &report.kept {
            outln!("kept {name}: {why}");
        }
        for (name, err) in &report.failed {
            outln!("FAILED {name}: {err}");
        }
    }
    if !report.failed.is_empty() {
        return Err(Reported::new(
            Exit::NeedsAttention,
            format!(
                "{} expired dev cluster(s) could not be deleted; run `cutover dev reap` again",
                report.failed.len()
            ),
        )
        .into());
    }
    Ok(Exit::Success)
}
