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
    require(PathBuf::from("/usr/bin/docker-registry"), "docker-registry")
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

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
