//! The verbs on resources: get, list, create, update (PUT), patch (all four kinds), the status and
//! scale subresources, and the bookkeeping every write does (uid, timestamps, generation,
//! resourceVersion preconditions, status owned by its subresource, finalizers ending a deletion).

use std::sync::Arc;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::ClusterState;
use super::api::{ApiError, ApiRequest, ApiResult, Reply};
use super::defaults;
use super::discovery::ResourceType;
use super::obj;
use super::patch;
use super::protobuf;
use super::render;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{Commit, Tx};

/// Where a resource request points.
#[derive(Debug, Clone)]
pub struct Target {
    pub rt: Arc<ResourceType>,
    /// None for cluster-scoped resources and for all-namespaces requests.
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    /// The namespace key objects are stored under ("" when cluster-scoped).
    pub fn ns(&self) -> &str {
        if self.rt.namespaced {
            self.namespace.as_deref().unwrap_or_default()
        } else {
            ""
        }
    }
}

pub fn handle(cs: &ClusterState, t: &Target, req: &ApiRequest) -> ApiResult {
    if let Some(sub) = t.sub.as_deref() {
        let ok = (sub == "status" && t.rt.status_subresource)
            || (sub == "scale" && t.rt.scale_subresource);
        if !ok || t.name.is_none() {
            return Err(ApiError::path_not_found(&req.path));
        }
    }
    if t.rt.namespaced && t.namespace.is_none() && req.method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "{} are namespaced: write them under /namespaces/<namespace>/{}",
            t.rt.resource, t.rt.resource
        )));
    }
    let result = match (&req.method, t.name.as_deref(), t.sub.as_deref()) {
        (&Method::GET, None, _) if req.flag("watch") => super::watch::start(cs, t, req),
        (&Method::GET, None, _) => list(cs, t, req),
        (&Method::POST, None, _) => create(cs, t, req),
        (&Method::DELETE, None, _) => super::delete::delete_collection(cs, t, req),
        (&Method::GET, Some(name), Some("scale")) => get_scale(cs, t, name),
        (&Method::GET, Some(name), _) => get(cs, t, name, req),
        (&Method::PUT, Some(name), sub) => update(cs, t, name, sub, req),
        (&Method::PATCH, Some(name), sub) => patch(cs, t, name, sub, req),
        (&Method::DELETE, Some(name), None) => super::delete::delete(cs, t, name, req),
        (m, _, _) => Err(ApiError::method_not_allowed(format!(
            "{m} is not supported on {}",
            req.path
        ))),
    };
    if result.is_ok() && req.method != Method::GET {
        cs.after_write(&t.rt);
    }
    result
}

fn get(cs: &ClusterState, t: &Target, name: &str, req: &ApiRequest) -> ApiResult {
    let o = cs
        .store
        .get(&t.rt.group_resource(), t.ns(), name)
        .ok_or_else(|| ApiError::not_found(&t.rt, name))?;
    Ok(render::one(&t.rt, &o, &req.accept, StatusCode::OK))
}

