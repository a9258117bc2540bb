//! Recovery end to end: a quarterly upgrade interrupted, then finished as if nothing happened.
//! - kill -9 of cutover at five points, each followed by `cutover resume --yes`, which takes over
//!   the dead process's lock and carries on. The run ends as an uninterrupted one would: one
//!   green cluster, each release at revision 1, each weight change sent once, one green record
//!   and no blue one, blue gone, nothing leaked.
//! - cloudsim (EKS and every cluster's Kubernetes API) going down and coming back twice — while
//!   green's cluster is CREATING and while helm is mid-install (revision 1 pending-install) —
//!   and cutover riding it out: it retries, adopts what was made before, and completes.
//!
//! Each point is found without sleeps: the run's journal, cloudsim's events, Route53's live
//! weights, cutover's progress lines, or the release's state on green.

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use cutover::engine::JournalEvent;
use serde_json::json;
use support::stack::Stack;
use support::stack::run::{CutoverRun, done, journal, kinds, output, started};
use support::stack::upgrade::{
    BLUE, GREEN, GREEN_SET, PlanSpec, RECORD, Upgrade, full_run_batches,
};

/// Long enough that cutover's calls in flight fail and are retried (the shortest retry delay is
/// one second), short enough to stay within every retry budget.
const OUTAGE: Duration = Duration::from_millis(1500);

/// The api release's Deployment on green, as workload faults name it.
fn api_on_green() -> String {
    format!("{GREEN}/payments/api")
}

