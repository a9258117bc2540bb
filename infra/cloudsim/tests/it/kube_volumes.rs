//! Dynamic provisioning: a StatefulSet's claim templates become claims, the fake EBS CSI driver
//! makes their volumes in EC2 (moto, read back with aws-sdk-ec2) in the zone of the node the
//! scheduler chose, the in-tree default class and `Immediate` classes work too, reclaim policies
//! decide what deleting a claim deletes, and `persistentVolumeClaimRetentionPolicy` what deleting or
//! scaling the set deletes.

use std::time::Duration;

use crate::kube_support::storage::*;
use crate::kube_support::*;
use crate::support::moto::Moto;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::json;

fn ledger(replicas: i32, retention: Option<serde_json::Value>) -> serde_json::Value {
    let mut sts = json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": "ledger", "namespace": "default"},
        "spec": {
            "replicas": replicas, "serviceName": "ledger",
            "selector": {"matchLabels": {"app": "ledger"}},
            "template": {"metadata": {"labels": {"app": "ledger"}},
                         "spec": {"containers": [{"name": "db", "image": "postgres:16", "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                                      "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "resources": {"requests": {"storage": "1500Mi"}}}}],
        },
    });
    if let Some(r) = retention {
        sts["spec"]["persistentVolumeClaimRetentionPolicy"] = r;
    }
    sts
}

async fn ready(sets: &Api<StatefulSet>, n: i32) {
    eventually(&format!("ledger with {n} ready replicas"), Duration::from_secs(20), async || {
        let s = sets.get("ledger").await.unwrap();
        (s.status.and_then(|s| s.ready_replicas).unwrap_or(0) == n).then_some(())
    })
    .await;
}

