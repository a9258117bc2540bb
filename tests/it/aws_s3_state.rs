//! The S3 state backend against moto: the same lock and journal behaviour as the local backend
//! (the contract below runs against both), races decided by S3's conditional writes, torn and
//! foreign objects, and the engine running, crashing and resuming on S3.

use crate::aws_common;
use crate::support;

use std::sync::Arc;

use aws_sdk_s3::primitives::ByteStream;
use cutover::engine::{self, RunOutcome};
use cutover::plan::PlanKind;
use cutover::providers::aws::s3_state::S3State;
use cutover::providers::state_local::LocalState;
use cutover::providers::{LockInfo, StateBackend, StateError};
use support::state::{CrashPoint, CrashingState};
use support::{Harness, plans};
use testkit::moto::Moto;

const ENV: &str = "payments-prod";

struct S3 {
    _moto: Moto,
    client: aws_sdk_s3::Client,
    bucket: String,
    config: aws_config::SdkConfig,
}

impl S3 {
    async fn start() -> S3 {
        Self::on(Moto::start()).await
    }

    /// For races of conditional writes: a moto that decides one request at a time, as S3 decides
    /// each key atomically (moto's threaded server can let two racing conditional writes land).
    async fn serialized() -> S3 {
        Self::on(Moto::start_serialized()).await
    }

    async fn on(moto: Moto) -> S3 {
        let config = aws_common::sdk_config(&moto.endpoint()).await;
        let client = aws_sdk_s3::Client::new(&config);
        let bucket = aws_common::unique("state");
        client
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("create bucket");
        S3 {
            _moto: moto,
            client,
            bucket,
            config,
        }
    }

    fn state(&self, prefix: &str) -> S3State {
        S3State::new(&self.config, &self.bucket, prefix)
    }

    async fn put(&self, key: &str, body: &[u8]) {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap();
    }

    async fn keys(&self) -> Vec<String> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap();
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect()
    }
}

fn holder(run: &str) -> LockInfo {
    LockInfo {
        run_id: run.into(),
        host: "ci-runner".into(),
        pid: 4242,
        user: format!("user-of-{run}"),
        started_at: "2026-03-01T09:00:00Z".parse().unwrap(),
    }
}

fn line(seq: u64) -> Vec<u8> {
    format!("{{\"seq\":{seq},\"event\":\"e{seq}\"}}\n").into_bytes()
}

// ---- the contract both backends keep ----

async fn lock_contract(state: &dyn StateBackend) {
    assert_eq!(state.read_lock(ENV).await.unwrap(), None);
    state.acquire_lock(ENV, &holder("run-a")).await.unwrap();
    assert_eq!(state.read_lock(ENV).await.unwrap(), Some(holder("run-a")));

    match state.acquire_lock(ENV, &holder("run-b")).await {
        Err(StateError::LockHeld(h)) => {
            assert_eq!(h, holder("run-a"), "the refusal names the holder")
        }
        other => panic!("a second run must be refused, got {other:?}"),
    }
    assert!(
        matches!(
            state.release_lock(ENV, "run-b").await,
            Err(StateError::LockChanged(_))
        ),
        "only the holder releases"
    );
    assert_eq!(state.read_lock(ENV).await.unwrap(), Some(holder("run-a")));

    state.release_lock(ENV, "run-a").await.unwrap();
    assert_eq!(state.read_lock(ENV).await.unwrap(), None);
    state
        .release_lock(ENV, "run-a")
        .await
        .expect("releasing an absent lock succeeds");

    // Breaking only removes the holder the user confirmed.
    state.acquire_lock(ENV, &holder("run-c")).await.unwrap();
    let mut stale = holder("run-c");
    stale.pid += 1;
    assert!(matches!(
        state.break_lock(ENV, &stale).await,
        Err(StateError::LockChanged(_))
    ));
    assert_eq!(state.read_lock(ENV).await.unwrap(), Some(holder("run-c")));
    state.break_lock(ENV, &holder("run-c")).await.unwrap();
    assert_eq!(state.read_lock(ENV).await.unwrap(), None);
    state
        .break_lock(ENV, &holder("run-c"))
        .await
        .expect("breaking an absent lock succeeds");
    state
        .acquire_lock(ENV, &holder("run-d"))
        .await
        .expect("free again after a break");
    state.release_lock(ENV, "run-d").await.unwrap();
}

