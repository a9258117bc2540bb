//! The dashboard in a real browser: headless Chromium driven through chromedriver (fantoccini),
//! against `cutover dashboard` serving runs that the tests drive on the stand-ins (cloudsim,
//! moto, the chart repository, helm) through the binary. The environment list shows the run;
//! the run page's timeline gains steps while the run progresses without a reload; the weights
//! chart ends 0 → 10 → 50 → 100; a run whose gate fails shows its cause and the commands; an
//! XSS probe in a journal renders as text. Screenshots go to `<target>/screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use testkit::browser::{ChromeDriver, artifacts_dir};

use crate::support::dashboard::{PROBE, serve, spawn_binary, xss_run};
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

/// The text of every element `css` matches, read in one script: the live stream may replace
/// the elements at any moment, so they are never held between two WebDriver calls.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let found = client
        .execute("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent.trim())", vec![json!(css)])
        .await
        .unwrap();
    serde_json::from_value(found).unwrap()
}

/// The first element `css` matches: its text, waiting up to 10 s for it to appear.
async fn text(client: &Client, css: &str) -> String {
    let found = eventually_or_page(client, css, Duration::from_secs(10), || async { texts(client, css).await.into_iter().next() }).await;
    found
}

/// Goes where the first link `css` matches points (instead of clicking an element the stream
/// may have just replaced).
async fn follow_link(client: &Client, css: &str) {
    let href = eventually_or_page(client, css, Duration::from_secs(10), || async {
        let href = client
            .execute("const a = document.querySelector(arguments[0]); return a ? a.href : null", vec![json!(css)])
            .await
            .unwrap();
        href.as_str().map(str::to_string)
    })
    .await;
    client.goto(&href).await.unwrap();
}

