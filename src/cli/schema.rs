//! `cutover schema`: the plan's JSON Schema on stdout, for editors and yaml-language-server.

use crate::cli::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<Exit> {
    crate::cli::common::print_json(&crate::plan::json_schema())?;
    Ok(Exit::Success)
}
