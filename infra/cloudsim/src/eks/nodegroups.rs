//! Managed node groups: CreateNodegroup, DescribeNodegroup, ListNodegroups, DeleteNodegroup,
//! UpdateNodegroupConfig, and how a node group looks on the wire. The Nodes themselves are the
//! Kubernetes half's (synced by the lifecycle when the node group turns ACTIVE or is rescaled).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Query, page_body, paginate};
use super::clusters::{check_iam_arn, not_found};
use super::errors::{EksError, EksResult, ErrorKind};
use super::model::{Change, Cluster, Nodegroup, NodegroupChange, Pending, Scaling, Taint, Update};
use super::{Eks, check_name, epoch_secs, new_id, tags, updates};
use crate::profile::LatencyKind;

const CAPACITY_TYPES: &[&str] = &["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"];
const TAINT_EFFECTS: &[&str] = &["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateNodegroupRequest {
    nodegroup_name: Option<String>,
    scaling_config: Option<ScalingRequest>,
    disk_size: Option<u32>,
    #[serde(default)]
    subnets: Vec<String>,
    instance_types: Option<Vec<String>>,
    ami_type: Option<String>,
    node_role: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    taints: Vec<Taint>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    client_request_token: Option<String>,
    update_config: Option<UpdateConfigRequest>,
    capacity_type: Option<String>,
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScalingRequest {
    min_size: Option<u32>,
    max_size: Option<u32>,
    desired_size: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateConfigRequest {
    max_unavailable: Option<u32>,
    max_unavailable_percentage: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateConfigBody {
    labels: Option<LabelsPayload>,
    taints: Option<TaintsPayload>,
    scaling_config: Option<ScalingRequest>,
    update_config: Option<UpdateConfigRequest>,
    client_request_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct LabelsPayload {
    #[serde(default)]
    add_or_update_labels: BTreeMap<String, String>,
    #[serde(default)]
    remove_labels: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaintsPayload {
    #[serde(default)]
    add_or_update_taints: Vec<Taint>,
    #[serde(default)]
    remove_taints: Vec<Taint>,
}

fn active_cluster<'a>(
    st: &'a mut super::model::EksState,
    cluster: &str,
) -> EksResult<&'a mut Cluster> {
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    if c.status != "ACTIVE" && c.status != "UPDATING" {
        return Err(EksError::bad_state(format!(
            "Cluster '{cluster}' is not in ACTIVE state (it is {})",
            c.status
        )));
    }
    Ok(c)
}

pub fn create(eks: &Eks, cluster: &str, req: CreateNodegroupRequest) -> EksResult<Value> {
    let name = req
        .nodegroup_name
        .ok_or_else(|| EksError::invalid("nodegroupName is required"))?;
    check_name("node group", &name)?;
    let node_role = req
        .node_role
        .ok_or_else(|| EksError::invalid("nodeRole is required: the IAM role of the nodes"))?;
    check_iam_arn("nodeRole", &node_role, "role")?;
    if req.subnets.is_empty() {
        return Err(EksError::invalid(
            "subnets is required: name at least one subnet for the nodes",
        ));
    }
    // EKS: all three sizes or none (then 2/2/2).
    let scaling = match req.scaling_config {
        None => Scaling {
            min_size: 2,
            max_size: 2,
            desired_size: 2,
        },
        Some(ScalingRequest {
            min_size: Some(min_size),
            max_size: Some(max_size),
            desired_size: Some(desired_size),
        }) => Scaling {
            min_size,
            max_size,
            desired_size,
        },
        Some(_) => {
            return Err(EksError::invalid(
                "scalingConfig at creation needs all of minSize, maxSize and desiredSize (or none)",
            ));
        }
    };
    check_scaling(&scaling)?;
    let capacity_type = req.capacity_type.unwrap_or_else(|| "ON_DEMAND".into());
    if !CAPACITY_TYPES.contains(&capacity_type.as_str()) {
        return Err(EksError::invalid(format!(
            "capacityType must be one of {CAPACITY_TYPES:?}, got {capacity_type:?}"
        )));
    }
    check_taints(&req.taints)?;
    tags::validate(&req.tags, ErrorKind::InvalidParameter)?;
    let instance_types = req
        .instance_types
        .unwrap_or_else(|| vec!["t3.medium".into()]);
    if instance_types.is_empty() {
        return Err(EksError::invalid(
            "instanceTypes must name at least one instance type when given",
        ));
    }

    let mut st = eks.state();
    let c = active_cluster(&mut st, cluster)?;
    if let Some(existing) = c.nodegroups.get(&name) {
        if req.client_request_token.is_some()
            && existing.client_request_token == req.client_request_token
        {
            return Ok(json!({ "nodegroup": to_json(cluster, existing) }));
        }
        return Err(EksError::in_use(format!(
            "NodeGroup already exists with name {name} and cluster name {cluster}"
        )));
    }
    // Without a launch template (cloudsim has none) the cluster's version is the only one accepted.
    let version = req.version.unwrap_or_else(|| c.version.clone());
    if version != c.version {
        return Err(EksError::invalid(format!(
            "node group version {version:?} must be the cluster's version {}",
            c.version
        )));
    }
    let now = eks.time.now_ms();
    let id = new_id();
    let uc = req.update_config;
    let ng = Nodegroup {
        name: name.clone(),
        arn: eks.arn(&format!("nodegroup/{cluster}/{name}/{id}")),
        created_at_ms: now,
        modified_at_ms: now,
        release_version: format!("{version}.0-cloudsim"),
        version,
        status: "CREATING".into(),
        capacity_type,
        scaling,
        instance_types,
        zones: eks.env.zones_of(&req.subnets),
        subnets: req.subnets,
        ami_type: req
            .ami_type
            .unwrap_or_else(|| "AL2023_x86_64_STANDARD".into()),
        node_role,
        labels: req.labels,
        taints: req.taints,
        disk_size: req.disk_size.unwrap_or(20),
        max_unavailable: uc.as_ref().map_or(Some(1), |u| u.max_unavailable),
        max_unavailable_percentage: uc.as_ref().and_then(|u| u.max_unavailable_percentage),
        asg_name: format!("eks-{name}-{id}"),
        client_request_token: req.client_request_token,
        tags: req.tags,
        health_issues: Vec::new(),
        pending: Some(Pending {
            due_ms: eks.due_in(LatencyKind::NodegroupCreate, &format!("{cluster}/{name}")),
            change: Change::Create,
        }),
    };
    let body = json!({ "nodegroup": to_json(cluster, &ng) });
    c.nodegroups.insert(name.clone(), ng);
    drop(st);
    eks.env.events.record(
        "nodegroup-creating",
        Some(cluster),
        json!({"nodegroup": name}),
    );
    Ok(body)
}

pub fn describe(eks: &Eks, cluster: &str, name: &str) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let ng = c.nodegroups.get(name).ok_or_else(|| ng_not_found(name))?;
    Ok(json!({ "nodegroup": to_json(cluster, ng) }))
}

pub fn list(eks: &Eks, cluster: &str, q: &Query) -> EksResult<Value> {
    let names = {
        let st = eks.state();
        st.clusters
            .get(cluster)
            .ok_or_else(|| not_found(cluster))?
            .nodegroups
            .keys()
            .cloned()
            .collect()
    };
    let (page, next) = paginate(names, q, 100)?;
    Ok(page_body("nodegroups", page, next))
}

pub fn delete(eks: &Eks, cluster: &str, name: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    let ng = c
        .nodegroups
        .get_mut(name)
        .ok_or_else(|| ng_not_found(name))?;
    match ng.status.as_str() {
        "DELETING" => return Ok(json!({ "nodegroup": to_json(cluster, ng) })),
        "CREATING" | "UPDATING" => {
            return Err(EksError::in_use(format!(
                "Nodegroup {name} is currently {}; wait until it settles before deleting it",
                ng.status
            )));
        }
        _ => {}
    }
    ng.status = "DELETING".into();
    ng.modified_at_ms = eks.time.now_ms();
    ng.pending = Some(Pending {
        due_ms: eks.due_in(LatencyKind::NodegroupDelete, &format!("{cluster}/{name}")),
        change: Change::Delete,
    });
    let body = json!({ "nodegroup": to_json(cluster, ng) });
    drop(st);
    eks.env.events.record(
        "nodegroup-deleting",
        Some(cluster),
        json!({"nodegroup": name}),
    );
    Ok(body)
}

pub fn update_config(
    eks: &Eks,
    cluster: &str,
    name: &str,
    req: UpdateConfigBody,
) -> EksResult<Value> {
    let mut st = eks.state();
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    if let Some(token) = &req.client_request_token
        && let Some(u) = c
            .updates
            .values()
            .find(|u| u.client_request_token.as_ref() == Some(token))
    {
        return Ok(json!({ "update": updates::to_json(u) }));
    }
    let ng = c
        .nodegroups
        .get_mut(name)
        .ok_or_else(|| ng_not_found(name))?;
    if ng.status != "ACTIVE" {
        return Err(EksError::in_use(format!(
            "Nodegroup {name} is {}; only an ACTIVE node group can be updated",
            ng.status
        )));
    }
    let labels = req.labels.unwrap_or_default();
    let taints = req.taints.unwrap_or_default();
    check_taints(&taints.add_or_update_taints)?;
    let scaling = req.scaling_config.map(|s| Scaling {
        min_size: s.min_size.unwrap_or(ng.scaling.min_size),
        max_size: s.max_size.unwrap_or(ng.scaling.max_size),
        desired_size: s.desired_size.unwrap_or(ng.scaling.desired_size),
    });
    if let Some(s) = &scaling {
        check_scaling(s)?;
    }
    let change = NodegroupChange {
        scaling: scaling.filter(|s| *s != ng.scaling),
        labels_add: labels.add_or_update_labels,
        labels_remove: labels.remove_labels,
        taints_add: taints.add_or_update_taints,
        taints_remove: taints.remove_taints,
        max_unavailable: req.update_config.as_ref().and_then(|u| u.max_unavailable),
        max_unavailable_percentage: req
            .update_config
            .as_ref()
            .and_then(|u| u.max_unavailable_percentage),
    };
    let params = change_params(&change);
    if params.is_empty() {
        return Err(EksError::invalid(
            "No changes needed: the request changes no scaling, labels, taints or update config",
        ));
    }
    let update = Update {
        id: new_id(),
        status: "InProgress".into(),
        kind: "ConfigUpdate".into(),
        params,
        created_at_ms: eks.time.now_ms(),
        nodegroup: Some(name.to_string()),
        addon: None,
        client_request_token: req.client_request_token,
    };
    ng.status = "UPDATING".into();
    ng.modified_at_ms = update.created_at_ms;
    ng.pending = Some(Pending {
        due_ms: eks.due_in(
            LatencyKind::NodegroupUpdate,
            &format!("{cluster}/{name}/{}", update.id),
        ),
        change: Change::NodegroupConfig {
            update_id: update.id.clone(),
            change,
        },
    });
    let body = json!({ "update": updates::to_json(&update) });
    let id = update.id.clone();
    c.updates.insert(update.id.clone(), update);
    drop(st);
    eks.env.events.record(
        "nodegroup-updating",
        Some(cluster),
        json!({"nodegroup": name, "updateId": id}),
    );
    Ok(body)
}

/// The `params` of a ConfigUpdate, as EKS lists them.
fn change_params(ch: &NodegroupChange) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = Vec::new();
    if let Some(s) = ch.scaling {
        p.push(("MinSize".into(), s.min_size.to_string()));
        p.push(("MaxSize".into(), s.max_size.to_string()));
        p.push(("DesiredSize".into(), s.desired_size.to_string()));
    }
    if !ch.labels_add.is_empty() {
        p.push(("LabelsToAdd".into(), json_of(&ch.labels_add)));
    }
    if !ch.labels_remove.is_empty() {
        p.push(("LabelsToRemove".into(), json_of(&ch.labels_remove)));
    }
    if !ch.taints_add.is_empty() {
        p.push(("TaintsToAdd".into(), json_of(&ch.taints_add)));
    }
    if !ch.taints_remove.is_empty() {
        p.push(("TaintsToRemove".into(), json_of(&ch.taints_remove)));
    }
    if let Some(n) = ch.max_unavailable {
        p.push(("MaxUnavailable".into(), n.to_string()));
    }
    if let Some(n) = ch.max_unavailable_percentage {
        p.push(("MaxUnavailablePercentage".into(), n.to_string()));
    }
    p
}

fn json_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serializable")
}

