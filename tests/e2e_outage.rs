//! cloudsim (EKS and every cluster's Kubernetes API) goes down and comes back in the middle of a
//! quarterly upgrade — once while green's cluster is CREATING, once while helm is mid-install of a
//! release (revision 1 pending-install) — and cutover rides it out: it retries, adopts what was
//! made before the outage, and completes.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::stack::Stack;
use support::stack::run::{done, journal, kinds, started};
use support::stack::upgrade::{BLUE, GREEN, GREEN_SET, PlanSpec, RECORD};

/// Long enough that cutover's calls in flight fail and are retried (the shortest retry delay is
/// one second), short enough to stay within every retry budget.
const OUTAGE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_survives_cloudsim_restarting_twice() {
    let mut stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec::default()).await;
    let runs = up.runs_dir();
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);

    run.wait_until("green's cluster CREATING", || async {
        (stack.count_events("cluster-creating", GREEN) > 0).then_some(())
    })
    .await;
    assert!(
        !done(&journal(&runs), "provision.cluster"),
        "the first outage must hit the cluster's creation"
    );
    stack.restart_cloudsim_after(OUTAGE).await;

    run.wait_until("the api release's step", || async {
        started(&journal(&runs), "releases.install.api").then_some(())
    })
    .await;
    let green_kube = stack.kubeconfig(GREEN);
    run.wait_until("the api release pending-install", || async {
        let statuses = stack.kubectl(
            &green_kube,
            &[
                "get",
                "secrets",
                "-n",
                "payments",
                "-l",
                "owner=helm,name=api",
                "-o",
                "jsonpath={.items[*].metadata.labels.status}",
            ],
        );
        (String::from_utf8_lossy(&statuses.stdout) == "pending-install").then_some(())
    })
    .await;
    assert!(
        !done(&journal(&runs), "releases.install.api"),
        "the second outage must hit helm mid-install"
    );
    stack.restart_cloudsim_after(OUTAGE).await;

    let run = run.finish().await;
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
    assert!(
        stack
            .eks()
            .await
            .describe_cluster()
            .name(BLUE)
            .send()
            .await
            .is_err(),
        "blue must be gone"
    );
    assert_eq!(stack.leaked_load_balancers(), Vec::<String>::new());
    let listed = stack.helm(&stack.kubeconfig(GREEN), &["list", "-A", "-o", "json"]);
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let deployed: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(deployed.len(), 3, "{deployed:?}");
    assert!(
        deployed.iter().all(|(_, status)| *status == "deployed"),
        "{deployed:?}"
    );
}
