//! Forward runs on the fakes: compile, the happy path of every plan kind, the releases DAG,
//! retries, retention waiting.

use crate::support;

use std::time::Duration;

use cutover::engine::{self, EngineEvent, RunOutcome, RunPhase, StepState, compile};
use cutover::plan::PlanKind;
use support::Harness;
use support::plans::{self, BLUE, BLUE_SET, GREEN, GREEN_SET, RECORD};

#[test]
fn compile_gives_stable_ids_and_checkpoints() {
    let compiled = compile(&plans::upgrade().build());
    let ids: Vec<&str> = compiled.steps().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "preflight.charts",
            "preflight.blue",
            "preflight.apis",
            "preflight.insights",
            "preflight.addons",
            "preflight.subnets",
            "preflight.irsa",
            "provision.cluster",
            "provision.access.0",
            "provision.addon.vpc-cni",
            "provision.nodegroup.general",
            "provision.addon.coredns",
            "releases.install.ingress",
            "releases.install.api",
            "verify.check.nodes",
            "verify.check.smoke",
            "traffic.prepare",
            "traffic.shift.10",
            "traffic.shift.50",
            "traffic.shift.100",
            "retire.wait-retention",
            "retire.blue-records",
            "retire.blue-cluster",
        ]
    );
    let cps: Vec<(&str, &str, bool)> = compiled
        .checkpoints
        .iter()
        .map(|c| (c.name.as_str(), c.after_step.as_str(), c.automatic_target))
        .collect();
    assert_eq!(
        cps,
        [
            ("green-ready", "provision.addon.coredns", true),
            ("releases-ready", "releases.install.api", true),
            ("verified", "verify.check.smoke", true),
            ("traffic-10", "traffic.shift.10", false),
            ("traffic-50", "traffic.shift.50", false),
            ("traffic-100", "traffic.shift.100", true),
            ("blue-retired", "retire.blue-cluster", false),
        ]
    );
    let ponr: Vec<&str> = compiled
        .steps()
        .filter(|s| s.point_of_no_return)
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(ponr, ["retire.blue-cluster"]);
    assert_eq!(
        compiled.step("releases.install.api").unwrap().needs,
        ["releases.install.ingress"]
    );
}

#[test]
fn dev_cluster_and_drill_compile_without_blue_or_traffic() {
    let dev = compile(&plans::upgrade().kind(PlanKind::DevCluster).build());
    assert!(dev.steps().all(|s| !s.id.starts_with("traffic.")
        && !s.id.starts_with("retire.")
        && s.id != "preflight.blue"));
    assert_eq!(dev.checkpoints.last().unwrap().name, "verified");
    let drill = compile(&plans::upgrade().kind(PlanKind::Drill).build());
    assert_eq!(drill.steps().last().unwrap().id, "teardown.cluster");
    assert_eq!(drill.checkpoints.last().unwrap().name, "torn-down");
}

#[tokio::test(start_paused = true)]
async fn happy_upgrade_ends_with_green_at_100_and_blue_gone() {
    let h = Harness::new(plans::upgrade().build());
    let started = tokio::time::Instant::now();
    let outcome = h.engine().apply().await.unwrap();
    assert_eq!(outcome, RunOutcome::Completed);
    // Two 30 s installs in a row (api needs ingress), 5 s for smoke's second success, and per
    // shift the 60 s TTL after INSYNC plus its bake (10m, 10m, 30m): no more, no less.
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(60 + 5 + 3 * 60 + 50 * 60)
    );

    let world = h.world.state();
    assert!(!world.clusters.contains_key(BLUE), "blue deleted");
    let green = &world.clusters[GREEN];
    assert_eq!(green.releases.len(), 2, "both releases deployed on green");
    assert_eq!(green.nodegroups.len(), 1);
    assert_eq!(green.addons.len(), 2);
    assert_eq!(h.world.weight(RECORD, GREEN_SET), Some(100));
    assert_eq!(
        h.world.weight(RECORD, BLUE_SET),
        None,
        "blue's record removed"
    );
    assert_eq!(
        h.world.leaked_load_balancers(),
        0,
        "blue's load balancers released before deletion"
    );

    // Counters: every side effect exactly once; one DNS change per traffic step.
    for (effect, n) in h.world.effects() {
        assert_eq!(n, 1, "{effect} happened {n} times");
    }
    assert_eq!(
        h.world.calls("change"),
        5,
        "prepare, 3 shifts, blue-records"
    );
    assert_eq!(h.world.calls("create_cluster"), 1);
    assert_eq!(h.world.calls("delete_cluster"), 1);
    // Bakes re-check the gate all along: 10m + 10m + 30m at a 5 s interval.
    assert!(
        h.world.calls("check") > 500,
        "gate re-checked during bakes: {}",
        h.world.calls("check")
    );

    assert_eq!(
        h.sink.checkpoints(),
        [
            "green-ready",
            "releases-ready",
            "verified",
            "traffic-10",
            "traffic-50",
            "traffic-100",
            "blue-retired"
        ]
    );
    let status = engine::status(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.phase, RunPhase::Completed);
    assert!(status.lock.is_none(), "lock released");
    assert!(
        status
            .steps
            .iter()
            .all(|s| s.state == StepState::Done && s.starts == 1)
    );
    assert_eq!(
        status.point_of_no_return.as_deref(),
        Some("retire.blue-cluster")
    );

    // What the CLI prints with `-o json`.
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["phase"], "completed");
    assert_eq!(json["steps"][0]["state"], "done");
    assert_eq!(json["checkpoints"][6], "blue-retired");
    assert_eq!(
        serde_json::to_value(&outcome).unwrap()["outcome"],
        "completed"
    );
    let compiled = serde_json::to_value(h.engine().compiled()).unwrap();
    assert_eq!(compiled["stages"][1]["steps"][0]["id"], "provision.cluster");
}

