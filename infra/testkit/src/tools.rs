//! Paths of the pinned tools installed by `scripts/install-tools.sh`, failing loudly when absent.

use std::path::{Path, PathBuf};
use std::process::Command;

const INSTALL_HINT: &str = "run scripts/install-tools.sh (it installs every tool the tests use into \
     $CUTOVER_TOOLS_DIR, default ~/.cache/cutover/tools)";

/// The tools directory: `$CUTOVER_TOOLS_DIR`, else `~/.cache/cutover/tools` (the script's default).
pub fn dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CUTOVER_TOOLS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| {
        panic!("HOME is not set, so the tools directory is unknown: set CUTOVER_TOOLS_DIR, or {INSTALL_HINT}")
    });
    PathBuf::from(home).join(".cache/cutover/tools")
}

/// Helm 3.19.0.
pub fn helm3() -> PathBuf {
    require(dir().join("bin/helm3"), "helm3")
}

/// Helm 4.1.4.
pub fn helm4() -> PathBuf {
    require(dir().join("bin/helm4"), "helm4")
}

/// kubectl 1.35.2.
pub fn kubectl() -> PathBuf {
    require(dir().join("bin/kubectl"), "kubectl")
}

/// The moto server entry point inside the tools' virtual environment.
pub fn moto_server() -> PathBuf {
    require(dir().join("venv/bin/moto_server"), "moto_server")
}

/// The Python interpreter of the tools' virtual environment (always present once the tools are
/// installed, unlike whatever `python3` a test's PATH happens to hold).
pub fn python() -> PathBuf {
    require(dir().join("venv/bin/python"), "python (tools venv)")
}

/// Debian's OCI registry (`docker-registry` package).
pub fn docker_registry() -> PathBuf {
    require_debian("/usr/bin/docker-registry", "docker-registry")
}

/// Prometheus (Debian's `prometheus` package), for metric gates.
pub fn prometheus() -> PathBuf {
    require_debian("/usr/bin/prometheus", "prometheus")
}

/// Alertmanager (Debian's `prometheus-alertmanager` package), for alert gates and silences.
pub fn alertmanager() -> PathBuf {
    require_debian(
        "/usr/bin/prometheus-alertmanager",
        "prometheus-alertmanager",
    )
}

/// Headless-capable Chromium (Debian's `chromium` package), for dashboard tests.
pub fn chromium() -> PathBuf {
    require_debian("/usr/bin/chromium", "chromium")
}

/// ChromeDriver (Debian's `chromium-driver` package), the WebDriver server for [`chromium`].
pub fn chromedriver() -> PathBuf {
    require_debian("/usr/bin/chromedriver", "chromium-driver")
}

/// A helm command whose repositories, cache and registry logins live under `home`, so tests
/// neither read nor change the developer's own helm configuration.
pub fn helm_command(helm: &Path, home: &Path) -> Command {
    let mut command = Command::new(helm);
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("HELM_KUBECONTEXT")
        .env_remove("KUBECONFIG");
    command
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    if is_executable(&path) {
        path
    } else {
        panic!("{what} not found at {}: {INSTALL_HINT}", path.display())
    }
}

/// A binary from a Debian package: the script installs it with apt rather than into the tools
/// directory, so the hint names the package for those who install by hand.
fn require_debian(path: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(path);
    if is_executable(&path) {
        path
    } else {
        panic!(
            "{} not found: run scripts/install-tools.sh (it installs Debian's `{package}` with apt)",
            path.display()
        )
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_debian_tool_says_to_run_the_install_script_and_names_its_package() {
        let panic = std::panic::catch_unwind(|| {
            require_debian("/nonexistent/chromedriver", "chromium-driver")
        })
        .expect_err("a missing binary must panic");
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains("/nonexistent/chromedriver not found"),
            "{message}"
        );
        assert!(
            message.contains("run scripts/install-tools.sh"),
            "{message}"
        );
        assert!(message.contains("`chromium-driver`"), "{message}");
    }
}
