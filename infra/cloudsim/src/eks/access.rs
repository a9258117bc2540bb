//! Access entries and access policies (the API replacement of the aws-auth ConfigMap):
//! Create/Describe/List/DeleteAccessEntry, Associate/Disassociate/ListAssociatedAccessPolicies.
//! These are bookkeeping in cloudsim: the Kubernetes half authenticates tokens, it does not consult them.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Query, page_body, paginate};
use super::clusters::{check_iam_arn, not_found};
use super::errors::{EksError, EksResult, ErrorKind};
use super::model::{AccessEntry, AssociatedPolicy, Cluster, EksState};
use super::{Eks, epoch_secs, new_id, tags};

const ENTRY_TYPES: &[&str] = &[
    "STANDARD",
    "EC2",
    "EC2_LINUX",
    "EC2_WINDOWS",
    "FARGATE_LINUX",
    "HYBRID_LINUX",
    "HYPERPOD_LINUX",
];
const POLICY_PREFIX: &str = "arn:aws:eks::aws:cluster-access-policy/";
const POLICIES: &[&str] = &[
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingPolicy",
];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateAccessEntryRequest {
    principal_arn: Option<String>,
    #[serde(default)]
    kubernetes_groups: Vec<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    client_request_token: Option<String>,
    username: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssociateRequest {
    policy_arn: Option<String>,
    access_scope: Option<ScopeRequest>,
}

#[derive(Debug, Deserialize)]
struct ScopeRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    namespaces: Vec<String>,
}

/// The access entry `bootstrapClusterCreatorAdminPermissions` gives the cluster's creator. cloudsim
/// does not know the caller's IAM identity, so the creator is the account's root principal.
pub(crate) fn bootstrap_creator(eks: &Eks, cluster: &mut Cluster, now: u64) {
    let principal = format!("arn:aws:iam::{}:root", eks.account_id);
    let policy = format!("{POLICY_PREFIX}AmazonEKSClusterAdminPolicy");
    let entry = AccessEntry {
        arn: eks.arn(&format!(
            "access-entry/{}/root/{}/{}",
            cluster.name,
            eks.account_id,
            new_id()
        )),
        principal_arn: principal.clone(),
        created_at_ms: now,
        modified_at_ms: now,
        kubernetes_groups: Vec::new(),
        username: principal.clone(),
        kind: "STANDARD".into(),
        tags: BTreeMap::new(),
        client_request_token: None,
        policies: BTreeMap::from([(
            policy.clone(),
            AssociatedPolicy {
                policy_arn: policy,
                scope_type: "cluster".into(),
                namespaces: Vec::new(),
                associated_at_ms: now,
                modified_at_ms: now,
            },
        )]),
    };
    cluster.access_entries.insert(principal, entry);
}

fn api_cluster<'a>(st: &'a mut EksState, cluster: &str) -> EksResult<&'a mut Cluster> {
    let c = st
        .clusters
        .get_mut(cluster)
        .ok_or_else(|| not_found(cluster))?;
    if c.authentication_mode == "CONFIG_MAP" {
        return Err(EksError::bad_state(
            "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.",
        ));
    }
    Ok(c)
}

fn entry_not_found() -> EksError {
    EksError::not_found(
        "The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'.",
    )
}

