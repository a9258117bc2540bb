//! Crash recovery of helm releases with the real helm 3.19 and 4.1 against cloudsim: a helm killed
//! mid-install or mid-upgrade (the engine cancelled the step, or cutover died) leaves the release
//! `pending-*`; while that could still be a live helm, install says so (retryable); once older than
//! the release timeout it is recovered (uninstall / rollback) and the install goes through. A helm
//! that times out waiting marks the release failed, and the next install repairs it.

use crate::kube_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cloudsim::profile::Latencies;
use cutover::plan::{ChartSource, Release};
use cutover::providers::helm::HelmReleases;
use cutover::providers::{ErrorKind, Ownership, ReleaseProvider, ReleaseStatus};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use kube_support::*;
use serde_json::json;

const GREEN: &str = "green";
/// The release timeout: helm gets 4 s of it, room for two of helm 3's 2-second readiness polls.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A chart whose Deployment never becomes ready while `stuck` is true.
fn stuck_chart(dir: &Path) -> std::path::PathBuf {
    let chart = dir.join("stuck");
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: stuck\nversion: 0.1.0\n",
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "stuck: false\n").unwrap();
    std::fs::write(
        chart.join("templates/deployment.yaml"),
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  {{- if .Values.stuck }}
  annotations: {cloudsim.dev/fault: never-ready}
  {{- end }}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}, stuck: {{ .Values.stuck | quote }}}}
    spec: {containers: [{name: c, image: example.com/stuck}]}
"#,
    )
    .unwrap();
    chart
}

fn release(chart: &Path, stuck: bool) -> Release {
    Release {
        name: "app".into(),
        namespace: "apps".into(),
        chart: ChartSource::Path {
            path: chart.to_path_buf(),
        },
        version: "0.1.0".into(),
        digest: None,
        values_files: vec![],
        values: json!({"stuck": stuck}),
        secret_values: vec![],
        needs: vec![],
        timeout: TIMEOUT,
        create_namespace: true,
    }
}

/// Starts an install and cancels it (as the engine does when a step's time runs out) once helm has
/// written a revision in status `pending`, i.e. while helm is waiting for the workload.
async fn interrupt(
    sim: &Sim,
    releases: &Arc<HelmReleases>,
    release: Release,
    own: &Ownership,
    pending: &str,
) {
    let (r, o) = (releases.clone(), own.clone());
    let install = tokio::spawn(async move { r.install(GREEN, &release, &o).await });
    let secrets: Api<Secret> = Api::namespaced(sim.client(GREEN).await, "apps");
    let selector = format!("owner=helm,name=app,status={pending}");
    eventually(
        &format!("a {pending} revision"),
        Duration::from_secs(20),
        async || {
            let found = secrets
                .list(&ListParams::default().labels(&selector))
                .await
                .ok()?;
            (!found.items.is_empty()).then_some(())
        },
    )
    .await;
    install.abort();
    assert!(
        install.await.unwrap_err().is_cancelled(),
        "the install was still running"
    );
}

async fn recover(helm: Helm) {
    let sim = Sim::start(&[(GREEN, "1.32")], 1, Latencies::default()).await;
    let work = tempfile::tempdir().unwrap();
    let chart = stuck_chart(work.path());
    let releases = helm_releases(&sim, helm_config(helm, work.path()));
    let own = Ownership {
        run_id: "run-1".into(),
        plan: "shop-prod".into(),
    };
    let status = async || {
        releases
            .status(GREEN, "app", "apps")
            .await
            .unwrap()
            .map(|i| (i.status, i.revision))
    };

    // The step is cancelled while helm waits: helm is killed and the release stays pending-install.
    interrupt(
        &sim,
        &releases,
        release(&chart, true),
        &own,
        "pending-install",
    )
    .await;
    assert_eq!(status().await, Some((ReleaseStatus::PendingInstall, 1)));

    // Too young to be sure no helm is still at work: a retryable refusal that says why.
    let busy = releases
        .install(GREEN, &release(&chart, false), &own)
        .await
        .unwrap_err();
    assert_eq!(busy.kind, ErrorKind::Unavailable);
    assert!(
        busy.message
            .contains("release apps/app on cluster green is pending-install (revision 1) since"),
        "{}",
        busy.message
    );

    // Once older than the release timeout it is abandoned: uninstalled, then installed afresh.
    tokio::time::sleep(TIMEOUT).await;
    let info = releases
        .install(GREEN, &release(&chart, false), &own)
        .await
        .expect("recovered install");
    assert_eq!((info.status, info.revision), (ReleaseStatus::Deployed, 1));

    // Same for an interrupted upgrade: rolled back to the good revision, then upgraded.
    interrupt(
        &sim,
        &releases,
        release(&chart, true),
        &own,
        "pending-upgrade",
    )
    .await;
    assert_eq!(status().await, Some((ReleaseStatus::PendingUpgrade, 2)));
    tokio::time::sleep(TIMEOUT).await;
    let mut fixed = release(&chart, false);
    fixed.values = json!({"stuck": false, "note": "after recovery"});
    let info = releases
        .install(GREEN, &fixed, &own)
        .await
        .expect("recovered upgrade");
    assert_eq!(
        (info.status, info.revision),
        (ReleaseStatus::Deployed, 4),
        "revision 3 is the rollback, 4 the upgrade"
    );

    // A helm that runs out of time marks the release failed; that stops the stage (not retried)…
    // (A cloudsim fault this time: helm 3 would not remove an annotation set by a failed revision.)
    sim.env
        .faults
        .write()
        .unwrap()
        .never_ready
        .insert(format!("{GREEN}/apps/app"));
    let mut slow = release(&chart, false);
    slow.values = json!({"stuck": false, "note": "slow"});
    let failed = releases.install(GREEN, &slow, &own).await.unwrap_err();
    assert_eq!(failed.kind, ErrorKind::WaitTimedOut, "{}", failed.message);
    assert!(
        failed
            .message
            .starts_with("helm upgrade --install of release apps/app on cluster green failed: "),
        "{}",
        failed.message
    );
    assert_eq!(status().await, Some((ReleaseStatus::Failed, 5)));
    // …and the next install with the same inputs repairs it (a failed revision is never "done").
    sim.env.faults.write().unwrap().never_ready.clear();
    let info = releases
        .install(GREEN, &slow, &own)
        .await
        .expect("upgrade over a failed revision");
    assert_eq!((info.status, info.revision), (ReleaseStatus::Deployed, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_releases_left_pending_by_a_killed_helm_are_recovered() {
    recover(Helm::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_releases_left_pending_by_a_killed_helm_are_recovered() {
    recover(Helm::V4).await;
}
