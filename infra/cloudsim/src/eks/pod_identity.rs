//! EKS Pod Identity associations (a Kubernetes service account ↔ an IAM role):
//! Create/Describe/List/Update/DeletePodIdentityAssociation.
//!
//! As in EKS: one association per namespace + service account (a second is
//! `ResourceInUseException`), ids `a-` + 17 lowercase letters and digits, changes take effect at
//! once (no CREATING state), and the associations go with their cluster when it is deleted (they
//! do not hold the deletion up, unlike node groups). They are bookkeeping: the Kubernetes half
//! injects no credentials into pods.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Query, page_body_with, paginate};
use super::clusters::{check_iam_arn, not_found};
use super::errors::{EksError, EksResult, ErrorKind};
use super::model::{Cluster, EksState, PodIdentityAssociation};
use super::{Eks, epoch_secs, new_id, tags};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    namespace: Option<String>,
    service_account: Option<String>,
    role_arn: Option<String>,
    target_role_arn: Option<String>,
    policy: Option<String>,
    disable_session_tags: Option<bool>,
    client_request_token: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRequest {
    role_arn: Option<String>,
    target_role_arn: Option<String>,
    policy: Option<String>,
    disable_session_tags: Option<bool>,
    // clientRequestToken is ignored: an update sets absolute values, so repeating it converges.
}

/// `a-` and 17 lowercase letters and digits, as EKS makes them.
fn new_association_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let tail: String = (0..17)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect();
    format!("a-{tail}")
}

fn usable_cluster<'a>(st: &'a mut EksState, cluster: &str) -> EksResult<&'a mut Cluster> {
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    match c.status.as_str() {
        "ACTIVE" | "UPDATING" => Ok(c),
        other => Err(EksError::bad_state(format!(
            "Cluster '{cluster}' is {other}; Pod Identity associations need an ACTIVE cluster"
        ))),
    }
}

fn association_not_found(cluster: &str, id: &str) -> EksError {
    EksError::not_found(format!(
        "No Pod Identity association found for id: {id} in cluster: {cluster}"
    ))
}

fn check_policy(policy: &Option<String>) -> EksResult<()> {
    match policy {
        Some(p) if serde_json::from_str::<Value>(p).is_err() => Err(EksError::invalid(
            "policy is not a valid JSON IAM session policy",
        )),
        _ => Ok(()),
    }
}

pub fn create(eks: &Eks, cluster: &str, req: CreateRequest) -> EksResult<Value> {
    let required = |v: Option<String>, field: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| EksError::invalid(format!("{field} is required")))
    };
    let namespace = required(req.namespace, "namespace")?;
    let service_account = required(req.service_account, "serviceAccount")?;
    let role_arn = required(req.role_arn, "roleArn")?;
    check_iam_arn("roleArn", &role_arn, "role")?;
    if let Some(target) = &req.target_role_arn {
        check_iam_arn("targetRoleArn", target, "role")?;
    }
    check_policy(&req.policy)?;
    tags::validate(&req.tags, ErrorKind::InvalidParameter)?;

    let mut st = eks.state();
    let c = usable_cluster(&mut st, cluster)?;
    if let Some(existing) = c
        .pod_identity_associations
        .values()
        .find(|a| a.namespace == namespace && a.service_account == service_account)
    {
        if req.client_request_token.is_some()
            && existing.client_request_token == req.client_request_token
        {
            return Ok(json!({ "association": to_json(cluster, existing) }));
        }
        return Err(EksError::in_use(format!(
            "Association already exists: {} for namespace {namespace} and service account {service_account}",
            existing.id
        )));
    }
    let now = eks.time.now_ms();
    let id = new_association_id();
    let association = PodIdentityAssociation {
        arn: eks.arn(&format!("podidentityassociation/{cluster}/{id}")),
        id: id.clone(),
        namespace,
        service_account,
        role_arn,
        external_id: req.target_role_arn.as_ref().map(|_| new_id()),
        target_role_arn: req.target_role_arn,
        policy: req.policy,
        disable_session_tags: req.disable_session_tags.unwrap_or(false),
        created_at_ms: now,
        modified_at_ms: now,
        tags: req.tags,
        client_request_token: req.client_request_token,
        owner_arn: None,
    };
    let body = json!({ "association": to_json(cluster, &association) });
    c.pod_identity_associations.insert(id.clone(), association);
    drop(st);
    eks.env.events.record(
        "pod-identity-association-created",
        Some(cluster),
        json!({"associationId": id}),
    );
    Ok(body)
}

pub fn describe(eks: &Eks, cluster: &str, id: &str) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let a = c
        .pod_identity_associations
        .get(id)
        .ok_or_else(|| association_not_found(cluster, id))?;
    Ok(json!({ "association": to_json(cluster, a) }))
}

/// Filters `namespace` and `serviceAccount`; paged by association id.
pub fn list(eks: &Eks, cluster: &str, q: &Query) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let ids = c
        .pod_identity_associations
        .values()
        .filter(|a| q.get("namespace").is_none_or(|n| n == a.namespace))
        .filter(|a| {
            q.get("serviceAccount")
                .is_none_or(|s| s == a.service_account)
        })
        .map(|a| a.id.clone())
        .collect();
    let (page, next) = paginate(ids, q, 100)?;
    let summaries: Vec<Value> = page
        .iter()
        .map(|id| {
            let a = &c.pod_identity_associations[id];
            json!({
                "clusterName": cluster,
                "namespace": a.namespace,
                "serviceAccount": a.service_account,
                "associationArn": a.arn,
                "associationId": a.id,
                "ownerArn": a.owner_arn,
            })
        })
        .collect();
    Ok(page_body_with("associations", summaries, next))
}