async fn journal_contract(state: &dyn StateBackend) {
    assert!(matches!(
        state.read_journal(ENV, "20260301T090000Z-aaaa").await,
        Err(StateError::NotFound { .. })
    ));
    assert_eq!(state.list_runs(ENV).await.unwrap(), Vec::<String>::new());
    assert_eq!(state.current_run(ENV).await.unwrap(), None);

    // More than ten records, so ordering cannot be an accident of string order.
    let run = "20260301T090000Z-aaaa";
    let mut expected = Vec::new();
    for seq in 1..=12 {
        state.append(ENV, run, seq, &line(seq)).await.unwrap();
        expected.extend(line(seq));
    }
    assert_eq!(state.read_journal(ENV, run).await.unwrap(), expected);

    // Truncation keeps whole records and appending continues after them.
    let keep: usize = (1..=10).map(|s| line(s).len()).sum();
    state.truncate_journal(ENV, run, keep as u64).await.unwrap();
    assert_eq!(
        state.read_journal(ENV, run).await.unwrap(),
        expected[..keep]
    );
    state.append(ENV, run, 11, &line(11)).await.unwrap();
    assert_eq!(
        state.read_journal(ENV, run).await.unwrap(),
        expected[..keep + line(11).len()]
    );
    // A reader that has the first records catches up with only what follows them.
    assert_eq!(state.read_journal_after(ENV, run, 10).await.unwrap(), line(11));
    assert_eq!(state.read_journal_after(ENV, run, 11).await.unwrap(), Vec::<u8>::new());
    assert_eq!(state.read_journal_after(ENV, run, 0).await.unwrap(), state.read_journal(ENV, run).await.unwrap());
    assert!(state.list_envs().await.unwrap().contains(&ENV.to_string()), "the environment is listed");

    let later = "20260302T090000Z-bbbb";
    state.append(ENV, later, 1, &line(1)).await.unwrap();
    state.set_current_run(ENV, later).await.unwrap();
    assert_eq!(
        state.list_runs(ENV).await.unwrap(),
        vec![run.to_string(), later.to_string()],
        "oldest first"
    );
    assert_eq!(
        state.current_run(ENV).await.unwrap().as_deref(),
        Some(later)
    );
    state.set_current_run(ENV, run).await.unwrap();
    assert_eq!(state.current_run(ENV).await.unwrap().as_deref(), Some(run));
}

async fn names_contract(state: &dyn StateBackend) {
    for bad in ["", "..", "a/b", "../other"] {
        assert!(
            matches!(state.read_lock(bad).await, Err(StateError::InvalidName(_))),
            "env {bad:?}"
        );
        assert!(
            matches!(
                state.read_journal(ENV, bad).await,
                Err(StateError::InvalidName(_))
            ),
            "run {bad:?}"
        );
    }
}

#[tokio::test]
async fn local_backend_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalState::new(dir.path());
    lock_contract(&local).await;
    journal_contract(&local).await;
    names_contract(&local).await;
}

#[tokio::test]
async fn s3_backend_keeps_the_same_contract() {
    let s3 = S3::start().await;
    // Two prefixes in one bucket are independent backends.
    for prefix in ["teams/payments/", ""] {
        let state = s3.state(prefix);
        lock_contract(&state).await;
        journal_contract(&state).await;
        names_contract(&state).await;
    }
    assert_eq!(
        s3.state("teams/payments").journal_location(ENV, "r1"),
        format!("s3://{}/teams/payments/{ENV}/runs/r1/", s3.bucket)
    );
    let keys = s3.keys().await;
    assert!(
        keys.contains(
            &"teams/payments/payments-prod/runs/20260301T090000Z-aaaa/0000000011.json".to_string()
        ),
        "{keys:?}"
    );
    assert!(
        keys.contains(&"payments-prod/current".to_string()),
        "{keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.ends_with("/lock")),
        "no lock left behind: {keys:?}"
    );
}