pub fn create(eks: &Eks, cluster: &str, req: CreateAccessEntryRequest) -> EksResult<Value> {
    let principal = req
        .principal_arn
        .ok_or_else(|| EksError::invalid("principalArn is required"))?;
    check_iam_arn("principalArn", &principal, "role|user")?;
    let kind = req.kind.unwrap_or_else(|| "STANDARD".into());
    if !ENTRY_TYPES.contains(&kind.as_str()) {
        return Err(EksError::invalid(format!(
            "type must be one of {ENTRY_TYPES:?}, got {kind:?}"
        )));
    }
    if kind != "STANDARD" && (!req.kubernetes_groups.is_empty() || req.username.is_some()) {
        return Err(EksError::invalid(format!(
            "kubernetesGroups and username can only be set on STANDARD access entries, not {kind}"
        )));
    }
    if let Some(g) = req
        .kubernetes_groups
        .iter()
        .find(|g| g.starts_with("system:"))
    {
        return Err(EksError::invalid(format!(
            "kubernetesGroups cannot contain {g:?}: groups starting with system: are reserved"
        )));
    }
    tags::validate(&req.tags, ErrorKind::InvalidParameter)?;
    let account = principal.split(':').nth(4).unwrap_or_default().to_string();
    let (res_kind, res_name) = principal
        .split(':')
        .nth(5)
        .and_then(|r| r.split_once('/'))
        .unwrap_or_default();
    let res_name = res_name.rsplit('/').next().unwrap_or(res_name).to_string();
    let username = req
        .username
        .unwrap_or_else(|| match (kind.as_str(), res_kind) {
            ("STANDARD", "role") => {
                format!("arn:aws:sts::{account}:assumed-role/{res_name}/{{{{SessionName}}}}")
            }
            ("STANDARD", _) => principal.clone(),
            _ => "system:node:{{EC2PrivateDNSName}}".to_string(),
        });

    let mut st = eks.state();
    let c = api_cluster(&mut st, cluster)?;
    if c.status == "DELETING" {
        return Err(EksError::bad_state(format!(
            "Cluster '{cluster}' is being deleted"
        )));
    }
    if let Some(existing) = c.access_entries.get(&principal) {
        if req.client_request_token.is_some()
            && existing.client_request_token == req.client_request_token
        {
            return Ok(json!({ "accessEntry": entry_json(cluster, existing) }));
        }
        return Err(EksError::in_use(
            "The specified access entry resource is already in use on this cluster.",
        ));
    }
    let now = eks.time.now_ms();
    let entry = AccessEntry {
        arn: eks.arn(&format!(
            "access-entry/{cluster}/{res_kind}/{account}/{res_name}/{}",
            new_id()
        )),
        principal_arn: principal.clone(),
        created_at_ms: now,
        modified_at_ms: now,
        kubernetes_groups: req.kubernetes_groups,
        username,
        kind,
        tags: req.tags,
        client_request_token: req.client_request_token,
        policies: BTreeMap::new(),
    };
    let body = json!({ "accessEntry": entry_json(cluster, &entry) });
    c.access_entries.insert(principal.clone(), entry);
    drop(st);
    eks.env.events.record(
        "access-entry-created",
        Some(cluster),
        json!({"principalArn": principal}),
    );
    Ok(body)
}

pub fn describe(eks: &Eks, cluster: &str, principal: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = api_cluster(&mut st, cluster)?;
    let e = c
        .access_entries
        .get(principal)
        .ok_or_else(entry_not_found)?;
    Ok(json!({ "accessEntry": entry_json(cluster, e) }))
}

pub fn list(eks: &Eks, cluster: &str, q: &Query) -> EksResult<Value> {
    let names = {
        let mut st = eks.state();
        let c = api_cluster(&mut st, cluster)?;
        let policy = q.get("associatedPolicyArn");
        c.access_entries
            .values()
            .filter(|e| policy.is_none_or(|p| e.policies.contains_key(p)))
            .map(|e| e.principal_arn.clone())
            .collect()
    };
    let (page, next) = paginate(names, q, 100)?;
    Ok(page_body("accessEntries", page, next))
}

pub fn delete(eks: &Eks, cluster: &str, principal: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = api_cluster(&mut st, cluster)?;
    c.access_entries
        .remove(principal)
        .ok_or_else(entry_not_found)?;
    drop(st);
    eks.env.events.record(
        "access-entry-deleted",
        Some(cluster),
        json!({"principalArn": principal}),
    );
    Ok(json!({}))
}