fn check_scaling(s: &Scaling) -> EksResult<()> {
    if s.max_size < 1 || s.min_size > s.desired_size || s.desired_size > s.max_size {
        return Err(EksError::invalid(format!(
            "scalingConfig must satisfy 0 <= minSize <= desiredSize <= maxSize and maxSize >= 1 (got min {}, desired {}, max {})",
            s.min_size, s.desired_size, s.max_size
        )));
    }
    Ok(())
}

fn check_taints(taints: &[Taint]) -> EksResult<()> {
    if taints.len() > 50 {
        return Err(EksError::invalid("a node group can have at most 50 taints"));
    }
    match taints
        .iter()
        .find(|t| t.key.is_empty() || !TAINT_EFFECTS.contains(&t.effect.as_str()))
    {
        Some(t) => Err(EksError::invalid(format!(
            "taint {:?} needs a key and an effect from {TAINT_EFFECTS:?}",
            t.key
        ))),
        None => Ok(()),
    }
}

fn ng_not_found(name: &str) -> EksError {
    EksError::not_found(format!("No node group found for name: {name}."))
}

pub fn to_json(cluster: &str, ng: &Nodegroup) -> Value {
    let mut update_config = json!({});
    if let Some(n) = ng.max_unavailable {
        update_config["maxUnavailable"] = json!(n);
    }
    if let Some(n) = ng.max_unavailable_percentage {
        update_config["maxUnavailablePercentage"] = json!(n);
    }
    json!({
        "nodegroupName": ng.name,
        "nodegroupArn": ng.arn,
        "clusterName": cluster,
        "version": ng.version,
        "releaseVersion": ng.release_version,
        "createdAt": epoch_secs(ng.created_at_ms),
        "modifiedAt": epoch_secs(ng.modified_at_ms),
        "status": ng.status,
        "capacityType": ng.capacity_type,
        "scalingConfig": {"minSize": ng.scaling.min_size, "maxSize": ng.scaling.max_size, "desiredSize": ng.scaling.desired_size},
        "instanceTypes": ng.instance_types,
        "subnets": ng.subnets,
        "amiType": ng.ami_type,
        "nodeRole": ng.node_role,
        "labels": ng.labels,
        "taints": ng.taints,
        "resources": {"autoScalingGroups": [{"name": ng.asg_name}]},
        "diskSize": ng.disk_size,
        "health": {"issues": ng.health_issues.iter().map(|i| json!({"code": i.code, "message": i.message, "resourceIds": i.resource_ids})).collect::<Vec<_>>()},
        "updateConfig": update_config,
        "tags": ng.tags,
    })
}
