//! The helm release provider with the real helm 3.19 and 4.1 against a cloudsim cluster: charts
//! from an HTTP repository, an OCI registry and local paths, digest-verified before anything
//! changes; values files, inline values and secret values applied, with the secret in no log, no
//! argv and no file left behind; idempotent re-installs; uninstall; and a pinned version refused
//! when the binary differs.

use crate::kube_support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cloudsim::profile::Latencies;
use cutover::plan::{ChartSource, Release, SecretSource, SecretValue};
use cutover::providers::helm::HelmReleases;
use cutover::providers::{ErrorKind, Ownership, ReleaseProvider, ReleaseStatus};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube_support::*;
use serde_json::json;
use testkit::charts::{ChartRepo, fixtures_dir};
use testkit::registry::OciRegistry;

const GREEN: &str = "green";

fn own(run: &str) -> Ownership {
    Ownership {
        run_id: run.into(),
        plan: "shop-prod".into(),
    }
}

fn release(
    name: &str,
    namespace: &str,
    chart: ChartSource,
    version: &str,
    digest: Option<&str>,
) -> Release {
    Release {
        name: name.into(),
        namespace: namespace.into(),
        chart,
        version: version.into(),
        digest: digest.map(|d| d.trim_start_matches("sha256:").to_string()),
        values_files: vec![],
        values: json!({}),
        secret_values: vec![],
        needs: vec![],
        timeout: Duration::from_secs(60),
        create_namespace: true,
    }
}

async fn helm_secrets(sim: &Sim, ns: &str) -> Vec<String> {
    let api: Api<Secret> = Api::namespaced(sim.client(GREEN).await, ns);
    api.list(&ListParams::default().labels("owner=helm"))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| s.metadata.name.unwrap())
        .collect()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle))
            {
                found.push(p);
            }
        }
    }
    found
}