#[tokio::test(start_paused = true)]
async fn journal_has_one_record_per_transition_in_sequence() {
    let h = Harness::new(plans::upgrade().build());
    h.engine().apply().await.unwrap();
    let records = engine::history(h.local.as_ref(), plans::ENV, None)
        .await
        .unwrap();
    assert!(
        records
            .iter()
            .enumerate()
            .all(|(i, r)| r.seq == i as u64 + 1)
    );
    let text = std::fs::read_to_string(h.journal_path(&records[0].run)).unwrap();
    assert_eq!(text.lines().count(), records.len());
    assert!(
        text.lines()
            .next()
            .unwrap()
            .contains(r#""type":"run-started""#)
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .contains(r#""type":"run-completed""#)
    );
    // 23 steps × (started + done) + 7 checkpoints + run-started + run-completed.
    assert_eq!(records.len(), 23 * 2 + 7 + 2);
}

#[tokio::test(start_paused = true)]
async fn dev_cluster_and_drill_run_on_the_fakes() {
    let h = Harness::new(plans::upgrade().kind(PlanKind::DevCluster).build());
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert!(h.world.state().clusters.contains_key(GREEN));
    assert!(
        h.world.state().clusters.contains_key(BLUE),
        "a dev cluster never touches anything else"
    );

    let h = Harness::new(plans::upgrade().kind(PlanKind::Drill).build());
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert!(
        !h.world.state().clusters.contains_key(GREEN),
        "the drill tears its cluster down"
    );
    assert_eq!(h.world.leaked_load_balancers(), 0);
    assert_eq!(h.world.effect(&format!("delete cluster {GREEN}")), 1);
}

#[tokio::test(start_paused = true)]
async fn independent_releases_install_in_parallel_up_to_the_limit() {
    let h = Harness::new(
        plans::upgrade()
            .kind(PlanKind::DevCluster)
            .independent_releases(7)
            .build(),
    );
    let started = tokio::time::Instant::now();
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert_eq!(
        h.world.max_installs_in_flight(),
        4,
        "default concurrency limit"
    );
    assert_eq!(h.world.state().clusters[GREEN].releases.len(), 7);
    // 7 installs of 30 s at 4 at a time take two rounds, not seven.
    assert!(
        started.elapsed() < Duration::from_secs(7 * 30),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn dependent_releases_wait_for_their_needs() {
    let h = Harness::new(plans::upgrade().build());
    h.engine().apply().await.unwrap();
    assert_eq!(h.world.max_installs_in_flight(), 1, "api needs ingress");
    let order: Vec<String> = h
        .sink
        .events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            EngineEvent::StepStarted { step, .. } if step.starts_with("releases.") => {
                Some(step.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(order, ["releases.install.ingress", "releases.install.api"]);
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_backoff_and_the_run_completes() {
    let h = Harness::new(plans::upgrade().build());
    h.world.throttle("create_cluster", GREEN, 2);
    h.world.throttle("change", "", 2);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert_eq!(
        h.world.calls("create_cluster"),
        3,
        "two throttled attempts, then success"
    );
    assert_eq!(h.world.effect(&format!("create cluster {GREEN}")), 1);
    let retries = h
        .sink
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, EngineEvent::StepRetrying { .. }))
        .count();
    assert_eq!(retries, 4);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_errors_are_not_retried() {
    let h = Harness::new(plans::upgrade().build());
    h.world
        .fail("ensure_nodegroup", "general", support::fakes::Mode::Once);
    let outcome = h.engine().apply().await.unwrap();
    assert!(
        matches!(outcome, RunOutcome::RolledBack { .. }),
        "{outcome:?}"
    );
    assert_eq!(h.world.calls("ensure_nodegroup"), 1);
}

#[tokio::test(start_paused = true)]
async fn retention_stops_the_run_waiting_and_resume_after_it_finishes() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(24 * 3600))
            .build(),
    );
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::Waiting { step, until } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(step, "retire.wait-retention");
    assert!(
        h.world.state().clusters.contains_key(BLUE),
        "blue kept during retention"
    );
    assert_eq!(h.world.weight(RECORD, GREEN_SET), Some(100));
    let status = engine::status(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status.phase,
        RunPhase::Waiting {
            step: step.clone(),
            until
        }
    );
    assert!(status.lock.is_none(), "a waiting run holds no lock");

    // Resuming early waits again, for the same deadline, and changes nothing.
    h.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        h.engine().resume().await.unwrap(),
        RunOutcome::Waiting { step, until }
    );
    assert!(h.world.state().clusters.contains_key(BLUE));

    h.clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    assert!(!h.world.state().clusters.contains_key(BLUE));
}

#[tokio::test(start_paused = true)]
async fn a_second_apply_is_refused_while_the_run_is_unfinished() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    assert!(matches!(
        h.engine().apply().await.unwrap(),
        RunOutcome::Waiting { .. }
    ));
    let err = h.engine().apply().await.unwrap_err();
    assert!(
        matches!(err, engine::EngineError::UnfinishedRun { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("cutover resume"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn resume_refuses_a_plan_changed_since_the_run_started() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    h.engine().apply().await.unwrap();
    let edited = h.engine_for(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .digest("sha256:plan-v2")
            .build(),
    );
    let err = edited.resume().await.unwrap_err();
    assert!(
        matches!(err, engine::EngineError::PlanChanged { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("plan changed since run"), "{err}");
    assert!(
        engine::lock_holder(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .is_none(),
        "lock released on refusal"
    );
}

#[tokio::test(start_paused = true)]
async fn resume_with_nothing_to_resume_says_so() {
    let h = Harness::new(plans::upgrade().build());
    assert!(matches!(
        h.engine().resume().await,
        Err(engine::EngineError::NoRunToResume { .. })
    ));
    h.engine().apply().await.unwrap();
    let err = h.engine().resume().await.unwrap_err();
    assert!(err.to_string().contains("completed"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_release_stops_new_starts_lets_running_ones_finish_then_rolls_back() {
    let h = Harness::new(
        plans::upgrade()
            .kind(PlanKind::DevCluster)
            .independent_releases(7)
            .build(),
    );
    h.world.fail("install", "svc1", support::fakes::Mode::Once);
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::RolledBack { to, .. } = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(to.as_deref(), Some("green-ready"));
    // svc0..svc3 started together; svc1 failed at once, the other three finished their installs.
    for svc in ["svc0", "svc2", "svc3"] {
        assert_eq!(h.world.effect(&format!("install {GREEN}/{svc}")), 1, "{svc}");
        assert_eq!(h.world.effect(&format!("uninstall {GREEN}/{svc}")), 1, "{svc}");
    }
    for svc in ["svc4", "svc5", "svc6"] {
        assert_eq!(h.world.effect(&format!("install {GREEN}/{svc}")), 0, "{svc} never started");
    }
    assert_eq!(h.world.state(), h.world_at(Some("green-ready")));
}

#[test]
fn provisioning_waits_only_on_what_eks_needs() {
    let compiled = compile(&plans::upgrade().build());
    let provision = compiled.stages.iter().find(|s| s.name == "provision").unwrap();
    assert!(provision.parallel, "independent provisioning steps run together");
    let needs = |id: &str| {
        let mut n = provision.steps.iter().find(|s| s.id == id).unwrap().needs.clone();
        n.sort();
        n
    };
    assert!(needs("provision.cluster").is_empty());
    assert_eq!(needs("provision.access.0"), ["provision.cluster"]);
    assert_eq!(needs("provision.addon.vpc-cni"), ["provision.cluster"], "network add-ons do not wait for access entries");
    assert_eq!(needs("provision.nodegroup.general"), ["provision.addon.vpc-cni", "provision.cluster"]);
    assert_eq!(
        needs("provision.addon.coredns"),
        ["provision.addon.vpc-cni", "provision.cluster", "provision.nodegroup.general"],
        "coredns schedules on nodes"
    );
}