pub fn selectors(req: &ApiRequest) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let labels = LabelSelector::parse(req.q("labelSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(req.q("fieldSelector").unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((labels, fields))
}

fn list(cs: &ClusterState, t: &Target, req: &ApiRequest) -> ApiResult {
    let (labels, fields) = selectors(req)?;
    let gr = t.rt.group_resource();
    let (items, rv) = match fields.pinned_name() {
        Some(name) if t.namespace.is_some() || !t.rt.namespaced => {
            let rv = cs.store.current_rv();
            (cs.store.get(&gr, t.ns(), name).into_iter().collect(), rv)
        }
        _ => cs
            .store
            .list(&gr, t.namespace.as_deref().filter(|_| t.rt.namespaced)),
    };
    let items: Vec<Arc<Value>> = items
        .into_iter()
        .filter(|o| labels.matches(o) && fields.matches(o))
        .collect();
    Ok(render::list(&t.rt, &items, rv, &req.accept))
}

/// Parses a request body (JSON, or protobuf for the kinds helm sends that way).
pub fn decode_body(req: &ApiRequest) -> Result<Value, ApiError> {
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    if ct == "application/vnd.kubernetes.protobuf" {
        return protobuf::decode(&req.body).map_err(|e| ApiError::unsupported_media(e.to_string()));
    }
    if req.body.is_empty() {
        return Err(ApiError::bad_request(
            "the request has no body: send the object as JSON",
        ));
    }
    serde_json::from_slice(&req.body).map_err(|e| {
        if ct.contains("yaml") {
            ApiError::unsupported_media(format!(
                "only JSON bodies are supported (YAML is not): {e}"
            ))
        } else {
            ApiError::bad_request(format!("the request body is not valid JSON: {e}"))
        }
    })
}

fn check_type(t: &Target, o: &Value) -> Result<(), ApiError> {
    if let Some(kind) = o["kind"].as_str()
        && kind != t.rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the object is a {kind}, but this is the {} endpoint (kind {})",
            t.rt.resource, t.rt.kind
        )));
    }
    if let Some(ns) = o["metadata"]["namespace"]
        .as_str()
        .filter(|ns| !ns.is_empty())
        && t.rt.namespaced
        && Some(ns) != t.namespace.as_deref()
    {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    Ok(())
}