#[tokio::test]
async fn preflight_warns_about_versioning_and_names_a_missing_bucket() {
    let s3 = S3::start().await;
    // moto answers GetBucketVersioning in a shape the SDK does not parse: the warning says so.
    let warnings = s3.state("").preflight().await.unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("versioning") && warnings[0].contains("put-bucket-versioning"),
        "{warnings:?}"
    );

    let missing = S3State::new(&s3.config, "no-such-bucket-here", "");
    let err = missing.preflight().await.unwrap_err().to_string();
    assert!(
        err.contains("NoSuchBucket") && err.contains("create bucket no-such-bucket-here"),
        "{err}"
    );
    let err = missing.read_lock(ENV).await.unwrap_err().to_string();
    assert!(err.contains("fix spec.state.bucket"), "{err}");
}

// ---- races ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_racing_for_the_lock_fifty_times_exactly_one_wins_each_time() {
    let s3 = S3::serialized().await;
    let state = Arc::new(s3.state("race"));
    for round in 0..50 {
        let (a, b) = (holder(&format!("a-{round}")), holder(&format!("b-{round}")));
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let racer = |lock: LockInfo| {
            let (state, barrier) = (state.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                state.acquire_lock(ENV, &lock).await
            })
        };
        let (ra, rb) = (racer(a.clone()), racer(b.clone()));
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        let winner = match (&ra, &rb) {
            (Ok(()), Err(StateError::LockHeld(h))) => {
                assert_eq!(h, &a, "round {round}: the loser is told who won");
                &a
            }
            (Err(StateError::LockHeld(h)), Ok(())) => {
                assert_eq!(h, &b, "round {round}: the loser is told who won");
                &b
            }
            other => panic!("round {round}: exactly one must win, got {other:?}"),
        };
        assert_eq!(
            state.read_lock(ENV).await.unwrap().as_ref(),
            Some(winner),
            "round {round}"
        );
        state.release_lock(ENV, &winner.run_id).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_of_one_record_exactly_one_lands() {
    let s3 = S3::serialized().await;
    let state = Arc::new(s3.state(""));
    let run = "20260301T090000Z-race";
    state.append(ENV, run, 1, &line(1)).await.unwrap();
    for seq in 2..12 {
        let mine = format!("{{\"seq\":{seq},\"writer\":\"a\"}}\n").into_bytes();
        let theirs = format!("{{\"seq\":{seq},\"writer\":\"b\"}}\n").into_bytes();
        let writer = |body: Vec<u8>| {
            let state = state.clone();
            tokio::spawn(async move { state.append(ENV, run, seq, &body).await })
        };
        let (ra, rb) = (writer(mine.clone()), writer(theirs.clone()));
        let (ra, rb) = (ra.await.unwrap(), rb.await.unwrap());
        let landed = match (&ra, &rb) {
            (Ok(()), Err(StateError::Conflict(m))) | (Err(StateError::Conflict(m)), Ok(())) => {
                assert!(m.contains(&format!("record {seq}")), "{m}");
                if ra.is_ok() { &mine } else { &theirs }
            }
            other => panic!("record {seq}: exactly one append must land, got {other:?}"),
        };
        assert!(
            state
                .read_journal(ENV, run)
                .await
                .unwrap()
                .ends_with(landed)
        );
    }
}

#[tokio::test]
async fn a_retried_write_that_already_landed_is_not_a_conflict() {
    let s3 = S3::start().await;
    let state = s3.state("");
    let run = "20260301T090000Z-retry";
    // What the SDK's retry of a write whose answer was lost looks like to the backend.
    state.append(ENV, run, 1, &line(1)).await.unwrap();
    state
        .append(ENV, run, 1, &line(1))
        .await
        .expect("the same record again is the same write");
    assert_eq!(state.read_journal(ENV, run).await.unwrap(), line(1));
    state.acquire_lock(ENV, &holder(run)).await.unwrap();
    state
        .acquire_lock(ENV, &holder(run))
        .await
        .expect("the same lock again is the same write");
}