async fn claim_names(claims: &Api<PersistentVolumeClaim>) -> Vec<String> {
    let mut names: Vec<String> = claims.list(&ListParams::default().labels("app=ledger")).await.unwrap().items.into_iter().filter_map(|c| c.metadata.name).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_replica_gets_a_claim_and_an_ebs_volume_in_its_nodes_zone_and_scaling_to_zero_keeps_them() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c1", &env, true).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&sets, ledger(2, None)).await;
    ready(&sets, 2).await;

    let ec2 = ec2(&moto);
    for i in 0..2 {
        let claim_name = format!("data-ledger-{i}");
        let claim = claims.get(&claim_name).await.unwrap();
        assert_eq!(claim.status.as_ref().unwrap().phase.as_deref(), Some("Bound"));
        let labels = claim.metadata.labels.as_ref().unwrap();
        assert_eq!((labels["app"].as_str(), labels["tier"].as_str()), ("ledger", "db"), "the set's selector labels and the template's");
        assert!(claim.metadata.owner_references.is_none(), "by default claims are not owned by the set");
        let pv_name = claim.spec.as_ref().unwrap().volume_name.clone().unwrap();
        assert_eq!(pv_name, format!("pvc-{}", claim.metadata.uid.as_ref().unwrap()));
        let pv = volumes.get(&pv_name).await.unwrap();
        let spec = pv.spec.as_ref().unwrap();
        assert_eq!(spec.capacity.as_ref().unwrap()["storage"].0, "2Gi", "1500Mi rounds up to 2 GiB");
        assert_eq!(spec.claim_ref.as_ref().unwrap().uid, claim.metadata.uid);
        assert_eq!(pv.metadata.annotations.as_ref().unwrap()["pv.kubernetes.io/provisioned-by"], "ebs.csi.aws.com");
        let id = volume_id(&pv);
        let pod = pods.get(&format!("ledger-{i}")).await.unwrap();
        assert_eq!(pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0].persistent_volume_claim.as_ref().unwrap().claim_name, claim_name);
        let node: Node = Api::<Node>::all(client.clone()).get(pod.spec.as_ref().unwrap().node_name.as_ref().unwrap()).await.unwrap();
        let node_zone = node.metadata.labels.as_ref().unwrap()["topology.kubernetes.io/zone"].clone();
        let affinity = spec.node_affinity.as_ref().unwrap().required.as_ref().unwrap().node_selector_terms[0].match_expressions.as_ref().unwrap()[0].clone();
        assert_eq!((affinity.key.as_str(), affinity.values.unwrap()), ("topology.ebs.csi.aws.com/zone", vec![node_zone.clone()]));

        let described = ec2.describe_volumes().volume_ids(&id).send().await.unwrap();
        let v = &described.volumes()[0];
        assert_eq!(v.availability_zone(), Some(node_zone.as_str()), "the volume is where its pod runs");
        assert_eq!(v.size(), Some(2));
        assert_eq!(v.volume_type().map(|t| t.as_str()), Some("gp3"));
        let tag = |k: &str| v.tags().iter().find(|t| t.key() == Some(k)).and_then(|t| t.value()).map(str::to_string);
        assert_eq!(tag("kubernetes.io/created-for/pvc/name").as_deref(), Some(claim_name.as_str()));
        assert_eq!(tag("kubernetes.io/created-for/pvc/namespace").as_deref(), Some("default"));
        assert_eq!(tag("kubernetes.io/created-for/pv/name").as_deref(), Some(pv_name.as_str()));
        assert_eq!(tag("CSIVolumeName").as_deref(), Some(pv_name.as_str()));
        assert_eq!(tag("kubernetes.io/cluster/vol-c1").as_deref(), Some("owned"));
        assert!(event(&client, "default", &claim_name, "ProvisioningSucceeded").await.contains(&pv_name));
    }

    sets.patch("ledger", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 0}}))).await.unwrap();
    eventually("no ledger pod", Duration::from_secs(10), async || {
        pods.list(&ListParams::default().labels("app=ledger")).await.unwrap().items.is_empty().then_some(())
    })
    .await;
    let kept = claims.list(&ListParams::default().labels("app=ledger")).await.unwrap().items;
    assert_eq!(kept.len(), 2, "claims outlive a scale to zero");
    assert_eq!(ec2.describe_volumes().send().await.unwrap().volumes().len(), 2, "and so do their volumes");
    sets.patch("ledger", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 2}}))).await.unwrap();
    ready(&sets, 2).await;
    let again = claims.list(&ListParams::default().labels("app=ledger")).await.unwrap().items;
    let names = |cs: &[PersistentVolumeClaim]| cs.iter().map(|c| c.spec.as_ref().unwrap().volume_name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&again), names(&kept), "scaling back up reuses the same volumes");
    assert_eq!(ec2.describe_volumes().send().await.unwrap().volumes().len(), 2, "no new volume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_claim_deletes_its_volume_under_delete_and_keeps_it_under_retain() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c2", &env, true).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    create(&sets, ledger(2, None)).await;
    ready(&sets, 2).await;
    sets.delete("ledger", &DeleteParams::default()).await.unwrap();
    eventually("the set and its pods gone", Duration::from_secs(10), async || {
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        pods.list(&ListParams::default()).await.unwrap().items.is_empty().then_some(())
    })
    .await;
    assert_eq!(claim_names(&claims).await, ["data-ledger-0", "data-ledger-1"], "deleting the set keeps its claims");
    let pv = |i: usize| {
        let claims = claims.clone();
        async move { claims.get(&format!("data-ledger-{i}")).await.unwrap().spec.unwrap().volume_name.unwrap() }
    };
    let (pv0, pv1) = (pv(0).await, pv(1).await);
    let (id0, id1) = (volume_id(&volumes.get(&pv0).await.unwrap()), volume_id(&volumes.get(&pv1).await.unwrap()));
    volumes.patch(&pv1, &PatchParams::default(), &Patch::Merge(json!({"spec": {"persistentVolumeReclaimPolicy": "Retain"}}))).await.unwrap();
    for i in 0..2 {
        claims.delete(&format!("data-ledger-{i}"), &DeleteParams::default()).await.unwrap();
    }
    let ec2 = ec2(&moto);
    eventually("the Delete volume gone from EC2 and its PV removed", Duration::from_secs(10), async || {
        let listed = ec2.describe_volumes().send().await.unwrap();
        let ids: Vec<&str> = listed.volumes().iter().filter_map(|v| v.volume_id()).collect();
        (!ids.contains(&id0.as_str()) && volumes.get_opt(&pv0).await.unwrap().is_none()).then_some(())
    })
    .await;
    let retained = volumes.get(&pv1).await.unwrap();
    assert_eq!(retained.status.unwrap().phase.as_deref(), Some("Released"));
    assert_eq!(ec2.describe_volumes().volume_ids(&id1).send().await.unwrap().volumes().len(), 1, "Retain keeps the EBS volume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_with_no_class_gets_the_in_tree_gp2_default_and_an_immediate_class_provisions_without_a_pod() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c5", &env, true).await;
    let classes: Api<StorageClass> = Api::all(client.clone());
    let gp2 = classes.get("gp2").await.unwrap();
    assert_eq!(gp2.provisioner, "kubernetes.io/aws-ebs");
    assert_eq!(gp2.volume_binding_mode.as_deref(), Some("WaitForFirstConsumer"));
    assert_eq!(gp2.metadata.annotations.as_ref().unwrap()["storageclass.kubernetes.io/is-default-class"], "true");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let ec2 = ec2(&moto);

    let made = create(&claims, claim("legacy", None, "3Gi", None)).await;
    assert_eq!(made.spec.unwrap().storage_class_name.as_deref(), Some("gp2"), "the default class is filled in");
    assert!(event(&client, "default", "legacy", "WaitForFirstConsumer").await.contains("first consumer"));
    create(&pods, pod_with_claim("legacy", "legacy")).await;
    let pv_name = eventually("the gp2 claim bound", Duration::from_secs(10), async || claims.get("legacy").await.unwrap().spec?.volume_name).await;
    let pv = volumes.get(&pv_name).await.unwrap();
    let annotations = pv.metadata.annotations.clone().unwrap();
    assert_eq!(annotations["pv.kubernetes.io/provisioned-by"], "kubernetes.io/aws-ebs");
    assert_eq!(annotations["pv.kubernetes.io/migrated-to"], "ebs.csi.aws.com");
    let in_tree = pv.spec.as_ref().unwrap().aws_elastic_block_store.clone().expect("the in-tree shape");
    let (zone, id) = in_tree.volume_id.strip_prefix("aws://").unwrap().split_once('/').unwrap();
    let v = ec2.describe_volumes().volume_ids(id).send().await.unwrap().volumes()[0].clone();
    assert_eq!((v.availability_zone(), v.size(), v.volume_type().map(|t| t.as_str())), (Some(zone), Some(3), Some("gp2")));
    let key = &pv.spec.as_ref().unwrap().node_affinity.as_ref().unwrap().required.as_ref().unwrap().node_selector_terms[0].match_expressions.as_ref().unwrap()[0].key;
    assert_eq!(key, "topology.kubernetes.io/zone", "in-tree volumes keep the well-known zone key");
    eventually("the pod running on its volume", Duration::from_secs(10), async || {
        (pods.get("legacy").await.unwrap().status?.phase? == "Running").then_some(())
    })
    .await;

    create(&classes, json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "io2-now"},
                             "provisioner": "ebs.csi.aws.com", "parameters": {"type": "io2", "iops": "3000"}, "volumeBindingMode": "Immediate"}))
    .await;
    create(&claims, claim("now", Some("io2-now"), "4Gi", None)).await;
    let pv_name = eventually("the Immediate claim bound with no pod", Duration::from_secs(10), async || claims.get("now").await.unwrap().spec?.volume_name).await;
    let v = ec2.describe_volumes().volume_ids(volume_id(&volumes.get(&pv_name).await.unwrap())).send().await.unwrap().volumes()[0].clone();
    assert_eq!((v.availability_zone(), v.volume_type().map(|t| t.as_str())), (Some(ZONES[0]), Some("io2")), "the first of the nodes' zones");
    assert_eq!(v.iops(), Some(3000), "the class's iops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retention_policy_can_make_claims_go_with_a_scale_down_or_with_the_set() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("vol-c6", &env, true).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    create(&sets, ledger(2, Some(json!({"whenDeleted": "Delete", "whenScaled": "Delete"})))).await;
    ready(&sets, 2).await;
    let claim = claims.get("data-ledger-0").await.unwrap();
    let owner = &claim.metadata.owner_references.as_ref().expect("owned by the set")[0];
    assert_eq!((owner.kind.as_str(), owner.name.as_str()), ("StatefulSet", "ledger"));

    sets.patch("ledger", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await.unwrap();
    eventually("ordinal 1's claim gone with the scale-down", Duration::from_secs(10), async || {
        (claim_names(&claims).await == ["data-ledger-0"]).then_some(())
    })
    .await;
    sets.delete("ledger", &DeleteParams::default()).await.unwrap();
    eventually("the rest gone with the set", Duration::from_secs(10), async || claim_names(&claims).await.is_empty().then_some(())).await;
    let ec2 = ec2(&moto);
    eventually("their volumes deleted in EC2 (class policy Delete)", Duration::from_secs(10), async || {
        ec2.describe_volumes().send().await.unwrap().volumes().is_empty().then_some(())
    })
    .await;
}