/// Fills in what the server owns on a new object and checks its namespace can take it.
pub fn prepare_new(tx: &Tx, t: &Target, o: &mut Value) -> Result<(), ApiError> {
    check_type(t, o)?;
    if !o.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    o["kind"] = json!(t.rt.kind);
    if o["apiVersion"].is_null() {
        o["apiVersion"] = json!(t.rt.api_version());
    }
    let meta = obj::meta_mut(o);
    if meta
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        match meta.get("generateName").and_then(Value::as_str) {
            Some(prefix) if !prefix.is_empty() => {
                let name = format!("{prefix}{}", obj::random_suffix(5));
                meta.insert("name".into(), json!(name));
            }
            _ => {
                return Err(ApiError::invalid(
                    &t.rt,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        }
    }
    let name = meta["name"].as_str().unwrap_or_default().to_string();
    if name.contains('/') || name.len() > 253 || name.contains('%') {
        return Err(ApiError::invalid(
            &t.rt,
            &name,
            "metadata.name: Invalid value: a name may not contain '/' or '%' or exceed 253 characters",
        ));
    }
    if t.rt.namespaced {
        meta.insert("namespace".into(), json!(t.ns()));
    } else {
        meta.remove("namespace");
    }
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        meta.remove(k);
    }
    meta.insert("uid".into(), json!(obj::new_uid()));
    meta.insert("creationTimestamp".into(), json!(obj::now_time()));
    meta.insert("generation".into(), json!(1));
    if t.rt.status_subresource
        && let Some(m) = o.as_object_mut()
    {
        m.remove("status");
    }
    if t.rt.namespaced {
        let ns = t.ns();
        match tx.get(
            &super::discovery::GroupResource::new("", "namespaces"),
            "",
            ns,
        ) {
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    format!("namespaces \"{ns}\" not found"),
                ));
            }
            Some(n) if obj::is_deleting(&n) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    format!(
                        "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                        t.rt.resource
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    defaults::on_create(tx, &t.rt, o)
}

fn commit_mode(req: &ApiRequest) -> Commit {
    if req.dry_run() {
        Commit::DryRun
    } else {
        Commit::Durable
    }
}

fn create(cs: &ClusterState, t: &Target, req: &ApiRequest) -> ApiResult {
    let mut o = decode_body(req)?;
    let stored = cs.store.write(commit_mode(req), |tx| {
        prepare_new(tx, t, &mut o)?;
        let name = obj::name(&o).to_string();
        if tx.get(&t.rt.group_resource(), t.ns(), &name).is_some() {
            return Err(ApiError::already_exists(&t.rt, &name));
        }
        Ok(tx.put(&t.rt.group_resource(), o))
    })?;
    Ok(render::one(
        &t.rt,
        &stored,
        &req.accept,
        StatusCode::CREATED,
    ))
}

/// Replaces `old` by `new` following the API's rules; returns the stored object (or `old` itself
/// when nothing changed, which keeps its resourceVersion as the real server does).
pub fn commit_update(
    tx: &mut Tx,
    rt: &ResourceType,
    old: &Arc<Value>,
    mut new: Value,
    sub: Option<&str>,
) -> Result<Arc<Value>, ApiError> {
    let name = obj::name(old).to_string();
    if !new.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    if let Some(kind) = new["kind"].as_str()
        && kind != rt.kind
        && sub != Some("scale")
    {
        return Err(ApiError::bad_request(format!(
            "the object is a {kind}, not a {}",
            rt.kind
        )));
    }
    if let Some(n) = new["metadata"]["name"].as_str()
        && n != name
    {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({n}) does not match the name on the URL ({name})"
        )));
    }
    if let Some(rv) = new["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        && rv
            != old["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default()
    {
        return Err(ApiError::conflict(
            rt,
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if rt.status_subresource {
        if sub == Some("status") {
            let status = new["status"].take();
            new = (**old).clone();
            new["status"] = status;
        } else if let Some(m) = new.as_object_mut() {
            match old.get("status") {
                Some(s) => drop(m.insert("status".into(), s.clone())),
                None => drop(m.remove("status")),
            }
        }
    }
    new["kind"] = json!(rt.kind);
    new["apiVersion"] = old["apiVersion"].clone();
    {
        let meta = obj::meta_mut(&mut new);
        for k in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generation",
        ] {
            match old["metadata"].get(k) {
                Some(v) => drop(meta.insert(k.into(), v.clone())),
                None => drop(meta.remove(k)),
            }
        }
        if !meta.contains_key("managedFields")
            && let Some(mf) = old["metadata"].get("managedFields")
        {
            meta.insert("managedFields".into(), mf.clone());
        }
    }
    if obj::spec_changed(old, &new) {
        obj::meta_mut(&mut new).insert("generation".into(), json!(obj::generation(old) + 1));
    }
    defaults::on_update(tx, rt, old, &mut new)?;
    let gr = rt.group_resource();
    if obj::is_deleting(&new) && obj::finalizers(&new).is_empty() {
        let ns = obj::namespace(old).to_string();
        return Ok(tx.remove(&gr, &ns, &name).unwrap_or_else(|| old.clone()));
    }
    obj::set_resource_version(&mut new, obj::resource_version(old));
    if new == **old {
        return Ok(old.clone());
    }
    Ok(tx.put(&gr, new))
}

fn update(
    cs: &ClusterState,
    t: &Target,
    name: &str,
    sub: Option<&str>,
    req: &ApiRequest,
) -> ApiResult {
    let body = decode_body(req)?;
    check_type(t, &body).or_else(|e| if sub == Some("scale") { Ok(()) } else { Err(e) })?;
    let stored = cs.store.write(commit_mode(req), |tx| {
        let old = tx
            .get(&t.rt.group_resource(), t.ns(), name)
            .ok_or_else(|| ApiError::not_found(&t.rt, name))?;
        let new = if sub == Some("scale") {
            scaled(&old, &body)?
        } else {
            body.clone()
        };
        commit_update(tx, &t.rt, &old, new, sub.filter(|s| *s == "status"))
    })?;
    if sub == Some("scale") {
        return Ok(Reply::Json(StatusCode::OK, scale_of(&stored)));
    }
    Ok(render::one(&t.rt, &stored, &req.accept, StatusCode::OK))
}

fn patch(
    cs: &ClusterState,
    t: &Target,
    name: &str,
    sub: Option<&str>,
    req: &ApiRequest,
) -> ApiResult {
    let ct = req
        .content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let body: Value = serde_json::from_slice(&req.body).map_err(|e| {
        if ct.contains("yaml") {
            ApiError::unsupported_media(format!(
                "send the apply configuration as JSON (YAML bodies are not supported): {e}"
            ))
        } else {
            ApiError::bad_request(format!("the patch is not valid JSON: {e}"))
        }
    })?;
    let gr = t.rt.group_resource();
    let (stored, created) = cs.store.write(commit_mode(req), |tx| {
        let old = tx.get(&gr, t.ns(), name);
        if ct == "application/apply-patch+yaml" {
            let manager = req.q("fieldManager").ok_or_else(|| ApiError::bad_request("fieldManager is required for apply (server-side apply) requests"))?;
            check_type(t, &body)?;
            if body["metadata"]["name"].as_str() != Some(name) {
                return Err(ApiError::bad_request(format!("the apply configuration must name the object on the URL ({name})")));
            }
            let mut config = body.clone();
            if sub != Some("status") && t.rt.status_subresource
                && let Some(m) = config.as_object_mut() {
                    m.remove("status");
                }
            let now = obj::now_time();
            return match old {
                None => {
                    if sub.is_some() {
                        return Err(ApiError::not_found(&t.rt, name));
                    }
                    let mut o = patch::server_side_apply(None, &config, manager, &now);
                    prepare_new(tx, t, &mut o)?;
                    Ok((tx.put(&gr, o), true))
                }
                Some(old) => {
                    let mut new = patch::server_side_apply(Some(&old), &config, manager, &now);
                    // The applied config's resourceVersion (if any) is a precondition; the merged one is not.
                    obj::set_resource_version(&mut new, obj::resource_version(&old));
                    if let Some(rv) = body["metadata"]["resourceVersion"].as_str() {
                        obj::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
                    }
                    Ok((commit_update(tx, &t.rt, &old, new, sub)?, false))
                }
            };
        }
        let old = old.ok_or_else(|| ApiError::not_found(&t.rt, name))?;
        let mut target = if sub == Some("scale") { scale_of(&old) } else { (*old).clone() };
        let invalid = |e: patch::PatchError| ApiError::invalid(&t.rt, name, e.0);
        match ct.as_str() {
            "application/merge-patch+json" => patch::merge_patch(&mut target, &body),
            "application/strategic-merge-patch+json" => patch::strategic_merge_patch(&mut target, &body).map_err(invalid)?,
            "application/json-patch+json" => patch::json_patch(&mut target, &body).map_err(invalid)?,
            other => {
                return Err(ApiError::unsupported_media(format!(
                    "the body of a PATCH must be application/merge-patch+json, application/strategic-merge-patch+json, application/json-patch+json or application/apply-patch+yaml, not `{other}`"
                )));
            }
        }
        if sub == Some("scale") {
            target = scaled(&old, &target)?;
        } else if body["metadata"]["resourceVersion"].is_null() {
            // Only a resourceVersion in the patch itself is a precondition.
            obj::set_resource_version(&mut target, obj::resource_version(&old));
        }
        Ok((commit_update(tx, &t.rt, &old, target, sub.filter(|s| *s == "status"))?, false))
    })?;
    if sub == Some("scale") {
        return Ok(Reply::Json(StatusCode::OK, scale_of(&stored)));
    }
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(render::one(&t.rt, &stored, &req.accept, code))
}

fn scale_of(o: &Value) -> Value {
    let selector = &o["spec"]["selector"];
    let sel = selector["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": obj::name(o), "namespace": obj::namespace(o), "uid": obj::uid(o),
                     "resourceVersion": o["metadata"]["resourceVersion"], "creationTimestamp": o["metadata"]["creationTimestamp"]},
        "spec": {"replicas": o["spec"]["replicas"].as_i64().unwrap_or(0)},
        "status": {"replicas": o["status"]["replicas"].as_i64().unwrap_or(0), "selector": sel},
    })
}

/// The object with `spec.replicas` taken from a Scale.
fn scaled(old: &Value, scale: &Value) -> Result<Value, ApiError> {
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or_else(|| ApiError::bad_request("spec.replicas must be a non-negative integer"))?;
    let mut new = old.clone();
    new["spec"]["replicas"] = json!(replicas);
    if let Some(rv) = scale["metadata"]["resourceVersion"].as_str() {
        obj::meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
    }
    Ok(new)
}

fn get_scale(cs: &ClusterState, t: &Target, name: &str) -> ApiResult {
    let o = cs
        .store
        .get(&t.rt.group_resource(), t.ns(), name)
        .ok_or_else(|| ApiError::not_found(&t.rt, name))?;
    Ok(Reply::Json(StatusCode::OK, scale_of(&o)))
}
