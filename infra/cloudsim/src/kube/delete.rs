//! Deletion: DeleteOptions (query or JSON/protobuf body), preconditions, propagation policies
//! (Background: the garbage collector removes dependents afterwards; Foreground and Orphan: the
//! object waits behind a `foregroundDeletion` / `orphan` finalizer the collector resolves),
//! finalizers, and namespaces, which go Terminating until the namespace controller empties them.

use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use super::ClusterState;
use super::api::{ApiError, ApiRequest, ApiResult};
use super::crud::{Target, selectors};
use super::obj;
use super::protobuf;
use super::render;
use super::store::{Commit, Tx};

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

fn options(req: &ApiRequest) -> Result<DeleteOptions, ApiError> {
    let body: Value = if req.body.is_empty() {
        json!({})
    } else if req
        .content_type
        .starts_with("application/vnd.kubernetes.protobuf")
    {
        protobuf::decode(&req.body).map_err(|e| ApiError::unsupported_media(e.to_string()))?
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| ApiError::bad_request(format!("DeleteOptions is not valid JSON: {e}")))?
    };
    let policy = body["propagationPolicy"]
        .as_str()
        .or(req.q("propagationPolicy"));
    let orphan = body["orphanDependents"]
        .as_bool()
        .or(req.q("orphanDependents").map(|v| v == "true"));
    let propagation = match (policy, orphan) {
        (Some("Foreground"), _) => Propagation::Foreground,
        (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
        (Some("Background") | None, _) => Propagation::Background,
        (Some(other), _) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy must be Foreground, Background or Orphan, not `{other}`"
            )));
        }
    };
    Ok(DeleteOptions {
        propagation,
        precondition_uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        precondition_rv: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
        dry_run: req.dry_run() || body["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
    })
}

/// Deletes one object inside a write. Returns the object as it now is (gone, or waiting on finalizers).
pub fn delete_in(
    tx: &mut Tx,
    t: &Target,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Arc<Value>, ApiError> {
    let gr = t.rt.group_resource();
    let old = tx
        .get(&gr, t.ns(), name)
        .ok_or_else(|| ApiError::not_found(&t.rt, name))?;
    if let Some(uid) = &opts.precondition_uid
        && uid != obj::uid(&old)
    {
        return Err(ApiError::conflict(
            &t.rt,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                obj::uid(&old)
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv
        && rv
            != old["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
    {
        return Err(ApiError::conflict(
            &t.rt,
            name,
            "Precondition failed: the resourceVersion does not match",
        ));
    }
    let mut new = (*old).clone();
    if gr.group.is_empty() && gr.resource == "namespaces" {
        if !obj::is_deleting(&old) {
            obj::meta_mut(&mut new).insert("deletionTimestamp".into(), json!(obj::now_time()));
            new["status"]["phase"] = json!("Terminating");
            return Ok(tx.put(&gr, new));
        }
        return Ok(old);
    }
    match opts.propagation {
        Propagation::Foreground => obj::add_finalizer(&mut new, FOREGROUND),
        Propagation::Orphan => obj::add_finalizer(&mut new, ORPHAN),
        Propagation::Background => {}
    }
    if obj::finalizers(&new).is_empty() {
        return Ok(tx
            .remove(&gr, t.ns(), name)
            .expect("present: read in this write"));
    }
    if !obj::is_deleting(&new) {
        let meta = obj::meta_mut(&mut new);
        meta.insert("deletionTimestamp".into(), json!(obj::now_time()));
        meta.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    if new == *old {
        return Ok(old);
    }
    Ok(tx.put(&gr, new))
}

pub fn delete(cs: &ClusterState, t: &Target, name: &str, req: &ApiRequest) -> ApiResult {
    let opts = options(req)?;
    let commit = if opts.dry_run {
        Commit::DryRun
    } else {
        Commit::Durable
    };
    let o = cs.store.write(commit, |tx| delete_in(tx, t, name, &opts))?;
    Ok(render::one(&t.rt, &o, &req.accept, StatusCode::OK))
}

pub fn delete_collection(cs: &ClusterState, t: &Target, req: &ApiRequest) -> ApiResult {
    let opts = options(req)?;
    let (labels, fields) = selectors(req)?;
    let commit = if opts.dry_run {
        Commit::DryRun
    } else {
        Commit::Durable
    };
    let deleted = cs.store.write(commit, |tx| {
        let names: Vec<String> = tx
            .list(
                &t.rt.group_resource(),
                t.namespace.as_deref().filter(|_| t.rt.namespaced),
            )
            .iter()
            .filter(|o| labels.matches(o) && fields.matches(o))
            .map(|o| obj::name(o).to_string())
            .collect();
        names
            .iter()
            .map(|n| delete_in(tx, t, n, &opts))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let rv = cs.store.current_rv();
    Ok(render::list(&t.rt, &deleted, rv, &req.accept))
}
