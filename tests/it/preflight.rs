//! Pre-flight gates refuse a doomed upgrade before anything is created: each gate has a case that
//! refuses (the run ends `refused`, nothing was made, the findings name what and where) and one
//! that passes; a gate the plan skips is journaled with who skipped it.

use crate::support;

use cutover::engine::{self, RunOutcome, RunPhase};
use cutover::plan::{Addon, PreflightGate};
use cutover::providers::{ApiClient, DeprecatedApi, Insight, InsightStatus};
use support::Harness;
use support::plans::{self, BLUE};

const OLD_PDB: &str = "---\n# Source: api/templates/pdb.yaml\napiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata:\n  name: api\n  namespace: payments\nspec:\n  minAvailable: 1\n";
const OLD_FLOWSCHEMA: &str = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata:\n  name: batch\n";

/// Applies and expects a refusal by `gate`, with nothing created; returns the findings text.
async fn refused_by(h: &Harness, gate: PreflightGate) -> String {
    let outcome = h.engine().apply().await.unwrap();
    let RunOutcome::Refused { step, cause } = outcome else { panic!("expected a refusal, got {outcome:?}") };
    assert_eq!(step, format!("preflight.{}", gate.name()));
    assert_eq!(h.world.state(), h.initial, "a refused run creates nothing");
    assert!(h.world.effects().is_empty(), "no side effect at all: {:?}", h.world.effects());
    let status = engine::status(h.local.as_ref(), plans::ENV).await.unwrap().unwrap();
    assert!(matches!(status.phase, RunPhase::Refused { .. }), "{:?}", status.phase);
    assert!(status.phase.is_terminal(), "a refused run is over: fix and apply again");
    cause
}

fn insight(status: InsightStatus, clients: Vec<ApiClient>) -> Insight {
    Insight {
        id: "i-1".into(),
        name: "Deprecated APIs removed in Kubernetes v1.32".into(),
        status,
        reason: "deprecated API usage detected".into(),
        recommendation: "update the clients to flowcontrol.apiserver.k8s.io/v1".into(),
        resources: vec!["/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas".into()],
        deprecations: vec![DeprecatedApi {
            usage: "/apis/flowcontrol.apiserver.k8s.io/v1beta3/flowschemas".into(),
            replaced_with: Some("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas".into()),
            stop_serving_version: Some("1.32".into()),
            clients,
        }],
    }
}

#[tokio::test(start_paused = true)]
async fn a_release_rendered_with_a_removed_api_is_refused_with_the_api_to_use_instead() {
    let h = Harness::new(plans::upgrade().build());
    h.world.render_as("api", OLD_PDB);
    let cause = refused_by(&h, PreflightGate::Apis).await;
    assert!(cause.contains("PRE-API-001"), "{cause}");
    assert!(cause.contains("PodDisruptionBudget/payments/api uses policy/v1beta1"), "{cause}");
    assert!(cause.contains("policy/v1"), "names the replacement: {cause}");
    assert!(cause.contains("release api"), "{cause}");
}

#[tokio::test(start_paused = true)]
async fn a_removed_api_still_running_on_blue_is_refused_too() {
    let h = Harness::new(plans::upgrade().build());
    h.world.deploy_on(BLUE, "kube-system", "flow", OLD_FLOWSCHEMA);
    let cause = refused_by(&h, PreflightGate::Apis).await;
    assert!(cause.contains("PRE-API-002") && cause.contains("FlowSchema/batch"), "{cause}");
    assert!(cause.contains(&format!("running on blue {BLUE}")), "{cause}");
}

#[tokio::test(start_paused = true)]
async fn an_error_insight_refuses_and_names_the_clients_a_manifest_scan_cannot_see() {
    let h = Harness::new(plans::upgrade().build());
    let client = ApiClient { user_agent: "legacy-operator/1.2".into(), requests_last_30_days: 412, last_request: None };
    h.world.insight(BLUE, insight(InsightStatus::Error, vec![client]));
    let cause = refused_by(&h, PreflightGate::Insights).await;
    assert!(cause.contains("PRE-INS-001"), "{cause}");
    assert!(cause.contains("PRE-INS-003") && cause.contains("legacy-operator/1.2") && cause.contains("412"), "{cause}");
}

