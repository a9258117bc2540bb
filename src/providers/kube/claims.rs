//! [`KubeClaims`]: the [`ClaimProvider`] over the Kubernetes API — reading claims and the EBS
//! volumes behind them, keeping blue's volumes (`Retain`), scaling their writers, and binding
//! green's claims to volumes cutover made (a static PersistentVolume with a `claimRef`, which
//! Kubernetes binds before any workload asks for the claim).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, Pod};
use kube::ResourceExt as _;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

use super::client::KubeClients;
use super::workloads::delete;
use crate::plan::ClaimSelector;
use crate::providers::volumes::{BoundVolume, ClaimInfo, ClaimProvider, StaticClaim, VolumeSource, WorkloadRef};
use crate::providers::{ErrorKind, Ownership, ProviderError};

/// The EBS CSI driver's name.
const EBS_CSI: &str = "ebs.csi.aws.com";
/// Zone labels a PersistentVolume's node affinity may use (CSI's, then the well-known one).
const ZONE_KEYS: &[&str] = &["topology.ebs.csi.aws.com/zone", "topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"];

/// Claims on EKS clusters through kube.
pub struct KubeClaims {
    clients: Arc<KubeClients>,
}

impl KubeClaims {
    /// A provider using the shared per-cluster clients.
    pub fn new(clients: Arc<KubeClients>) -> Self {
        KubeClaims { clients }
    }

    async fn api<K>(&self, cluster: &str, namespace: &str) -> Result<Api<K>, ProviderError>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Ok(Api::namespaced(self.clients.client(cluster).await?, namespace))
    }

    async fn volumes(&self, cluster: &str) -> Result<Api<PersistentVolume>, ProviderError> {
        Ok(Api::all(self.clients.client(cluster).await?))
    }

    async fn info(&self, cluster: &str, pvc: &PersistentVolumeClaim) -> Result<ClaimInfo, ProviderError> {
        let spec = pvc.spec.clone().unwrap_or_default();
        let volume = match spec.volume_name.as_deref().filter(|v| !v.is_empty()) {
            Some(name) => {
                let pv = self
                    .volumes(cluster)
                    .await?
                    .get_opt(name)
                    .await
                    .map_err(|e| self.clients.error(cluster, &format!("read persistent volume {name}"), e))?;
                pv.as_ref().map(bound_volume)
            }
            None => None,
        };
        Ok(ClaimInfo {
            namespace: pvc.namespace().unwrap_or_default(),
            name: pvc.name_any(),
            labels: pvc.labels().clone(),
            storage_class: spec.storage_class_name.clone(),
            access_modes: spec.access_modes.clone().unwrap_or_default(),
            size: spec
                .resources
                .as_ref()
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
                .map(|q| q.0.clone())
                .unwrap_or_default(),
            phase: pvc.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_else(|| "Pending".into()),
            volume,
        })
    }
}

/// What a PersistentVolume says about where its data is.
fn bound_volume(pv: &PersistentVolume) -> BoundVolume {
    let spec = pv.spec.clone().unwrap_or_default();
    let (source, fs_type) = if let Some(csi) = &spec.csi {
        if csi.driver == EBS_CSI {
            (VolumeSource::EbsCsi { volume_id: csi.volume_handle.clone() }, csi.fs_type.clone())
        } else {
            (VolumeSource::Other { what: format!("CSI driver {}", csi.driver) }, csi.fs_type.clone())
        }
    } else if let Some(ebs) = &spec.aws_elastic_block_store {
        // In-tree ids are `aws://ZONE/vol-…` or a bare `vol-…`.
        let id = ebs.volume_id.rsplit('/').next().unwrap_or(&ebs.volume_id).to_string();
        (VolumeSource::EbsInTree { volume_id: id }, ebs.fs_type.clone())
    } else {
        let what = if spec.nfs.is_some() {
            "NFS"
        } else if spec.host_path.is_some() {
            "hostPath"
        } else if spec.local.is_some() {
            "a local volume"
        } else {
            "not EBS"
        };
        (VolumeSource::Other { what: what.into() }, None)
    };
    let zone = spec
        .node_affinity
        .as_ref()
        .and_then(|a| a.required.as_ref())
        .and_then(|r| {
            r.node_selector_terms.iter().flat_map(|t| t.match_expressions.iter().flatten()).find_map(|e| {
                (ZONE_KEYS.contains(&e.key.as_str()) && e.operator == "In")
                    .then(|| e.values.as_ref().and_then(|v| v.first().cloned()))
                    .flatten()
            })
        });
    BoundVolume {
        name: pv.name_any(),
        reclaim_policy: spec.persistent_volume_reclaim_policy.unwrap_or_else(|| "Delete".into()),
        source,
        zone,
        fs_type,
    }
}

