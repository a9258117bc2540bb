//! `spec.data` in the engine (fake world): blue's claims travel by snapshot to green before any
//! release asks for them; quiesce stops blue's writers and a rollback starts them again on their
//! own volumes; a snapshot that never completes or a volume green cannot reach stops the run
//! before traffic moves, and nothing is deleted that the run did not make.

use crate::support;

use cutover::engine::{self, JournalEvent, RunOutcome, RunPhase};
use cutover::providers::volumes::{SnapshotState, TAG_CLAIM};
use support::Harness;
use support::fakes::Mode;
use support::plans::{self, BLUE, GREEN, GREEN_SET, RECORD};

const NS: &str = "ledger";

/// Blue runs StatefulSet `ledger` with two claims, one volume in each of green's zones.
fn harness(quiesce: bool) -> Harness {
    let h = Harness::new(plans::upgrade().data(NS, &[("app", "ledger")], quiesce).build());
    h.world.add_claim(BLUE, NS, "data-ledger-0", "us-east-1a", "ledger");
    h.world.add_claim(BLUE, NS, "data-ledger-1", "us-east-1b", "ledger");
    h
}

fn blue_volume(h: &Harness, claim: &str) -> (String, String, String) {
    let d = h.world.data();
    let c = &d.claims[&(BLUE.to_string(), format!("{NS}/{claim}"))];
    let v = c.volume.as_ref().unwrap();
    (v.source.ebs_volume().unwrap().to_string(), v.zone.clone().unwrap(), v.reclaim_policy.clone())
}

async fn journal(h: &Harness) -> Vec<cutover::engine::JournalRecord> {
    engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap()
}

fn seq_of(records: &[cutover::engine::JournalRecord], pick: impl Fn(&JournalEvent) -> bool) -> u64 {
    records.iter().find(|r| pick(&r.event)).map(|r| r.seq).expect("the record is journaled")
}

#[tokio::test(start_paused = true)]
async fn each_claim_travels_by_a_snapshot_of_blues_volume_and_is_bound_on_green_before_any_release() {
    let h = harness(false);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    let d = h.world.data();
    for claim in ["data-ledger-0", "data-ledger-1"] {
        let (blue_vol, zone, reclaim) = blue_volume(&h, claim);
        assert_eq!(reclaim, "Retain", "blue's volume is kept whatever happens to its claim");
        let snap = d.snapshots.values().find(|s| s.volume_id == blue_vol).expect("a snapshot of blue's volume");
        assert_eq!(snap.tags[TAG_CLAIM], format!("{NS}/{claim}"));
        assert_eq!(snap.state, SnapshotState::Completed);
        let green = &d.claims[&(GREEN.to_string(), format!("{NS}/{claim}"))];
        let green_vol = green.volume.as_ref().unwrap().source.ebs_volume().unwrap();
        let made = &d.volumes[green_vol];
        assert_eq!(made.snapshot_id.as_deref(), Some(snap.id.as_str()), "green's {claim} is made from blue's snapshot");
        assert_eq!(made.zone, zone, "in the zone blue's volume is in, which green has");
    }
    let records = journal(&h).await;
    let bound = seq_of(&records, |e| matches!(e, JournalEvent::StepDone { step, .. } if step == "data.claims"));
    let first_release = seq_of(&records, |e| matches!(e, JournalEvent::StepStarted { step, .. } if step.starts_with("releases.install.")));
    assert!(bound < first_release, "claims bound (seq {bound}) before the first release starts (seq {first_release})");
    assert_eq!(d.writers.values().map(|w| w.replicas).collect::<Vec<_>>(), [2, 2], "without quiesce blue's writers run on");
}

