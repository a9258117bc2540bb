//! `cutover validate PLAN...`: load and check plans without touching anything.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::common::{Output, print_json};
use crate::cli::exit::Exit;
use crate::plan::{self, Diagnostic};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Plan files to check.
    #[arg(required = true)]
    pub plans: Vec<PathBuf>,
    /// Text for people, or JSON (`-o json`) for machines.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Serialize)]
struct Verdict {
    file: PathBuf,
    valid: bool,
    kind: Option<String>,
    name: Option<String>,
    problems: Vec<Problem>,
}

#[derive(Serialize)]
struct Problem {
    line: usize,
    column: usize,
    path: String,
    message: String,
}

impl From<&Diagnostic> for Problem {
    fn from(d: &Diagnostic) -> Self {
        Problem { line: d.line, column: d.column, path: d.path.clone(), message: d.message.clone() }
    }
}

pub fn run(args: Args) -> anyhow::Result<Exit> {
    let mut verdicts = Vec::new();
    for path in &args.plans {
        let verdict = match plan::load(path) {
            Ok(p) => Verdict {
                file: path.clone(),
                valid: true,
                kind: Some(format!("{:?}", p.kind)),
                name: Some(p.metadata.name.clone()),
                problems: vec![],
            },
            Err(errors) => {
                if args.output == Output::Text {
                    // Compiler-style diagnostics belong on stderr, where editors and CI logs look.
                    eprintln!("{errors}");
                }
                Verdict {
                    file: path.clone(),
                    valid: false,
                    kind: None,
                    name: None,
                    problems: errors.diagnostics.iter().map(Problem::from).collect(),
                }
            }
        };
        verdicts.push(verdict);
    }
    match args.output {
        Output::Json => print_json(&verdicts)?,
        Output::Text => {
            for v in &verdicts {
                match (&v.kind, &v.name) {
                    (Some(kind), Some(name)) => {
                        outln!("{}: ok ({kind} {name})", v.file.display());
                    }
                    _ => outln!(
                        "{}: invalid ({} problem{})",
                        v.file.display(),
                        v.problems.len(),
                        if v.problems.len() == 1 { "" } else { "s" }
                    ),
                }
            }
        }
    }
    Ok(if verdicts.iter().all(|v| v.valid) { Exit::Success } else { Exit::InvalidPlan })
}
