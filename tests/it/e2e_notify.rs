//! Notifications through the binary to real HTTP receivers started by the test, during a whole
//! upgrade on the stand-ins: the JSON sink gets every event once, in order, signed
//! (`X-Cutover-Signature`) and keyed (`Idempotency-Key`); the Slack sink (URL from the
//! environment) gets `blocks` and a `text` fallback; a sink that answers 500 three times gets its
//! notification on the fourth try; a sink that never answers does not hold the run (it completes
//! within the flush bound of a run without it). No URL or secret reaches the output or the journal.
//! Also: `cutover notify test` and `cutover schema --notification`.

use crate::support;

use std::time::{Duration, Instant};

use cutover::engine::JournalEvent;
use support::stack::Stack;
use support::stack::run::journal;
use support::stack::upgrade::PlanSpec;
use testkit::receiver::{Receiver, Script};

const HMAC_SECRET: &str = "e2e-hmac-secret-value";

fn verify(secret: &str, body: &[u8], header: &str) -> bool {
    cutover::providers::notify::signature(secret.as_bytes(), body) == header
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_tells_every_sink_once_in_order_and_a_dead_sink_never_holds_the_run() {
    let stack = Stack::start(600.0).await;
    let json = Receiver::start(Script::always(200, "ok"));
    let slack = Receiver::start(Script::always(200, "ok"));
    let flaky = Receiver::start(Script::fail_then(500, 3, 200));
    let dead = Receiver::start(Script::never_answer());
    let slack_url = format!("{}/services/T000/B000/XXXXSECRETPATH", slack.url());
    stack.extra_env.lock().unwrap().extend([
        ("E2E_SLACK_URL".to_string(), slack_url.clone()),
        ("E2E_HMAC".to_string(), HMAC_SECRET.to_string()),
    ]);
    let spec_extra = format!(
        "  notify:\n    - {{name: audit, url: \"{}/hook\", format: json, secretFromEnv: E2E_HMAC}}\n    - {{name: oncall, urlFromEnv: E2E_SLACK_URL, format: slack, events: [completed, rolled-back]}}\n    - {{name: flaky, url: \"{}/\", format: teams, events: [run-started]}}\n    - {{name: dead, url: \"{}/\", format: json}}\n",
        json.url(),
        flaky.url(),
        dead.url()
    );
    let up = stack.prepare_upgrade(PlanSpec { spec_extra, ..PlanSpec::default() }).await;

    // `notify test` first, as people would: the dead sink is reported, the others delivered.
    let tested = stack.run_cutover(&["notify", "test", up.plan_arg(), "--sink", "audit"]);
    assert!(tested.status.success(), "{}", String::from_utf8_lossy(&tested.stderr));
    assert!(String::from_utf8_lossy(&tested.stdout).contains("audit: delivered"));
    assert_eq!(json.requests().len(), 1);
    assert_eq!(json.requests()[0].json()["event"], "test");

    let started = Instant::now();
    let run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]).finish(&stack).await;
    run.expect_code(0, "the upgrade with four sinks");
    let took = started.elapsed();

    // The JSON sink: every event once, in order, signed and keyed.
    let requests: Vec<_> = json.requests().into_iter().skip(1).collect();
    let bodies: Vec<serde_json::Value> = requests.iter().map(|r| r.json()).collect();
    let events: Vec<String> = bodies
        .iter()
        .map(|b| match b["checkpoint"].as_str() {
            Some(cp) => format!("checkpoint:{cp}"),
            None => b["event"].as_str().unwrap().to_string(),
        })
        .collect();
    let mut expected = vec!["run-started", "checkpoint:green-ready", "checkpoint:releases-ready", "checkpoint:verified"];
    for w in ["10", "50", "100"] {
        expected.extend(["traffic-step-started", "traffic-step-finished"]);
        expected.push(match w {
            "10" => "checkpoint:traffic-10",
            "50" => "checkpoint:traffic-50",
            _ => "checkpoint:traffic-100",
        });
    }
    expected.extend(["checkpoint:blue-retired", "completed"]);
    assert_eq!(events, expected);
    for (r, b) in requests.iter().zip(&bodies) {
        assert_eq!(b["schema"], "cutover.dev/notification/v1");
        assert_eq!(r.header("idempotency-key"), b["id"].as_str());
        assert!(verify(HMAC_SECRET, &r.body, r.header("x-cutover-signature").unwrap()), "a valid signature");
    }
    let finished_50 = bodies.iter().find(|b| b["event"] == "traffic-step-finished" && b["weight"] == 50).unwrap();
    assert_eq!(finished_50["weights"][0]["green"], 50, "{finished_50}");

    // Slack: only the subscribed event, blocks with a text fallback.
    let slack_requests = slack.requests();
    assert_eq!(slack_requests.len(), 1);
    let message = slack_requests[0].json();
    assert!(message["text"].as_str().unwrap().contains("completed"), "{message}");
    assert!(message["blocks"].as_array().unwrap().len() >= 3, "{message}");
    assert_eq!(slack_requests[0].path, "/services/T000/B000/XXXXSECRETPATH");

    // Teams on the flaky receiver: delivered on the fourth try, as the journal says.
    assert_eq!(flaky.requests().len(), 4);
    let card = flaky.requests()[3].json();
    assert_eq!(card["type"], "message");
    assert_eq!(card["attachments"][0]["content"]["type"], "AdaptiveCard");
    let records = journal(&up.runs_dir());
    let flaky_sent = records.iter().find_map(|r| match &r.event {
        JournalEvent::NotificationSent { sink, attempts, .. } if sink == "flaky" => Some(*attempts),
        _ => None,
    });
    assert_eq!(flaky_sent, Some(4));

    // The dead sink held nothing: the run's own work takes ~20 s here; the flush is bounded at 10 s.
    assert!(took < Duration::from_secs(75), "the run took {took:?}");
    assert!(!dead.requests().is_empty(), "the dead sink was tried");

    // No URL path or secret anywhere people or the journal see.
    let journal_text: String = records.iter().map(|r| serde_json::to_string(r).unwrap()).collect();
    for text in [&run.stdout, &run.stderr, &journal_text] {
        assert!(!text.contains("XXXXSECRETPATH") && !text.contains(HMAC_SECRET), "a secret leaked");
    }
}

