//! `cutover dashboard` over plain HTTP: the overview and its needs-attention queue from journals
//! written into a local state directory, journal strings escaped, a journal append reaching a
//! run's event stream within 2 s and a client that goes away ending its stream, and who may read:
//! loopback host names only without a token, the bearer token on every request off loopback
//! (through the binary), nothing but GET. The real-browser tests are in `dashboard_browser`.

use std::process::Stdio;
use std::time::Duration;

use cutover::engine::JournalEvent;
use serde_json::json;
use tokio::io::AsyncBufReadExt;

use crate::support::dashboard::{EventStream, JournalWriter, get, request, serve, xss_run};

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
        .append(JournalEvent::StepFailed { step: "releases.install.api".into(), error: "helm timed out".into(), retryable: true })
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

    let mut child = tokio::process::Command::new(cutover)
        .args(["dashboard", "--state", &state, "--listen", "0.0.0.0:0", "--token-from-env", "DASH_TOKEN", "-vv"])
        .env("DASH_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.expect("the URL in time").unwrap().unwrap();
    let port: u16 = url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();

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
