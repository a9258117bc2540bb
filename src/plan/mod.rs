//! Plan files: YAML → located tree → structural pass against the schema → raw (serde mirror) →
//! semantic validation → typed [`Plan`]. Every problem is reported at once, compiler-style:
//! `plans/prod.yaml:42:7: spec.releases[2].chart.version: "^1.2" is a range; pin an exact version`.
//!
//! - [`yaml`]: saphyr-parser events → [`yaml::Node`] tree with positions (duplicate keys, multiple
//!   documents and unsupported tags are errors; anchors/aliases are supported).
//! - [`raw`]: what may be written; the JSON Schema for editors is generated from it.
//! - `shape`: unknown fields, wrong types and missing fields, found by walking that schema.
//! - `validate`: what the values must mean (exact versions, acyclic `needs`, increasing weights…).
//! - [`model`]: the validated plan the engine compiles.

mod duration;
pub mod edit;
pub(crate) mod path;
pub mod raw;
pub mod rules;
mod shape;
mod validate;
pub(crate) mod yaml;

pub mod lockfile;
pub mod model;

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use duration::{format_duration, format_elapsed, parse_duration};
pub use model::*;

/// One problem, located like a compiler message. `line` and `column` are 1-based; both are 0
/// when the problem is not inside the text (the file could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file the problem is in.
    pub file: PathBuf,
    /// Line (1-based; 0 when not in the text).
    pub line: usize,
    /// Column (1-based; 0 when not in the text).
    pub column: usize,
    /// YAML path such as `spec.releases[2].chart.version`; empty for whole-file problems.
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.file.display())?;
        if self.line > 0 {
            write!(f, "{}:{}:", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, " {}:", self.path)?;
        }
        write!(f, " {}", self.message)
    }
}

/// Every problem found in a plan, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.diagnostics))]
pub struct PlanErrors {
    /// Every problem, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads and validates the plan at `path`. A file that cannot be read, or is not UTF-8, is
/// reported as a diagnostic like any other problem.
pub fn load(path: &Path) -> Result<Plan, PlanErrors> {
    let bytes = std::fs::read(path)
        .map_err(|e| single(path, 0, 0, format!("cannot read the plan: {e}")))?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let before = &bytes[..e.valid_up_to()];
            let line = 1 + before.iter().filter(|b| **b == b'\n').count();
            let column = 1 + before.iter().rev().take_while(|b| **b != b'\n').count();
            return Err(single(
                path,
                line,
                column,
                "the file is not UTF-8 text; save it as UTF-8".into(),
            ));
        }
    };
    load_str(path, text)
}

/// Validates plan text as if read from `file_name`: messages name that file, relative paths in
/// the plan (values files, local charts, a local state directory) resolve against its directory,
/// and those files are checked to exist.
pub fn load_str(file_name: &Path, text: &str) -> Result<Plan, PlanErrors> {
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            return Err(single(
                file_name,
                1,
                1,
                "the file is empty; a plan starts with `apiVersion: cutover.dev/v1` and `kind: Upgrade` (or DevCluster, Drill)".into(),
            ));
        }
        Err(e) => return Err(single(file_name, e.pos.line, e.pos.column, e.message)),
    };
    let located = |path: &str, pos: yaml::Pos, message: String| Diagnostic {
        file: file_name.to_path_buf(),
        line: pos.line,
        column: pos.column,
        path: path.to_owned(),
        message,
    };

    let mut diagnostics = Vec::new();
    let header_ok = header(&root, &mut |p, pos, m| diagnostics.push(located(p, pos, m)));
    if header_ok == Header::WrongApi {
        return Err(PlanErrors { diagnostics });
    }
    let (value, outcome) = shape::check(&root);
    let structural: Vec<_> = outcome
        .problems
        .into_iter()
        .filter(|p| {
            !(p.path == "apiVersion"
                || p.path == "kind"
                || p.path.is_empty() && p.message.contains("`kind`"))
        })
        .collect();
    let flagged: std::collections::HashSet<String> =
        structural.iter().map(|p| p.path.clone()).collect();
    diagnostics.extend(
        structural
            .into_iter()
            .map(|p| located(&p.path, p.pos, p.message)),
    );

    if !outcome.fatal && header_ok == Header::Ok {
        match serde_json::from_value::<raw::RawPlan>(value) {
            Ok(raw) => {
                // Absolute, so paths in the plan still resolve when helm (or anything cutover runs)
                // works from another directory.
                let parent = file_name.parent().unwrap_or(Path::new(""));
                let base = std::path::absolute(if parent.as_os_str().is_empty() { Path::new(".") } else { parent })
                    .unwrap_or_else(|_| parent.to_path_buf());
                let (plan, findings) = validate::validate(raw, &base, file_name, digest);
                if let (Some(plan), true) = (plan, diagnostics.is_empty()) {
                    return Ok(plan);
                }
                for f in findings.into_iter().filter(|f| !flagged.contains(&f.path)) {
                    if let Some(d) = f.elsewhere {
                        diagnostics.push(d);
                        continue;
                    }
                    let pos = path::locate(&root, &f.path);
                    diagnostics.push(located(&f.path, pos, f.message));
                }
            }
            // The structural pass mirrors serde's rules, so this means the two disagree: say so
            // plainly rather than hide it.
            Err(e) => diagnostics.push(located(
                "",
                root.pos,
                format!("the plan could not be read ({e}); please report this as a cutover bug"),
            )),
        }
    }
    // The plan's own problems first, then those of files it reads (a lock file).
    diagnostics.sort_by_key(|d| (d.file != file_name, d.line, d.column));
    diagnostics.dedup();
    Err(PlanErrors { diagnostics })
}

