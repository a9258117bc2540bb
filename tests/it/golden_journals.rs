//! Golden journals: committed journals of a finished, a paused and a crashed run
//! (`tests/fixtures/journals/`) that every build must still report the same way and resume to the
//! end. A change to the journal's serialised form, its event names or the step ids that would
//! strand a run in flight on upgrade fails here, not in production.
//!
//! To add a journal after an intended, compatible change of the form: `CUTOVER_WRITE_GOLDEN=1
//! cargo test --test it golden_journals::write -- --ignored`, then review the diff. Never
//! regenerate to make an incompatible change pass: old journals must keep working.

use crate::support;

use std::path::{Path, PathBuf};

use cutover::engine::{self, EngineError, RunOutcome};
use cutover::plan::FailurePolicy;
use cutover::providers::StateBackend;
use cutover::telemetry::report::Report;
use support::Harness;
use support::fakes::Mode;
use support::plans;
use support::state::{CrashPoint, CrashingState};

/// The append at which `write` stops the crashed journal (after it is durable): mid traffic shift.
const CRASH_AT: u64 = 30;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/journals").join(format!("{name}.jsonl"))
}

/// The three scenarios, run live on a fresh harness; the harness's world is then as the journal says.
async fn live(name: &str) -> Harness {
    match name {
        "completed" => {
            let h = Harness::new(plans::upgrade().build());
            assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
            h
        }
        "paused" => {
            let h = Harness::new(plans::upgrade().policy(FailurePolicy::Pause).build());
            h.world.fail("install", "api", Mode::Once);
            let outcome = h.engine().apply().await.unwrap();
            assert!(matches!(outcome, RunOutcome::Paused { .. }), "{outcome:?}");
            h
        }
        "crashed" => crashed_at(CRASH_AT).await,
        // The world as the committed crashed journal left it: the live run stops at the append
        // that wrote the journal's last record, wherever today's step list puts it.
        "crashed-like-golden" => {
            let reference = Harness::new(plans::upgrade().build());
            assert_eq!(reference.engine().apply().await.unwrap(), RunOutcome::Completed);
            let records = engine::history(reference.local.as_ref(), plans::ENV, None).await.unwrap();
            let last = last_event(&std::fs::read_to_string(fixture("crashed")).unwrap());
            let at = records
                .iter()
                .position(|r| event_key(&serde_json::to_value(r).unwrap()) == last)
                .expect("today's run writes the golden journal's last record too");
            crashed_at(at as u64 + 1).await
        }
        other => panic!("no scenario {other}"),
    }
}

async fn crashed_at(at: u64) -> Harness {
    let h = Harness::new(plans::upgrade().build());
    let state = CrashingState::new(h.local.clone(), at, CrashPoint::AfterWrite);
    let engine = h.engine_on(state.clone());
    tokio::select! {
        outcome = engine.apply() => panic!("the run ended before append {at}: {outcome:?}"),
        () = state.crashed() => {}
    }
    h
}

/// What identifies a record across builds: its type and step (or checkpoint).
fn event_key(record: &serde_json::Value) -> (String, String) {
    let what = record.get("step").or_else(|| record.get("name")).and_then(|v| v.as_str()).unwrap_or("");
    (record["type"].as_str().unwrap_or("").to_string(), what.to_string())
}

fn last_event(jsonl: &str) -> (String, String) {
    let last = jsonl.lines().filter(|l| !l.trim().is_empty()).last().expect("a record");
    event_key(&serde_json::from_str(last).unwrap())
}

/// Puts the committed journal in place of the live run's, as if an older build had written it.
async fn install_golden(h: &Harness, name: &str) -> String {
    let bytes = std::fs::read(fixture(name)).expect("committed golden journal");
    let first: serde_json::Value = serde_json::from_slice(bytes.split(|b| *b == b'\n').next().unwrap()).unwrap();
    let run_id = first["run"].as_str().expect("records name their run").to_string();
    if let Some(live) = h.local.current_run(plans::ENV).await.unwrap() {
        std::fs::remove_file(h.journal_path(&live)).unwrap();
    }
    if let Some(holder) = engine::lock_holder(h.local.as_ref(), plans::ENV).await.unwrap() {
        engine::break_lock(h.local.as_ref(), plans::ENV, &holder).await.unwrap();
    }
    let path = h.journal_path(&run_id);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    h.local.set_current_run(plans::ENV, &run_id).await.unwrap();
    run_id
}

/// The world with run ids masked: the golden run and a live reference run have different ids.
fn masked(mut w: support::fakes::WorldState) -> support::fakes::WorldState {
    for c in w.clusters.values_mut() {
        if let Some(id) = c.tags.get_mut(cutover::providers::TAG_RUN_ID) {
            *id = "RUN".into();
        }
        for r in c.releases.values_mut() {
            r.run_id = r.run_id.as_ref().map(|_| "RUN".into());
        }
    }
    w
}

/// What `status -o json` and the run report say about the journal.
async fn reported(h: &Harness) -> String {
    let status = engine::status(h.local.as_ref(), plans::ENV).await.unwrap().expect("a run");
    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    format!(
        "{}\n\n{}",
        serde_json::to_string_pretty(&status).unwrap(),
        Report::from_journal(&records).render_text()
    )
}

#[tokio::test(start_paused = true)]
async fn a_finished_run_reports_the_same_and_has_nothing_to_resume() {
    let h = live("completed").await;
    install_golden(&h, "completed").await;
    insta::assert_snapshot!("golden_completed", reported(&h).await);
    let err = h.engine().resume().await.unwrap_err();
    assert!(matches!(err, EngineError::NoRunToResume { .. }), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_paused_run_reports_the_same_and_resumes_to_the_end() {
    let h = live("paused").await;
    install_golden(&h, "paused").await;
    insta::assert_snapshot!("golden_paused", reported(&h).await);
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    let reference = live("completed").await;
    assert_eq!(masked(h.world.state()), masked(reference.world.state()));
}

#[tokio::test(start_paused = true)]
async fn a_crashed_run_reports_the_same_and_resumes_with_every_side_effect_once() {
    let h = live("crashed-like-golden").await;
    install_golden(&h, "crashed").await;
    insta::assert_snapshot!("golden_crashed", reported(&h).await);
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    let reference = live("completed").await;
    assert_eq!(masked(h.world.state()), masked(reference.world.state()));
    assert_eq!(h.world.effects(), reference.world.effects(), "every side effect exactly once");
}

/// Writes the golden journals from live runs (see the module header before using it).
#[tokio::test(start_paused = true)]
#[ignore = "writes tests/fixtures/journals; run by hand with CUTOVER_WRITE_GOLDEN=1"]
async fn write() {
    if std::env::var("CUTOVER_WRITE_GOLDEN").is_err() {
        return;
    }
    for name in ["completed", "paused", "crashed"] {
        let h = live(name).await;
        let run = h.local.current_run(plans::ENV).await.unwrap().unwrap();
        std::fs::create_dir_all(fixture(name).parent().unwrap()).unwrap();
        std::fs::copy(h.journal_path(&run), fixture(name)).unwrap();
    }
}
