//! The environment lock: one run at a time, a holder that names itself, breaking a stale lock,
//! taking over a provably dead holder's lock.

use crate::support;

use std::sync::{Arc, Barrier, mpsc};
use std::time::Duration;

use cutover::engine::{self, Engine, EngineError, RunOutcome};
use cutover::providers::state_local::LocalState;
use cutover::providers::{LockInfo, StateBackend};
use support::Harness;
use support::fakes::Mode;
use support::plans;
use support::state::{CrashPoint, CrashingState};

/// Two runs start at the same instant on two threads; the winner then hangs in its first
/// provider call (holding the lock) until the test stops it.
fn race_once(round: usize) {
    let dir = support::state_dir();
    let state: Arc<dyn StateBackend> = Arc::new(LocalState::new(dir.path()));
    let barrier = Arc::new(Barrier::new(2));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (tx, rx) = mpsc::channel();
    let racers: Vec<_> = (0..2)
        .map(|k| {
            let (state, barrier, mut stop, tx) =
                (state.clone(), barrier.clone(), stop_rx.clone(), tx.clone());
            std::thread::spawn(move || {
                let world = plans::world();
                world.fail("verify_chart", "", Mode::Hang);
                let opts = engine::EngineOptions {
                    who: format!("racer-{k}"),
                    ..Default::default()
                };
                let engine = Engine::new(
                    Arc::new(plans::upgrade().build()),
                    world.providers(),
                    state,
                    opts,
                );
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                barrier.wait();
                let result = rt.block_on(async {
                    tokio::select! {
                        r = engine.apply() => Some(r),
                        _ = stop.changed() => None,
                    }
                });
                tx.send((k, result)).unwrap();
            })
        })
        .collect();

    let (loser, result) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("one racer is refused at once");
    let Some(Err(EngineError::LockHeld { holder, .. })) = result else {
        panic!("round {round}: racer {loser} got {result:?}")
    };
    let winner = 1 - loser;
    assert_eq!(
        holder.user,
        format!("racer-{winner}"),
        "round {round}: the holder is named"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let on_disk = rt.block_on(state.read_lock(plans::ENV)).unwrap();
    assert_eq!(on_disk, Some(holder), "round {round}");
    stop_tx.send(true).unwrap();
    let (k, result) = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(
        (k, result.is_none()),
        (winner, true),
        "round {round}: the winner was still running"
    );
    for r in racers {
        r.join().unwrap();
    }
}

#[test]
fn two_runs_race_fifty_times_and_exactly_one_wins_each_time() {
    for round in 0..50 {
        race_once(round);
    }
}

/// A run that died holding the lock (like kill -9 at its 10th journal write).
async fn dead_run(h: &Harness) -> LockInfo {
    let state = CrashingState::new(h.local.clone(), 10, CrashPoint::AfterWrite);
    let engine = h.engine_on(state.clone());
    tokio::select! {
        r = engine.apply() => panic!("{r:?}"),
        () = state.crashed() => {}
    }
    engine::lock_holder(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .expect("lock left behind")
}

#[tokio::test(start_paused = true)]
async fn the_lock_names_its_holder_and_refuses_a_second_run() {
    let h = Harness::new(plans::upgrade().build());
    let holder = dead_run(&h).await;
    let run = engine::status(h.local.as_ref(), plans::ENV)
        .await
        .unwrap()
        .unwrap()
        .run_id;
    assert_eq!(holder.run_id, run);
    assert_eq!(holder.user, "tester");
    assert_eq!(holder.pid, std::process::id());
    assert_eq!(holder.host, gethostname::gethostname().to_string_lossy());
    let file =
        std::fs::read_to_string(h.dir.path().join("state").join(plans::ENV).join("lock")).unwrap();
    assert!(file.contains(&run) && file.contains("started_at"), "{file}");

    for attempt in [
        h.engine().apply().await,
        h.engine().resume().await,
        h.engine().rollback("start").await,
    ] {
        let err = attempt.unwrap_err();
        assert!(
            matches!(&err, EngineError::LockHeld { holder: x, .. } if *x == holder),
            "{err}"
        );
        assert!(err.to_string().contains("cutover unlock"), "{err}");
    }
}

#[tokio::test(start_paused = true)]
async fn breaking_the_lock_needs_the_holder_the_user_confirmed() {
    let h = Harness::new(plans::upgrade().build());
    let holder = dead_run(&h).await;
    let someone_else = LockInfo {
        run_id: "another".into(),
        ..holder.clone()
    };
    let err = engine::break_lock(h.local.as_ref(), plans::ENV, &someone_else)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not the holder you confirmed"),
        "{err}"
    );
    assert!(
        engine::lock_holder(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .is_some()
    );

    engine::break_lock(h.local.as_ref(), plans::ENV, &holder)
        .await
        .unwrap();
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn resume_takes_over_the_lock_of_a_process_that_no_longer_exists() {
    let h = Harness::new(plans::upgrade().build());
    let holder = dead_run(&h).await;
    let lock_path = h.dir.path().join("state").join(plans::ENV).join("lock");
    let dead = LockInfo {
        pid: u32::MAX - 1,
        ..holder.clone()
    };
    std::fs::write(&lock_path, serde_json::to_vec(&dead).unwrap()).unwrap();
    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);

    // A holder on another host is never assumed dead.
    let h = Harness::new(plans::upgrade().build());
    let holder = dead_run(&h).await;
    let remote = LockInfo {
        host: "build-7.example.com".into(),
        pid: u32::MAX - 1,
        ..holder
    };
    let lock_path = h.dir.path().join("state").join(plans::ENV).join("lock");
    std::fs::write(&lock_path, serde_json::to_vec(&remote).unwrap()).unwrap();
    assert!(matches!(
        h.engine().resume().await,
        Err(EngineError::LockHeld { .. })
    ));
}

#[test]
fn the_local_state_directory_is_relative_to_the_plan_file() {
    let plan = plans::upgrade().build();
    let local = LocalState::for_plan(&plan).unwrap();
    assert_eq!(local.root(), std::path::Path::new("plans/.cutover"));
}

#[tokio::test(start_paused = true)]
async fn only_the_holder_releases_the_lock() {
    let h = Harness::new(plans::upgrade().build());
    let holder = dead_run(&h).await;
    assert!(
        h.local
            .release_lock(plans::ENV, "someone-else")
            .await
            .is_err()
    );
    h.local
        .release_lock(plans::ENV, &holder.run_id)
        .await
        .unwrap();
    assert!(
        engine::lock_holder(h.local.as_ref(), plans::ENV)
            .await
            .unwrap()
            .is_none()
    );
}