fn resume(stack: &Stack, up: &Upgrade, label: &str) -> CutoverRun {
    stack.spawn_cutover(label, &["resume", up.plan_arg(), "--yes"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_five_points_then_resume_completes_without_duplicates() {
    let stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec::default()).await;
    let runs = up.runs_dir();

    // 1. During provisioning: green's cluster is CREATING.
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    run.wait_until(&stack, "green's cluster CREATING", || async {
        (stack.count_events("cluster-creating", GREEN) > 0).then_some(())
    })
    .await;
    run.kill9();
    let records = journal(&runs);
    assert!(
        started(&records, "provision.cluster") && !done(&records, "provision.cluster"),
        "{:?}",
        kinds(&records)
    );

    // 2. During replay: helm is mid-install of the api release (revision 1 pending-install). The
    // api's pods are held unready until cutover is dead, so helm's --wait is surely under way.
    stack
        .patch_faults(json!({"neverReady": [api_on_green()]}))
        .await;
    let mut run = resume(&stack, &up, "resume-1");
    run.wait_until(&stack, "the api release's step", || async {
        started(&journal(&runs), "releases.install.api").then_some(())
    })
    .await;
    let green_kube = stack.kubeconfig(GREEN);
    run.wait_until(&stack, "the api release pending-install", || async {
        (stack.release_statuses(&green_kube, "payments", "api") == "pending-install").then_some(())
    })
    .await;
    run.kill9();
    // The orphaned helm finishes the install on its own.
    stack.patch_faults(json!({"neverReady": null})).await;
    let records = journal(&runs);
    assert!(
        done(&records, "releases.install.ingress"),
        "{:?}",
        kinds(&records)
    );
    assert!(
        !done(&records, "releases.install.api"),
        "{:?}",
        kinds(&records)
    );

    // 3. Right after a weight change: Route53 already sends 10% to green.
    let mut run = resume(&stack, &up, "resume-2");
    run.wait_until(&stack, "green's weight at 10", || async {
        (stack.weights(&up.zone_id, RECORD).await.get(GREEN_SET) == Some(&10)).then_some(())
    })
    .await;
    run.kill9();
    assert!(!done(&journal(&runs), "traffic.shift.10"));

    // 4. During a bake: the 50% step's gates are being re-checked.
    let mut run = resume(&stack, &up, "resume-3");
    run.wait_until(&stack, "the 50% bake", || async {
        stack
            .stderr_of("resume-3")
            .contains("traffic.shift.50: baking")
            .then_some(())
    })
    .await;
    run.kill9();
    let records = journal(&runs);
    assert!(
        done(&records, "traffic.shift.10") && !done(&records, "traffic.shift.50"),
        "{:?}",
        kinds(&records)
    );

    // 5. During teardown: blue's node group is being deleted.
    let mut run = resume(&stack, &up, "resume-4");
    run.wait_until(&stack, "blue's node group DELETING", || async {
        (stack.count_events("nodegroup-deleting", BLUE) > 0).then_some(())
    })
    .await;
    run.kill9();
    let records = journal(&runs);
    assert!(
        started(&records, "retire.blue-cluster") && !done(&records, "retire.blue-cluster"),
        "{:?}",
        kinds(&records)
    );

    let last = resume(&stack, &up, "resume-5").finish(&stack).await;
    last.expect_code(0, "the last resume");

    // One of everything on green.
    assert_eq!(
        stack.count_events("cluster-creating", GREEN),
        1,
        "green's cluster created once"
    );
    assert_eq!(
        stack.count_events("nodegroup-creating", GREEN),
        1,
        "green's node group created once"
    );
    assert_eq!(
        stack.count_events("addon-creating", GREEN),
        3,
        "each add-on created once"
    );
    for (release, namespace) in [
        ("ingress", "ingress"),
        ("api", "payments"),
        ("worker", "payments"),
    ] {
        let history = stack.helm(
            &green_kube,
            &["history", release, "-n", namespace, "-o", "json"],
        );
        let history: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
        let revisions: Vec<(i64, &str)> = history
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["revision"].as_i64().unwrap(),
                    h["status"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            revisions,
            [(1, "deployed")],
            "release {release} installed exactly once"
        );
    }

    // Each weight change sent once: the resumed shifts adopted what had landed before the kill.
    assert_eq!(stack.route53.change_batches(), full_run_batches());
    assert_eq!(
        stack.weights(&up.zone_id, RECORD).await,
        BTreeMap::from([(GREEN_SET.to_string(), 100)])
    );
    let records = journal(&runs);
    assert_eq!(
        output(&records, "traffic.shift.10").unwrap()["adopted"],
        true
    );
    assert_eq!(
        output(&records, "traffic.shift.50").unwrap()["adopted"],
        true
    );

    // Blue is gone and took its load balancer with it.
    assert!(!stack.cluster_exists(BLUE).await, "blue must be gone");
    assert_eq!(stack.count_events("cluster-deleted", BLUE), 1);
    assert_eq!(stack.leaked_load_balancers(), Vec::<String>::new());

    // One run, resumed five times, each by a new process that took over the dead one's lock.
    let pids: Vec<u32> = records
        .iter()
        .filter_map(|r| match &r.event {
            JournalEvent::RunStarted { pid, .. } | JournalEvent::RunResumed { pid, .. } => {
                Some(*pid)
            }
            _ => None,
        })
        .collect();
    assert_eq!(pids.len(), 6, "{:?}", kinds(&records));
    assert!(pids.windows(2).all(|w| w[0] != w[1]), "{pids:?}");
    assert_eq!(*support::stack::run::last_transition(&records), JournalEvent::RunCompleted);
    assert!(
        !up.state
            .join(support::stack::upgrade::ENV)
            .join("lock")
            .exists(),
        "the lock is released"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_survives_cloudsim_restarting_twice() {
    let mut stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec::default()).await;
    let runs = up.runs_dir();
    // The api's pods stay unready until after the second outage: helm is surely mid-install.
    stack
        .patch_faults(json!({"neverReady": [api_on_green()]}))
        .await;
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);

    run.wait_until(&stack, "green's cluster CREATING", || async {
        (stack.count_events("cluster-creating", GREEN) > 0).then_some(())
    })
    .await;
    assert!(
        !done(&journal(&runs), "provision.cluster"),
        "the first outage must hit the cluster's creation"
    );
    stack.restart_cloudsim_after(OUTAGE).await;

    run.wait_until(&stack, "the api release's step", || async {
        started(&journal(&runs), "releases.install.api").then_some(())
    })
    .await;
    let green_kube = stack.kubeconfig(GREEN);
    run.wait_until(&stack, "the api release pending-install", || async {
        (stack.release_statuses(&green_kube, "payments", "api") == "pending-install").then_some(())
    })
    .await;
    assert!(
        !done(&journal(&runs), "releases.install.api"),
        "the second outage must hit helm mid-install"
    );
    stack.restart_cloudsim_after(OUTAGE).await;
    stack.patch_faults(json!({"neverReady": null})).await;

    let run = run.finish(&stack).await;
    run.expect_code(0, "cutover apply across two cloudsim restarts");
    assert_eq!(
        stack.events("cloudsim-started").len(),
        3,
        "cloudsim started, then restarted twice"
    );

    let records = journal(&runs);
    assert!(
        !kinds(&records).iter().any(|k| k.starts_with("step-failed")),
        "{:?}",
        kinds(&records)
    );
    assert_eq!(
        stack.count_events("cluster-creating", GREEN),
        1,
        "the outage did not make a second green"
    );
    assert_eq!(
        stack.weights(&up.zone_id, RECORD).await,
        BTreeMap::from([(GREEN_SET.to_string(), 100)])
    );
    assert!(!stack.cluster_exists(BLUE).await, "blue must be gone");
    assert_eq!(stack.leaked_load_balancers(), Vec::<String>::new());
    let releases = stack.releases(&green_kube);
    let names: Vec<&str> = releases.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(names, ["api", "ingress", "worker"]);
    assert!(releases.iter().all(|r| r.2 == "deployed"), "{releases:?}");
}