/// Polls `probe` every 100 ms until it yields, for at most `within`; fails with the page's text,
/// so the failure shows what was there instead.
async fn eventually_or_page<T, F, Fut>(client: &Client, what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            let url = client.current_url().await.map(|u| u.to_string()).unwrap_or_default();
            let page = client.execute("return document.body ? document.body.innerText : ''", vec![]).await.unwrap_or_default();
            panic!("the page never showed {what}\n--- {url}\n{}", page.as_str().unwrap_or_default());
        }
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
    let (child, addr) = spawn_binary(cmd, false).await;
    (child, format!("http://{addr}/"))
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
    text(&client, &row).await;
    mark(&client).await;

    let mut run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]);
    let runs = up.runs_dir();
    run.wait_until(&stack, "provision.cluster started", || async { started(&journal(&runs), "provision.cluster").then_some(()) }).await;

    // The overview picks the run up by itself (its stream), with a link to the run.
    let link = format!("{row} a[href*='/runs/']");
    eventually_or_page(&client, "the run in the environment list", Duration::from_secs(10), || async {
        (!texts(&client, &link).await.is_empty()).then_some(())
    })
    .await;
    assert!(not_reloaded(&client).await, "the overview updated without a reload");
    screenshot(&client, "dashboard-overview-live").await;
    follow_link(&client, &link).await;

    // The run page: steps are added while the run goes on, without a reload.
    text(&client, "#timeline-chart").await;
    mark(&client).await;
    let first = texts(&client, "#timeline-chart .step-name").await;
    let grown = eventually_or_page(&client, "new steps in the timeline", Duration::from_secs(60), || async {
        let now = texts(&client, "#timeline-chart .step-name").await;
        (now.len() > first.len() + 2).then_some(now)
    })
    .await;
    assert!(not_reloaded(&client).await, "steps arrived through the event stream, not a reload");
    assert!(grown.starts_with(&first), "earlier steps stay in place: {first:?} → {grown:?}");
    screenshot(&client, "dashboard-run-live").await;

    let finished = run.finish(&stack).await;
    finished.expect_code(0, "cutover apply");
    let outcome = eventually_or_page(&client, "the completed outcome", Duration::from_secs(10), || async {
        let text = texts(&client, "#outcome").await.into_iter().next()?;
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
    // Each bake's gates with their checks passed/run, from the shift's journaled output.
    let tallies = texts(&client, "#bakes tr[data-result='passed'] .tally").await;
    assert_eq!(tallies.len(), 3, "one gate per bake: {tallies:?}");
    for tally in &tallies {
        let (passed, run) = tally.rsplit_once(' ').and_then(|(_, n)| n.split_once('/')).expect("gate N/M");
        assert!(passed == run && passed.parse::<u32>().unwrap() >= 1, "every check passed: {tally}");
    }
    // What the run cost in AWS requests, as its session journaled when it ended.
    let ops = texts(&client, "#requests td code").await;
    for op in ["EKS.CreateCluster", "EKS.DescribeCluster", "Route 53.ChangeResourceRecordSets"] {
        assert!(ops.iter().any(|o| o == op), "{op} among the requests: {ops:?}");
    }
    let commands = texts(&client, "#next-steps code.cmd").await;
    assert!(commands.iter().any(|c| c.starts_with("cutover next ") && c.contains(up.plan_arg())), "{commands:?}");

    // Tall enough for the whole page (docs/dashboard.png is this picture).
    client.set_window_size(1280, 2000).await.unwrap();
    screenshot(&client, "dashboard-run").await;

    // A step selected by URL: its records, highlighted in the timeline.
    let step_url = format!("{}?step=traffic.shift.50", client.current_url().await.unwrap().as_str().split('?').next().unwrap());
    client.goto(&step_url).await.unwrap();
    let detail = text(&client, "#step-detail").await;
    assert!(detail.contains("step-done") && detail.contains("\"weight\": 50"), "{detail}");
    assert_eq!(texts(&client, "#timeline-chart .step.selected .step-name").await, ["traffic.shift.50"]);
    screenshot(&client, "dashboard-run-step").await;

    // The environment's weights as Route53 serves them now, read on demand: green alone, at 100.
    client.goto(step_url.split("/runs/").next().unwrap()).await.unwrap();
    follow_link(&client, "#route53-link").await;
    let rows = texts(&client, "#route53 tbody tr").await;
    assert_eq!(rows.len(), 1, "only green's record is left: {rows:?}");
    assert_eq!(texts(&client, "#route53 tr[data-role='green'] td.num").await, ["100"], "{rows:?}");
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
    text(&client, "#attention").await;
    let queued = texts(&client, "#attention li").await;
    assert!(
        queued.iter().any(|q| q.contains(ENV) && q.contains("failed, rolled back") && q.contains("smoke")),
        "the failed run is queued first: {queued:?}"
    );
    follow_link(&client, "#attention a[href*='/runs/']").await;
    let outcome = text(&client, "#outcome").await;
    assert!(
        outcome.starts_with("run failed and was rolled back to verified:") && outcome.contains("smoke"),
        "RunOutcome::describe() with the cause: {outcome}"
    );
    // The page shows the run's runbook: the one `cutover explain` prints, code and commands alike.
    let explained = stack.run_cutover(&["explain", up.plan_arg(), "-o", "json"]);
    let runbook: serde_json::Value = serde_json::from_slice(&explained.stdout).expect("explain -o json");
    let code = text(&client, "#stop-code code").await;
    assert_eq!(code, runbook["code"].as_str().unwrap(), "the stop code");
    let commands = texts(&client, "#next-steps code.cmd").await;
    let expected: Vec<String> = runbook["next"].as_array().unwrap().iter().map(|n| n["command"].as_str().unwrap().to_string()).collect();
    assert_eq!(commands, expected, "the runbook's commands, naming the plan file");
    assert!(commands.contains(&format!("cutover rollback {} --to start", up.plan_arg())), "{commands:?}");
    assert!(!texts(&client, "#safe-now li").await.is_empty(), "what is safe now");
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
    text(&client, "#attention").await;
    let queued = texts(&client, "#attention li").await;
    assert!(queued.iter().any(|q| q.contains(PROBE)), "the probe is shown as text in the queue: {queued:?}");
    follow_link(&client, "#attention a").await;
    text(&client, "#run-header").await;
    let step = format!("{}?step=releases.install.api", client.current_url().await.unwrap());
    client.goto(&step).await.unwrap();
    let header = text(&client, "#run-header h1").await;
    assert!(header.contains(PROBE), "the plan name is text: {header}");
    let outcome = text(&client, "#outcome").await;
    assert!(outcome.contains(PROBE), "the cause is text: {outcome}");
    let detail = text(&client, "#step-detail").await;
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