fn selector(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// Whether a pod mounts any of `claims`.
fn mounts(pod: &Pod, claims: &[String]) -> bool {
    pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()).any(|v| {
        v.persistent_volume_claim.as_ref().is_some_and(|c| claims.contains(&c.claim_name))
    })
}

fn owned_by(meta: &kube::api::ObjectMeta, kind: &str) -> Option<String> {
    meta.owner_references.iter().flatten().find(|o| o.kind == kind).map(|o| o.name.clone())
}

fn conflict(cluster: &str, what: String) -> ProviderError {
    ProviderError::new(
        ErrorKind::Conflict,
        format!("{what} already exists on cluster {cluster} and cutover did not make it; remove it or leave this claim out of spec.data.claims"),
    )
}

#[async_trait]
impl ClaimProvider for KubeClaims {
    async fn claims(&self, cluster: &str, sel: &ClaimSelector) -> Result<Vec<ClaimInfo>, ProviderError> {
        let api: Api<PersistentVolumeClaim> = self.api(cluster, &sel.namespace).await?;
        let found = match &sel.name {
            Some(name) => api
                .get_opt(name)
                .await
                .map_err(|e| self.clients.error(cluster, &format!("read claim {}/{name}", sel.namespace), e))?
                .into_iter()
                .collect(),
            None => {
                api.list(&ListParams::default().labels(&selector(&sel.labels)))
                    .await
                    .map_err(|e| self.clients.error(cluster, &format!("list claims in {}", sel.namespace), e))?
                    .items
            }
        };
        let mut out = Vec::new();
        for pvc in &found {
            out.push(self.info(cluster, pvc).await?);
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn claim(&self, cluster: &str, namespace: &str, name: &str) -> Result<Option<ClaimInfo>, ProviderError> {
        let api: Api<PersistentVolumeClaim> = self.api(cluster, namespace).await?;
        match api.get_opt(name).await.map_err(|e| self.clients.error(cluster, &format!("read claim {namespace}/{name}"), e))? {
            Some(pvc) => Ok(Some(self.info(cluster, &pvc).await?)),
            None => Ok(None),
        }
    }

    async fn set_reclaim_policy(&self, cluster: &str, volume: &str, policy: &str) -> Result<(), ProviderError> {
        let patch = json!({"spec": {"persistentVolumeReclaimPolicy": policy}});
        self.volumes(cluster)
            .await?
            .patch(volume, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| self.clients.error(cluster, &format!("set reclaim policy of {volume} to {policy}"), e))?;
        Ok(())
    }

    async fn claim_writers(&self, cluster: &str, namespace: &str, claims: &[String]) -> Result<Vec<WorkloadRef>, ProviderError> {
        let mut names: Vec<(String, String)> = Vec::new();
        // StatefulSets whose claim templates make these claims (`<template>-<set>-<ordinal>`),
        // also when scaled to zero (no pod to find them by).
        let sets: Api<StatefulSet> = self.api(cluster, namespace).await?;
        let sets = sets.list(&ListParams::default()).await.map_err(|e| self.clients.error(cluster, "list statefulsets", e))?;
        for set in &sets.items {
            let name = set.name_any();
            let templates = set.spec.iter().flat_map(|s| s.volume_claim_templates.iter().flatten());
            let makes = templates.into_iter().any(|t| {
                let prefix = format!("{}-{name}-", t.name_any());
                claims.iter().any(|c| c.strip_prefix(&prefix).is_some_and(|n| n.parse::<u32>().is_ok()))
            });
            if makes {
                names.push(("StatefulSet".into(), name));
            }
        }
        // Pods mounting a claim directly: their StatefulSet, or the Deployment of their ReplicaSet.
        let pods: Api<Pod> = self.api(cluster, namespace).await?;
        let pods = pods.list(&ListParams::default()).await.map_err(|e| self.clients.error(cluster, "list pods", e))?;
        let sets_api: Api<ReplicaSet> = self.api(cluster, namespace).await?;
        for pod in pods.items.iter().filter(|p| mounts(p, claims)) {
            if let Some(set) = owned_by(&pod.metadata, "StatefulSet") {
                names.push(("StatefulSet".into(), set));
            } else if let Some(rs) = owned_by(&pod.metadata, "ReplicaSet") {
                let rs = sets_api.get_opt(&rs).await.map_err(|e| self.clients.error(cluster, "read replicaset", e))?;
                if let Some(dep) = rs.and_then(|rs| owned_by(&rs.metadata, "Deployment")) {
                    names.push(("Deployment".into(), dep));
                }
            } else {
                return Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!("pod {namespace}/{} mounts a selected claim but no StatefulSet or Deployment owns it; cutover cannot stop it for quiesce", pod.name_any()),
                ));
            }
        }
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for (kind, name) in names {
            let replicas = if kind == "StatefulSet" {
                let api: Api<StatefulSet> = self.api(cluster, namespace).await?;
                api.get(&name).await.map_err(|e| self.clients.error(cluster, &format!("read statefulset {name}"), e))?.spec.and_then(|s| s.replicas)
            } else {
                let api: Api<Deployment> = self.api(cluster, namespace).await?;
                api.get(&name).await.map_err(|e| self.clients.error(cluster, &format!("read deployment {name}"), e))?.spec.and_then(|s| s.replicas)
            };
            out.push(WorkloadRef { kind, namespace: namespace.to_string(), name, replicas: replicas.unwrap_or(1) });
        }
        Ok(out)
    }

