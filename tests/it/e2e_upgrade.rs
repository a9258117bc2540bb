//! The quarterly upgrade end to end, through the real binary against the local stand-ins
//! (cloudsim for EKS and Kubernetes, moto for Route53 behind a recording proxy, a chart
//! repository, helm 3). Each test starts its own stand-ins, so they run in parallel.
//! - blue serving 100% → green built, three releases replayed in `needs` order, checks, three
//!   traffic steps, blue retired: green serves everything, blue is gone, nothing leaks;
//! - a chart whose digest does not match the plan is refused before any cloud change;
//! - a gate failing at the 50% step: green's load balancer starts answering 5xx once the run has
//!   passed traffic-10, and cutover rolls back by itself — blue gets all its traffic back in ONE
//!   Route53 batch, green's record is removed, blue is never touched, exit code 4.

use crate::support;

use std::collections::BTreeMap;

use cutover::engine::JournalEvent;
use serde_json::json;
use support::stack::Stack;
use support::stack::proxy::Change;
use support::stack::run::{checkpoint, journal, kinds};
use support::stack::upgrade::{
    BLUE, BLUE_SET, ENV, GREEN, GREEN_SET, PlanSpec, RECORD, SECRET, full_run_batches,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quarterly_upgrade_moves_all_traffic_to_green_and_retires_blue() {
    let stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec::default()).await;

    let run = stack
        .spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"])
        .finish(&stack)
        .await;
    run.expect_code(0, "cutover apply");

    // DNS: green's record alone, at 100, pointing at green's load balancer.
    let weights = stack.weights(&up.zone_id, RECORD).await;
    assert_eq!(
        weights,
        BTreeMap::from([(GREEN_SET.to_string(), 100)]),
        "only green's record is left"
    );
    let records = journal(&up.runs_dir());
    let green_lb =
        support::stack::run::output(&records, "traffic.prepare").unwrap()["green_targets"][0]
            .as_str()
            .unwrap()
            .to_string();
    assert_ne!(green_lb, up.blue_lb);
    let green_kube = stack.kubeconfig(GREEN);
    let svc = stack.kubectl(
        &green_kube,
        &[
            "get",
            "service",
            "-n",
            "ingress",
            "ingress-nginx-controller",
            "-o",
            "json",
        ],
    );
    let svc: serde_json::Value = serde_json::from_slice(&svc.stdout).unwrap();
    assert_eq!(
        svc["status"]["loadBalancer"]["ingress"][0]["hostname"],
        green_lb.as_str()
    );

    // Every weight change was one atomic batch, in the plan's order.
    assert_eq!(stack.route53.change_batches(), full_run_batches());

    // Clusters: blue deleted (after its load balancer was released), green serving.
    let eks = stack.eks().await;
    assert!(!stack.cluster_exists(BLUE).await, "blue must be gone");
    assert_eq!(stack.count_events("cluster-deleted", BLUE), 1);
    assert_eq!(
        stack.leaked_load_balancers(),
        Vec::<String>::new(),
        "no load balancer may outlive its cluster"
    );
    let green = eks.describe_cluster().name(GREEN).send().await.unwrap();
    assert_eq!(green.cluster().unwrap().version(), Some("1.32"));
    assert_eq!(stack.count_events("cluster-creating", GREEN), 1);

    // Releases replayed once each, in `needs` order.
    let releases = stack.releases(&green_kube);
    let deployed = |n: &str| (n.to_string(), "1".to_string(), "deployed".to_string());
    assert_eq!(
        releases,
        vec![deployed("api"), deployed("ingress"), deployed("worker")]
    );
    let seq = |kind: &str| {
        records
            .iter()
            .find(|r| kinds(std::slice::from_ref(r))[0] == kind)
            .unwrap_or_else(|| panic!("no {kind} in {:?}", kinds(&records)))
            .seq
    };
    assert!(seq("step-done releases.install.ingress") < seq("step-started releases.install.api"));
    assert!(seq("step-done releases.install.api") < seq("step-started releases.install.worker"));

    // The journal tells the whole story, checkpoint by checkpoint.
    let checkpoints: Vec<String> = records
        .iter()
        .filter_map(|r| match &r.event {
            JournalEvent::Checkpoint { name } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        checkpoints,
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
    assert_eq!(*support::stack::run::last_transition(&records), JournalEvent::RunCompleted);
    // The session ended by journaling what it cost in AWS requests.
    let JournalEvent::AwsRequests { by_operation } = &records.last().unwrap().event else {
        panic!("the last record counts the session's AWS requests: {:?}", records.last())
    };
    assert_eq!(by_operation.get("EKS.CreateCluster"), Some(&1), "{by_operation:?}");
    let status = stack.run_cutover(&["status", up.plan_arg()]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );

    // The api's secret value reached helm, and nothing else.
    let journal_text = std::fs::read_to_string(
        std::fs::read_dir(up.runs_dir())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path(),
    )
    .unwrap();
    for (what, text) in [
        ("stdout", &run.stdout),
        ("stderr", &run.stderr),
        ("journal", &journal_text),
    ] {
        assert!(
            !text.contains(SECRET),
            "the secret value leaked into the {what}"
        );
    }
    let values = stack.helm(
        &green_kube,
        &["get", "values", "api", "-n", "payments", "-o", "json"],
    );
    let values: serde_json::Value = serde_json::from_slice(&values.stdout).unwrap();
    assert_eq!(
        values["config"]["database"], SECRET,
        "the secret value is the release's value"
    );
    assert!(
        run.stderr.contains(ENV),
        "the run names its plan: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_whose_digest_does_not_match_is_refused_before_any_cloud_change() {
    let stack = Stack::start(600.0).await;
    let wrong = format!("sha256:{}", "0".repeat(64));
    let up = stack
        .prepare_upgrade(PlanSpec {
            ingress_digest: Some(wrong.clone()),
            ..PlanSpec::default()
        })
        .await;
    let before = stack.weights(&up.zone_id, RECORD).await;

    let run = stack
        .spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"])
        .finish(&stack)
        .await;
    run.expect_code(4, "cutover apply with a wrong chart digest");
    assert!(
        run.stderr.contains(&format!("plan pins {wrong}"))
            && run.stderr.contains("release ingress"),
        "the error names the release and the pinned digest: {}",
        run.stderr
    );

    assert_eq!(
        stack.count_events("cluster-creating", GREEN),
        0,
        "no green cluster may be created"
    );
    let clusters = stack.eks().await.list_clusters().send().await.unwrap();
    assert_eq!(clusters.clusters(), [BLUE.to_string()]);
    assert!(
        stack.route53.change_batches().is_empty(),
        "Route53 must be untouched"
    );
    assert_eq!(stack.weights(&up.zone_id, RECORD).await, before);

    let records = journal(&up.runs_dir());
    let kinds = kinds(&records);
    assert!(
        kinds.contains(&"step-failed preflight.charts".to_string()),
        "{kinds:?}"
    );
    assert!(
        !kinds
            .iter()
            .any(|k| k.starts_with("step-started provision")),
        "{kinds:?}"
    );
    assert!(
        matches!(
            support::stack::run::last_transition(&records),
            JournalEvent::RunRolledBack { to: None, .. }
        ),
        "{kinds:?}"
    );
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
    run.wait_until(&stack, "checkpoint traffic-10", || async {
        checkpoint(&journal(&runs), "traffic-10").then_some(())
    })
    .await;
    stack
        .patch_faults(
            json!({"lbErrorRate": {format!("{GREEN}/ingress/ingress-nginx-controller"): 1.0}}),
        )
        .await;
    let run = run.finish(&stack).await;
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
            vec![Change::upsert(GREEN_SET, 0)],
            vec![Change::upsert(BLUE_SET, 90), Change::upsert(GREEN_SET, 10)],
            vec![Change::upsert(BLUE_SET, 50), Change::upsert(GREEN_SET, 50)],
            // The rollback: both shifts undone at once, then green's record removed.
            vec![Change::upsert(BLUE_SET, 100), Change::upsert(GREEN_SET, 0)],
            vec![Change::delete(GREEN_SET, 0)],
        ]
    );

    // The journal records the failure and the rollback to the last safe checkpoint.
    let records = journal(&up.runs_dir());
    let kinds: Vec<String> = kinds(&records).into_iter().filter(|k| k != "aws-requests").collect();
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
        matches!(support::stack::run::last_transition(&records), JournalEvent::RunRolledBack { to: Some(to), .. } if to == "verified"),
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
