//! Failures: a fault at every step under both policies, bakes that fail, waits that time out,
//! and the safety interlocks (hand-changed DNS, clusters that are not ours, blue with traffic,
//! all-zero weights).

use crate::support;

use std::time::Duration;

use cutover::engine::{self, EngineEvent, RunOutcome, RunPhase, compile};
use cutover::plan::FailurePolicy;
use support::Harness;
use support::fakes::{Mode, World};
use support::plans::{self, BLUE, BLUE_LB, BLUE_SET, GREEN, GREEN_SET, RECORD};

/// Switches on a fault that makes `step` fail (without making its compensation fail).
/// `None` for steps that call no provider and so cannot fail.
fn break_step(world: &World, step: &str) -> Option<()> {
    let (op, key, mode) = match step {
        "preflight.charts" => ("verify_chart", "ingress", Mode::Once),
        "preflight.blue" => ("describe_cluster", BLUE, Mode::Once),
        "preflight.apis" => ("render", "ingress", Mode::Once),
        "preflight.insights" => ("upgrade_insights", BLUE, Mode::Once),
        "preflight.addons" => ("addon_versions", "vpc-cni", Mode::Once),
        "preflight.subnets" => ("subnets", "", Mode::Once),
        // The irsa gate renders the releases again, after the apis gate did.
        "preflight.irsa" => ("render", "ingress", Mode::FromCall(2)),
        "provision.cluster" => ("create_cluster", GREEN, Mode::Once),
        "provision.access.0" => ("ensure_access_entry", "", Mode::Once),
        "traffic.prepare" => ("change", "UPSERT api.example.com/api-green=0", Mode::Once),
        "retire.blue-records" => ("change", "DELETE api.example.com/api-blue", Mode::Once),
        "retire.blue-cluster" => ("delete_cluster", BLUE, Mode::Once),
        "retire.wait-retention" => return None,
        s if s.starts_with("provision.addon.") => ("ensure_addon", &s[16..], Mode::Once),
        s if s.starts_with("provision.nodegroup.") => ("ensure_nodegroup", &s[20..], Mode::Once),
        s if s.starts_with("releases.install.") => ("install", &s[17..], Mode::Once),
        // A check that never passes (verify retries checks until their timeout).
        s if s.starts_with("verify.check.") => ("check", &s[13..], Mode::Always),
        s if s.starts_with("traffic.shift.") => {
            world.fail("change", &format!("api-green={}", &s[14..]), Mode::Once);
            return Some(());
        }
        other => panic!("no fault for step {other}"),
    };
    world.fail(op, key, mode);
    Some(())
}

/// The automatic rollback target for a failure at `step`: the last safe checkpoint before it.
fn expected_target(step: &str) -> Option<String> {
    let compiled = compile(&plans::upgrade().build());
    let pos = compiled.position(step).unwrap();
    compiled
        .checkpoints
        .iter()
        .rfind(|c| c.automatic_target && compiled.position(&c.after_step).unwrap() < pos)
        .map(|c| c.name.clone())
}

