//! Volumes someone else made, and what stops a pod: static volumes bound by `claimRef` in either
//! order (cutover's restored volumes), a volume whose zone has no node, an EBS volume that is
//! missing or elsewhere than its node (`FailedAttachVolume`), a claim the driver cannot serve (no
//! add-on, no EC2), a mismatched `volumeName`, in-use protection, and a static volume under
//! `Delete`. Each is told in Events, as `kubectl describe` shows them.

use std::time::Duration;

use crate::kube_support::storage::*;
use crate::kube_support::*;
use crate::support::moto::Moto;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, ListParams};

async fn node_zone(client: &kube::Client, pods: &Api<Pod>, pod: &str) -> String {
    let node = eventually(&format!("{pod} scheduled"), Duration::from_secs(10), async || pods.get(pod).await.unwrap().spec?.node_name).await;
    Api::<Node>::all(client.clone()).get(&node).await.unwrap().metadata.labels.unwrap()["topology.kubernetes.io/zone"].clone()
}

async fn phase(pods: &Api<Pod>, pod: &str) -> String {
    pods.get(pod).await.unwrap().status.and_then(|s| s.phase).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_volumes_reserved_by_claim_ref_bind_in_either_order_and_put_their_pods_in_the_volumes_zone() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("bind-c1", &env, true).await;
    let ec2 = ec2(&moto);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let v = ec2.create_volume().availability_zone("us-east-1b").size(1).send().await.unwrap();
    let w = ec2.create_volume().availability_zone("us-east-1b").size(1).send().await.unwrap();
    // The volume first, the claim (no volumeName) after; then the claim first, the volume after.
    create(&volumes, static_volume("pv-first", v.volume_id().unwrap(), "us-east-1b", Some("restored"), "Retain")).await;
    eventually("a reserved volume Available until its claim comes", Duration::from_secs(10), async || {
        (volumes.get("pv-first").await.unwrap().status?.phase? == "Available").then_some(())
    })
    .await;
    create(&claims, claim("restored", Some("gp3"), "1Gi", None)).await;
    create(&claims, claim("later", Some("gp3"), "1Gi", None)).await;
    create(&volumes, static_volume("pv-later", w.volume_id().unwrap(), "us-east-1b", Some("later"), "Retain")).await;
    for (c, pv) in [("restored", "pv-first"), ("later", "pv-later")] {
        let bound = eventually(&format!("{c} bound"), Duration::from_secs(10), async || {
            let claim = claims.get(c).await.unwrap();
            (claim.status.as_ref()?.phase.as_deref() == Some("Bound")).then_some(claim)
        })
        .await;
        assert_eq!(bound.spec.unwrap().volume_name.as_deref(), Some(pv));
        let volume = volumes.get(pv).await.unwrap();
        assert_eq!(volume.status.unwrap().phase.as_deref(), Some("Bound"));
        assert_eq!(volume.spec.unwrap().claim_ref.unwrap().uid, bound.metadata.uid, "the claimRef gets the claim's uid");
        create(&pods, pod_with_claim(c, c)).await;
        assert_eq!(node_zone(&client, &pods, c).await, "us-east-1b", "the pod runs in its volume's zone");
        eventually(&format!("{c} running"), Duration::from_secs(10), async || (phase(&pods, c).await == "Running").then_some(())).await;
    }
    assert_eq!(ec2.describe_volumes().send().await.unwrap().volumes().len(), 2, "the driver made no volume of its own");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_volume_in_a_zone_with_no_node_leaves_its_pod_unschedulable_with_a_failed_scheduling_event() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("bind-c2", &env, true).await;
    let ec2 = ec2(&moto);
    let v = ec2.create_volume().availability_zone("us-east-1c").size(1).send().await.unwrap();
    create(&Api::<PersistentVolume>::all(client.clone()), static_volume("pv-c", v.volume_id().unwrap(), "us-east-1c", Some("elsewhere"), "Retain")).await;
    create(&Api::<PersistentVolumeClaim>::namespaced(client.clone(), "default"), claim("elsewhere", Some("gp3"), "1Gi", Some("pv-c"))).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, pod_with_claim("elsewhere", "elsewhere")).await;
    let message = event(&client, "default", "elsewhere", "FailedScheduling").await;
    assert_eq!(message, "0/2 nodes are available: 2 node(s) had volume node affinity conflict.");
    let pod = pods.get("elsewhere").await.unwrap();
    assert!(pod.spec.unwrap().node_name.is_none());
    let scheduled = pod.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "PodScheduled").unwrap();
    assert_eq!((scheduled.status.as_str(), scheduled.reason.as_deref()), ("False", Some("Unschedulable")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ebs_volume_that_is_missing_or_in_another_zone_than_the_node_never_attaches() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("bind-c3", &env, true).await;
    let ec2 = ec2(&moto);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    // The PersistentVolume says us-east-1a, but EC2 has the volume in us-east-1c; the other names
    // a volume EC2 never had.
    let misplaced = ec2.create_volume().availability_zone("us-east-1c").size(1).send().await.unwrap();
    let misplaced = misplaced.volume_id().unwrap();
    for (name, id) in [("misplaced", misplaced), ("missing", "vol-0123456789abcdef0")] {
        create(&volumes, static_volume(&format!("pv-{name}"), id, "us-east-1a", Some(name), "Retain")).await;
        create(&claims, claim(name, Some("gp3"), "1Gi", None)).await;
        create(&pods, pod_with_claim(name, name)).await;
    }
    let why = event(&client, "default", "missing", "FailedAttachVolume").await;
    assert_eq!(why, "AttachVolume.Attach failed for volume \"pv-missing\" : rpc error: code = NotFound desc = Volume \"vol-0123456789abcdef0\" not found");
    let why = event(&client, "default", "misplaced", "FailedAttachVolume").await;
    assert!(why.contains("InvalidVolume.ZoneMismatch") && why.contains(misplaced), "{why}");
    for name in ["missing", "misplaced"] {
        assert_eq!(node_zone(&client, &pods, name).await, "us-east-1a", "scheduled by the PersistentVolume's affinity");
        let pod = pods.get(name).await.unwrap();
        let status = pod.status.unwrap();
        assert_eq!(status.phase.as_deref(), Some("Pending"), "{name} never starts");
        let waiting = status.container_statuses.unwrap()[0].state.clone().unwrap().waiting.unwrap();
        assert_eq!(waiting.reason.as_deref(), Some("ContainerCreating"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_ebs_csi_add_on_claims_stay_pending_until_it_is_active() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (kc, client) = cluster_with_nodes("bind-c4", &env, false).await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&claims, claim("data", Some("gp3"), "1Gi", None)).await;
    create(&pods, pod_with_claim("app", "data")).await;
    let message = event(&client, "default", "data", "ExternalProvisioning").await;
    assert!(message.starts_with("Waiting for a volume to be created either by the external provisioner 'ebs.csi.aws.com'"), "{message}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(claims.get("data").await.unwrap().status.unwrap().phase.as_deref(), Some("Pending"));
    assert_eq!(phase(&pods, "app").await, "Pending");
    assert!(ec2(&moto).describe_volumes().send().await.unwrap().volumes().is_empty(), "no driver, no volume");

    kc.sync_addons(&["aws-ebs-csi-driver".to_string()]);
    eventually("the claim bound and the pod running once the add-on is active", Duration::from_secs(10), async || {
        (phase(&pods, "app").await == "Running").then_some(())
    })
    .await;
    assert_eq!(claims.get("data").await.unwrap().status.unwrap().phase.as_deref(), Some("Bound"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_ec2_a_claim_that_needs_a_volume_stays_pending_and_says_why() {
    let env = env(None);
    let (_kc, client) = cluster_with_nodes("bind-c5", &env, true).await;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    create(&sets, serde_json::json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "ledger", "namespace": "default"},
        "spec": {"replicas": 1, "serviceName": "ledger", "selector": {"matchLabels": {"app": "ledger"}},
                 "template": {"metadata": {"labels": {"app": "ledger"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}},
                 "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "gp3", "resources": {"requests": {"storage": "1Gi"}}}}]},
    }))
    .await;
    let why = event(&client, "default", "data-ledger-0", "ProvisioningFailed").await;
    assert!(why.contains("AWS_ENDPOINT_URL_EC2"), "{why}");
    let claim = claims.get("data-ledger-0").await.unwrap();
    assert_eq!(claim.status.unwrap().phase.as_deref(), Some("Pending"));
    assert!(claim.metadata.annotations.unwrap()["cloudsim.dev/provisioning"].contains("AWS_ENDPOINT_URL_EC2"));
    assert_eq!(sets.get("ledger").await.unwrap().status.and_then(|s| s.ready_replicas).unwrap_or(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_naming_a_volume_of_another_class_is_refused_and_a_used_claim_outlives_its_deletion() {
    let moto = Moto::start().await;
    let env = env_with_ec2(&moto.url());
    let (_kc, client) = cluster_with_nodes("bind-c6", &env, true).await;
    let ec2 = ec2(&moto);
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let v = ec2.create_volume().availability_zone("us-east-1a").size(1).send().await.unwrap();
    create(&volumes, static_volume("pv-free", v.volume_id().unwrap(), "us-east-1a", None, "Delete")).await;
    create(&claims, claim("wrong-class", Some("gp2"), "1Gi", Some("pv-free"))).await;
    let why = event(&client, "default", "wrong-class", "VolumeMismatch").await;
    assert_eq!(why, "Cannot bind to requested volume \"pv-free\": storageClassName does not match");
    claims.delete("wrong-class", &DeleteParams::default()).await.unwrap();

    create(&claims, claim("right", Some("gp3"), "1Gi", Some("pv-free"))).await;
    create(&pods, pod_with_claim("user", "right")).await;
    eventually("the pod running", Duration::from_secs(10), async || (phase(&pods, "user").await == "Running").then_some(())).await;
    claims.delete("right", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = claims.get("right").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some(), "Terminating");
    assert_eq!(held.metadata.finalizers.unwrap(), ["kubernetes.io/pvc-protection"], "held while a pod uses it");
    pods.delete("user", &DeleteParams::default()).await.unwrap();
    eventually("the claim gone once its pod is", Duration::from_secs(10), async || claims.get_opt("right").await.unwrap().is_none().then_some(())).await;
    // Nobody provisioned pv-free, so no plugin can delete it: under Delete it fails, EC2 untouched.
    let failed = eventually("the static Delete volume Failed", Duration::from_secs(10), async || {
        let pv = volumes.get("pv-free").await.unwrap();
        (pv.status.as_ref()?.phase.as_deref() == Some("Failed")).then_some(pv)
    })
    .await;
    assert!(failed.status.unwrap().message.unwrap().contains("no deletable volume plugin matched"));
    assert_eq!(ec2.describe_volumes().volume_ids(v.volume_id().unwrap()).send().await.unwrap().volumes().len(), 1);
    let listed = claims.list(&ListParams::default()).await.unwrap().items;
    assert!(listed.is_empty(), "{listed:?}");
}
