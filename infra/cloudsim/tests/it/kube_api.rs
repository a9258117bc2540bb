//! The API through the kube crate: CRUD with resourceVersion conflicts, selectors, patches
//! (merge, strategic, JSON, server-side apply), watches (resume, selectors, streaming list),
//! CRDs in discovery, garbage collection by propagation policy, and the status subresource.

use std::time::Duration;

use crate::kube_support::*;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

fn config_map(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_selectors_conflicts_and_patches() {
    let env = env(None);
    let kc = cluster("api-c1", &env).await;
    let client = client(&kc).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");

    let a = cms
        .create(
            &PostParams::default(),
            &config_map("a", json!({"tier": "front"})),
        )
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &config_map("b", json!({"tier": "back"})),
    )
    .await
    .unwrap();
    assert!(a.metadata.uid.is_some() && a.metadata.creation_timestamp.is_some());
    let err = cms
        .create(&PostParams::default(), &config_map("a", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409 && e.reason == "AlreadyExists"),
        "{err}"
    );

    let front = cms
        .list(&ListParams::default().labels("tier=front"))
        .await
        .unwrap();
    assert_eq!(front.items.len(), 1);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=b"))
        .await
        .unwrap();
    assert_eq!(by_name.items[0].metadata.name.as_deref(), Some("b"));
    assert!(
        cms.list(&ListParams::default().labels("tier in (front,back)"))
            .await
            .unwrap()
            .items
            .len()
            == 2
    );

    // A stale resourceVersion is a conflict.
    let mut stale = a.clone();
    let mut fresh = a.clone();
    fresh.data = Some([("k".to_string(), "v2".to_string())].into());
    let fresh = cms
        .replace("a", &PostParams::default(), &fresh)
        .await
        .unwrap();
    assert_ne!(fresh.metadata.resource_version, a.metadata.resource_version);
    stale.data = Some([("k".to_string(), "v3".to_string())].into());
    let err = cms
        .replace("a", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 409 && e.reason == "Conflict"),
        "{err}"
    );

    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"m": "1", "k": null}})),
    )
    .await
    .unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Strategic(json!({"metadata": {"labels": {"s": "1"}}})),
    )
    .await
    .unwrap();
    let patched = cms.get("a").await.unwrap();
    assert_eq!(
        patched.data.unwrap(),
        [("m".to_string(), "1".to_string())].into()
    );
    assert_eq!(patched.metadata.labels.unwrap()["s"], "1");

    // Server-side apply creates, then removes what the manager stops applying.
    let ssa = PatchParams::apply("cloudsim-test");
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1", "y": "2"}});
    cms.patch("c", &ssa, &Patch::Apply(&applied)).await.unwrap();
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1"}});
    let c = cms.patch("c", &ssa, &Patch::Apply(&applied)).await.unwrap();
    assert_eq!(c.data.unwrap(), [("x".to_string(), "1".to_string())].into());

    // Dry runs change nothing.
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cms.create(&dry, &config_map("dry", json!({})))
        .await
        .unwrap();
    assert!(cms.get_opt("dry").await.unwrap().is_none());

    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(cms.get_opt("a").await.unwrap().is_none());
    let err = cms.delete("a", &DeleteParams::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404),
        "{err}"
    );

    // Writes into a namespace that does not exist are refused.
    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    let err = nowhere
        .create(&PostParams::default(), &config_map("x", json!({})))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404),
        "{err}"
    );
    kc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_resume_filter_and_stream_initial_events() {
    let env = env(None);
    let kc = cluster("api-c2", &env).await;
    let client = client(&kc).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let first = cms
        .create(
            &PostParams::default(),
            &config_map("w1", json!({"watch": "me"})),
        )
        .await
        .unwrap();
    let rv = first.metadata.resource_version.clone().unwrap();

    // Resume from a resourceVersion: only later changes, filtered by label.
    let mut stream = cms
        .watch(&WatchParams::default().labels("watch=me").timeout(10), &rv)
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &config_map("ignored", json!({})))
        .await
        .unwrap();
    cms.create(
        &PostParams::default(),
        &config_map("w2", json!({"watch": "me"})),
    )
    .await
    .unwrap();
    cms.patch(
        "w1",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"labels": {"watch": "no-more"}}})),
    )
    .await
    .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(cm) => seen.push(format!("added {}", cm.metadata.name.unwrap())),
            WatchEvent::Deleted(cm) => seen.push(format!("deleted {}", cm.metadata.name.unwrap())),
            WatchEvent::Modified(cm) => {
                seen.push(format!("modified {}", cm.metadata.name.unwrap()))
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    // Leaving the selector looks like a deletion to this watcher.
    assert_eq!(seen, ["added w2", "deleted w1"]);

    // The streaming-list protocol: current objects, then the initial-events-end bookmark.
    let mut stream = cms
        .watch(&WatchParams::streaming_lists().timeout(10), "")
        .await
        .unwrap()
        .boxed();
    let mut names = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WatchEvent::Added(cm) => names.push(cm.metadata.name.unwrap()),
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata
                        .annotations
                        .get("k8s.io/initial-events-end")
                        .map(String::as_str),
                    Some("true")
                );
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    names.sort();
    assert_eq!(names, ["ignored", "w1", "w2"]);

    // kube-runtime's watcher (list + watch, re-lists on 410) sees new objects.
    let events = kube::runtime::watcher(
        cms.clone(),
        kube::runtime::watcher::Config::default().labels("late=yes"),
    );
    let mut objects = std::pin::pin!(kube::runtime::WatchStreamExt::applied_objects(events));
    cms.create(
        &PostParams::default(),
        &config_map("late", json!({"late": "yes"})),
    )
    .await
    .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), objects.try_next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.metadata.name.as_deref(), Some("late"));
    kc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_resources_appear_in_discovery_and_go_with_their_crd() {
    let env = env(None);
    let kc = cluster("api-c3", &env).await;
    let client = client(&kc).await;
    let crds: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let crd: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
                 "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}
    })).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap();

    let discovery = kube::Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .expect("Widget is discoverable");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}, "status": {"ok": true}})).unwrap();
    let created = widgets.create(&PostParams::default(), &w).await.unwrap();
    assert!(
        created.data.get("status").is_none(),
        "status is owned by the status subresource"
    );
    widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ok": true}})),
        )
        .await
        .unwrap();
    assert_eq!(widgets.get("w1").await.unwrap().data["status"]["ok"], true);

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "widgets to go with their CRD",
        Duration::from_secs(5),
        async || {
            let gone = kube::Discovery::new(client.clone())
                .run()
                .await
                .unwrap()
                .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
                .is_none();
            gone.then_some(())
        },
    )
    .await;
    kc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_propagates_by_policy() {
    let env = env(None);
    let kc = cluster("api-c4", &env).await;
    kc.sync_nodegroup(&nodegroup("ng", 1));
    let client = client(&kc).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "gc"}})).unwrap(),
        )
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "gc");
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "gc");
    let deployment = |name: &str| -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})).unwrap()
    };
    let rs_of = async |name: &str| {
        replica_sets
            .list(&ListParams::default().labels(&format!("app={name}")))
            .await
            .unwrap()
            .items
    };
    for name in ["bg", "orphan", "fg"] {
        deployments
            .create(&PostParams::default(), &deployment(name))
            .await
            .unwrap();
        eventually("a replica set", Duration::from_secs(5), async || {
            (!rs_of(name).await.is_empty()).then_some(())
        })
        .await;
    }
    let invalid: Deployment = serde_json::from_value(json!({"metadata": {"name": "bad"}, "spec": {"selector": {"matchLabels": {"app": "x"}},
        "template": {"metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})).unwrap();
    let err = deployments
        .create(&PostParams::default(), &invalid)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 422),
        "{err}"
    );

    deployments
        .delete("bg", &DeleteParams::background())
        .await
        .unwrap();
    eventually(
        "background deletion of the replica set",
        Duration::from_secs(5),
        async || rs_of("bg").await.is_empty().then_some(()),
    )
    .await;

    deployments
        .delete("orphan", &DeleteParams::orphan())
        .await
        .unwrap();
    eventually(
        "the orphaning owner to go",
        Duration::from_secs(5),
        async || {
            deployments
                .get_opt("orphan")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    let orphans = rs_of("orphan").await;
    assert_eq!(orphans.len(), 1, "orphan propagation keeps dependents");
    assert!(
        orphans[0]
            .metadata
            .owner_references
            .as_ref()
            .is_none_or(Vec::is_empty)
    );

    let deleting = deployments
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    assert!(
        deleting.is_left(),
        "foreground deletion waits for dependents"
    );
    eventually("foreground deletion", Duration::from_secs(5), async || {
        (deployments.get_opt("fg").await.unwrap().is_none() && rs_of("fg").await.is_empty())
            .then_some(())
    })
    .await;

    namespaces
        .delete("gc", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "the namespace to empty and go",
        Duration::from_secs(5),
        async || {
            namespaces
                .get_opt("gc")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    assert!(rs_of("orphan").await.is_empty());
    kc.shutdown().await;
}
