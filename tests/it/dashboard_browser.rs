//! The dashboard in a real browser: headless Chromium driven through chromedriver (fantoccini),
//! against `cutover dashboard` serving runs that the tests drive on the stand-ins (cloudsim,
//! moto, the chart repository, helm) through the binary. The environment list shows the run;
//! the run page's timeline gains steps while the run progresses without a reload; the weights
//! chart ends 0 → 10 → 50 → 100; a run whose gate fails shows its cause and the commands; an
//! XSS probe in a journal renders as text. Screenshots go to `<target>/screenshots/`.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use testkit::browser::{ChromeDriver, artifacts_dir};
use tokio::io::AsyncBufReadExt;

use crate::support::dashboard::{PROBE, serve, xss_run};
use crate::support::stack::Stack;
use crate::support::stack::run::{checkpoint, journal, started};
use crate::support::stack::upgrade::{ENV, PlanSpec, Upgrade};

async fn session(driver: &ChromeDriver) -> Client {
    ClientBuilder::new(HttpConnector::new())
        .capabilities(driver.capabilities())
        .connect(driver.url())
        .await
        .unwrap_or_else(|e| panic!("chromedriver gave no session: {e}"))
}

/// `<target>/screenshots/NAME.png`.
async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let dir = artifacts_dir().parent().unwrap().join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

async fn texts(client: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in client.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap_or_default());
    }
    out
}

/// Polls `probe` on the page every 100 ms until it yields, for at most `within`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "the page never showed {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A marker in the page's JavaScript state: still there later means the page was never reloaded.
async fn mark(client: &Client) {
    client.execute("window.__notReloaded = true; return true", vec![]).await.unwrap();
}

async fn not_reloaded(client: &Client) -> bool {
    client.execute("return window.__notReloaded === true", vec![]).await.unwrap() == json!(true)
}