// ---- torn, foreign and corrupt objects ----

#[tokio::test]
async fn foreign_objects_are_ignored_and_a_corrupt_lock_says_what_to_do() {
    let s3 = S3::start().await;
    let state = s3.state("cutover");
    let run = "20260301T090000Z-mixed";
    state.append(ENV, run, 1, &line(1)).await.unwrap();
    state.append(ENV, run, 2, &line(2)).await.unwrap();
    s3.put(
        &format!("cutover/{ENV}/runs/{run}/notes.txt"),
        b"someone's notes",
    )
    .await;
    s3.put(
        &format!("cutover/{ENV}/runs/{run}/0000000002.json.bak"),
        b"a copy",
    )
    .await;
    s3.put(&format!("cutover/{ENV}/runs/README"), b"not a run")
        .await;
    let mut both = line(1);
    both.extend(line(2));
    assert_eq!(state.read_journal(ENV, run).await.unwrap(), both);
    assert_eq!(state.list_runs(ENV).await.unwrap(), vec![run.to_string()]);

    s3.put(&format!("cutover/{ENV}/lock"), b"{not json").await;
    match state.read_lock(ENV).await {
        Err(StateError::Corrupt { what, detail }) => {
            assert_eq!(what, format!("s3://{}/cutover/{ENV}/lock", s3.bucket));
            assert!(detail.contains("delete that object by hand"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_torn_last_record_is_dropped_and_the_repair_journaled_like_the_local_backend() {
    let s3 = S3::start().await;
    let state: Arc<dyn StateBackend> = Arc::new(s3.state(""));
    let mut world = plans::world();
    // Real time here (the SDK's timeouts must not jump with a paused clock): quick fake installs.
    world.install_time = std::time::Duration::from_millis(10);
    let h = Harness::with_world(plans::upgrade().kind(PlanKind::DevCluster).build(), world);
    let crashing = CrashingState::new(state.clone(), 4, CrashPoint::AfterWrite);
    let engine = h.engine_on(crashing.clone());
    tokio::select! {
        r = engine.apply() => panic!("the run should have crashed: {r:?}"),
        () = crashing.crashed() => {}
    }
    let run = state
        .current_run(plans::ENV)
        .await
        .unwrap()
        .expect("a current run");
    let whole = state.read_journal(plans::ENV, &run).await.unwrap();
    // A record that was being written when the process died (S3 itself never tears a write, but
    // a copy made by hand can be cut short).
    s3.put(
        &format!("{}/runs/{run}/0000000005.json", plans::ENV),
        b"{\"seq\":5,\"ts\":\"2026-03",
    )
    .await;

    // What an operator does after a crash: break the dead run's lock, then resume.
    let dead = engine::lock_holder(state.as_ref(), plans::ENV)
        .await
        .unwrap()
        .expect("the dead run's lock");
    assert_eq!(dead.run_id, run);
    engine::break_lock(state.as_ref(), plans::ENV, &dead)
        .await
        .unwrap();
    let outcome = h
        .engine_on(state.clone())
        .resume()
        .await
        .expect("resume on S3");
    assert!(
        matches!(outcome, RunOutcome::Completed | RunOutcome::Waiting { .. }),
        "{outcome:?}"
    );
    let journal = String::from_utf8(state.read_journal(plans::ENV, &run).await.unwrap()).unwrap();
    assert!(journal.starts_with(std::str::from_utf8(&whole).unwrap()));
    let fifth = journal.lines().nth(4).unwrap();
    assert!(
        fifth.contains("\"seq\":5") && fifth.contains("journal-repaired"),
        "{fifth}"
    );
    let status = engine::status(state.as_ref(), plans::ENV)
        .await
        .unwrap()
        .expect("status from S3");
    assert_eq!(status.run_id, run);
    assert_eq!(
        state.read_lock(plans::ENV).await.unwrap(),
        None,
        "the resumed run released the lock"
    );
}
