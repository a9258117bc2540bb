//! `cutover dashboard` over plain HTTP: the overview and its needs-attention queue from journals
//! written into a local state directory, journal strings escaped, a journal append reaching a
//! run's event stream within 2 s and a client that goes away ending its stream, and who may read:
//! loopback host names only without a token, the bearer token on every request off loopback
//! (through the binary), nothing but GET. The real-browser tests are in `dashboard_browser`.

use std::time::Duration;

use cutover::engine::JournalEvent;
use serde_json::json;

use crate::support::dashboard::{EventStream, JournalWriter, get, request, serve, spawn_binary, xss_run};

/// Three environments: one completed, one paused at a failed step, one whose process died mid-run.
fn three_environments(state: &std::path::Path) {
    let mut done = JournalWriter::new(state, "shop-prod", "20260301T090000Z-aaaa");
    done.started("shop-prod", "alice")
        .step("traffic.prepare", json!({"before": [{"record": "shop.example.com", "blue": 100, "green": null}], "after": [{"record": "shop.example.com", "blue": 100, "green": 0}]}))
        .append(JournalEvent::Checkpoint { name: "verified".into() })
        .append(JournalEvent::RunCompleted);
    let mut paused = JournalWriter::new(state, "pay-prod", "20260301T090000Z-bbbb");
    paused
        .started("pay-prod", "bob")
        .append(JournalEvent::StepStarted { step: "releases.install.api".into(), irreversible: false })
        .append(JournalEvent::StepFailed { step: "releases.install.api".into(), error: "helm timed out".into(), retryable: true, code: None })
        .append(JournalEvent::RunPaused { step: "releases.install.api".into(), cause: "helm timed out".into() });
    let mut crashed = JournalWriter::new(state, "ads-prod", "20260301T090000Z-cccc");
    crashed.started("ads-prod", "carol").append(JournalEvent::StepStarted { step: "provision.cluster".into(), irreversible: false });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_lists_every_environment_and_queues_those_that_need_a_person_first() {
    let dir = tempfile::tempdir().unwrap();
    three_environments(dir.path());
    let dash = serve(dir.path(), None).await;
    let addr = dash.addr();

    let page = get(addr, "/", &addr.to_string(), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    for env in ["shop-prod", "pay-prod", "ads-prod"] {
        assert!(page.body.contains(&format!("data-env=\"{env}\"")), "{env} has a row: {}", page.body);
    }
    let queue = page.body.split("id=\"environments\"").next().unwrap();
    let (paused, crashed) = (queue.find("pay-prod").expect("paused is queued"), queue.find("ads-prod").expect("crashed is queued"));
    assert!(paused < crashed, "a paused run comes before an interrupted one: {queue}");
    assert!(queue.contains("helm timed out") && queue.contains("no process holds the lock"), "{queue}");
    assert!(!queue.contains("shop-prod"), "a completed run needs nobody: {queue}");
    assert!(page.body.contains("shop.example.com: 100/0"), "live weights from the journal: {}", page.body);
    for header in ["content-security-policy: default-src 'none'", "x-content-type-options: nosniff", "cache-control: no-store"] {
        assert!(page.head.contains(header), "{header} missing: {}", page.head);
    }

    // The run page: its cause, and the exact commands (no plan loaded: `PLAN`).
    let run = get(addr, &format!("{}/runs/20260301T090000Z-bbbb", env_path(&page.body, "pay-prod")), &addr.to_string(), &[]).await;
    assert_eq!(run.status, 200);
    assert!(run.body.contains("run paused at releases.install.api: helm timed out"), "RunOutcome::describe(): {}", run.body);
    assert!(run.body.contains("cutover resume PLAN") && run.body.contains("cutover rollback PLAN --to start"), "{}", run.body);
    let missing = get(addr, &format!("{}/runs/20990101T000000Z-none", env_path(&page.body, "pay-prod")), &addr.to_string(), &[]).await;
    assert_eq!(missing.status, 404, "{}", missing.body);
    dash.stop().await.unwrap();
}

/// The environment page's path, as the overview links it.
fn env_path(body: &str, env: &str) -> String {
    let end = format!("/{env}\"");
    let at = body.find(&end).unwrap_or_else(|| panic!("no link to {env}"));
    let start = body[..at].rfind("href=\"").unwrap() + "href=\"".len();
    body[start..at + env.len() + 1].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_journal_is_shown_as_text_on_every_page() {
    let dir = tempfile::tempdir().unwrap();
    xss_run(dir.path(), "probe-env");
    let dash = serve(dir.path(), None).await;
    let addr = dash.addr();
    let overview = get(addr, "/", &addr.to_string(), &[]).await;
    let env = env_path(&overview.body, "probe-env");
    let run = format!("{env}/runs/20260301T090000Z-0bad");
    for path in ["/".to_string(), env.clone(), run.clone(), format!("{run}?step=releases.install.api"), format!("{run}?step={}", "%3Cscript%3E")] {
        let page = get(addr, &path, &addr.to_string(), &[]).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.body.contains("<script>window"), "{path} lets the probe's script through: {}", page.body);
        assert!(!page.body.contains("<img src=x"), "{path} lets the probe's image through");
        assert_eq!(page.body.matches("<script").count(), 1, "{path}: only the dashboard's own script");
    }
    let page = get(addr, &format!("{run}?step=releases.install.api"), &addr.to_string(), &[]).await;
    assert!(page.body.contains("&lt;script&gt;window.__pwned = 1;"), "the probe is shown, escaped: {}", page.body);
    dash.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_reaches_the_run_stream_within_two_seconds_and_a_closed_stream_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = JournalWriter::new(dir.path(), "shop-prod", "20260301T090000Z-aaaa");
    j.started("shop-prod", "alice").append(JournalEvent::StepStarted { step: "provision.cluster".into(), irreversible: false });
    let dash = serve(dir.path(), None).await;
    let addr = dash.addr();
    let overview = get(addr, "/", &addr.to_string(), &[]).await;
    let events = format!("{}/runs/20260301T090000Z-aaaa/events?after=2", env_path(&overview.body, "shop-prod"));

    let mut stream = EventStream::open(addr, &events).await;
    assert!(stream.wait_for("text/event-stream", Duration::from_secs(5)).await.is_some(), "{}", stream.received);
    assert_eq!(dash.live_streams(), 1);
    j.append(JournalEvent::StepDone { step: "provision.cluster".into(), output: json!({"cluster": "shop-1-32"}) })
        .append(JournalEvent::Checkpoint { name: "green-ready-probe".into() });
    let took = stream.wait_for("green-ready-probe", Duration::from_secs(2)).await;
    assert!(took.is_some(), "the append did not reach the stream within 2 s: {}", stream.received);
    assert!(stream.received.contains("event: update") && stream.received.contains("id: 4"), "{}", stream.received);

    drop(stream);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while dash.live_streams() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the stream outlived its client");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The overview's stream too, and stopping the server ends an open one.
    let mut ov = EventStream::open(addr, "/events").await;
    assert!(ov.wait_for("text/event-stream", Duration::from_secs(5)).await.is_some());
    assert_eq!(dash.live_streams(), 1);
    tokio::time::timeout(Duration::from_secs(12), dash.stop()).await.expect("stop is bounded").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_only_loopback_host_names_are_answered_and_nothing_but_get() {
    let dir = tempfile::tempdir().unwrap();
    three_environments(dir.path());
    let dash = serve(dir.path(), None).await;
    let addr = dash.addr();
    assert_eq!(get(addr, "/", &format!("localhost:{}", addr.port()), &[]).await.status, 200);
    let rebound = get(addr, "/", "dashboard.evil.example", &[]).await;
    assert_eq!(rebound.status, 401, "a page that rebinds a name to 127.0.0.1 gets nothing: {}", rebound.body);
    assert!(!rebound.body.contains("shop-prod"));
    for method in ["POST", "PUT", "DELETE"] {
        assert_eq!(request(addr, method, "/", &addr.to_string(), &[]).await.status, 405, "{method}");
    }
    dash.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_it_refuses_to_start_without_a_token_then_every_request_needs_it() {
    const TOKEN: &str = "dashboard-test-token-0123456789";
    let dir = tempfile::tempdir().unwrap();
    three_environments(dir.path());
    let state = format!("local:{}", dir.path().display());
    let cutover = env!("CARGO_BIN_EXE_cutover");

    let refused = std::process::Command::new(cutover)
        .args(["dashboard", "--state", &state, "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--token-from-env"));

    let mut cmd = std::process::Command::new(cutover);
    cmd.args(["dashboard", "--state", &state, "--listen", "0.0.0.0:0", "--token-from-env", "DASH_TOKEN", "-vv"]).env("DASH_TOKEN", TOKEN);
    let (mut child, addr) = spawn_binary(cmd, true).await;

    let none = get(addr, "/", &addr.to_string(), &[]).await;
    assert_eq!(none.status, 401);
    assert!(none.head.contains("www-authenticate: bearer"), "{}", none.head);
    assert!(!none.body.contains("shop-prod"));
    let wrong = format!("Bearer {TOKEN}x");
    assert_eq!(get(addr, "/", &addr.to_string(), &[("Authorization", &wrong)]).await.status, 401);
    assert_eq!(get(addr, "/assets/app.js", &addr.to_string(), &[]).await.status, 401, "assets too");
    let right = format!("Bearer {TOKEN}");
    let ok = get(addr, "/", "anything.example", &[("Authorization", &right)]).await;
    assert_eq!(ok.status, 200, "with the token any host name is fine: {}", ok.body);
    assert!(ok.body.contains("shop-prod"));

    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused"), "refusals are logged: {stderr}");
    assert!(!stderr.contains(TOKEN), "the token must never be logged: {stderr}");
}

/// A dev cluster of environment `name` (its own), owned by ana, expiring at `expires`.
async fn dev_cluster(stack: &crate::support::stack::Stack, name: &str, expires: &str) {
    let tags = [
        ("cutover.dev/kind", "dev"),
        ("cutover.dev/plan", name),
        ("cutover.dev/run-id", "20260101T000000Z-abcd"),
        ("cutover.dev/owner", "ana@example.com"),
        ("cutover.dev/expires-at", expires),
    ];
    crate::dev_clusters::make_cluster(stack, name, &tags).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_clusters_show_their_expiry_and_an_expired_one_is_queued() {
    let stack = crate::support::stack::Stack::start(600.0).await;
    dev_cluster(&stack, "ana-dev", "2020-01-01T00:00:00Z").await;
    dev_cluster(&stack, "bo-dev", "2999-01-01T00:00:00Z").await;
    let plans = stack.dir.path().join("plans");
    std::fs::create_dir_all(&plans).unwrap();
    std::fs::write(
        plans.join("dev.yaml"),
        format!(
            "apiVersion: cutover.dev/v1\nkind: DevCluster\nmetadata: {{name: shop-dev, owner: shop@example.com}}\nspec:\n  aws: {{region: {region}}}\n  \
             state: {{backend: local, path: .cutover}}\n  green:\n    cluster: shop-dev\n    version: \"1.32\"\n    \
             roleArn: arn:aws:iam::111122223333:role/eks-cluster\n    subnets: [subnet-a, subnet-b]\n    nodegroups:\n      - {{name: dev, instanceTypes: [t3.large], \
             scaling: {{min: 1, desired: 1, max: 2}}, nodeRoleArn: arn:aws:iam::111122223333:role/eks-node}}\n  helm: {{version: \"3.19.0\"}}\n  ttl: 8h\n",
            region = crate::support::stack::REGION
        ),
    )
    .unwrap();
    // A journal for one of them, so its environment row carries the expiry too.
    let mut j = JournalWriter::new(&plans.join(".cutover"), "ana-dev", "20260301T090000Z-dddd");
    j.started("ana-dev", "ana").append(JournalEvent::RunCompleted);

    let cmd = stack.cutover(&["dashboard", "--plans", plans.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    let (_child, addr) = spawn_binary(cmd, false).await;
    let page = get(addr, "/", &addr.to_string(), &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (queue, rest) = page.body.split_once("id=\"environments\"").unwrap();
    assert!(queue.contains("dev cluster expired") && queue.contains("ana-dev") && queue.contains("cutover dev extend ana-dev"), "{queue}");
    assert!(!queue.contains("bo-dev"), "a fresh dev cluster needs nobody: {queue}");
    let dev = rest.split_once("id=\"dev-clusters\"").expect("the dev clusters' table").1;
    assert!(dev.contains("data-cluster=\"ana-dev\"") && dev.contains("data-cluster=\"bo-dev\""), "{dev}");
    assert!(dev.contains("2999-01-01 00:00:00Z"), "the expiry is shown: {dev}");
    let row = rest.split("data-env=\"ana-dev\"").nth(1).expect("ana-dev's row").split("</tr>").next().unwrap();
    assert!(row.contains("expired"), "the environment row says it expired: {row}");
}

#[test]
fn no_dashboard_code_bypasses_escaping() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/dashboard");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
            assert!(!code.contains("PreEscaped"), "{} splices unescaped markup", path.display());
        }
    }
}

/// A drill run of plans/dr-drill.yaml (rtoTarget 45m) whose record serves the rebuilt cluster
/// `minutes` after the start; `failed` ends it rolled back instead.
fn drill_records(minutes: i64, failed: bool) -> Vec<cutover::engine::JournalRecord> {
    let dir = tempfile::tempdir().unwrap();
    let mut j = JournalWriter::new(dir.path(), "payments-dr-drill", "20260301T090000Z-d011");
    j.started("payments-dr-drill", "ana").append(JournalEvent::Checkpoint { name: "verified".into() });
    let insync = ("2026-03-01T09:00:00Z".parse::<jiff::Timestamp>().unwrap() + jiff::SignedDuration::from_mins(minutes)).to_string();
    j.step("traffic.shift.100", json!({"weight": 100, "insync_at": insync, "before": [], "after": []}));
    j.append(if failed {
        JournalEvent::RunRolledBack { to: None, cause: "check synthetic failed".into(), requested_by: None }
    } else {
        JournalEvent::RunCompleted
    });
    let path = dir.path().join("payments-dr-drill/runs/20260301T090000Z-d011.jsonl");
    cutover::engine::journal::parse("20260301T090000Z-d011", &std::fs::read(path).unwrap()).unwrap().records
}

#[test]
fn a_drill_is_judged_from_its_journal_against_its_rto_target() {
    use cutover::drill::Verdict;
    use cutover::ops::drill::journaled_verdict;
    let plan = cutover::ops::load_plan(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/dr-drill.yaml")).unwrap();
    let judged = |minutes, failed| journaled_verdict(&plan, &drill_records(minutes, failed)).expect("a finished drill");
    let pass = judged(30, false);
    // The run started at 09:00:01 (the writer's first record), so 30 minutes after 09:00 is 1799 s.
    assert_eq!((pass.verdict, pass.recovery_secs, pass.rto_target_secs), (Verdict::Pass, Some(1799.0), 2700.0));
    assert_eq!((pass.rpo_secs, pass.rpo_target_secs), (None, None), "it restored no data and has no RPO target");
    assert_eq!(judged(50, false).verdict, Verdict::MissedRto);
    assert_eq!(judged(30, true).verdict, Verdict::Failed);
    let mut running = drill_records(30, false);
    running.pop();
    assert_eq!(journaled_verdict(&plan, &running), None, "an unfinished drill has no verdict yet");
    let upgrade = cutover::ops::load_plan(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/quarterly-upgrade.yaml")).unwrap();
    assert_eq!(journaled_verdict(&upgrade, &drill_records(30, false)), None, "only drills have a verdict");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_s3_state_is_listed_and_followed_live_like_a_local_one() {
    use cutover::providers::StateBackend as _;
    let moto = testkit::moto::Moto::start();
    let config = crate::aws_common::sdk_config(&moto.endpoint()).await;
    let bucket = crate::aws_common::unique("dash");
    aws_sdk_s3::Client::new(&config).create_bucket().bucket(&bucket).send().await.unwrap();
    let state = cutover::providers::aws::s3_state::S3State::new(&config, &bucket, "teams/shop");
    let run = "20260301T090000Z-5300";
    let line = |seq: u64, event: JournalEvent| {
        let r = cutover::engine::JournalRecord { seq, ts: "2026-03-01T09:00:00Z".parse().unwrap(), run: run.into(), event };
        let mut bytes = serde_json::to_vec(&r).unwrap();
        bytes.push(b'\n');
        bytes
    };
    let started = JournalEvent::RunStarted {
        plan: "shop-prod".into(),
        digest: "sha256:x".into(),
        kind: "Upgrade".into(),
        who: "alice".into(),
        host: "h".into(),
        pid: 1,
        version: "0.1.0".into(),
        trace: None,
    };
    state.append("shop-prod", run, 1, &line(1, started)).await.unwrap();
    state.set_current_run("shop-prod", run).await.unwrap();

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"));
    cmd.args(["dashboard", "--state", &format!("s3://{bucket}/teams/shop"), "--listen", "127.0.0.1:0", "--region", "us-east-1"])
        .env("AWS_ENDPOINT_URL_S3", moto.endpoint())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let (_child, addr) = spawn_binary(cmd, false).await;
    let page = get(addr, "/", &addr.to_string(), &[]).await;
    assert!(page.body.contains("data-env=\"shop-prod\""), "{}", page.body);
    assert!(page.body.contains(&format!("s3://{bucket}/teams/shop")) || page.body.contains(run), "{}", page.body);

    let events = format!("{}/runs/{run}/events?after=1", env_path(&page.body, "shop-prod"));
    let mut stream = EventStream::open(addr, &events).await;
    assert!(stream.wait_for("text/event-stream", Duration::from_secs(5)).await.is_some(), "{}", stream.received);
    state.append("shop-prod", run, 2, &line(2, JournalEvent::Checkpoint { name: "s3-probe-checkpoint".into() })).await.unwrap();
    assert!(
        stream.wait_for("s3-probe-checkpoint", Duration::from_secs(2)).await.is_some(),
        "an S3 append did not reach the stream within 2 s: {}",
        stream.received
    );
}
