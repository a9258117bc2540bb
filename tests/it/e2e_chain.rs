//! Quarter after quarter on one environment, through the real binary: the green of one quarter is
//! the blue of the next. The first plan is written by hand (blue serves through a record someone
//! made, under a set id of their choosing); each later plan is made by `cutover next` from the
//! previous one's completed run, with nothing renamed by hand. Every quarter must end with only
//! the new green's record at 100, one live cluster, and no leaked load balancer. The pinned vpc-cni
//! moves to EKS's default for each new version (the first pin stops at 1.33, so without the move the
//! third quarter would be refused).

use crate::support;

use std::collections::BTreeMap;

use support::stack::Stack;
use support::stack::upgrade::{BLUE, ENV, GREEN, PlanSpec, RECORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_quarters_of_one_environment_each_plan_made_by_cutover_next() {
    let stack = Stack::start(600.0).await;
    let spec = PlanSpec {
        addons: "[{name: vpc-cni, version: v1.19.0-eksbuild.1}, {name: kube-proxy}, {name: coredns}]",
        ..PlanSpec::default()
    };
    let up = stack.prepare_upgrade(spec).await;

    // Before anything ran, there is no "next" to make.
    let early = stack.run_cutover(&["next", up.plan_arg(), "--version", "1.33"]);
    assert_eq!(early.status.code(), Some(2), "{}", String::from_utf8_lossy(&early.stderr));
    assert!(String::from_utf8_lossy(&early.stderr).contains("has no run yet"));

    // (green, its version, the vpc-cni version cloudsim's catalog defaults to for it)
    let quarters = [
        (GREEN, "1.32", "v1.19.0-eksbuild.1"),
        ("shop-1-33", "1.33", "v1.19.2-eksbuild.1"),
        ("shop-1-34", "1.34", "v1.20.4-eksbuild.2"),
    ];
    let mut plan = up.plan.clone();
    let mut retired = vec![BLUE.to_string()];
    for (q, (green, version, _)) in quarters.iter().enumerate() {
        let run = stack
            .spawn_cutover(&format!("apply q{}", q + 1), &["apply", plan.to_str().unwrap(), "--yes"])
            .finish(&stack)
            .await;
        run.expect_code(0, &format!("quarter {} ({green} at {version})", q + 1));

        let weights = stack.weights(&up.zone_id, RECORD).await;
        assert_eq!(weights, BTreeMap::from([(green.to_string(), 100)]), "quarter {}: green's record alone", q + 1);
        let eks = stack.eks().await;
        let clusters = eks.list_clusters().send().await.unwrap().clusters.unwrap_or_default();
        assert_eq!(clusters, [green.to_string()], "quarter {}: one live cluster", q + 1);
        for old in &retired {
            assert_eq!(stack.count_events("cluster-deleted", old), 1, "{old} deleted exactly once");
        }
        assert_eq!(stack.leaked_load_balancers(), Vec::<String>::new(), "quarter {}", q + 1);
        retired.push(green.to_string());

        let Some((next_green, next_version, next_cni)) = quarters.get(q + 1) else { break };
        let next_plan = up.plan.with_file_name(format!("quarter-{}.yaml", q + 2));
        let out = stack.run_cutover(&[
            "next",
            plan.to_str().unwrap(),
            "--version",
            next_version,
            "-o",
            next_plan.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cutover next after quarter {}: {stderr}", q + 1);
        assert!(stderr.contains('+') && stderr.contains(next_green), "a diff naming the new green: {stderr}");
        let written = std::fs::read_to_string(&next_plan).unwrap();
        assert!(written.contains(&format!("blue: {{cluster: {green}}}")), "{written}");
        assert!(written.contains(&format!("cluster: {next_green}")), "{written}");
        assert!(written.contains(&format!("version: \"{next_version}\"")), "{written}");
        assert!(written.contains(&format!("{{name: vpc-cni, version: {next_cni}}}")), "the pin moves: {written}");
        assert!(written.contains(&format!("metadata: {{name: {ENV},")), "the environment stays: {written}");
        plan = next_plan;
    }
}
