//! The kwok-style controller and the load balancers: pods wait for Ready nodes, workload faults
//! keep pods unready or crash-looping, load balancers answer by readiness and injected faults,
//! remaining load balancers are reported, and a cluster's state survives a restart.

use std::time::Duration;

use crate::kube_support::*;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Service};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

async fn ready_replicas(api: &Api<Deployment>, name: &str) -> i32 {
    api.get(name)
        .await
        .unwrap()
        .status
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_need_ready_nodes_and_faults_hold_them_back() {
    let env = env(None);
    let kc = cluster("ctl-c1", &env).await;
    let client = client(&kc).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");

    deployments
        .create(&PostParams::default(), &deployment("web", 2, json!({})))
        .await
        .unwrap();
    let pending = eventually("two pending pods", Duration::from_secs(5), async || {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items;
        (list.len() == 2).then_some(list)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for p in pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
    {
        let st = p.status.unwrap();
        assert_eq!(st.phase.as_deref(), Some("Pending"));
        let scheduled = st
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")
            .unwrap();
        assert_eq!(
            (scheduled.status.as_str(), scheduled.reason.as_deref()),
            ("False", Some("Unschedulable"))
        );
    }
    assert_eq!(pending.len(), 2);

    kc.sync_nodegroup(&nodegroup("general", 2));
    eventually(
        "pods ready once nodes are",
        Duration::from_secs(5),
        async || (ready_replicas(&deployments, "web").await == 2).then_some(()),
    )
    .await;
    let d = deployments.get("web").await.unwrap();
    let st = d.status.unwrap();
    assert_eq!(
        (
            st.replicas,
            st.updated_replicas,
            st.available_replicas,
            st.observed_generation
        ),
        (Some(2), Some(2), Some(2), Some(1))
    );
    let progressing = st
        .conditions
        .unwrap()
        .into_iter()
        .find(|c| c.type_ == "Progressing")
        .unwrap();
    assert_eq!(
        progressing.reason.as_deref(),
        Some("NewReplicaSetAvailable")
    );

    // A workload annotated never-ready runs but never turns Ready; crash-loop restarts.
    deployments
        .create(
            &PostParams::default(),
            &deployment("stuck", 1, json!({"cloudsim.dev/fault": "never-ready"})),
        )
        .await
        .unwrap();
    deployments
        .create(&PostParams::default(), &deployment("crashy", 1, json!({})))
        .await
        .unwrap();
    env.faults
        .write()
        .unwrap()
        .crash_loop
        .insert("ctl-c1/default/crashy".into());
    let crashy = eventually("a crash-looping pod", Duration::from_secs(10), async || {
        let p = pods
            .list(&ListParams::default().labels("app=crashy"))
            .await
            .unwrap()
            .items
            .pop()?;
        let cs = p.status?.container_statuses?.pop()?;
        (cs.restart_count >= 1).then_some(cs)
    })
    .await;
    assert_eq!(
        crashy.state.unwrap().waiting.unwrap().reason.as_deref(),
        Some("CrashLoopBackOff")
    );
    let stuck = pods
        .list(&ListParams::default().labels("app=stuck"))
        .await
        .unwrap()
        .items
        .pop()
        .unwrap();
    assert_eq!(stuck.status.unwrap().phase.as_deref(), Some("Running"));
    assert_eq!(ready_replicas(&deployments, "stuck").await, 0);
    assert_eq!(ready_replicas(&deployments, "crashy").await, 0);

    // StatefulSets and DaemonSets.
    let sts: StatefulSet = serde_json::from_value(json!({"metadata": {"name": "db"}, "spec": {"replicas": 2, "serviceName": "db",
        "selector": {"matchLabels": {"app": "db"}}, "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "pg"}]}}}})).unwrap();
    let stss: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    stss.create(&PostParams::default(), &sts).await.unwrap();
    let ds: DaemonSet = serde_json::from_value(json!({"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "agent"}}, "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "agent"}]}}}})).unwrap();
    let dss: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    dss.create(&PostParams::default(), &ds).await.unwrap();
    eventually(
        "stateful set and daemon set ready",
        Duration::from_secs(10),
        async || {
            let s = stss.get("db").await.unwrap().status?;
            let d = dss.get("agent").await.unwrap().status?;
            (s.ready_replicas == Some(2) && d.number_ready == 2 && d.desired_number_scheduled == 2)
                .then_some(())
        },
    )
    .await;
    assert!(
        pods.get_opt("db-0").await.unwrap().is_some()
            && pods.get_opt("db-1").await.unwrap().is_some()
    );
    kc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_balancers_answer_by_readiness_and_faults_and_are_reported() {
    let env = env(None);
    let kc = cluster("ctl-c2", &env).await;
    kc.sync_nodegroup(&nodegroup("general", 1));
    let client = client(&kc).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    services
        .create(&PostParams::default(), &lb_service("web", 8081))
        .await
        .unwrap();
    let ip = lb_ip(&services, "web", Duration::from_secs(5)).await;
    let lbs = kc.load_balancers();
    assert_eq!(lbs.len(), 1);
    assert_eq!(
        (
            lbs[0].service.as_str(),
            lbs[0].ip.as_str(),
            lbs[0].ports.as_slice()
        ),
        ("web", ip.as_str(), &[8081][..])
    );
    assert!(
        lbs[0].hostname.ends_with(".elb.us-east-1.cloudsim.test"),
        "{}",
        lbs[0].hostname
    );

    let (code, body) = http_get(&ip, 8081, "api.example.com").await.unwrap();
    assert_eq!(code, 503, "no pods behind the service yet: {body}");
    deployments
        .create(&PostParams::default(), &deployment("web", 2, json!({})))
        .await
        .unwrap();
    eventually("ready pods", Duration::from_secs(5), async || {
        (ready_replicas(&deployments, "web").await == 2).then_some(())
    })
    .await;
    let (code, body) = http_get(&ip, 8081, "api.example.com").await.unwrap();
    assert_eq!(code, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            body["cluster"].as_str(),
            body["service"].as_str(),
            body["host"].as_str()
        ),
        (Some("ctl-c2"), Some("web"), Some("api.example.com"))
    );
    assert!(body["pod"].as_str().unwrap().starts_with("web-"));

    env.faults
        .write()
        .unwrap()
        .lb_error_rate
        .insert("ctl-c2/*".into(), 1.0);
    assert_eq!(http_get(&ip, 8081, "api.example.com").await.unwrap().0, 502);
    env.faults.write().unwrap().lb_error_rate.clear();
    env.faults
        .write()
        .unwrap()
        .never_ready
        .insert("ctl-c2/default/web".into());
    eventually(
        "pods unready under the fault",
        Duration::from_secs(5),
        async || (http_get(&ip, 8081, "h").await.unwrap().0 == 503).then_some(()),
    )
    .await;

    // Deleting the Service releases its load balancer after a delay (the finalizer holds the object).
    services
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the load balancer to be released",
        Duration::from_secs(5),
        async || {
            (kc.load_balancers().is_empty() && services.get_opt("web").await.unwrap().is_none())
                .then_some(())
        },
    )
    .await;
    assert!(
        http_get(&ip, 8081, "h").await.is_err(),
        "a released load balancer stops listening"
    );
    // One left behind is reported (the EKS half records it as leaked when the cluster goes).
    services
        .create(&PostParams::default(), &lb_service("left", 8082))
        .await
        .unwrap();
    let left = eventually(
        "a second load balancer",
        Duration::from_secs(5),
        async || kc.load_balancers().pop(),
    )
    .await;
    assert_eq!(left.service, "left");
    assert!(http_get(&left.ip, 8082, "h").await.is_ok());
    kc.shutdown().await;
    assert!(
        http_get(&left.ip, 8082, "h").await.is_err(),
        "shutdown closes the load balancers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let env = env(Some(dir.path().to_path_buf()));
    let cfg = || cloudsim::kube::KubeClusterConfig {
        name: "ctl-c3".into(),
        version: "1.32".into(),
        state_dir: Some(dir.path().join("clusters/ctl-c3")),
    };
    let kc = cloudsim::kube::KubeCluster::start(cfg(), env.clone())
        .await
        .unwrap();
    kc.sync_nodegroup(&nodegroup("general", 1));
    let (endpoint, ca) = (kc.endpoint(), kc.ca_pem());
    let client = crate::kube_support::client(&kc).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let created = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "kept"}, "data": {"a": "1"}}))
                .unwrap(),
        )
        .await
        .unwrap();
    services
        .create(&PostParams::default(), &lb_service("web", 8083))
        .await
        .unwrap();
    let ip = lb_ip(&services, "web", Duration::from_secs(5)).await;
    kc.shutdown().await;
    drop(kc);

    let kc = cloudsim::kube::KubeCluster::start(cfg(), env.clone())
        .await
        .unwrap();
    assert_eq!(
        (kc.endpoint(), kc.ca_pem()),
        (endpoint, ca),
        "same address and CA after a restart"
    );
    let client = crate::kube_support::client(&kc).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let kept = cms.get("kept").await.unwrap();
    assert_eq!(kept.metadata.uid, created.metadata.uid);
    assert_eq!(
        kept.metadata.resource_version,
        created.metadata.resource_version
    );
    let next = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "after"}})).unwrap(),
        )
        .await
        .unwrap();
    let rv = |c: &ConfigMap| {
        c.metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(rv(&next) > rv(&kept), "resourceVersions keep increasing");
    eventually(
        "the load balancer back on its address",
        Duration::from_secs(5),
        async || {
            kc.load_balancers()
                .first()
                .filter(|lb| lb.ip == ip)
                .cloned()
        },
    )
    .await;
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    assert_eq!(
        nodes
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    kc.shutdown().await;
}
