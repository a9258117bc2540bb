//! `cutover schema`: the plan's JSON Schema on stdout, for editors and yaml-language-server; with
//! `--notification`, the schema of the JSON notifications webhooks receive.

use crate::cli::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schema of `format: json` notifications instead (versioned: `cutover.dev/notification/v1`).
    #[arg(long)]
    pub notification: bool,
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    if args.notification {
        let schema = schemars::generate::SchemaSettings::draft07()
            .into_generator()
            .into_root_schema_for::<crate::providers::notify::Notification>();
        crate::cli::common::print_json(&schema)?;
    } else {
        crate::cli::common::print_json(&crate::plan::json_schema())?;
    }
    Ok(Exit::Success)
}
