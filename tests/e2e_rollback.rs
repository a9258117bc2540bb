//! A gate failing at the 50% traffic step, end to end: green's load balancer starts answering
//! 5xx once the run has passed traffic-10, the smoke gate fails during the 50% bake, and cutover
//! rolls back by itself — blue gets all its traffic back in ONE Route53 batch, green's record is
//! removed, blue is never touched, and the run exits 4 (rolled back).

mod support;

use std::collections::BTreeMap;

use cutover::engine::JournalEvent;
use support::stack::Stack;
use support::stack::proxy::Change;
use support::stack::run::{checkpoint, journal, kinds};
use support::stack::upgrade::{BLUE, BLUE_SET, GREEN, GREEN_SET, PlanSpec, RECORD};

fn upsert(set: &str, weight: u8) -> Change {
    Change {
        action: "UPSERT".into(),
        set_id: set.into(),
        weight: Some(weight),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gate_failing_at_50_percent_gives_blue_all_traffic_back_in_one_batch() {
    let stack = Stack::start(600.0).await;
    // A longer 50% bake so the gate is surely re-checked after the fault is in force.
    let up = stack
        .prepare_upgrade(PlanSpec {
            bakes: ["1s", "3s", "1s"],
            ..PlanSpec::default()
        })
        .await;
    let blue_targets = stack.targets(&up.zone_id, RECORD).await;

    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    let runs = up.runs_dir();
    run.wait_until("checkpoint traffic-10", || async {
        checkpoint(&journal(&runs), "traffic-10").then_some(())
    })
    .await;
    stack
        .cloudsim()
        .env()
        .faults
        .write()
        .unwrap()
        .lb_error_rate
        .insert(format!("{GREEN}/ingress/ingress-nginx-controller"), 1.0);
    let run = run.finish().await;
    run.expect_code(4, "cutover apply with green failing its gate at 50%");
    assert!(
        run.stderr.contains("smoke"),
        "the failure names the gate: {}",
        run.stderr
    );

    // DNS: exactly as before the run; the rollback was a single batch straight back to 100/0.
    assert_eq!(
        stack.weights(&up.zone_id, RECORD).await,
        BTreeMap::from([(BLUE_SET.to_string(), 100)])
    );
    assert_eq!(
        stack.targets(&up.zone_id, RECORD).await,
        blue_targets,
        "blue's record is as it was"
    );
    assert_eq!(
        stack.route53.change_batches(),
        vec![
            vec![upsert(GREEN_SET, 0)],
            vec![upsert(BLUE_SET, 90), upsert(GREEN_SET, 10)],
            vec![upsert(BLUE_SET, 50), upsert(GREEN_SET, 50)],
            // The rollback: both shifts undone at once, then green's record removed.
            vec![upsert(BLUE_SET, 100), upsert(GREEN_SET, 0)],
            vec![Change {
                action: "DELETE".into(),
                set_id: GREEN_SET.into(),
                weight: Some(0)
            }],
        ]
    );

    // The journal records the failure and the rollback to the last safe checkpoint.
    let records = journal(&up.runs_dir());
    let kinds = kinds(&records);
    let failed = records.iter().find_map(|r| match &r.event {
        JournalEvent::StepFailed { step, error, .. } => Some((step.clone(), error.clone())),
        _ => None,
    });
    let (step, error) = failed.unwrap_or_else(|| panic!("no step-failed in {kinds:?}"));
    assert_eq!(step, "traffic.shift.50");
    assert!(error.contains("smoke"), "{error}");
    let from = kinds
        .iter()
        .position(|k| k.starts_with("rollback-started"))
        .expect("a rollback");
    assert_eq!(
        kinds[from + 1..],
        [
            "compensation-started traffic.shift.50",
            "compensation-started traffic.shift.10",
            "compensation-done traffic.shift.50",
            "compensation-done traffic.shift.10",
            "compensation-started traffic.prepare",
            "compensation-done traffic.prepare",
            "run-rolled-back",
        ],
        "both shifts are undone as one unit: {kinds:?}"
    );
    assert!(
        matches!(&records.last().unwrap().event, JournalEvent::RunRolledBack { to: Some(to), .. } if to == "verified"),
        "{:?}",
        records.last()
    );

    // Blue untouched; green kept (verified) for a later attempt.
    for kind in ["cluster-deleting", "nodegroup-deleting", "addon-deleting"] {
        assert_eq!(stack.count_events(kind, BLUE), 0, "{kind} on blue");
    }
    let eks = stack.eks().await;
    let blue = eks.describe_cluster().name(BLUE).send().await.unwrap();
    assert_eq!(
        blue.cluster().unwrap().status(),
        Some(&aws_sdk_eks::types::ClusterStatus::Active)
    );
    let green = eks.describe_cluster().name(GREEN).send().await.unwrap();
    assert_eq!(
        green.cluster().unwrap().status(),
        Some(&aws_sdk_eks::types::ClusterStatus::Active)
    );
}