#[tokio::test(start_paused = true)]
async fn a_warning_insight_is_journaled_and_the_upgrade_goes_on() {
    let h = Harness::new(plans::upgrade().build());
    h.world.insight(BLUE, insight(InsightStatus::Warning, vec![]));
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    let output = records
        .iter()
        .find_map(|r| match &r.event {
            engine::JournalEvent::StepDone { step, output } if step == "preflight.insights" => Some(output.clone()),
            _ => None,
        })
        .expect("the insights gate is journaled");
    assert_eq!(output["findings"][0]["code"], "PRE-INS-002", "{output}");
}

#[tokio::test(start_paused = true)]
async fn a_pinned_add_on_version_the_new_kubernetes_does_not_support_is_refused() {
    let mut plan = plans::upgrade().build();
    plan.green.addons = vec![Addon { name: "vpc-cni".into(), version: Some("v1.12.0-eksbuild.1".into()), ..Addon::default() }];
    let h = Harness::new(plan);
    h.world.addon_catalog("vpc-cni", "v1.19.0-eksbuild.1", &["v1.19.0-eksbuild.1", "v1.18.3-eksbuild.2"]);
    let cause = refused_by(&h, PreflightGate::Addons).await;
    assert!(cause.contains("PRE-ADD-001") && cause.contains("v1.12.0-eksbuild.1"), "{cause}");
    assert!(cause.contains("default for 1.32 is v1.19.0-eksbuild.1"), "says what to pin: {cause}");
}

#[tokio::test(start_paused = true)]
async fn a_compatible_pin_passes_and_an_unpinned_add_on_says_what_it_will_get() {
    let mut plan = plans::upgrade().build();
    plan.green.addons = vec![
        Addon { name: "vpc-cni".into(), version: Some("v1.18.3-eksbuild.2".into()), ..Addon::default() },
        Addon { name: "coredns".into(), version: None, ..Addon::default() },
    ];
    let h = Harness::new(plan);
    h.world.addon_catalog("vpc-cni", "v1.19.0-eksbuild.1", &["v1.19.0-eksbuild.1", "v1.18.3-eksbuild.2"]);
    h.world.addon_catalog("coredns", "v1.11.4-eksbuild.2", &["v1.11.4-eksbuild.2"]);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    let text = serde_json::to_string(&records).unwrap();
    assert!(text.contains("EKS will install v1.11.4-eksbuild.2"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_skipped_gate_is_not_run_and_the_journal_says_who_skipped_it() {
    let mut plan = plans::upgrade().build();
    // Both gates that render the releases are skipped.
    plan.preflight.skip = vec![PreflightGate::Apis, PreflightGate::Irsa];
    let h = Harness::new(plan);
    h.world.render_as("api", OLD_PDB);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert_eq!(h.world.calls("render"), 0, "a skipped gate renders nothing");
    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    let skipped = records.iter().find_map(|r| match &r.event {
        engine::JournalEvent::StepDone { step, output } if step == "preflight.apis" => Some(output.clone()),
        _ => None,
    });
    assert_eq!(skipped.unwrap()["skipped_by"], "tester");
}

#[tokio::test(start_paused = true)]
async fn after_a_refusal_the_fixed_plan_applies_as_a_new_run() {
    let h = Harness::new(plans::upgrade().build());
    h.world.render_as("api", OLD_PDB);
    refused_by(&h, PreflightGate::Apis).await;
    let err = h.engine().resume().await.unwrap_err();
    assert!(matches!(err, cutover::engine::EngineError::NoRunToResume { .. }), "{err}");
    h.world.render_as("api", &support::fakes::preflight::current_manifest("api"));
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_missing_subnet_or_one_too_full_for_green_beside_blue_is_refused() {
    let plan = plans::upgrade().build();
    let first = plan.green.subnets[0].clone();
    let h = Harness::new(plan.clone());
    h.world.remove_subnet(&first);
    let cause = refused_by(&h, PreflightGate::Subnets).await;
    assert!(cause.contains("PRE-NET-001") && cause.contains(&first), "{cause}");

    let h = Harness::new(plan);
    h.world.subnet_free_ips(&first, 3);
    let cause = refused_by(&h, PreflightGate::Subnets).await;
    assert!(cause.contains("PRE-NET-004") && cause.contains(&first), "{cause}");
}
