//! The real helm 3.19 and helm 4.1 binaries against a cloudsim cluster, authenticating with an EKS
//! token from an exec credential plugin: repo add (a static repository on loopback), install
//! --wait, upgrade --wait, rollback, list, uninstall --wait. Helm 3 sends its release Secrets as
//! protobuf and waits by polling; helm 4 applies server-side and waits with watches.

use std::path::Path;
use std::process::Command;

use crate::kube_support::*;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use kube::api::ListParams;

const CHART_YAML: &str = "apiVersion: v2\nname: web\ndescription: cloudsim test chart\ntype: application\nversion: VERSION\nappVersion: \"1.0\"\n";
const VALUES: &str = "replicas: 2\nimage: nginx:1.27\ngreeting: hello\n";
const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
      annotations: {checksum/greeting: {{ .Values.greeting | sha256sum | quote }}}
    spec:
      containers:
      - name: web
        image: {{ .Values.image }}
        ports: [{containerPort: 8080}]
"#;
const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  type: LoadBalancer
  selector: {app: {{ .Release.Name }}}
  ports: [{name: http, port: 8080, targetPort: 8080}]
"#;
const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  greeting: {{ .Values.greeting | quote }}
"#;

/// Packages versions 0.1.0 and 0.2.0 of the chart into `repo` and indexes it.
async fn build_repo(helm: &Path, work: &Path, repo: &Path) {
    std::fs::create_dir_all(repo).unwrap();
    for version in ["0.1.0", "0.2.0"] {
        let chart = work.join(format!("src-{version}")).join("web");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            CHART_YAML.replace("VERSION", version),
        )
        .unwrap();
        let values = if version == "0.1.0" {
            VALUES.to_string()
        } else {
            VALUES.replace("hello", "bonjour")
        };
        std::fs::write(chart.join("values.yaml"), values).unwrap();
        std::fs::write(chart.join("templates/deployment.yaml"), DEPLOYMENT).unwrap();
        std::fs::write(chart.join("templates/service.yaml"), SERVICE).unwrap();
        std::fs::write(chart.join("templates/configmap.yaml"), CONFIGMAP).unwrap();
        let mut c = Command::new(helm);
        c.arg("package").arg(&chart).arg("-d").arg(repo);
        ok(c).await;
    }
    let mut c = Command::new(helm);
    c.arg("repo").arg("index").arg(repo);
    ok(c).await;
}

async fn helm_lifecycle(helm_name: &str, cluster_name: &str) {
    let env = env(None);
    let kc = cluster(cluster_name, &env).await;
    kc.sync_nodegroup(&nodegroup("general", 2));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = kubeconfig(dir.path(), &kc);
    let helm_bin = tool(helm_name);
    build_repo(&helm_bin, dir.path(), &dir.path().join("repo")).await;
    let repo = ChartRepo::serve(&dir.path().join("repo"));
    let helm = |args: &[&str]| {
        let mut c = Command::new(&helm_bin);
        c.args(args)
            .env("KUBECONFIG", &kubeconfig)
            .env("HELM_CONFIG_HOME", dir.path().join("helm/config"))
            .env("HELM_CACHE_HOME", dir.path().join("helm/cache"))
            .env("HELM_DATA_HOME", dir.path().join("helm/data"))
            .current_dir(dir.path());
        c
    };
    let client = client(&kc).await;
    let deployments: kube::Api<Deployment> = kube::Api::namespaced(client.clone(), "apps");
    let secrets: kube::Api<Secret> = kube::Api::namespaced(client.clone(), "apps");

    ok(helm(&["repo", "add", "local", &repo.url])).await;
    ok(helm(&["repo", "update"])).await;
    ok(helm(&[
        "install",
        "web",
        "local/web",
        "--version",
        "0.1.0",
        "-n",
        "apps",
        "--create-namespace",
        "--wait",
        "--timeout",
        "60s",
    ]))
    .await;
    let d = deployments.get("web").await.unwrap();
    assert_eq!(
        d.status.as_ref().unwrap().ready_replicas,
        Some(2),
        "install --wait returned before the pods were ready"
    );

    // The Service's load balancer answers from the release's pods (helm 4's kstatus does not wait
    // for load balancer ingress; helm 3 does).
    let services: kube::Api<Service> = kube::Api::namespaced(client.clone(), "apps");
    let ip = lb_ip(&services, "web", std::time::Duration::from_secs(30)).await;
    let (code, body) = http_get(&ip, 8080, "shop.example.com").await.unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("\"service\":\"web\"") && body.contains(cluster_name),
        "{body}"
    );

    ok(helm(&[
        "upgrade",
        "web",
        "local/web",
        "--version",
        "0.2.0",
        "-n",
        "apps",
        "--set",
        "replicas=3",
        "--wait",
        "--timeout",
        "60s",
    ]))
    .await;
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(3));
    assert_eq!(d.status.unwrap().ready_replicas, Some(3));
    let cm: k8s_openapi::api::core::v1::ConfigMap = kube::Api::namespaced(client.clone(), "apps")
        .get("web-settings")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "bonjour");

    ok(helm(&[
        "rollback",
        "web",
        "1",
        "-n",
        "apps",
        "--wait",
        "--timeout",
        "60s",
    ]))
    .await;
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.unwrap().replicas, Some(2));
    let list = ok(helm(&["list", "-n", "apps", "-o", "json"])).await;
    let list: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["name"], "web");
    assert_eq!(list[0]["revision"], "3");
    assert_eq!(list[0]["status"], "deployed");
    assert_eq!(list[0]["chart"], "web-0.1.0");
    let stored = secrets
        .list(&ListParams::default().labels("owner=helm,name=web"))
        .await
        .unwrap();
    assert_eq!(stored.items.len(), 3, "one release Secret per revision");

    ok(helm(&[
        "uninstall",
        "web",
        "-n",
        "apps",
        "--wait",
        "--timeout",
        "60s",
    ]))
    .await;
    assert!(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        secrets
            .list(&ListParams::default().labels("owner=helm"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let list = ok(helm(&["list", "-n", "apps", "-q"])).await;
    assert_eq!(list.trim(), "");
    kc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm3_installs_upgrades_rolls_back_and_uninstalls() {
    helm_lifecycle("helm3", "helm3-c1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm4_installs_upgrades_rolls_back_and_uninstalls() {
    helm_lifecycle("helm4", "helm4-c1").await;
}