    async fn scale(&self, cluster: &str, w: &WorkloadRef, replicas: i32) -> Result<(), ProviderError> {
        let patch = json!({"spec": {"replicas": replicas}});
        let what = format!("scale {} {}/{} to {replicas}", w.kind, w.namespace, w.name);
        let result = if w.kind == "StatefulSet" {
            let api: Api<StatefulSet> = self.api(cluster, &w.namespace).await?;
            api.patch(&w.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
        } else {
            let api: Api<Deployment> = self.api(cluster, &w.namespace).await?;
            api.patch(&w.name, &PatchParams::default(), &Patch::Merge(&patch)).await.map(|_| ())
        };
        result.map_err(|e| self.clients.error(cluster, &what, e))
    }

    async fn pods_using(&self, cluster: &str, namespace: &str, claims: &[String]) -> Result<usize, ProviderError> {
        let pods: Api<Pod> = self.api(cluster, namespace).await?;
        let pods = pods.list(&ListParams::default()).await.map_err(|e| self.clients.error(cluster, "list pods", e))?;
        Ok(pods.items.iter().filter(|p| mounts(p, claims)).count())
    }

    async fn create_static_claim(&self, cluster: &str, c: &StaticClaim, own: &Ownership) -> Result<(), ProviderError> {
        let mut labels = c.labels.clone();
        labels.extend(own.tags().into_iter().map(|(k, v)| (k, label_value(&v))));
        // The claim goes in before its release, so its namespace may not exist yet (helm adopts
        // an existing one with --create-namespace).
        let namespaces: Api<Namespace> = Api::all(self.clients.client(cluster).await?);
        let ns: Namespace = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": c.namespace}}))
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, format!("namespace {}: {e}", c.namespace)))?;
        create(&namespaces, &ns).await.map_err(|e| self.clients.error(cluster, &format!("create namespace {}", c.namespace), e))?;
        let volumes = self.volumes(cluster).await?;
        let claims: Api<PersistentVolumeClaim> = self.api(cluster, &c.namespace).await?;
        match volumes.get_opt(&c.volume_name).await.map_err(|e| self.clients.error(cluster, "read persistent volume", e))? {
            Some(pv) if !owns(own, pv.labels()) => return Err(conflict(cluster, format!("persistent volume {}", c.volume_name))),
            Some(_) => {}
            None => {
                let pv: PersistentVolume = serde_json::from_value(persistent_volume(c, &labels)).map_err(|e| {
                    ProviderError::new(ErrorKind::Invalid, format!("persistent volume for {}/{}: {e}", c.namespace, c.name))
                })?;
                create(&volumes, &pv).await.map_err(|e| self.clients.error(cluster, &format!("create persistent volume {}", c.volume_name), e))?;
            }
        }
        match claims.get_opt(&c.name).await.map_err(|e| self.clients.error(cluster, "read claim", e))? {
            Some(pvc) if !owns(own, pvc.labels()) => Err(conflict(cluster, format!("claim {}/{}", c.namespace, c.name))),
            Some(_) => Ok(()),
            None => {
                let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": c.name, "namespace": c.namespace, "labels": labels},
                    "spec": {
                        "accessModes": c.access_modes,
                        "storageClassName": c.storage_class.clone().unwrap_or_default(),
                        "volumeName": c.volume_name,
                        "resources": {"requests": {"storage": c.size}},
                    },
                }))
                .map_err(|e| ProviderError::new(ErrorKind::Invalid, format!("claim {}/{}: {e}", c.namespace, c.name)))?;
                create(&claims, &pvc).await.map_err(|e| self.clients.error(cluster, &format!("create claim {}/{}", c.namespace, c.name), e))
            }
        }
    }

    async fn delete_static_claim(&self, cluster: &str, c: &StaticClaim, own: &Ownership) -> Result<(), ProviderError> {
        let claims: Api<PersistentVolumeClaim> = self.api(cluster, &c.namespace).await?;
        if let Some(pvc) = claims.get_opt(&c.name).await.map_err(|e| self.clients.error(cluster, "read claim", e))?
            && owns(own, pvc.labels())
        {
            delete(&claims, &c.name).await.map_err(|e| self.clients.error(cluster, &format!("delete claim {}/{}", c.namespace, c.name), e))?;
        }
        let volumes = self.volumes(cluster).await?;
        if let Some(pv) = volumes.get_opt(&c.volume_name).await.map_err(|e| self.clients.error(cluster, "read persistent volume", e))?
            && owns(own, pv.labels())
        {
            delete(&volumes, &c.volume_name).await.map_err(|e| self.clients.error(cluster, &format!("delete persistent volume {}", c.volume_name), e))?;
        }
        Ok(())
    }
}

