//! Runbooks from journals alone: the paused golden journal (written before stop codes existed)
//! still gets a runbook whose commands the real CLI parses, every stop code is in the README's
//! troubleshooting table, and every code the engine can give has an entry.

use std::path::Path;

use clap::Parser as _;
use cutover::cli::Cli;
use cutover::engine::codes::CODES;
use cutover::engine::journal::JournalRecord;
use cutover::engine::runbook;
use cutover::plan::FailurePolicy;

use crate::support::plans;

fn golden(name: &str) -> Vec<JournalRecord> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journals").join(format!("{name}.jsonl"));
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn a_paused_run_gets_a_runbook_whose_commands_the_cli_accepts() {
    let plan = plans::upgrade().policy(FailurePolicy::Pause).build();
    let rb = runbook::from_journal(&plan, Path::new("plans/payments prod.yaml"), &golden("paused")).expect("a runbook");
    assert!(rb.step.is_some(), "{rb:?}");
    assert!(rb.safe_now.iter().any(|s| s.contains("changes nothing until")), "{rb:?}");
    let commands: Vec<&str> = rb.next.iter().map(|c| c.command.as_str()).collect();
    assert!(commands.contains(&"cutover resume 'plans/payments prod.yaml'"), "{commands:?}");
    assert!(commands.iter().any(|c| c.starts_with("cutover rollback 'plans/payments prod.yaml' --to ")), "{commands:?}");
    for c in commands.iter().filter(|c| c.starts_with("cutover ")) {
        // The shell's split of the line (quotes kept together), then clap's parse.
        let words = shell_words(c);
        Cli::try_parse_from(&words).unwrap_or_else(|e| panic!("{c}: {e}"));
    }
}

#[test]
fn a_completed_run_needs_no_runbook() {
    let plan = plans::upgrade().build();
    assert!(runbook::from_journal(&plan, Path::new("p.yaml"), &golden("completed")).is_none());
}

#[test]
fn every_stop_code_is_in_the_readmes_troubleshooting_table() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    for c in CODES {
        assert!(readme.contains(&format!("| `{}` |", c.code)), "README's troubleshooting table lacks {}", c.code);
    }
}

/// Splits like a POSIX shell for what runbooks write: words, and single-quoted words.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut cur, mut quoted, mut any) = (Vec::new(), String::new(), false, false);
    for ch in line.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

/// Runs a runbook's `cutover resume|rollback` line the way the CLI would: parsed by clap, then the
/// same engine operation on the same environment.
async fn run_runbook_command(h: &crate::support::Harness, line: &str) -> cutover::engine::RunOutcome {
    let cli = Cli::try_parse_from(shell_words(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
    match cli.command {
        cutover::cli::Command::Resume(_) => h.engine().resume().await.unwrap(),
        cutover::cli::Command::Rollback(args) => h.engine().rollback(&args.to).await.unwrap(),
        _ => panic!("not a run command: {line}"),
    }
}

/// The runbook of the environment's latest run, as `cutover explain` builds it.
async fn runbook_now(h: &crate::support::Harness) -> runbook::Runbook {
    let records = cutover::engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    runbook::from_journal(&h.plan, Path::new("plans/payments.yaml"), &records).expect("a stop has a runbook")
}

#[tokio::test(start_paused = true)]
async fn past_the_point_of_no_return_the_runbook_offers_only_resume_and_that_resume_finishes() {
    use crate::support::fakes::Mode;
    let h = crate::support::Harness::new(plans::upgrade().build());
    h.world.fail("delete_cluster", plans::BLUE, Mode::Once);
    let outcome = h.engine().apply().await.unwrap();
    assert!(matches!(outcome, cutover::engine::RunOutcome::NeedsAttention { .. }), "{outcome:?}");
    let rb = runbook_now(&h).await;
    assert_eq!(rb.code, "CUT-PNR-001");
    assert!(rb.world.point_of_no_return_passed);
    let commands: Vec<&str> = rb.next.iter().map(|c| c.command.as_str()).collect();
    assert!(!commands.iter().any(|c| c.starts_with("cutover rollback")), "no rollback past the point of no return: {commands:?}");
    let resume = commands.iter().find(|c| c.starts_with("cutover resume")).expect("resume is offered");
    assert_eq!(run_runbook_command(&h, resume).await, cutover::engine::RunOutcome::Completed);
    assert!(!h.world.state().clusters.contains_key(plans::BLUE), "blue is retired");
}

#[tokio::test(start_paused = true)]
async fn an_unfinished_rollback_gets_a_runbook_whose_resume_finishes_the_rollback() {
    use crate::support::fakes::Mode;
    let h = crate::support::Harness::new(plans::upgrade().build());
    // The api release fails to install; undoing ingress's install then fails once.
    h.world.fail("install", "api", Mode::Always);
    h.world.fail("uninstall", "ingress", Mode::Once);
    let outcome = h.engine().apply().await.unwrap();
    assert!(matches!(outcome, cutover::engine::RunOutcome::NeedsAttention { .. }), "{outcome:?}");
    let rb = runbook_now(&h).await;
    assert_eq!(rb.code, "CUT-RBK-001");
    let resume = rb.next.iter().map(|c| c.command.as_str()).find(|c| c.starts_with("cutover resume")).expect("resume is offered");
    let outcome = run_runbook_command(&h, resume).await;
    assert!(matches!(outcome, cutover::engine::RunOutcome::RolledBack { .. }), "the rollback finishes: {outcome:?}");
    assert!(h.world.state().clusters[plans::GREEN].releases.is_empty(), "nothing of the run is left on green");
}