#[tokio::test(start_paused = true)]
async fn a_fault_at_every_step_rolls_back_to_the_last_safe_checkpoint() {
    let compiled = compile(&plans::upgrade().build());
    let mut faulted = 0;
    for step in compiled.steps().map(|s| s.id.clone()) {
        let h = Harness::new(plans::upgrade().build());
        if break_step(&h.world, &step).is_none() {
            continue;
        }
        faulted += 1;
        let outcome = h.engine().apply().await.unwrap();
        if step == "retire.blue-cluster" {
            // Past the point of no return nothing rolls back: a human finishes it.
            assert!(
                matches!(&outcome, RunOutcome::NeedsAttention { step: Some(s), .. } if *s == step),
                "{outcome:?}"
            );
            h.world.clear_faults();
            assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
            continue;
        }
        let target = expected_target(&step);
        let RunOutcome::RolledBack { to, cause, requested_by: None } = &outcome else {
            panic!("{step}: {outcome:?}")
        };
        assert_eq!(to, &target, "{step}");
        assert!(
            cause.contains(&step),
            "{step}: cause {cause:?} names the step"
        );
        assert_eq!(
            h.world.state(),
            h.world_at(target.as_deref()),
            "{step}: world as at {target:?}"
        );
        if target.as_deref() != Some("traffic-100") {
            assert_eq!(
                h.world.weight(RECORD, BLUE_SET),
                Some(100),
                "{step}: traffic on blue"
            );
            assert_eq!(
                h.world.weight(RECORD, GREEN_SET),
                None,
                "{step}: green's record removed"
            );
        }
        assert_eq!(h.world.leaked_load_balancers(), 0, "{step}");
        let status = engine::status(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .unwrap();
        assert!(status.lock.is_none(), "{step}: lock released");
    }
    assert_eq!(faulted, 22, "every step but the retention wait can fail");
}

#[tokio::test(start_paused = true)]
async fn a_fault_at_every_step_with_policy_pause_stops_and_resume_completes() {
    let compiled = compile(&plans::upgrade().build());
    for step in compiled.steps().map(|s| s.id.clone()) {
        let h = Harness::new(plans::upgrade().policy(FailurePolicy::Pause).build());
        if break_step(&h.world, &step).is_none() {
            continue;
        }
        let outcome = h.engine().apply().await.unwrap();
        match &outcome {
            RunOutcome::Paused { step: s, .. } => assert_eq!(s, &step),
            RunOutcome::NeedsAttention { step: Some(s), .. } if step == "retire.blue-cluster" => {
                assert_eq!(s, &step)
            }
            other => panic!("{step}: {other:?}"),
        }
        let status = engine::status(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .unwrap();
        assert!(!status.phase.is_terminal(), "{step}");
        assert!(status.lock.is_none(), "{step}: a paused run holds no lock");

        h.world.clear_faults();
        assert_eq!(
            h.engine().resume().await.unwrap(),
            RunOutcome::Completed,
            "{step}"
        );
        assert!(!h.world.state().clusters.contains_key(BLUE), "{step}");
        assert_eq!(h.world.weight(RECORD, GREEN_SET), Some(100), "{step}");
        for (effect, n) in h.world.effects() {
            assert_eq!(n, 1, "{step}: {effect} happened {n} times");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_gate_failing_during_a_bake_puts_all_traffic_back_on_blue_in_one_batch() {
    let h = Harness::new(plans::upgrade().build());
    // Verify passes the smoke check twice; the 10% bake checks it 121 times; the 200th call
    // falls in the 50% bake.
    h.world.fail("check", "smoke", Mode::FromCall(200));
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::RolledBack { to, cause, requested_by: None } = outcome else {
        panic!()
    };
    assert_eq!(to.as_deref(), Some("verified"));
    assert!(
        cause.contains("traffic.shift.50") && cause.contains("smoke"),
        "{cause}"
    );
    assert_eq!(h.world.state(), h.world_at(Some("verified")));
    // One batch straight back to blue=100, never through 90/10.
    assert_eq!(
        h.world
            .effect("dns UPSERT api.example.com/api-blue=100; UPSERT api.example.com/api-green=0"),
        1
    );
    assert_eq!(
        h.world
            .effect("dns UPSERT api.example.com/api-blue=90; UPSERT api.example.com/api-green=10"),
        1
    );
    assert_eq!(
        h.world.calls("change"),
        5,
        "prepare, two shifts, one restore, one delete"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cluster_create_that_never_finishes_times_out_and_is_cleaned_up() {
    let h = Harness::new(plans::upgrade().build());
    h.world.fail("wait_cluster_active", GREEN, Mode::Hang);
    let started = tokio::time::Instant::now();
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::RolledBack { to: None, cause, requested_by: None } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(cause.contains("did not finish within 30m"), "{cause}");
    assert!(started.elapsed() >= Duration::from_secs(30 * 60));
    assert_eq!(
        h.world.state(),
        h.initial,
        "the half-created cluster was deleted"
    );
    assert_eq!(h.world.effect(&format!("delete cluster {GREEN}")), 1);
}

#[tokio::test(start_paused = true)]
async fn a_cluster_someone_else_made_is_never_adopted_or_deleted() {
    let world = plans::world();
    world.add_cluster(
        GREEN,
        &[("cutover.dev/plan", "other"), ("cutover.dev/run-id", "x")],
        &[],
    );
    let h = Harness::with_world(plans::upgrade().build(), world);
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::RolledBack { to: None, cause, requested_by: None } = outcome else {
        panic!("{outcome:?}")
    };
    assert!(
        cause.contains("already exists and was not created by this run"),
        "{cause}"
    );
    assert!(h.world.state().clusters.contains_key(GREEN), "left alone");
    assert_eq!(h.world.calls("create_cluster"), 0);
    assert_eq!(h.world.calls("delete_cluster"), 0);
}

#[tokio::test(start_paused = true)]
async fn dns_changed_by_hand_stops_the_run_naming_record_expected_and_found() {
    let h = Harness::new(plans::upgrade().build());
    h.sink.on_event(|e, world| {
        if matches!(e, EngineEvent::Checkpoint { name } if name == "traffic-10") {
            world.set_weight(RECORD, BLUE_SET, 70);
            world.set_weight(RECORD, GREEN_SET, 30);
        }
    });
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::NeedsAttention { step, cause } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(step.as_deref(), Some("traffic.shift.50"));
    assert!(cause.contains(RECORD), "{cause}");
    assert!(cause.contains("expected blue=90 green=10"), "{cause}");
    assert!(cause.contains("has blue=70 green=30"), "{cause}");
    assert!(cause.contains("by hand"), "{cause}");
    // No automatic rollback and no further change: the human's weights stay.
    assert_eq!(h.world.calls("change"), 2);
    assert_eq!(h.world.weight(RECORD, GREEN_SET), Some(30));

    // Once put back, resume carries on.
    h.sink.clear_hook();
    h.world.set_weight(RECORD, BLUE_SET, 90);
    h.world.set_weight(RECORD, GREEN_SET, 10);
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn blue_is_not_deleted_while_it_carries_traffic() {
    let h = Harness::new(plans::upgrade().build());
    // Someone puts blue's record back, with weight, just as blue's deletion starts.
    h.sink.on_event(|e, world| {
        if matches!(e, EngineEvent::StepStarted { step, .. } if step == "retire.blue-cluster") {
            world.set_record(RECORD, BLUE_SET, BLUE_LB, 20);
        }
    });
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::NeedsAttention { step, cause } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(step.as_deref(), Some("retire.blue-cluster"));
    assert!(cause.contains("still sends weight 20 to blue"), "{cause}");
    assert!(h.world.state().clusters.contains_key(BLUE), "blue kept");
    assert_eq!(h.world.calls("delete_cluster"), 0);
    assert_eq!(h.world.calls("release_load_balancers"), 0);

    // The point of no return has been passed: rollback is refused, resume finishes once blue is
    // back at weight 0.
    let err = h.engine().rollback("traffic-100").await.unwrap_err();
    assert!(err.to_string().contains("point of no return"), "{err}");
    h.sink.clear_hook();
    h.world.set_weight(RECORD, BLUE_SET, 0);
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    assert!(!h.world.state().clusters.contains_key(BLUE));
}

#[tokio::test(start_paused = true)]
async fn a_failing_compensation_stops_the_rollback_and_resume_continues_it() {
    let h = Harness::new(plans::upgrade().build());
    h.world.fail("install", "api", Mode::Once);
    h.world.fail("uninstall", "ingress", Mode::Once);
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::NeedsAttention { step, cause } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(step.as_deref(), Some("releases.install.ingress"));
    assert!(cause.contains("rollback to green-ready stopped"), "{cause}");
    let status = engine::status(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.phase, RunPhase::NeedsAttention { step, cause });

    assert_eq!(
        h.engine().resume().await.unwrap(),
        RunOutcome::RolledBack {
            to: Some("green-ready".into()),
            cause:
                "releases.install.api failed: install release api: injected fault in install api"
                    .into(),
            requested_by: None,
        }
    );
    assert_eq!(h.world.state(), h.world_at(Some("green-ready")));
}
