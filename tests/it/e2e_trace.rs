//! A run exported as an OpenTelemetry trace over OTLP/HTTP, received by a test receiver and decoded
//! with the upstream protobuf definitions (`opentelemetry-proto`): a run started under a CI
//! `TRACEPARENT`, killed twice and resumed, is one trace — one root span under the caller's span,
//! a span per process, a span per step under the process that ran it — with no span twice.

use crate::support;

use std::collections::{HashMap, HashSet};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use support::stack::Stack;
use support::stack::run::{checkpoint, journal};
use support::stack::upgrade::PlanSpec;
use testkit::receiver::{Receiver, Script};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CI_SPAN: &str = "00f067aa0ba902b7";

fn attr(span: &Span, key: &str) -> Option<String> {
    span.attributes.iter().find(|a| a.key == key).and_then(|a| match a.value.as_ref()?.value.as_ref()? {
        AnyValue::StringValue(s) => Some(s.clone()),
        AnyValue::IntValue(i) => Some(i.to_string()),
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_and_resumed_twice_is_one_trace_under_the_callers_span() {
    let stack = Stack::start(600.0).await;
    let collector = Receiver::start(Script::always(200, ""));
    stack.extra_env.lock().unwrap().extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), collector.url()),
        ("TRACEPARENT".to_string(), format!("00-{TRACE_ID}-{CI_SPAN}-01")),
    ]);
    // A command check records the TRACEPARENT it is handed (helm gets the same).
    let seen = stack.dir.path().join("traceparent.log");
    let check = format!(
        "    - {{name: traced, command: {{run: [sh, -c, 'echo \"$TRACEPARENT\" >> {}']}}}}\n",
        seen.display()
    );
    let up = stack.prepare_upgrade(PlanSpec { extra_checks: check, ..PlanSpec::default() }).await;
    let runs = up.runs_dir();
    let plan = up.plan_arg();

    let mut run = stack.spawn_cutover("apply", &["apply", plan, "--yes"]);
    run.wait_until(&stack, "green-ready", || async { checkpoint(&journal(&runs), "green-ready").then_some(()) }).await;
    run.kill9();
    let mut run = stack.spawn_cutover("resume-1", &["resume", plan, "--yes"]);
    run.wait_until(&stack, "traffic-10", || async { checkpoint(&journal(&runs), "traffic-10").then_some(()) }).await;
    run.kill9();
    let run = stack.spawn_cutover("resume-2", &["resume", plan, "--yes"]).finish(&stack).await;
    run.expect_code(0, "the second resume completes");
    assert!(run.stderr.contains("spans exported"), "{}", run.stderr);

    let requests = collector.requests();
    assert!(requests.iter().all(|r| r.path == "/v1/traces" && r.header("content-type") == Some("application/x-protobuf")));
    let spans: Vec<Span> = requests
        .iter()
        .flat_map(|r| ExportTraceServiceRequest::decode(r.body.as_slice()).expect("OTLP protobuf").resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .flat_map(|ss| ss.spans)
        .collect();
    let hex = |b: &[u8]| hex::encode(b);
    assert!(spans.iter().all(|s| hex(&s.trace_id) == TRACE_ID), "one trace, the caller's");
    let ids: Vec<String> = spans.iter().map(|s| hex(&s.span_id)).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "no span twice");

    let roots: Vec<&Span> = spans.iter().filter(|s| s.name.starts_with("cutover run ")).collect();
    assert_eq!(roots.len(), 1);
    let root = roots[0];
    assert_eq!(hex(&root.parent_span_id), CI_SPAN, "the run hangs under the CI job's span");
    assert_eq!(attr(root, "cicd.pipeline.result").as_deref(), Some("success"));
    assert_eq!(attr(root, "cicd.pipeline.name").as_deref(), Some("shop-prod"));

    let processes: Vec<&Span> = spans.iter().filter(|s| s.parent_span_id == root.span_id).collect();
    let names: Vec<&str> = processes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["cutover apply", "cutover resume", "cutover resume"], "a span per process, in order");
    let by_id: HashMap<String, &Span> = processes.iter().map(|s| (hex(&s.span_id), *s)).collect();
    let steps: Vec<&Span> = spans.iter().filter(|s| by_id.contains_key(&hex(&s.parent_span_id))).collect();
    assert_eq!(steps.len() + processes.len() + 1, spans.len(), "every other span is a step under a process");
    let shift = steps.iter().find(|s| s.name == "traffic.shift.100").expect("the last traffic step");
    assert_eq!(attr(shift, "cutover.weight").as_deref(), Some("100"));
    assert_eq!(attr(shift, "cicd.pipeline.task.name").as_deref(), Some("traffic.shift.100"));
    let handed = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(handed.trim(), format!("00-{TRACE_ID}-{}-01", hex(&root.span_id)), "subprocesses run under the run's root span");
    let checkpoints: usize = processes.iter().map(|p| p.events.iter().filter(|e| e.name == "checkpoint").count()).sum();
    assert!(checkpoints >= 6, "checkpoints are events of the processes: {checkpoints}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_never_answers_costs_at_most_the_export_bound_and_the_drop_is_reported() {
    let stack = Stack::start(600.0).await;
    let collector = Receiver::start(Script::never_answer());
    stack.extra_env.lock().unwrap().push(("OTEL_EXPORTER_OTLP_ENDPOINT".to_string(), collector.url()));
    // A chart whose digest does not match: the run stops at once, so its time is the export's.
    let up = stack.prepare_upgrade(PlanSpec { ingress_digest: Some(format!("sha256:{}", "0".repeat(64))), ..PlanSpec::default() }).await;
    let started = std::time::Instant::now();
    let run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]).finish(&stack).await;
    let took = started.elapsed();
    assert_ne!(run.code, Some(0));
    assert!(run.stderr.contains("3 spans were not exported"), "{}", run.stderr);
    assert!(took < std::time::Duration::from_secs(20), "the hung collector held the process {took:?}");
    assert!(!collector.requests().is_empty(), "the export was tried");
}
