//! The layering ARCHITECTURE.md describes, enforced: every `crate::` path and every cloud or
//! Kubernetes crate named in `src/` is checked against what its module may use. A new import that
//! breaks a layer fails here with the file, the line and the rule.

use std::path::{Path, PathBuf};

/// Crates that act on AWS, Kubernetes or the network: only providers (and the composition root,
/// which builds them) may name them.
const CLOUD_CRATES: &[&str] = &[
    "aws_sdk_", "aws_config", "aws_smithy_", "aws_sigv4", "aws_credential_types", "kube", "k8s_openapi", "reqwest", "hyper",
];

/// Web-server crates: only the dashboard serves HTTP.
const SERVER_CRATES: &[&str] = &["axum", "maud"];

/// The provider modules that implement the traits (as opposed to the traits and domain types).
const PROVIDER_IMPLS: &[&str] = &["aws", "helm", "kube", "health", "probe", "state_local"];

/// Which top-level modules a module may use, and whether it may name cloud crates.
fn rule(layer: &str) -> (&'static [&'static str], bool) {
    match layer {
        "plan" => (&["plan"], false),
        "providers" => (&["plan", "providers"], true),
        "engine" => (&["plan", "providers-traits", "engine"], false),
        "capture" => (&["plan", "providers-traits", "capture"], false),
        "dev" => (&["plan", "providers-traits", "engine", "dev"], false),
        "drill" => (&["plan", "providers-traits", "engine", "dev", "drill"], false),
        "telemetry" => (&["plan", "providers-traits", "engine", "telemetry"], false),
        "compose" => (&["plan", "providers", "engine", "compose"], true),
        "ops" => (&["plan", "providers", "engine", "capture", "dev", "drill", "telemetry", "compose", "ops"], false),
        "dashboard" => (&["plan", "providers-traits", "engine", "dev", "drill", "compose", "ops", "dashboard"], false),
        "cli" => (&["plan", "providers-traits", "engine", "capture", "dev", "drill", "telemetry", "compose", "ops", "dashboard", "cli"], false),
        "lib" | "main" => (&["cli"], false),
        other => panic!("src/{other} is a module ARCHITECTURE.md does not place; add it to the layers and to this test"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a line without its comment (doc links name modules without using them).
fn code(line: &str) -> &str {
    match line.find("//") {
        Some(i) => &line[..i],
        None => line,
    }
}

/// `crate::a::b` paths in a line, as (a, b).
fn crate_paths(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        if line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &line[i + "crate::".len()..];
        let mut parts = rest.split("::").map(|p| p.split(|c: char| !(c.is_alphanumeric() || c == '_')).next().unwrap_or(""));
        out.push((parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string()));
    }
    out
}

fn names_cloud_crate(line: &str) -> Option<&'static str> {
    names_crate(CLOUD_CRATES, line)
}

fn names_crate(crates: &[&'static str], line: &str) -> Option<&'static str> {
    crates.iter().copied().find(|krate| {
        line.match_indices(krate).any(|(i, _)| {
            let before_ok = !line[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':');
            let after = &line[i + krate.len()..];
            let after_ok = krate.ends_with('_') || after.starts_with("::");
            before_ok && after_ok
        })
    })
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut broken = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let layer = rel.components().next().unwrap().as_os_str().to_str().unwrap().trim_end_matches(".rs");
        let (allowed, cloud_ok) = rule(layer);
        let text = std::fs::read_to_string(file).unwrap();
        // Inline unit tests may reach further than the module they test.
        let text = text.split("#[cfg(test)]").next().unwrap();
        for (n, line) in text.lines().enumerate() {
            let line = code(line);
            for (top, sub) in crate_paths(line) {
                let ok = allowed.contains(&top.as_str())
                    || (top == "providers" && allowed.contains(&"providers-traits") && !PROVIDER_IMPLS.contains(&sub.as_str()));
                if !ok {
                    broken.push(format!("src/{}:{}: {layer} must not use crate::{top}::{sub}", rel.display(), n + 1));
                }
            }
            if !cloud_ok && let Some(krate) = names_cloud_crate(line) {
                broken.push(format!("src/{}:{}: {layer} must not name {krate} (only providers act)", rel.display(), n + 1));
            }
            if layer != "dashboard" && let Some(krate) = names_crate(SERVER_CRATES, line) {
                broken.push(format!("src/{}:{}: {layer} must not name {krate} (only the dashboard serves HTTP)", rel.display(), n + 1));
            }
        }
    }
    assert!(broken.is_empty(), "layering broken (see ARCHITECTURE.md):\n{}", broken.join("\n"));
}

#[test]
fn the_checker_sees_a_forbidden_import() {
    assert_eq!(crate_paths("use crate::providers::aws::eks::EksClusters;"), [("providers".into(), "aws".into())]);
    assert_eq!(crate_paths("x(crate::engine::ids::shift(1))"), [("engine".into(), "ids".into())]);
    assert!(crate_paths("use notcrate::x;").is_empty());
    assert_eq!(names_cloud_crate("use aws_sdk_eks::types::Addon;"), Some("aws_sdk_"));
    assert_eq!(names_cloud_crate("let kube = 1; kube::Client::new()"), Some("kube"));
    assert_eq!(names_cloud_crate("let kube_clients = 1;"), None);
    assert_eq!(names_crate(SERVER_CRATES, "use axum::Router;"), Some("axum"));
    assert_eq!(names_crate(SERVER_CRATES, "maud::html! {}"), Some("maud"));
    assert_eq!(names_cloud_crate("providers::kube::KubeClients"), None);
}
