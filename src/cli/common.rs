//! Pieces several subcommands share: output format, plan loading with diagnostics, confirmation.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::cli::exit::{Exit, Reported};
use crate::compose::Context;
use crate::ops::{ErrorClass, OpsError};
use crate::plan::Plan;

/// `-o text|json`: text for people, JSON (one document on stdout) for machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// Loads a plan or prints its diagnostics (compiler style, on stderr) and fails with `InvalidPlan`.
pub fn load_plan(path: &Path) -> anyhow::Result<Plan> {
    crate::ops::load_plan(path).map_err(ops_error)
}

/// The process's composition root; a malformed setting in the environment is a usage error.
pub fn context() -> anyhow::Result<Context> {
    Context::from_env().map_err(|e| Reported::new(Exit::Usage, e.to_string()).into())
}

/// Maps a flow's error to its exit code, keeping its message (it says what to do). A plan's
/// diagnostics are printed first, one per line, compiler style.
pub fn ops_error(err: OpsError) -> anyhow::Error {
    if let OpsError::InvalidPlan { errors, .. } = &err {
        eprintln!("{errors}");
    }
    let exit = match err.class() {
        ErrorClass::InvalidPlan => Exit::InvalidPlan,
        ErrorClass::Usage => Exit::Usage,
        ErrorClass::LockHeld => Exit::LockHeld,
        ErrorClass::NeedsAttention => Exit::NeedsAttention,
        ErrorClass::Refused => Exit::Refused,
        ErrorClass::Failed => Exit::Error,
    };
    Reported::new(exit, err.to_string()).into()
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