/// Only the YAML and structural passes (the checks an editor with the JSON Schema makes): unknown
/// fields, wrong types, missing fields. Empty when the file has the plan's shape.
pub fn check_structure(file_name: &Path, text: &str) -> Vec<Diagnostic> {
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return single(file_name, 1, 1, "the file is empty".into()).diagnostics,
        Err(e) => return single(file_name, e.pos.line, e.pos.column, e.message).diagnostics,
    };
    let (_, outcome) = shape::check(&root);
    outcome
        .problems
        .into_iter()
        .map(|p| Diagnostic {
            file: file_name.to_path_buf(),
            line: p.pos.line,
            column: p.pos.column,
            path: p.path,
            message: p.message,
        })
        .collect()
}

/// The plan's JSON Schema (draft-07), for `cutover schema` and editors.
pub fn json_schema() -> serde_json::Value {
    shape::schema().clone()
}

fn single(file: &Path, line: usize, column: usize, message: String) -> PlanErrors {
    PlanErrors {
        diagnostics: vec![Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            path: String::new(),
            message,
        }],
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Header {
    Ok,
    /// The kind is unknown: structure is still checked, meaning is not.
    WrongKind,
    /// Another format entirely: nothing else is worth reporting.
    WrongApi,
}

const API_VERSION: &str = "cutover.dev/v1";
const KINDS: [&str; 3] = ["Upgrade", "DevCluster", "Drill"];

/// `apiVersion` and `kind` first, with messages that say what a plan is.
fn header(root: &yaml::Node, report: &mut dyn FnMut(&str, yaml::Pos, String)) -> Header {
    let yaml::NodeKind::Map(_) = &root.kind else {
        report(
            "",
            root.pos,
            format!(
                "a plan is a mapping that starts with `apiVersion: {API_VERSION}`; found {}",
                root.describe()
            ),
        );
        return Header::WrongApi;
    };
    let text = |key: &str| {
        root.get(key).map(|e| match &e.value.kind {
            yaml::NodeKind::Scalar(s) => (Some(s.text.clone()), e.value.pos),
            _ => (None, e.value.pos),
        })
    };
    match text("apiVersion") {
        None => {
            report(
                "",
                root.pos,
                format!("missing `apiVersion: {API_VERSION}`; is this a cutover plan?"),
            );
            return Header::WrongApi;
        }
        Some((Some(v), _)) if v == API_VERSION => {}
        Some((v, pos)) => {
            let shown = v.map_or_else(|| "this".to_owned(), |v| format!("{v:?}"));
            report(
                "apiVersion",
                pos,
                format!("{shown} is not supported; use {API_VERSION}"),
            );
            return Header::WrongApi;
        }
    }
    match text("kind") {
        None => {
            report(
                "",
                root.pos,
                "missing `kind`; use Upgrade, DevCluster or Drill".into(),
            );
            Header::WrongKind
        }
        Some((Some(k), _)) if KINDS.contains(&k.as_str()) => Header::Ok,
        Some((k, pos)) => {
            let shown = k
                .as_deref()
                .map_or_else(|| "this".to_owned(), |k| format!("{k:?}"));
            let hint = k
                .as_deref()
                .and_then(|k| shape::closest(k, KINDS.into_iter()))
                .map(|n| format!("; did you mean {n}?"))
                .unwrap_or_default();
            report(
                "kind",
                pos,
                format!("{shown} is not a plan kind; use Upgrade, DevCluster or Drill{hint}"),
            );
            Header::WrongKind
        }
    }
}
