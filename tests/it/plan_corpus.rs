//! The malformed-plan corpus: every file in tests/fixtures/plans/malformed/ must be rejected, every
//! diagnostic must be located (line and column), and the messages must contain what the file's
//! `# expect:` comments promise. The full output of each is an insta snapshot, so a change in
//! wording or position shows up in review.
//!
//! Update snapshots after an intended change: `INSTA_UPDATE=always cargo test -p cutover --test it plan_corpus`.

use std::path::{Path, PathBuf};

const CORPUS: &str = "tests/fixtures/plans/malformed";

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(CORPUS)
        .expect("corpus directory exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn expectations(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .collect()
}

#[test]
fn corpus_is_large_enough() {
    assert!(
        corpus().len() >= 25,
        "the brief asks for at least 25 malformed plans, found {}",
        corpus().len()
    );
}

#[test]
fn every_malformed_plan_is_rejected_with_located_messages() {
    // Relative paths (cargo runs tests from the crate root), as a user would type them, keep the
    // snapshots machine-independent.
    let mut failures = Vec::new();
    for path in corpus() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let expected = expectations(&text);
        assert!(
            !expected.is_empty(),
            "{name}: add `# expect: ...` comments saying what must be reported"
        );
        let errors = match cutover::plan::load(&path) {
            Ok(_) => {
                failures.push(format!("{name}: was accepted"));
                continue;
            }
            Err(e) => e,
        };
        let output = errors.to_string();
        for d in &errors.diagnostics {
            if d.line == 0 || d.column == 0 || d.file != path {
                failures.push(format!("{name}: not located: {d}"));
            }
        }
        for e in &expected {
            if !output.contains(e) {
                failures.push(format!("{name}: missing {e:?} in:\n{output}"));
            }
        }
        insta::assert_snapshot!(name, output);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn multiple_problems_are_all_reported_in_file_order() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(CORPUS)
        .join("multiple-problems.yaml");
    let errors = cutover::plan::load(&path).unwrap_err();
    assert!(errors.diagnostics.len() >= 6, "{errors}");
    let positions: Vec<(usize, usize)> = errors
        .diagnostics
        .iter()
        .map(|d| (d.line, d.column))
        .collect();
    let mut sorted = positions.clone();
    sorted.sort();
    assert_eq!(positions, sorted);
}

#[test]
fn an_unreadable_file_is_a_diagnostic_too() {
    let errors = cutover::plan::load(Path::new("/nonexistent/plan.yaml")).unwrap_err();
    assert_eq!(errors.diagnostics.len(), 1);
    assert!(
        errors
            .to_string()
            .starts_with("/nonexistent/plan.yaml: cannot read the plan:"),
        "{errors}"
    );
}

#[test]
fn non_utf8_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.yaml");
    std::fs::write(&path, b"apiVersion: cutover.dev/v1\nkind: \xff\n").unwrap();
    let errors = cutover::plan::load(&path).unwrap_err();
    assert_eq!(
        (errors.diagnostics[0].line, errors.diagnostics[0].column),
        (2, 7)
    );
}