/// Label values allow fewer characters than tags; run ids and plan names fit already.
fn label_value(v: &str) -> String {
    v.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '-' }).take(63).collect()
}

fn owns(own: &Ownership, labels: &BTreeMap<String, String>) -> bool {
    let mine: BTreeMap<String, String> = own.tags().into_iter().map(|(k, v)| (k, label_value(&v))).collect();
    mine.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The static PersistentVolume: the EBS volume, pinned to its zone, reserved for the claim, and
/// `Retain` so that deleting the claim never deletes the volume (cutover deletes what it made).
fn persistent_volume(c: &StaticClaim, labels: &BTreeMap<String, String>) -> serde_json::Value {
    let (source, zone_key) = if c.csi {
        (json!({"csi": {"driver": EBS_CSI, "volumeHandle": c.volume_id, "fsType": c.fs_type.clone().unwrap_or_else(|| "ext4".into())}}), ZONE_KEYS[0])
    } else {
        (json!({"awsElasticBlockStore": {"volumeID": format!("aws://{}/{}", c.zone, c.volume_id), "fsType": c.fs_type.clone().unwrap_or_else(|| "ext4".into())}}), ZONE_KEYS[1])
    };
    let mut spec = json!({
        "capacity": {"storage": c.size},
        "accessModes": c.access_modes,
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": c.storage_class.clone().unwrap_or_default(),
        "claimRef": {"namespace": c.namespace, "name": c.name},
        "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": zone_key, "operator": "In", "values": [c.zone]}]}]}},
    });
    if let (Some(spec), Some(source)) = (spec.as_object_mut(), source.as_object()) {
        spec.extend(source.clone());
    }
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": c.volume_name, "labels": labels},
        "spec": spec,
    })
}

async fn create<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: kube::Resource + Clone + serde::Serialize + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e),
    }
}
