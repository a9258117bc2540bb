//! `rollback --to CHECKPOINT`: walking back to each checkpoint, going forward again, and the
//! refusals (unknown or unreached checkpoints, the point of no return).

use crate::support;

use std::time::Duration;

use cutover::engine::{self, EngineError, RunOutcome, RunPhase, START};
use support::Harness;
use support::plans::{self, BLUE_SET, GREEN_SET, RECORD};

/// A run that did everything up to blue's retention (green at 100%, blue still there).
async fn waiting_run() -> Harness {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(24 * 3600))
            .build(),
    );
    assert!(matches!(
        h.engine().apply().await.unwrap(),
        RunOutcome::Waiting { .. }
    ));
    h
}

#[tokio::test(start_paused = true)]
async fn rollback_to_each_checkpoint_in_turn_restores_the_world_as_it_was_there() {
    let h = waiting_run().await;
    for target in [
        "traffic-100",
        "traffic-50",
        "traffic-10",
        "verified",
        "releases-ready",
        "green-ready",
        START,
    ] {
        let outcome = h.engine().rollback(target).await.unwrap();
        let to = (target != START).then(|| target.to_string());
        assert!(
            matches!(&outcome, RunOutcome::RolledBack { to: t, .. } if *t == to),
            "{target}: {outcome:?}"
        );
        assert_eq!(
            h.world.state(),
            h.world_at(to.as_deref()),
            "world as at {target}"
        );
        let status = engine::status(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            status.checkpoints.last().map(String::as_str),
            to.as_deref(),
            "{target}"
        );
        assert!(status.lock.is_none());
    }
    assert_eq!(h.world.leaked_load_balancers(), 0);
    let err = h.engine().rollback(START).await.unwrap_err();
    assert!(
        err.to_string().contains("already rolled back to the start"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_from_full_traffic_to_verified_moves_blue_back_in_one_batch() {
    let h = waiting_run().await;
    let changes_before = h.world.calls("change");
    let outcome = h.engine().rollback("verified").await.unwrap();
    assert!(matches!(outcome, RunOutcome::RolledBack { .. }));
    assert_eq!(
        h.world.calls("change") - changes_before,
        2,
        "one weight batch, then green's records removed"
    );
    assert_eq!(h.world.weight(RECORD, BLUE_SET), Some(100));
    assert_eq!(h.world.weight(RECORD, GREEN_SET), None);
    assert_eq!(outcome.describe(), "run rolled back to verified as requested by tester", "a success, said so");
    let (cause, requested_by) = match engine::status(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .unwrap()
        .phase
    {
        RunPhase::RolledBack { cause, requested_by, .. } => (cause, requested_by),
        other => panic!("{other:?}"),
    };
    assert_eq!(cause, "rollback to verified requested by tester");
    assert_eq!(requested_by.as_deref(), Some("tester"), "the journal keeps who asked");
}

#[tokio::test(start_paused = true)]
async fn after_a_rollback_resume_goes_forward_again() {
    let h = waiting_run().await;
    h.engine().rollback("releases-ready").await.unwrap();
    h.clock.advance(Duration::from_secs(25 * 3600));
    // Retention counts from when green reached 100% again, so the rerun waits once more.
    let outcome = h.engine().resume().await.unwrap();
    assert!(matches!(outcome, RunOutcome::Waiting { .. }), "{outcome:?}");
    h.clock.advance(Duration::from_secs(25 * 3600));
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    assert_eq!(h.world.weight(RECORD, GREEN_SET), Some(100));
    // Provisioning was kept: green was created once.
    assert_eq!(
        h.world.effect(&format!("create cluster {}", plans::GREEN)),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_refuses_unknown_and_unreached_checkpoints() {
    let h = waiting_run().await;
    let err = h.engine().rollback("nope").await.unwrap_err();
    assert!(matches!(err, EngineError::RollbackRefused(_)));
    assert!(
        err.to_string()
            .contains("green-ready, releases-ready, verified"),
        "{err}"
    );

    h.engine().rollback("verified").await.unwrap();
    let err = h.engine().rollback("traffic-50").await.unwrap_err();
    assert!(
        err.to_string().contains("has not reached traffic-50"),
        "{err}"
    );
}

#[tokio::test(start_paused = true)]
async fn rollback_never_goes_past_blue_retired() {
    let h = waiting_run().await;
    let err = h.engine().rollback("blue-retired").await.unwrap_err();
    assert!(
        err.to_string()
            .contains("at or after the point of no return"),
        "{err}"
    );

    h.clock.advance(Duration::from_secs(25 * 3600));
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    for target in ["traffic-100", "verified", START] {
        let err = h.engine().rollback(target).await.unwrap_err();
        assert!(
            err.to_string().contains("point of no return"),
            "{target}: {err}"
        );
    }
    assert!(
        engine::lock_holder(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn history_reads_every_record_of_the_run() {
    let h = waiting_run().await;
    h.engine().rollback("verified").await.unwrap();
    let history = engine::history(h.local.as_ref(), plans::ENV, None)
        .await
        .unwrap();
    let kinds: Vec<String> = history
        .iter()
        .map(|r| {
            serde_json::to_value(r).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    for k in [
        "run-started",
        "checkpoint",
        "run-waiting",
        "run-resumed",
        "rollback-started",
        "compensation-started",
        "compensation-done",
        "run-rolled-back",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing from {kinds:?}");
    }
    let runs = engine::runs(h.local.as_ref(), plans::ENV).await.unwrap();
    assert_eq!(runs, [history[0].run.clone()]);
    let err = engine::history(h.local.as_ref(), plans::ENV, Some("no-such-run"))
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::UnknownRun { .. }), "{err}");
}