#[tokio::test(start_paused = true)]
async fn quiesce_stops_blues_writers_and_a_failure_starts_them_again_on_their_own_volumes() {
    let h = harness(true);
    // Verify passes smoke twice; the 100% bake fails it.
    h.world.fail("check", "smoke", Mode::FromCall(3));
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::RolledBack { to, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!(to.as_deref(), Some("green-ready"), "not to verified: blue would serve without its writers");
    assert_eq!(h.world.effect("scale ledger to 0"), 1, "the writers were stopped");
    assert_eq!(h.world.effect("scale ledger to 2"), 1, "and started again");
    let d = h.world.data();
    assert!(d.writers.values().all(|w| w.replicas == 2));
    for claim in ["data-ledger-0", "data-ledger-1"] {
        let (blue_vol, _, reclaim) = blue_volume(&h, claim);
        assert!(d.volumes.contains_key(&blue_vol), "blue's volume is untouched");
        assert_eq!(reclaim, "Delete", "its reclaim policy is as it was");
        assert!(!d.claims.contains_key(&(GREEN.to_string(), format!("{NS}/{claim}"))), "green's claim is gone");
    }
    assert_eq!(d.volumes.len(), 2, "green's volumes are deleted, blue's kept: {:?}", d.volumes.keys());
    assert_eq!(d.snapshots.len(), 2, "snapshots are kept as backups");
    assert_eq!(h.world.weight(RECORD, GREEN_SET), None);
    let report = cutover::telemetry::report::Report::from_journal(&journal(&h).await);
    let downtime = report.downtime.clone().expect("the quiesce window is reported");
    assert_eq!(downtime.ended_by.as_deref(), Some("blue"), "ended by blue's writers starting again");
    assert!(downtime.secs.is_some_and(|s| s >= 0.0));
}

#[tokio::test(start_paused = true)]
async fn with_quiesce_the_downtime_runs_from_the_stop_until_green_serves_all_traffic() {
    let h = harness(true);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    let report = cutover::telemetry::report::Report::from_journal(&journal(&h).await);
    let downtime = report.downtime.clone().expect("the quiesce window is reported");
    assert_eq!(downtime.ended_by.as_deref(), Some("green"));
    // The harness's clock stands still: the window's ends are what is checked here, its length
    // through the binary.
    assert!(downtime.until.is_some_and(|u| u >= downtime.from), "{downtime:?}");
    assert!(report.render_text().contains("quiesce downtime:"));
    assert!(h.world.data().writers.values().all(|w| w.replicas == 0), "blue's writers stay stopped: green serves");
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_that_never_completes_stops_the_run_before_traffic_moves_and_blue_is_untouched() {
    let h = harness(true);
    h.world.hang_snapshots();
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::RolledBack { cause, .. } = &outcome else { panic!("{outcome:?}") };
    assert!(cause.contains("data.snapshot"), "{cause}");
    let d = h.world.data();
    assert!(d.writers.values().all(|w| w.replicas == 2), "blue's writers run again");
    assert_eq!(d.volumes.len(), 2, "no green volume was made");
    assert_eq!(h.world.weight(RECORD, GREEN_SET), None, "traffic never moved");
    let status = engine::status(h.local.as_ref(), plans::ENV).await.unwrap().unwrap();
    assert!(matches!(status.phase, RunPhase::RolledBack { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_volume_in_a_zone_green_has_no_node_in_is_refused_before_anything_is_made() {
    let h = Harness::new(plans::upgrade().data(NS, &[("app", "ledger")], false).build());
    h.world.add_claim(BLUE, NS, "data-ledger-0", "us-east-1c", "ledger");
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::Refused { step, cause } = outcome else { panic!("{outcome:?}") };
    assert_eq!(step, "preflight.data");
    assert!(cause.contains("PRE-DATA-002") && cause.contains("data-ledger-0") && cause.contains("us-east-1c"), "{cause}");
    assert!(!h.world.state().clusters.contains_key(GREEN), "nothing was created");
    assert!(h.world.data().snapshots.is_empty());
}

#[tokio::test(start_paused = true)]
async fn volumes_that_would_exceed_the_regions_ebs_quota_are_refused_before_anything_is_made() {
    let h = harness(false);
    // Two blue volumes of 1 GiB already count against a gp3 quota of 3 GiB: two more do not fit.
    h.world.set_storage_quota("gp3", 3);
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::Refused { cause, .. } = outcome else { panic!("{outcome:?}") };
    assert!(cause.contains("PRE-DATA-007") && cause.contains("quota of 3 GiB"), "{cause}");
    assert!(!h.world.state().clusters.contains_key(GREEN));
    // With room, the same run goes ahead; an unknown quota is only a warning.
    let h = harness(false);
    h.world.set_storage_quota("gp3", 4);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn without_the_ebs_csi_add_on_on_green_the_run_is_refused_before_anything_is_made() {
    let mut plan = plans::upgrade().data(NS, &[("app", "ledger")], false).build();
    plan.green.addons.retain(|a| a.name != "aws-ebs-csi-driver");
    let h = Harness::new(plan);
    h.world.add_claim(BLUE, NS, "data-ledger-0", "us-east-1a", "ledger");
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::Refused { cause, .. } = outcome else { panic!("{outcome:?}") };
    assert!(cause.contains("PRE-DATA-009") && cause.contains("aws-ebs-csi-driver"), "{cause}");
    assert!(!h.world.state().clusters.contains_key(GREEN));
}

#[tokio::test(start_paused = true)]
async fn a_crash_at_any_journal_write_then_resume_snapshots_and_creates_each_volume_exactly_once() {
    use support::state::{CrashPoint, CrashingState};
    let reference = harness(true);
    let counter = CrashingState::new(reference.local.clone(), u64::MAX, CrashPoint::BeforeWrite);
    assert_eq!(reference.engine_on(counter.clone()).apply().await.unwrap(), RunOutcome::Completed);
    let expected = reference.world.effects();
    let first = seq_of(&journal(&reference).await, |e| matches!(e, JournalEvent::StepStarted { step, .. } if step.starts_with("data.")));
    let last = seq_of(&journal(&reference).await, |e| matches!(e, JournalEvent::StepDone { step, .. } if step == "data.claims"));
    for at in first..=last {
        for point in [CrashPoint::BeforeWrite, CrashPoint::AfterWrite] {
            let h = harness(true);
            let state = CrashingState::new(h.local.clone(), at, point);
            let engine = h.engine_on(state.clone());
            tokio::select! {
                outcome = engine.apply() => panic!("ended before append {at}: {outcome:?}"),
                () = state.crashed() => {}
            }
            let holder = engine::lock_holder(h.local.as_ref(), plans::ENV).await.unwrap().unwrap();
            engine::break_lock(h.local.as_ref(), plans::ENV, &holder).await.unwrap();
            assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed, "crash {point:?} at {at}");
            assert_eq!(h.world.effects(), expected, "every side effect once: crash {point:?} at {at}");
        }
    }
}
