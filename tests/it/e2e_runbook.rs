//! Runbooks through the binary: every stop short of success prints one (the stop code, the cause,
//! the world as last seen, the next commands), `cutover status` and `cutover explain` show the
//! same one, and the commands it gives work when they are run next — here a held lock (the other
//! run is alive: follow it), then a gate failing during a bake (traffic back on blue, green kept:
//! a kubeconfig for green, then tear green down), and a run paused at a failing check (fix it, then
//! the `resume` given finishes the run). The refused, waiting and hand-edit stops are run the same
//! way in `e2e_identity`, drift in `capture_replay`.

use crate::support;

use std::collections::BTreeMap;

use serde_json::json;
use support::stack::Stack;
use support::stack::run::{checkpoint, journal};
use support::stack::upgrade::{BLUE_SET, GREEN, PlanSpec, RECORD};

/// The commands of a printed runbook (the lines under its `next:` that start with `cutover`).
pub fn runbook_commands(text: &str) -> Vec<String> {
    let Some(next) = text.split("\n  next:\n").nth(1) else { return Vec::new() };
    next.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("(codes"))
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Runs a runbook's `cutover ...` command as a user would (with `--yes`: stdin is no terminal).
pub fn run_command(stack: &Stack, command: &str) -> std::process::Output {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "cutover", "{command}");
    let mut args: Vec<&str> = words[1..].to_vec();
    if ["apply", "resume", "rollback", "unlock"].contains(&args[0]) {
        args.push("--yes");
    }
    stack.run_cutover(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_and_a_failed_gate_each_end_with_a_runbook_whose_commands_work() {
    let stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec { bakes: ["1s", "3s", "1s"], ..PlanSpec::default() }).await;
    let plan = up.plan_arg();

    let mut run = stack.spawn_cutover("apply", &["apply", plan, "--yes"]);
    let runs = up.runs_dir();
    run.wait_until(&stack, "checkpoint traffic-10", || async { checkpoint(&journal(&runs), "traffic-10").then_some(()) })
        .await;

    // A second apply meanwhile: refused with the lock's runbook; its command works.
    let second = stack.run_cutover(&["apply", plan, "--yes"]);
    assert_eq!(second.status.code(), Some(6));
    let said = String::from_utf8_lossy(&second.stderr).to_string();
    assert!(said.contains("CUT-LOCK-001") && said.contains("the other run is alive"), "{said}");
    let commands = runbook_commands(&said);
    assert_eq!(commands, [format!("cutover status {plan}")], "{said}");
    assert_eq!(run_command(&stack, &commands[0]).status.code(), Some(0));

    // Green starts failing its gate: traffic goes back to blue, and the runbook says so.
    stack.patch_faults(json!({"lbErrorRate": {format!("{GREEN}/ingress/ingress-nginx-controller"): 1.0}})).await;
    let run = run.finish(&stack).await;
    run.expect_code(4, "the gate failed during the 50% bake");
    assert!(run.stdout.contains("CUT-CHK-002  a gate failed during a bake"), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("{RECORD}: blue 100 / green no record")), "{}", run.stdout);
    assert!(run.stdout.contains(&format!("green {GREEN} (exists)")), "{}", run.stdout);
    assert!(run.stdout.contains("green is kept at checkpoint verified"), "{}", run.stdout);
    let printed = runbook_commands(&run.stdout);
    assert!(printed.contains(&format!("cutover resume {plan}")), "{printed:?}");
    assert!(printed.contains(&format!("cutover rollback {plan} --to start")), "{printed:?}");
    assert_eq!(stack.weights(&up.zone_id, RECORD).await, BTreeMap::from([(BLUE_SET.to_string(), 100)]));

    // `status -o json` and `explain` give the same runbook.
    let status = stack.run_cutover(&["status", plan, "-o", "json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(status["runbook"]["code"], "CUT-CHK-002", "{status}");
    assert_eq!(status["runbook"]["step"], "traffic.shift.50", "{status}");
    let from_json: Vec<String> =
        status["runbook"]["next"].as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap().to_string()).collect();
    assert_eq!(from_json, printed);
    let explained = stack.run_cutover(&["explain", plan]);
    let explained = String::from_utf8_lossy(&explained.stdout).to_string();
    assert_eq!(runbook_commands(&explained), printed, "{explained}");

    // The commands work: a kubeconfig for green to look at it, then green torn down.
    let kubeconfig = printed.iter().find(|c| c.starts_with("cutover kubeconfig")).expect("a kubeconfig command");
    let out = run_command(&stack, kubeconfig);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let teardown = printed.iter().find(|c| c.contains("--to start")).unwrap();
    let out = run_command(&stack, teardown);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stack.cluster_exists(GREEN).await, "green is gone");
    let explained = stack.run_cutover(&["explain", plan]);
    assert!(String::from_utf8_lossy(&explained.stdout).contains("needs no runbook"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_run_says_to_resume_and_the_resume_it_gives_finishes_the_run() {
    let stack = Stack::start(600.0).await;
    // A check that fails until someone fixes things (here: a file appears).
    let fixed = stack.dir.path().join("fixed");
    let check = format!("    - {{name: approval, timeout: 2s, command: {{run: [test, -f, '{}']}}}}\n", fixed.display());
    let up = stack.prepare_upgrade(PlanSpec { extra_checks: check, on_failure: "pause", ..PlanSpec::default() }).await;
    let plan = up.plan_arg();
    let run = stack.spawn_cutover("apply", &["apply", plan, "--yes"]).finish(&stack).await;
    run.expect_code(5, "paused at the failing check");
    assert!(run.stdout.contains("CUT-CHK-001") && run.stdout.contains("the run changes nothing until it is resumed"), "{}", run.stdout);
    let commands = runbook_commands(&run.stdout);
    let resume = commands.iter().find(|c| c.starts_with("cutover resume")).expect("a resume command");
    assert!(commands.iter().any(|c| c.starts_with(&format!("cutover rollback {plan} --to "))), "{commands:?}");

    std::fs::write(&fixed, "").unwrap();
    let out = run_command(&stack, resume);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!stack.cluster_exists(support::stack::upgrade::BLUE).await, "the run went on to the end");
}
