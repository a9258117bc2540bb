//! Updates (UpdateClusterVersion, UpdateNodegroupConfig): DescribeUpdate, ListUpdates and their
//! wire form. An update of a node group or add-on is only found when the call names it, as in EKS.

use serde_json::{Value, json};

use super::api::{Query, page_body, paginate};
use super::clusters::not_found;
use super::errors::{EksError, EksResult};
use super::model::Update;
use super::{Eks, epoch_secs};

pub fn describe(eks: &Eks, cluster: &str, id: &str, q: &Query) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let u = c
        .updates
        .get(id)
        .filter(|u| u.nodegroup.as_deref() == q.get("nodegroupName") && u.addon.as_deref() == q.get("addonName"))
        .ok_or_else(|| {
            EksError::not_found(format!(
                "No update found for ID: {id} on cluster {cluster} (a node group or add-on update needs nodegroupName or addonName)"
            ))
        })?;
    Ok(json!({ "update": to_json(u) }))
}

pub fn list(eks: &Eks, cluster: &str, q: &Query) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let mut ids: Vec<(u64, String)> = c
        .updates
        .values()
        .filter(|u| {
            u.nodegroup.as_deref() == q.get("nodegroupName")
                && u.addon.as_deref() == q.get("addonName")
        })
        .map(|u| (u.created_at_ms, u.id.clone()))
        .collect();
    ids.sort();
    // Page over "<created>-<id>" so order is by time, then strip the prefix.
    let keys = ids.iter().map(|(t, id)| format!("{t:020}-{id}")).collect();
    let (page, next) = paginate(keys, q, 100)?;
    let page = page.into_iter().map(|k| k[21..].to_string()).collect();
    Ok(page_body("updateIds", page, next))
}

pub fn to_json(u: &Update) -> Value {
    json!({
        "id": u.id,
        "status": u.status,
        "type": u.kind,
        "params": u.params.iter().map(|(t, v)| json!({"type": t, "value": v})).collect::<Vec<_>>(),
        "createdAt": epoch_secs(u.created_at_ms),
        "errors": [],
    })
}
