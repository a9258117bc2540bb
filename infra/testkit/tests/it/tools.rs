//! Every tool the install script provides is where testkit looks for it, and runs.

use std::path::PathBuf;
use std::process::Command;

use testkit::tools;

fn version_of(binary: PathBuf) -> String {
    let output = Command::new(&binary).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{} --version: {text}",
        binary.display()
    );
    text
}

#[test]
fn the_debian_tools_for_gates_and_browser_tests_are_installed_and_run() {
    assert!(version_of(tools::prometheus()).contains("prometheus, version 2."));
    assert!(version_of(tools::alertmanager()).contains("alertmanager, version 0."));
    let chromium = version_of(tools::chromium());
    let driver = version_of(tools::chromedriver());
    let major = |text: &str, product: &str| -> String {
        let rest = text
            .split(product)
            .nth(1)
            .unwrap_or_else(|| panic!("no {product} in {text}"));
        rest.trim().split('.').next().unwrap().to_owned()
    };
    assert_eq!(
        major(&chromium, "Chromium"),
        major(&driver, "ChromeDriver"),
        "chromedriver drives only the Chromium of its own major version"
    );
}
