//! Subcommands: each fills an options struct and calls one library function; no logic lives here
//! beyond wiring, confirmation prompts and choosing an output format.

/// `println!` for data on stdout, returning the I/O error instead of panicking, so a closed pipe
/// (`cutover plan X | head`) ends the command quietly rather than with a panic.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?
    }};
}

/// `print!` counterpart of [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?
    }};
}

mod access;
mod capture;
mod common;
mod completions;
mod dashboard;
mod drift;
pub mod exit;
mod dev;
mod drill;
mod explain;
mod history;
mod next;
mod notify;
mod plan_cmd;
mod backup;
mod preflight;
mod run;
mod schema;
mod status;
mod unlock;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::telemetry::{LogFormat, init_logging};
use exit::{Exit, Reported};

/// Blue/green Kubernetes upgrades on EKS from one declarative plan.
///
/// A plan names the live (blue) cluster, the new (green) one, the pinned Helm releases, the health
/// checks and the DNS records to shift. `cutover apply` builds green, replays the releases, proves it
/// healthy, shifts traffic in steps with automatic rollback, and retires blue. Every step is journaled:
/// a crashed run resumes, and any run can be rolled back to a checkpoint until blue is deleted.
#[derive(Debug, Parser)]
#[command(name = "cutover", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// More logs: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// The subcommand to run.
    #[command(subcommand)]
    pub command: Command,
}

/// cutover's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check plan files and report every problem with its place in the file.
    Validate(validate::Args),
    /// Show the steps a run would take, what each changes and how it is undone.
    Plan(plan_cmd::Args),
    /// Run the plan's pre-flight gates alone (removed APIs, EKS insights, add-ons, subnets); changes nothing.
    Preflight(preflight::Args),
    /// Snapshot the claims spec.data selects on the cluster that serves now; prune past spec.data.retain.
    Backup(backup::Args),
    /// Start a run: build green, replay releases, verify, shift traffic, retire blue.
    Apply(run::ApplyArgs),
    /// Continue the environment's unfinished run (after a crash, a pause or a retention wait).
    Resume(run::ApplyArgs),
    /// Walk the environment's run back to a checkpoint (`--to start` undoes everything).
    Rollback(run::RollbackArgs),
    /// Write next quarter's plan from this quarter's completed run (blue := the green that serves).
    Next(next::Args),
    /// Where the environment's latest run stands, and who holds its lock.
    Status(status::Args),
    /// A run's journal as a timeline, with per-step durations.
    History(history::Args),
    /// The runbook of a run that stopped: what happened, the world as last seen, what to run next.
    Explain(explain::Args),
    /// Break a stale environment lock left by a run that died.
    Unlock(unlock::Args),
    /// Pin every Helm release running on a cluster into a lock file (and export their exact charts).
    Capture(capture::Args),
    /// Compare the Helm releases on a cluster with a lock file or a plan; exit 8 when they differ.
    Drift(drift::Args),
    /// Print an EKS ExecCredential for kubectl and helm (what `aws eks get-token` prints).
    Token(access::TokenArgs),
    /// Write a kubeconfig for an EKS cluster whose user authenticates with `cutover token`.
    Kubeconfig(access::KubeconfigArgs),
    /// Throwaway dev clusters with a TTL: up, list, extend, down, reap.
    Dev(dev::Args),
    /// Disaster-recovery drill: rebuild from nothing, verify, measure recovery time, report, tear down.
    Drill(drill::Args),
    /// Try the plan's notification sinks: `cutover notify test PLAN [--sink NAME]`.
    Notify(notify::Args),
    /// Serve a read-only web dashboard of every environment, run, step, weight and gate, live.
    Dashboard(dashboard::Args),
    /// Print the JSON Schema of plan files (for yaml-language-server and editors), or of notifications.
    Schema(schema::Args),
    /// Print shell completions.
    Completions(completions::Args),
}

/// Runs the CLI and maps the outcome to an exit code. Errors are printed here and only here.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        Err(err) => report(err).into(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan_cmd::run(args),
        Command::Preflight(args) => preflight::run(args).await,
        Command::Backup(args) => backup::run(args).await,
        Command::Apply(args) => run::apply(args, false).await,
        Command::Resume(args) => run::apply(args, true).await,
        Command::Rollback(args) => run::rollback(args).await,
        Command::Next(args) => next::run(args).await,
        Command::Status(args) => status::run(args).await,
        Command::History(args) => history::run(args).await,
        Command::Notify(args) => notify::run(args).await,
        Command::Explain(args) => explain::run(args).await,
        Command::Unlock(args) => unlock::run(args).await,
        Command::Capture(args) => capture::run(args).await,
        Command::Drift(args) => drift::run(args).await,
        Command::Token(args) => access::token(args).await,
        Command::Kubeconfig(args) => access::kubeconfig_cmd(args).await,
        Command::Dev(args) => dev::run(args).await,
        Command::Drill(args) => drill::run(args).await,
        Command::Dashboard(args) => dashboard::run(args).await,
        Command::Schema(args) => schema::run(args),
        Command::Completions(args) => completions::run(args),
    }
}

/// Prints an error with its causes and picks the exit code it deserves.
fn report(err: anyhow::Error) -> Exit {
    let broken_pipe = err
        .chain()
        .any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe));
    if broken_pipe {
        // The reader went away (`| head`): not an error of ours, and nobody is left to tell.
        return Exit::Success;
    }
    if let Some(reported) = err.downcast_ref::<Reported>() {
        if !reported.message.is_empty() {
            eprintln!("error: {}", reported.message);
        }
        return reported.exit;
    }
    eprintln!("error: {err}");
    for cause in err.chain().skip(1) {
        eprintln!("  caused by: {cause}");
    }
    Exit::Error
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// Every argument of every subcommand, by its path (`dev up --yes`), that `--help` shows
    /// without a word of help.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && !arg.is_hide_set() && arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_of_every_command_has_help() {
        let mut missing = Vec::new();
        undocumented(&super::Cli::command(), "cutover", &mut missing);
        assert!(missing.is_empty(), "arguments without help text:\n{}", missing.join("\n"));
    }
}