/// `cutover dashboard` over the upgrade's state, with the stack's directory as `--plans`; its URL.
async fn dashboard(stack: &Stack, up: &Upgrade) -> (tokio::process::Child, String) {
    let state = format!("local:{}", up.state.display());
    let plans = stack.dir.path().display().to_string();
    let cmd = stack.cutover(&["dashboard", "--state", &state, "--plans", &plans, "--listen", "127.0.0.1:0"]);
    let mut child = tokio::process::Command::from(cmd)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await.expect("the dashboard's URL").unwrap().unwrap();
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_upgrade_fills_the_run_page_without_reload_and_the_chart_ends_at_100() {
    let stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec { bakes: ["2s", "2s", "1s"], ..PlanSpec::default() }).await;
    let (_dash, url) = dashboard(&stack, &up).await;
    let driver = ChromeDriver::start();
    let client = session(&driver).await;

    // Before any run, the plan's environment is listed from --plans.
    client.goto(&url).await.unwrap();
    let row = format!("tr[data-env='{ENV}']");
    eventually("the environment's row", Duration::from_secs(10), || async { client.find(Locator::Css(&row)).await.ok() }).await;
    mark(&client).await;

    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    let runs = up.runs_dir();
    run.wait_until(&stack, "provision.cluster started", || async { started(&journal(&runs), "provision.cluster").then_some(()) }).await;

    // The overview picks the run up by itself (its stream), with a link to the run.
    let link = format!("{row} a[href*='/runs/']");
    let run_link = eventually("the run in the environment list", Duration::from_secs(10), || async {
        client.find(Locator::Css(&link)).await.ok()
    })
    .await;
    assert!(not_reloaded(&client).await, "the overview updated without a reload");
    screenshot(&client, "dashboard-overview-live").await;
    run_link.click().await.unwrap();

    // The run page: steps are added while the run goes on, without a reload.
    eventually("the timeline", Duration::from_secs(10), || async { client.find(Locator::Css("#timeline-chart")).await.ok() }).await;
    mark(&client).await;
    let first = texts(&client, "#timeline-chart .step-name").await;
    let grown = eventually("new steps in the timeline", Duration::from_secs(60), || async {
        let now = texts(&client, "#timeline-chart .step-name").await;
        (now.len() > first.len() + 2).then_some(now)
    })
    .await;
    assert!(not_reloaded(&client).await, "steps arrived through the event stream, not a reload");
    assert!(grown.starts_with(&first), "earlier steps stay in place: {first:?} → {grown:?}");
    screenshot(&client, "dashboard-run-live").await;

    let finished = run.finish(&stack).await;
    finished.expect_code(0, "cutover apply");
    let outcome = eventually("the completed outcome", Duration::from_secs(10), || async {
        let text = client.find(Locator::Css("#outcome")).await.ok()?.text().await.ok()?;
        (text == "run completed").then_some(text)
    })
    .await;
    assert_eq!(outcome, "run completed");
    assert!(not_reloaded(&client).await, "the whole run was followed live");
    assert_eq!(texts(&client, "#weights-chart .point-label").await, ["0", "10", "50", "100"], "the weights chart");
    let steps = texts(&client, "#timeline-chart .step-name").await;
    for step in ["provision.cluster", "releases.install.api", "traffic.shift.50", "retire.blue-cluster"] {
        assert!(steps.iter().any(|s| s == step), "{step} in the timeline: {steps:?}");
    }
    let bakes = texts(&client, "#bakes tr[data-result='passed'] td:first-child").await;
    assert_eq!(bakes, ["traffic.shift.10", "traffic.shift.50", "traffic.shift.100"]);
    let commands = texts(&client, "#next-steps code.cmd").await;
    assert!(commands.iter().any(|c| c.starts_with("cutover next ") && c.contains(up.plan_arg())), "{commands:?}");

    // A step selected by URL: its records, highlighted in the timeline.
    let step_url = format!("{}?step=traffic.shift.50", client.current_url().await.unwrap().as_str().split('?').next().unwrap());
    client.goto(&step_url).await.unwrap();
    let detail = client.find(Locator::Css("#step-detail")).await.unwrap().text().await.unwrap();
    assert!(detail.contains("step-done") && detail.contains("\"weight\": 50"), "{detail}");
    assert_eq!(texts(&client, "#timeline-chart .step.selected .step-name").await, ["traffic.shift.50"]);
    screenshot(&client, "dashboard-run").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_gate_fails_shows_its_cause_and_what_to_run_next() {
    let stack = Stack::start(600.0).await;
    let up = stack.prepare_upgrade(PlanSpec { bakes: ["1s", "3s", "1s"], ..PlanSpec::default() }).await;
    let (_dash, url) = dashboard(&stack, &up).await;
    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    let runs = up.runs_dir();
    run.wait_until(&stack, "checkpoint traffic-10", || async { checkpoint(&journal(&runs), "traffic-10").then_some(()) }).await;
    let green = crate::support::stack::upgrade::GREEN;
    stack.patch_faults(json!({"lbErrorRate": {format!("{green}/ingress/ingress-nginx-controller"): 1.0}})).await;
    run.finish(&stack).await.expect_code(4, "cutover apply with a failing gate");

    let driver = ChromeDriver::start();
    let client = session(&driver).await;
    client.goto(&url).await.unwrap();
    let queued = texts(&client, "#attention li").await;
    assert!(
        queued.iter().any(|q| q.contains(ENV) && q.contains("failed, rolled back") && q.contains("smoke")),
        "the failed run is queued first: {queued:?}"
    );
    client.find(Locator::Css(&format!("#attention a[href*='/runs/']"))).await.unwrap().click().await.unwrap();
    let outcome = client.find(Locator::Css("#outcome")).await.unwrap().text().await.unwrap();
    assert!(
        outcome.starts_with("run failed and was rolled back to verified:") && outcome.contains("smoke"),
        "RunOutcome::describe() with the cause: {outcome}"
    );
    let commands = texts(&client, "#next-steps code.cmd").await;
    assert_eq!(
        commands,
        [format!("cutover resume {}", up.plan_arg()), format!("cutover rollback {} --to start", up.plan_arg())],
        "the exact commands, naming the plan file"
    );
    let failed = texts(&client, "#bakes tr[data-result='failed'] td").await;
    assert_eq!(failed.first().map(String::as_str), Some("traffic.shift.50"), "{failed:?}");
    assert!(failed.iter().any(|t| t.contains("smoke")), "the bake names its gate: {failed:?}");
    let labels = texts(&client, "#weights-chart .point-label").await;
    assert_eq!(labels.first().map(String::as_str), Some("0"), "{labels:?}");
    assert!(labels.contains(&"50?".to_string()), "the 50% shift is unconfirmed by the journal: {labels:?}");
    assert_eq!(labels.last().map(String::as_str), Some("0"), "green is back at 0 after the rollback: {labels:?}");
    screenshot(&client, "dashboard-failed-run").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_journal_renders_as_text_in_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    xss_run(dir.path(), "probe-env");
    let dash = serve(dir.path(), None).await;
    let driver = ChromeDriver::start();
    let client = session(&driver).await;
    client.goto(&dash.url()).await.unwrap();
    let queued = texts(&client, "#attention li").await;
    assert!(queued.iter().any(|q| q.contains(PROBE)), "the probe is shown as text in the queue: {queued:?}");
    client.find(Locator::Css("#attention a")).await.unwrap().click().await.unwrap();
    let step = format!("{}?step=releases.install.api", client.current_url().await.unwrap());
    client.goto(&step).await.unwrap();
    let header = client.find(Locator::Css("#run-header h1")).await.unwrap().text().await.unwrap();
    assert!(header.contains(PROBE), "the plan name is text: {header}");
    let outcome = client.find(Locator::Css("#outcome")).await.unwrap().text().await.unwrap();
    assert!(outcome.contains(PROBE), "the cause is text: {outcome}");
    let detail = client.find(Locator::Css("#step-detail")).await.unwrap().text().await.unwrap();
    assert!(detail.contains("<script>window.__pwned"), "the error is text: {detail}");
    // Wait out the live stream's first updates: they must not run the probe either.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let pwned = client.execute("return typeof window.__pwned", vec![]).await.unwrap();
    assert_eq!(pwned, json!("undefined"), "the probe's script or handler ran");
    assert!(client.get_alert_text().await.is_err(), "no alert may be open");
    let scripts = client.execute("return document.scripts.length", vec![]).await.unwrap();
    assert_eq!(scripts, json!(1), "only the dashboard's own script");
    assert!(client.find(Locator::Css("img")).await.is_err(), "the probe's <img> is not an element");
    screenshot(&client, "dashboard-xss-probe").await;
    client.close().await.unwrap();
    dash.stop().await.unwrap();
}
