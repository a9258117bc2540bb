//! `cutover completions SHELL`: shell completion scripts generated from the clap definition.

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::cli::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: Shell,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    clap_complete::generate(args.shell, &mut Cli::command(), "cutover", &mut std::io::stdout());
    Ok(Exit::Success)
}