async fn replay(helm: Helm) {
    let logs = LogCapture::install();
    let sim = Sim::start(&[(GREEN, "1.32")], 2, Latencies::default()).await;
    let repo = ChartRepo::start(fixtures_dir());
    let registry = OciRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let mut cfg = helm_config(helm, work.path());
    cfg.plain_http_registries = vec![registry.addr().to_string()];
    let run_dir = cfg.work_dir.clone();
    let releases = helm_releases(&sim, cfg);
    let web = repo.package("web", "1.0.0").clone();
    let from_repo = ChartSource::Repo {
        url: repo.url().into(),
        name: "web".into(),
    };

    // A digest that does not match is refused before anything reaches the cluster.
    let forged = "sha256:".to_string() + &"0".repeat(64);
    let bad = release("web", "shop", from_repo.clone(), "1.0.0", Some(&forged));
    let refused = releases.verify_chart(&bad).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert!(
        refused
            .message
            .contains(&format!("has digest {}", web.digest)),
        "{}",
        refused.message
    );
    assert!(
        refused
            .message
            .contains(&format!("the plan pins {forged}; nothing was installed")),
        "{}",
        refused.message
    );
    let refused = releases
        .install(GREEN, &bad, &own("run-1"))
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert_eq!(releases.status(GREEN, "web", "shop").await.unwrap(), None);
    assert!(
        helm_secrets(&sim, "shop").await.is_empty(),
        "no release record was written"
    );

    // From the HTTP repository, with a values file, inline values and a secret value.
    let values = work.path().join("web-values.yaml");
    std::fs::write(&values, "replicaCount: 3\n").unwrap();
    let secret = format!("s3cr3t-{}-value", helm.version());
    let secret_file = work.path().join("message.secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let mut web_release = release("web", "shop", from_repo, "1.0.0", Some(&web.digest));
    web_release.values_files = vec![values];
    web_release.values = json!({"image": {"tag": "inline-tag"}});
    web_release.secret_values = vec![SecretValue {
        key: "message".into(),
        from: SecretSource::File(secret_file),
    }];
    releases
        .verify_chart(&web_release)
        .await
        .expect("the pinned digest matches");
    let info = releases
        .install(GREEN, &web_release, &own("run-1"))
        .await
        .expect("install from the repository");
    assert_eq!(
        (info.status, info.revision, info.chart_version.as_str()),
        (ReleaseStatus::Deployed, 1, "1.0.0")
    );
    assert_eq!(info.run_id.as_deref(), Some("run-1"));
    let deployments: Api<Deployment> = Api::namespaced(sim.client(GREEN).await, "shop");
    let d = deployments.get("web").await.unwrap();
    let spec = d.spec.unwrap();
    assert_eq!(spec.replicas, Some(3), "the values file applies");
    let container = &spec.template.spec.unwrap().containers[0];
    assert_eq!(
        container.image.as_deref(),
        Some("example.com/cutover/web:inline-tag"),
        "inline values apply"
    );
    let env = container.env.clone().unwrap();
    assert_eq!(
        env.iter()
            .find(|e| e.name == "MESSAGE")
            .unwrap()
            .value
            .as_deref(),
        Some(secret.as_str()),
        "the secret value applies"
    );

    // The chart's NOTES print the message: helm's output reached the run log, redacted.
    let log = logs.text();
    assert!(
        log.contains("It serves \"<redacted>\""),
        "helm's NOTES are logged with the secret redacted"
    );
    assert!(
        log.contains("--kubeconfig"),
        "helm's command line is logged"
    );
    assert!(!log.contains(&secret), "the secret value is in the log");
    assert!(
        files_containing(&run_dir, &secret).is_empty(),
        "a file with the secret value was left behind"
    );

    // The same inputs again: nothing to do (no new revision). Changed inline values: an upgrade.
    let again = releases
        .install(GREEN, &web_release, &own("run-2"))
        .await
        .unwrap();
    assert_eq!(
        (again.revision, again.run_id.as_deref()),
        (1, Some("run-1")),
        "an identical release is left alone"
    );
    web_release.values = json!({"image": {"tag": "other-tag"}});
    let upgraded = releases
        .install(GREEN, &web_release, &own("run-2"))
        .await
        .unwrap();
    assert_eq!(
        (
            upgraded.revision,
            upgraded.status,
            upgraded.run_id.as_deref()
        ),
        (2, ReleaseStatus::Deployed, Some("run-2"))
    );

    // From the OCI registry, digest-pinned.
    let api_pkg = repo.package("api", "2.4.1").clone();
    let pushed = registry.push_with(&helm.path(), &api_pkg.path);
    let api = release(
        "api",
        "payments",
        ChartSource::Oci {
            reference: pushed.reference.clone(),
        },
        "2.4.1",
        Some(&api_pkg.digest),
    );
    releases
        .verify_chart(&api)
        .await
        .expect("OCI chart verifies");
    let info = releases
        .install(GREEN, &api, &own("run-1"))
        .await
        .expect("install from OCI");
    assert_eq!(
        (info.status, info.chart_version.as_str()),
        (ReleaseStatus::Deployed, "2.4.1")
    );

    // From a local package (digest-pinned) and a local chart directory (no digest).
    let local = release(
        "web-local",
        "local",
        ChartSource::Path {
            path: repo.package("web", "1.0.0").path.clone(),
        },
        "1.0.0",
        Some(&web.digest),
    );
    assert_eq!(
        releases
            .install(GREEN, &local, &own("run-1"))
            .await
            .unwrap()
            .status,
        ReleaseStatus::Deployed
    );
    let dir = release(
        "worker",
        "local",
        ChartSource::Path {
            path: fixtures_dir().join("worker"),
        },
        "0.3.0",
        None,
    );
    assert_eq!(
        releases
            .install(GREEN, &dir, &own("run-1"))
            .await
            .unwrap()
            .status,
        ReleaseStatus::Deployed
    );
    let wrong_version = release(
        "worker2",
        "local",
        ChartSource::Path {
            path: fixtures_dir().join("worker"),
        },
        "0.4.0",
        None,
    );
    let err = releases.verify_chart(&wrong_version).await.unwrap_err();
    assert!(
        err.message.contains("is version 0.3.0, not 0.4.0"),
        "{}",
        err.message
    );

    // Uninstall, twice (absent is fine).
    releases
        .uninstall(GREEN, "web", "shop")
        .await
        .expect("uninstall");
    assert_eq!(releases.status(GREEN, "web", "shop").await.unwrap(), None);
    assert!(helm_secrets(&sim, "shop").await.is_empty());
    releases
        .uninstall(GREEN, "web", "shop")
        .await
        .expect("uninstalling an absent release succeeds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_replays_releases_from_repo_oci_and_path() {
    replay(Helm::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_replays_releases_from_repo_oci_and_path() {
    replay(Helm::V4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_binary_other_than_the_pinned_version_is_refused() {
    let sim = Sim::start(&[(GREEN, "1.32")], 0, Latencies::default()).await;
    let work = tempfile::tempdir().unwrap();
    let mut cfg = helm_config(Helm::V4, work.path());
    cfg.version = "3.19.0".into();
    let releases: Arc<HelmReleases> = helm_releases(&sim, cfg);
    let r = release(
        "web",
        "shop",
        ChartSource::Path {
            path: fixtures_dir().join("web-1.0.0"),
        },
        "1.0.0",
        None,
    );
    for err in [
        releases.verify_chart(&r).await.unwrap_err(),
        releases
            .install(GREEN, &r, &own("run-1"))
            .await
            .unwrap_err(),
        releases.status(GREEN, "web", "shop").await.unwrap_err(),
    ] {
        assert_eq!(err.kind, ErrorKind::Invalid);
        assert!(
            err.message
                .starts_with("the plan pins helm 3.19.0 (spec.helm.version), but "),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("is helm 4.1.4; install helm 3.19.0"),
            "{}",
            err.message
        );
    }
    assert!(helm_secrets(&sim, "shop").await.is_empty());
    assert!(releases.check_version().await.is_err());
}
