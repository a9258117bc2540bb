//! Pieces several subcommands share: output format, plan loading with diagnostics, confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::cli::exit::{Exit, Reported};
use crate::plan::{self, Plan};

/// `-o text|json`: text for people, JSON (one document on stdout) for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// Loads a plan or prints its diagnostics (compiler style, on stderr) and fails with `InvalidPlan`.
pub fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    match plan::load(path) {
        Ok(plan) => Ok(plan),
        Err(errors) => {
            eprintln!("{errors}");
            let n = errors.diagnostics.len();
            Err(Reported::new(
                Exit::InvalidPlan,
                format!("{}: {n} problem{} found; fix them and run again", path.display(), if n == 1 { "" } else { "s" }),
            )
            .into())
        }
    }
}

/// Asks the operator to confirm a change. On a TTY they type `expected` (a name, so a reflexive
/// "y" cannot delete the wrong thing); elsewhere only `--yes` proceeds.
pub fn confirm(question: &str, expected: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(Reported::new(
            Exit::Usage,
            format!("{question}\nstdin is not a terminal, so cutover cannot ask: pass --yes to confirm"),
        )
        .into());
    }
    let mut stderr = std::io::stderr();
    write!(stderr, "{question}\nType '{expected}' to confirm: ")?;
    stderr.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim() == expected {
        Ok(())
    } else {
        Err(Reported::new(Exit::Usage, "not confirmed; nothing was changed").into())
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The state backend a plan names: a local directory, or an S3 bucket and prefix.
pub async fn state_backend(plan: &Plan) -> anyhow::Result<std::sync::Arc<dyn crate::providers::StateBackend>> {
    match &plan.state {
        crate::plan::StateBackend::Local { path } => {
            Ok(std::sync::Arc::new(crate::providers::state_local::LocalState::new(path.clone())))
        }
        crate::plan::StateBackend::S3 { bucket, prefix, region } => {
            let region = region.as_deref().unwrap_or(&plan.aws.region);
            let config = crate::providers::aws::sdk_config(region).await;
            Ok(std::sync::Arc::new(crate::providers::aws::s3_state::S3State::new(&config, bucket.clone(), prefix)))
        }
    }
}

/// Maps an engine error to its exit code, keeping the engine's message (it says what to do).
pub fn engine_error(err: crate::engine::EngineError) -> anyhow::Error {
    use crate::engine::EngineError;
    let exit = match &err {
        EngineError::LockHeld { .. } => Exit::LockHeld,
        EngineError::UnfinishedRun { .. } | EngineError::Journal(_) => Exit::NeedsAttention,
        _ => Exit::Error,
    };
    Reported::new(exit, err.to_string()).into()
}