pub fn associate(
    eks: &Eks,
    cluster: &str,
    principal: &str,
    req: AssociateRequest,
) -> EksResult<Value> {
    let policy = req
        .policy_arn
        .ok_or_else(|| EksError::invalid("policyArn is required"))?;
    if !policy
        .strip_prefix(POLICY_PREFIX)
        .is_some_and(|n| POLICIES.contains(&n))
    {
        return Err(EksError::not_found(format!(
            "The specified policyArn {policy:?} could not be found; access policies are {POLICY_PREFIX}NAME with NAME one of {}",
            POLICIES.join(", ")
        )));
    }
    let scope = req
        .access_scope
        .ok_or_else(|| EksError::invalid("accessScope is required"))?;
    let scope_type = scope.kind.unwrap_or_default();
    match (scope_type.as_str(), scope.namespaces.is_empty()) {
        ("cluster", true) | ("namespace", false) => {}
        ("cluster", false) => {
            return Err(EksError::invalid(
                "accessScope of type cluster cannot list namespaces",
            ));
        }
        ("namespace", true) => {
            return Err(EksError::invalid(
                "accessScope of type namespace needs at least one namespace",
            ));
        }
        (other, _) => {
            return Err(EksError::invalid(format!(
                "accessScope.type must be cluster or namespace, got {other:?}"
            )));
        }
    }
    let now = eks.time.now_ms();
    let mut st = eks.state();
    let c = api_cluster(&mut st, cluster)?;
    let e = c
        .access_entries
        .get_mut(principal)
        .ok_or_else(entry_not_found)?;
    if e.kind != "STANDARD" {
        return Err(EksError::bad_state(format!(
            "access policies can only be associated with STANDARD access entries, not {}",
            e.kind
        )));
    }
    let assoc = e
        .policies
        .entry(policy.clone())
        .or_insert_with(|| AssociatedPolicy {
            policy_arn: policy.clone(),
            scope_type: String::new(),
            namespaces: Vec::new(),
            associated_at_ms: now,
            modified_at_ms: now,
        });
    assoc.scope_type = scope_type;
    assoc.namespaces = scope.namespaces;
    assoc.modified_at_ms = now;
    let body = json!({ "clusterName": cluster, "principalArn": principal, "associatedAccessPolicy": policy_json(assoc) });
    drop(st);
    eks.env.events.record(
        "access-policy-associated",
        Some(cluster),
        json!({"principalArn": principal, "policyArn": policy}),
    );
    Ok(body)
}

pub fn list_policies(eks: &Eks, cluster: &str, principal: &str, q: &Query) -> EksResult<Value> {
    let mut st = eks.state();
    let c = api_cluster(&mut st, cluster)?;
    let e = c
        .access_entries
        .get(principal)
        .ok_or_else(entry_not_found)?;
    let (page, next) = paginate(e.policies.keys().cloned().collect(), q, 100)?;
    let mut body = json!({
        "clusterName": cluster,
        "principalArn": principal,
        "associatedAccessPolicies": page.iter().map(|p| policy_json(&e.policies[p])).collect::<Vec<_>>(),
    });
    if let Some(next) = next {
        body["nextToken"] = json!(next);
    }
    Ok(body)
}

pub fn disassociate(eks: &Eks, cluster: &str, principal: &str, policy: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = api_cluster(&mut st, cluster)?;
    let e = c
        .access_entries
        .get_mut(principal)
        .ok_or_else(entry_not_found)?;
    e.policies.remove(policy).ok_or_else(|| {
        EksError::not_found(format!(
            "The policy {policy} is not associated with {principal}"
        ))
    })?;
    drop(st);
    eks.env.events.record(
        "access-policy-disassociated",
        Some(cluster),
        json!({"principalArn": principal, "policyArn": policy}),
    );
    Ok(json!({}))
}

/// The access entry whose ARN is `arn` (for tagging).
pub(crate) fn find_by_arn<'a>(c: &'a mut Cluster, arn: &str) -> Option<&'a mut AccessEntry> {
    c.access_entries.values_mut().find(|e| e.arn == arn)
}

fn entry_json(cluster: &str, e: &AccessEntry) -> Value {
    json!({
        "clusterName": cluster,
        "principalArn": e.principal_arn,
        "kubernetesGroups": e.kubernetes_groups,
        "accessEntryArn": e.arn,
        "createdAt": epoch_secs(e.created_at_ms),
        "modifiedAt": epoch_secs(e.modified_at_ms),
        "tags": e.tags,
        "username": e.username,
        "type": e.kind,
    })
}

fn policy_json(p: &AssociatedPolicy) -> Value {
    json!({
        "policyArn": p.policy_arn,
        "accessScope": {"type": p.scope_type, "namespaces": p.namespaces},
        "associatedAt": epoch_secs(p.associated_at_ms),
        "modifiedAt": epoch_secs(p.modified_at_ms),
    })
}