pub fn update(eks: &Eks, cluster: &str, id: &str, req: UpdateRequest) -> EksResult<Value> {
    if let Some(role) = &req.role_arn {
        check_iam_arn("roleArn", role, "role")?;
    }
    // An empty targetRoleArn removes the target role, as in EKS.
    let target = req
        .target_role_arn
        .map(|t| Some(t).filter(|t| !t.is_empty()));
    if let Some(Some(t)) = &target {
        check_iam_arn("targetRoleArn", t, "role")?;
    }
    check_policy(&req.policy)?;
    let mut st = eks.state();
    let c = usable_cluster(&mut st, cluster)?;
    let a = c
        .pod_identity_associations
        .get_mut(id)
        .ok_or_else(|| association_not_found(cluster, id))?;
    refuse_owned(a)?;
    if let Some(role) = req.role_arn {
        a.role_arn = role;
    }
    if let Some(target) = target {
        if target.is_none() {
            a.external_id = None;
        } else if a.external_id.is_none() {
            a.external_id = Some(new_id());
        }
        a.target_role_arn = target;
    }
    if let Some(policy) = req.policy {
        a.policy = Some(policy).filter(|p| !p.is_empty());
    }
    if let Some(disable) = req.disable_session_tags {
        a.disable_session_tags = disable;
    }
    a.modified_at_ms = eks.time.now_ms();
    let body = json!({ "association": to_json(cluster, a) });
    drop(st);
    eks.env.events.record(
        "pod-identity-association-updated",
        Some(cluster),
        json!({"associationId": id}),
    );
    Ok(body)
}

pub fn delete(eks: &Eks, cluster: &str, id: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    let a = c
        .pod_identity_associations
        .get(id)
        .ok_or_else(|| association_not_found(cluster, id))?;
    refuse_owned(a)?;
    let a = c.pod_identity_associations.remove(id).expect("found above");
    drop(st);
    eks.env.events.record(
        "pod-identity-association-deleted",
        Some(cluster),
        json!({"associationId": id}),
    );
    Ok(json!({ "association": to_json(cluster, &a) }))
}

/// An add-on's association changes only with the add-on (UpdateAddon / DeleteAddon), as in EKS.
fn refuse_owned(a: &PodIdentityAssociation) -> EksResult<()> {
    match &a.owner_arn {
        Some(owner) => Err(EksError::invalid(format!(
            "Pod Identity association {} is owned by {owner}; change it through the add-on",
            a.id
        ))),
        None => Ok(()),
    }
}

/// CreateAddon's `podIdentityAssociations`: one association per entry, owned by the add-on, in
/// `namespace`. All or nothing: a service account that already has one refuses the whole list.
pub fn create_for_addon(
    eks: &Eks,
    c: &mut Cluster,
    cluster: &str,
    addon_arn: &str,
    namespace: &str,
    entries: &[(String, String)],
) -> EksResult<Vec<String>> {
    for (service_account, role_arn) in entries {
        check_iam_arn("podIdentityAssociations.roleArn", role_arn, "role")?;
        if let Some(existing) = c
            .pod_identity_associations
            .values()
            .find(|a| a.namespace == namespace && &a.service_account == service_account)
        {
            return Err(EksError::in_use(format!(
                "Association already exists: {} for namespace {namespace} and service account {service_account}",
                existing.id
            )));
        }
    }
    let now = eks.time.now_ms();
    let mut ids = Vec::new();
    for (service_account, role_arn) in entries {
        let id = new_association_id();
        c.pod_identity_associations.insert(
            id.clone(),
            PodIdentityAssociation {
                arn: eks.arn(&format!("podidentityassociation/{cluster}/{id}")),
                id: id.clone(),
                namespace: namespace.to_string(),
                service_account: service_account.clone(),
                role_arn: role_arn.clone(),
                target_role_arn: None,
                external_id: None,
                policy: None,
                disable_session_tags: false,
                created_at_ms: now,
                modified_at_ms: now,
                tags: BTreeMap::new(),
                client_request_token: None,
                owner_arn: Some(addon_arn.to_string()),
            },
        );
        ids.push(id);
    }
    Ok(ids)
}

pub fn to_json(cluster: &str, a: &PodIdentityAssociation) -> Value {
    let mut v = json!({
        "clusterName": cluster,
        "namespace": a.namespace,
        "serviceAccount": a.service_account,
        "roleArn": a.role_arn,
        "associationArn": a.arn,
        "associationId": a.id,
        "tags": a.tags,
        "createdAt": epoch_secs(a.created_at_ms),
        "modifiedAt": epoch_secs(a.modified_at_ms),
        "disableSessionTags": a.disable_session_tags,
    });
    for (key, value) in [
        ("targetRoleArn", &a.target_role_arn),
        ("externalId", &a.external_id),
        ("policy", &a.policy),
        ("ownerArn", &a.owner_arn),
    ] {
        if let Some(value) = value {
            v[key] = json!(value);
        }
    }
    v
}
