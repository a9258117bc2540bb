//! The real kubectl against a cloudsim cluster, authenticating with an EKS token from an exec
//! credential plugin: get, apply (client- and server-side), wait, scale, patch, delete.

use std::process::Command;

use crate::kube_support::*;

fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(tool("kubectl"));
    c.arg("--kubeconfig").arg(kubeconfig).args(args);
    c
}

const APP: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 80}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_gets_applies_waits_and_deletes() {
    let env = env(None);
    let kc = cluster("kubectl-c1", &env).await;
    kc.sync_nodegroup(&nodegroup("general", 2));
    let dir = tempfile::tempdir().unwrap();
    let cfg = kubeconfig(dir.path(), &kc);
    let manifest = dir.path().join("app.yaml");
    std::fs::write(&manifest, APP).unwrap();

    let version = ok(kubectl(&cfg, &["version", "-o", "json"])).await;
    assert!(version.contains("v1.32.5-eks-cloudsim"), "{version}");

    ok(kubectl(
        &cfg,
        &[
            "wait",
            "--for=condition=Ready",
            "nodes",
            "--all",
            "--timeout=30s",
        ],
    ))
    .await;
    let nodes = ok(kubectl(&cfg, &["get", "nodes"])).await;
    assert_eq!(
        nodes.lines().filter(|l| l.contains(" Ready ")).count(),
        2,
        "{nodes}"
    );
    let labels = ok(kubectl(
        &cfg,
        &[
            "get",
            "nodes",
            "-l",
            "eks.amazonaws.com/nodegroup=general,team=platform",
            "-o",
            "name",
        ],
    ))
    .await;
    assert_eq!(labels.lines().count(), 2, "{labels}");

    let applied = ok(kubectl(&cfg, &["apply", "-f", manifest.to_str().unwrap()])).await;
    assert!(applied.contains("deployment.apps/web created"), "{applied}");
    ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=60s",
        ],
    ))
    .await;
    ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    ))
    .await;
    let pods = ok(kubectl(
        &cfg,
        &["-n", "shop", "get", "pods", "-l", "app=web", "-o", "json"],
    ))
    .await;
    let pods: serde_json::Value = serde_json::from_str(&pods).unwrap();
    assert_eq!(pods["items"].as_array().unwrap().len(), 2);
    assert!(
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"]["phase"] == "Running")
    );

    // A second apply changes only what changed (client-side three-way strategic merge).
    std::fs::write(
        &manifest,
        APP.replace("replicas: 2", "replicas: 3")
            .replace("color: blue", "color: green"),
    )
    .unwrap();
    let reapplied = ok(kubectl(&cfg, &["apply", "-f", manifest.to_str().unwrap()])).await;
    assert!(
        reapplied.contains("deployment.apps/web configured")
            && reapplied.contains("configmap/settings configured"),
        "{reapplied}"
    );
    assert!(reapplied.contains("service/web unchanged"), "{reapplied}");
    ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "rollout",
            "status",
            "deployment/web",
            "--timeout=60s",
        ],
    ))
    .await;
    let ready = ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "get",
            "deployment",
            "web",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
    ))
    .await;
    assert_eq!(ready, "3");

    // Server-side apply, scale and patch.
    ok(kubectl(
        &cfg,
        &["apply", "--server-side", "-f", manifest.to_str().unwrap()],
    ))
    .await;
    ok(kubectl(
        &cfg,
        &["-n", "shop", "scale", "deployment/web", "--replicas=1"],
    ))
    .await;
    ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            r#"{"data":{"size":"xl"}}"#,
        ],
    ))
    .await;
    let data = ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "get",
            "configmap",
            "settings",
            "-o",
            "jsonpath={.data}",
        ],
    ))
    .await;
    assert!(
        data.contains("\"size\":\"xl\"") && data.contains("\"color\":\"green\""),
        "{data}"
    );
    let all = ok(kubectl(&cfg, &["-n", "shop", "get", "all"])).await;
    assert!(
        all.contains("deployment.apps/web") && all.contains("service/web"),
        "{all}"
    );

    // Deleting a Deployment takes its ReplicaSets and pods (garbage collection); deleting the
    // namespace takes everything else in it.
    ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "delete",
            "deployment",
            "web",
            "--wait=true",
            "--timeout=60s",
        ],
    ))
    .await;
    ok(kubectl(
        &cfg,
        &[
            "-n",
            "shop",
            "wait",
            "--for=delete",
            "pods",
            "-l",
            "app=web",
            "--timeout=60s",
        ],
    ))
    .await;
    let rs = ok(kubectl(
        &cfg,
        &["-n", "shop", "get", "replicasets", "-o", "name"],
    ))
    .await;
    assert_eq!(rs.trim(), "", "replica sets outlived their deployment");
    ok(kubectl(
        &cfg,
        &[
            "delete",
            "namespace",
            "shop",
            "--wait=true",
            "--timeout=60s",
        ],
    ))
    .await;
    let gone = ok(kubectl(&cfg, &["get", "namespaces", "-o", "name"])).await;
    assert!(!gone.contains("namespace/shop"), "{gone}");
    let left = ok(kubectl(
        &cfg,
        &[
            "get",
            "configmaps,services",
            "-A",
            "-o",
            "name",
            "--field-selector",
            "metadata.namespace=shop",
        ],
    ))
    .await;
    assert_eq!(left.trim(), "", "objects outlived their namespace");
    kc.shutdown().await;
}
