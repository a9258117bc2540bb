//! Crash and resume: the process dies just before, or just after, every journal write; a fresh
//! engine resumes, and every side effect has happened exactly once. Plus torn and corrupt
//! journal lines.

use crate::support;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use cutover::engine::{self, EngineError, JournalError, JournalEvent, RunOutcome, RunPhase};
use cutover::providers::StateBackend;
use support::Harness;
use support::plans::{self, BLUE, GREEN, GREEN_SET, RECORD};
use support::state::{CrashPoint, CrashingState};

/// Runs `apply` until the crash point, then drops it mid-flight like `kill -9`.
async fn crash(h: &Harness, at: u64, point: CrashPoint) {
    let state = CrashingState::new(h.local.clone(), at, point);
    let engine = h.engine_on(state.clone());
    tokio::select! {
        outcome = engine.apply() => panic!("the run ended before append {at}: {outcome:?}"),
        () = state.crashed() => {}
    }
}

/// What an operator does after a crash: break the dead run's lock, then resume; start over when
/// the crash came before the run was recorded at all; nothing when it had already completed.
async fn recover(h: &Harness) -> RunOutcome {
    if let Some(holder) = engine::lock_holder(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
    {
        engine::break_lock(h.local.as_ref(), plans::ENV, &holder)
            .await
            .unwrap();
    }
    match engine::status(h.local.as_ref(), plans::ENV).await.unwrap() {
        None => h.engine().apply().await.unwrap(),
        Some(s) if s.phase == RunPhase::Completed => {
            let err = h.engine().resume().await.unwrap_err();
            assert!(matches!(err, EngineError::NoRunToResume { .. }), "{err}");
            RunOutcome::Completed
        }
        Some(_) => h.engine().resume().await.unwrap(),
    }
}

#[tokio::test(start_paused = true)]
async fn crash_before_and_after_every_journal_write_then_resume_does_everything_exactly_once() {
    let reference = Harness::new(plans::upgrade().build());
    let counter = CrashingState::new(reference.local.clone(), u64::MAX, CrashPoint::BeforeWrite);
    assert_eq!(
        reference.engine_on(counter.clone()).apply().await.unwrap(),
        RunOutcome::Completed
    );
    let appends = counter.appends();
    let expected_effects = reference.world.effects();
    assert_eq!(appends, 55);

    for at in 1..=appends {
        for point in [CrashPoint::BeforeWrite, CrashPoint::AfterWrite] {
            let h = Harness::new(plans::upgrade().build());
            crash(&h, at, point).await;
            let outcome = recover(&h).await;
            let ctx = format!("crash {point:?} append {at}");
            assert_eq!(outcome, RunOutcome::Completed, "{ctx}");
            // Every side effect exactly once: adopted after the crash, never made twice.
            assert_eq!(h.world.effects(), expected_effects, "{ctx}");
            let world = h.world.state();
            assert!(!world.clusters.contains_key(BLUE), "{ctx}");
            assert_eq!(world.clusters[GREEN].releases.len(), 2, "{ctx}");
            assert_eq!(h.world.weight(RECORD, GREEN_SET), Some(100), "{ctx}");
            let status = engine::status(h.local.as_ref(), plans::ENV)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(status.phase, RunPhase::Completed, "{ctx}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_crash_during_rollback_is_continued_by_resume() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    assert!(matches!(
        h.engine().apply().await.unwrap(),
        RunOutcome::Waiting { .. }
    ));
    // run-resumed, rollback-started, compensation-done (the retention wait: nothing to undo),
    // compensation-started ×3 (the shifts), then die after the one weight change landed but
    // before its compensation-done records.
    let state = CrashingState::new(h.local.clone(), 7, CrashPoint::BeforeWrite);
    let engine = h.engine_on(state.clone());
    tokio::select! {
        outcome = engine.rollback("verified") => panic!("{outcome:?}"),
        () = state.crashed() => {}
    }
    drop(engine);
    assert_eq!(
        h.world.weight(RECORD, GREEN_SET),
        Some(0),
        "the restore batch landed before the crash"
    );
    let outcome = recover(&h).await;
    assert!(
        matches!(&outcome, RunOutcome::RolledBack { to: Some(t), .. } if t == "verified"),
        "{outcome:?}"
    );
    assert_eq!(h.world.state(), h.world_at(Some("verified")));
    assert_eq!(
        h.world
            .effect("dns UPSERT api.example.com/api-blue=100; UPSERT api.example.com/api-green=0"),
        1
    );
}

async fn journal_bytes(h: &Harness) -> (String, Vec<u8>) {
    let run = h.local.current_run(plans::ENV).await.unwrap().unwrap();
    let bytes = std::fs::read(h.journal_path(&run)).unwrap();
    (run, bytes)
}

fn append_raw(h: &Harness, run: &str, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(h.journal_path(run))
        .unwrap();
    f.write_all(bytes).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_torn_last_line_is_ignored_then_repaired_on_resume() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    assert!(matches!(
        h.engine().apply().await.unwrap(),
        RunOutcome::Waiting { .. }
    ));
    let (run, before) = journal_bytes(&h).await;
    // A crash mid-write: a prefix of a step-done record, no newline.
    let torn = br#"{"seq":99,"ts":"2026-03-01T09:00:00Z","run":"x","type":"step-do"#;
    append_raw(&h, &run, torn);

    let status = engine::status(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.torn_bytes, torn.len() as u64);
    assert!(
        matches!(status.phase, RunPhase::Waiting { .. }),
        "the torn line is not misread"
    );
    let history = engine::history(h.local.as_ref(), plans::ENV, None)
        .await
        .unwrap();
    assert_eq!(
        history.len(),
        before.iter().filter(|b| **b == b'\n').count()
    );

    h.clock.advance(Duration::from_secs(3600));
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    let history = engine::history(h.local.as_ref(), plans::ENV, None)
        .await
        .unwrap();
    assert!(history.iter().any(|r| r.event
        == JournalEvent::JournalRepaired {
            discarded_bytes: torn.len() as u64
        }));
    let (_, after) = journal_bytes(&h).await;
    assert!(after.starts_with(&before), "whole lines kept as they were");
    assert!(after.ends_with(b"\n"));
}

#[tokio::test(start_paused = true)]
async fn a_last_line_that_ends_but_does_not_parse_is_also_torn() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    h.engine().apply().await.unwrap();
    let (run, _) = journal_bytes(&h).await;
    append_raw(&h, &run, b"\0\0\0\0\n");
    h.clock.advance(Duration::from_secs(3600));
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_corrupt_middle_line_is_refused_with_advice() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    h.engine().apply().await.unwrap();
    let (run, bytes) = journal_bytes(&h).await;
    let text = String::from_utf8(bytes).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines[5] = r#"{"seq":6,"ts":"garbage"#;
    std::fs::write(h.journal_path(&run), lines.join("\n") + "\n").unwrap();

    h.clock.advance(Duration::from_secs(3600));
    let err = h.engine().resume().await.unwrap_err();
    assert!(
        matches!(
            err,
            EngineError::Journal(JournalError::Corrupt { line: 6, .. })
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("will not resume or roll back"),
        "{err}"
    );
    assert!(engine::status(h.local.as_ref(), plans::ENV).await.is_err());
    assert!(
        h.world.state().clusters.contains_key(BLUE),
        "nothing acted on a corrupt journal"
    );
    assert!(
        engine::lock_holder(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn a_sequence_gap_is_corruption() {
    let h = Harness::new(
        plans::upgrade()
            .retain_blue_for(Duration::from_secs(3600))
            .build(),
    );
    h.engine().apply().await.unwrap();
    let (run, bytes) = journal_bytes(&h).await;
    let text = String::from_utf8(bytes).unwrap();
    let kept: Vec<&str> = text
        .lines()
        .enumerate()
        .filter(|(i, _)| *i != 3)
        .map(|(_, l)| l)
        .collect();
    std::fs::write(h.journal_path(&run), kept.join("\n") + "\n").unwrap();
    let err = engine::history(h.local.as_ref(), plans::ENV, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expected seq 4, found 5"), "{err}");
    let _: Arc<dyn StateBackend> = h.local.clone();
}
