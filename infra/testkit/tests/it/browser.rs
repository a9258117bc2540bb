//! Headless Chromium, driven through chromedriver by fantoccini (the client cutover's dashboard
//! tests use), renders a loopback page with its script run, reads it back, takes a screenshot,
//! and leaves no browser behind when the driver is dropped mid-session.

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use testkit::browser::{ChromeDriver, WINDOW_SIZE, artifacts_dir};

use crate::support::serve;

const PAGE: &str = "<!doctype html><html><head><title>cutover</title></head><body>\
    <h1 id=\"status\">loading</h1>\
    <script>document.getElementById('status').textContent = 'green serves ' + (5 * 2) + '%';</script>\
    </body></html>";

async fn session(driver: &ChromeDriver, capabilities: Capabilities) -> Client {
    ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(driver.url())
        .await
        // On failure the driver's log is printed as it drops during the unwind.
        .unwrap_or_else(|e| panic!("chromedriver gave no session: {e}"))
}

/// Processes whose command line mentions `needle` (a profile directory is unique to a test).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

#[tokio::test]
async fn headless_chromium_runs_a_local_page_and_screenshots_it() {
    let page = serve("text/html; charset=utf-8", PAGE);
    let driver = ChromeDriver::start();
    let client = session(&driver, driver.capabilities()).await;

    client.goto(&format!("http://{page}/")).await.unwrap();
    assert_eq!(client.title().await.unwrap(), "cutover");
    let status = client.find(Locator::Css("#status")).await.unwrap();
    assert_eq!(
        status.text().await.unwrap(),
        "green serves 10%",
        "the page's script ran"
    );

    let width = client
        .execute("return window.outerWidth", vec![])
        .await
        .unwrap();
    assert_eq!(width, WINDOW_SIZE.0);

    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG image");
    let path = artifacts_dir().join("browser-local-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());

    client.close().await.unwrap();
}

#[tokio::test]
async fn dropping_the_driver_mid_session_leaves_no_browser_behind() {
    let driver = ChromeDriver::start();
    let capabilities = driver.capabilities();
    let args = capabilities["goog:chromeOptions"]["args"]
        .as_array()
        .unwrap();
    let profile = args
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--user-data-dir="))
        .next()
        .unwrap()
        .to_owned();
    let _client = session(&driver, capabilities).await;
    assert!(
        !processes_mentioning(&profile).is_empty(),
        "Chromium runs with the session's profile"
    );

    drop(driver);
    let left = processes_mentioning(&profile);
    assert!(
        left.is_empty(),
        "browser processes outlived the driver: {left:?}"
    );
}
