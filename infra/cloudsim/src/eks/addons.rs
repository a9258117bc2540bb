//! EKS add-ons: CreateAddon, DescribeAddon, ListAddons, DeleteAddon. Names and versions come from
//! the [`catalog`](super::catalog): an unknown name, or a version that does not run on the
//! cluster's Kubernetes version, is refused as EKS refuses it.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Query, page_body, paginate};
use super::clusters::{check_iam_arn, not_found};
use super::errors::{EksError, EksResult, ErrorKind};
use super::model::{Addon, Change, Pending, PodIdentityAssociation};
use super::{Eks, catalog, epoch_secs, new_id, pod_identity, tags};
use crate::profile::LatencyKind;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAddonRequest {
    addon_name: Option<String>,
    addon_version: Option<String>,
    service_account_role_arn: Option<String>,
    #[serde(default)]
    pod_identity_associations: Vec<AddonPodIdentity>,
    resolve_conflicts: Option<String>,
    client_request_token: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    configuration_values: Option<String>,
}

/// One of CreateAddon's `podIdentityAssociations`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddonPodIdentity {
    service_account: String,
    role_arn: String,
}

/// Managed add-ons run in kube-system, except these (EKS's documented namespaces).
fn addon_namespace(name: &str) -> &'static str {
    match name {
        "amazon-cloudwatch-observability" => "amazon-cloudwatch",
        "aws-guardduty-agent" => "amazon-guardduty",
        "adot" => "opentelemetry-operator-system",
        _ => "kube-system",
    }
}

pub fn create(eks: &Eks, cluster: &str, req: CreateAddonRequest) -> EksResult<Value> {
    let name = req
        .addon_name
        .ok_or_else(|| EksError::invalid("addonName is required"))?;
    if let Some(role) = &req.service_account_role_arn {
        check_iam_arn("serviceAccountRoleArn", role, "role")?;
    }
    if let Some(r) = &req.resolve_conflicts
        && !["NONE", "OVERWRITE", "PRESERVE"].contains(&r.as_str())
    {
        return Err(EksError::invalid(format!(
            "resolveConflicts must be NONE, OVERWRITE or PRESERVE, got {r:?}"
        )));
    }
    if let Some(cfg) = &req.configuration_values
        && cfg.trim_start().starts_with('{')
        && serde_json::from_str::<Value>(cfg).is_err()
    {
        return Err(EksError::invalid("configurationValues is not valid JSON"));
    }
    tags::validate(&req.tags, ErrorKind::InvalidParameter)?;

    let mut st = eks.state();
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
    let spec = catalog::find(&name, &c.version)?;
    if let Some(existing) = c.addons.get(&name) {
        if req.client_request_token.is_some()
            && existing.client_request_token == req.client_request_token
        {
            return Ok(json!({ "addon": to_json(cluster, existing, &c.pod_identity_associations) }));
        }
        return Err(EksError::in_use(format!(
            "Addon {name} already exists on cluster {cluster}"
        )));
    }
    let version = match req.addon_version {
        Some(v) => {
            spec.check_version(&v, &c.version)?;
            v
        }
        None => spec.default_version(&c.version)?.to_string(),
    };
    let now = eks.time.now_ms();
    let arn = eks.arn(&format!("addon/{cluster}/{name}/{}", new_id()));
    let entries: Vec<(String, String)> = req
        .pod_identity_associations
        .into_iter()
        .map(|p| (p.service_account, p.role_arn))
        .collect();
    let pod_identity_association_ids =
        pod_identity::create_for_addon(eks, c, cluster, &arn, addon_namespace(&name), &entries)?;
    let addon = Addon {
        arn,
        pod_identity_association_ids,
        name: name.clone(),
        created_at_ms: now,
        modified_at_ms: now,
        version,
        status: "CREATING".into(),
        service_account_role_arn: req.service_account_role_arn,
        configuration_values: req.configuration_values,
        client_request_token: req.client_request_token,
        tags: req.tags,
        pending: Some(Pending {
            due_ms: eks.due_in(LatencyKind::AddonCreate, &format!("{cluster}/{name}")),
            change: Change::Create,
        }),
    };
    let body = json!({ "addon": to_json(cluster, &addon, &c.pod_identity_associations) });
    c.addons.insert(name.clone(), addon);
    drop(st);
    eks.env
        .events
        .record("addon-creating", Some(cluster), json!({"addon": name}));
    Ok(body)
}

pub fn describe(eks: &Eks, cluster: &str, name: &str) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let a = c
        .addons
        .get(name)
        .ok_or_else(|| addon_not_found(cluster, name))?;
    Ok(json!({ "addon": to_json(cluster, a, &c.pod_identity_associations) }))
}

pub fn list(eks: &Eks, cluster: &str, q: &Query) -> EksResult<Value> {
    let names = {
        let st = eks.state();
        st.clusters
            .get(cluster)
            .ok_or_else(|| not_found(cluster))?
            .addons
            .keys()
            .cloned()
            .collect()
    };
    let (page, next) = paginate(names, q, 100)?;
    Ok(page_body("addons", page, next))
}

pub fn delete(eks: &Eks, cluster: &str, name: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    let a = c
        .addons
        .get_mut(name)
        .ok_or_else(|| addon_not_found(cluster, name))?;
    match a.status.as_str() {
        "DELETING" => return Ok(json!({ "addon": to_json(cluster, a, &c.pod_identity_associations) })),
        "CREATING" | "UPDATING" => {
            return Err(EksError::in_use(format!(
                "Addon {name} is currently {}; wait until it settles before deleting it",
                a.status
            )));
        }
        _ => {}
    }
    a.status = "DELETING".into();
    a.modified_at_ms = eks.time.now_ms();
    // The add-on's Pod Identity associations go with it.
    let owned = std::mem::take(&mut a.pod_identity_association_ids);
    a.pending = Some(Pending {
        due_ms: eks.due_in(LatencyKind::AddonDelete, &format!("{cluster}/{name}")),
        change: Change::Delete,
    });
    let body = json!({ "addon": to_json(cluster, a, &c.pod_identity_associations) });
    for id in owned {
        c.pod_identity_associations.remove(&id);
    }
    drop(st);
    eks.env
        .events
        .record("addon-deleting", Some(cluster), json!({"addon": name}));
    Ok(body)
}

fn addon_not_found(cluster: &str, name: &str) -> EksError {
    EksError::not_found(format!("No addon: {name} found in cluster: {cluster}"))
}

pub fn to_json(
    cluster: &str,
    a: &Addon,
    associations: &BTreeMap<String, PodIdentityAssociation>,
) -> Value {
    let mut v = json!({
        "addonName": a.name,
        "clusterName": cluster,
        "status": a.status,
        "addonVersion": a.version,
        "health": {"issues": []},
        "addonArn": a.arn,
        "createdAt": epoch_secs(a.created_at_ms),
        "modifiedAt": epoch_secs(a.modified_at_ms),
        "tags": a.tags,
    });
    if let Some(role) = &a.service_account_role_arn {
        v["serviceAccountRoleArn"] = json!(role);
    }
    if let Some(cfg) = &a.configuration_values {
        v["configurationValues"] = json!(cfg);
    }
    // EKS lists the associations' ARNs.
    let arns: Vec<&str> = a
        .pod_identity_association_ids
        .iter()
        .filter_map(|id| associations.get(id).map(|p| p.arn.as_str()))
        .collect();
    if !arns.is_empty() {
        v["podIdentityAssociations"] = json!(arns);
    }
    v
}