#[test]
fn the_notification_schema_is_printed_and_describes_the_payload() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover")).args(["schema", "--notification"]).output().unwrap();
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in ["schema", "id", "event", "environment", "runId", "weights", "runbook", "nextCommand"] {
        assert!(schema["properties"][field].is_object(), "{field} missing from {schema}");
    }
}

/// SNS through boto3: a topic with two SQS subscriptions filtering on the `event` attribute;
/// prints `{"topic": ARN}` or, with `read`, the messages each queue got.
fn sns_by_boto3(stack: &Stack, command: &str) -> serde_json::Value {
    let script = r#"
import json, sys, boto3
sns, sqs = boto3.client("sns"), boto3.client("sqs")
if sys.argv[1] == "setup":
    topic = sns.create_topic(Name="cutover-events")["TopicArn"]
    for name, events in [("tests", ["test"]), ("stops", ["rolled-back", "paused"])]:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                      Attributes={"FilterPolicy": json.dumps({"event": events}), "RawMessageDelivery": "true"})
    print(json.dumps({"topic": topic}))
else:
    out = {}
    for name in ["tests", "stops"]:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", [])
        out[name] = [json.loads(m["Body"]) for m in got]
    print(json.dumps(out))
"#;
    let out = std::process::Command::new(testkit::tools::python())
        .args(["-c", script, command])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", stack.moto.endpoint())
        .output()
        .expect("run boto3");
    assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("boto3's JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_sink_publishes_json_with_attributes_subscription_filters_select_on() {
    let stack = Stack::start(600.0).await;
    let topic = sns_by_boto3(&stack, "setup")["topic"].as_str().unwrap().to_string();
    let spec_extra = format!("  notify:\n    - {{name: topic, snsTopicArn: \"{topic}\"}}\n");
    let up = stack.prepare_upgrade(PlanSpec { spec_extra, ..PlanSpec::default() }).await;
    let out = stack.run_cutover(&["notify", "test", up.plan_arg()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = sns_by_boto3(&stack, "read");
    assert_eq!(got["tests"].as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got["tests"][0]["schema"], "cutover.dev/notification/v1", "{got}");
    assert_eq!(got["tests"][0]["event"], "test");
    assert_eq!(got["stops"], serde_json::json!([]), "the filter policy keeps the test out of the stops queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_resume_tell_every_event_once_by_its_key() {
    use support::stack::run::checkpoint;
    let stack = Stack::start(600.0).await;
    let hook = Receiver::start(Script::always(200, "ok"));
    let spec_extra = format!("  notify:\n    - {{name: audit, url: \"{}/hook\", format: json}}\n", hook.url());
    let up = stack.prepare_upgrade(PlanSpec { spec_extra, bakes: ["1s", "3s", "1s"], ..PlanSpec::default() }).await;
    let runs = up.runs_dir();
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    run.wait_until(&stack, "checkpoint traffic-10", || async { checkpoint(&journal(&runs), "traffic-10").then_some(()) }).await;
    run.kill9();
    let resumed = stack.spawn_cutover("resume", &["resume", up.plan_arg(), "--yes"]).finish(&stack).await;
    resumed.expect_code(0, "resume after kill -9");

    let bodies: Vec<serde_json::Value> = hook.requests().iter().map(|r| r.json()).collect();
    let mut keys: Vec<&str> = bodies.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let sent = keys.len();
    keys.dedup();
    keys.sort();
    keys.dedup();
    // A delivery that landed just before the kill but was not yet journaled is resent with the
    // same key (that is what the key is for); nothing else twice.
    assert!(sent - keys.len() <= 1, "{sent} requests for {} keys", keys.len());
    let mut seen = std::collections::HashSet::new();
    let events: Vec<String> = bodies
        .iter()
        .filter(|b| seen.insert(b["id"].as_str().unwrap().to_string()))
        .map(|b| b["checkpoint"].as_str().map(|c| format!("checkpoint:{c}")).unwrap_or_else(|| b["event"].as_str().unwrap().to_string()))
        .collect();
    for must in ["run-started", "checkpoint:traffic-10", "checkpoint:traffic-50", "checkpoint:blue-retired", "completed"] {
        assert_eq!(events.iter().filter(|e| *e == must).count(), 1, "{must} once in {events:?}");
    }
    // Everything the journal says happened was told: one journaled delivery per key.
    let delivered: std::collections::HashSet<String> = journal(&runs)
        .iter()
        .filter_map(|r| match &r.event {
            JournalEvent::NotificationSent { id, .. } => Some(id.clone()),
            _ => None,
        })
        .collect();
    let told: std::collections::HashSet<String> = keys.iter().map(|k| k.to_string()).collect();
    assert_eq!(delivered, told);
}
