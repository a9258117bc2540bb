//! The `/_cloudsim/` control API, for tests and demos (never part of the emulated AWS surface):
//!
//! - `GET  /_cloudsim/healthz`: `{"status":"ok", ...}`
//! - `GET  /_cloudsim/events?after=N&kind=K&cluster=C`: events, oldest first
//! - `GET  /_cloudsim/faults`, `PUT` (replace whole), `PATCH` (JSON merge patch, RFC 7386)
//! - `GET  /_cloudsim/leaked-load-balancers`: load balancers that outlived their cluster
//! - `POST /_cloudsim/reset`: forget all EKS resources and leaks, faults back to the profile's
//!   (events are kept, so sequence numbers stay monotonic; a `reset` event marks the point)
//! - `GET|PUT /_cloudsim/clusters/{name}/insights`: a cluster's upgrade insights (what
//!   ListInsights and DescribeInsight answer), replaced whole by PUT
//!
//! Errors are `{"message": ...}` with status 400 (bad input) or 404 (unknown path).

use serde_json::{Value, json};

use crate::eks::api::Query;
use crate::eks::insights;
use crate::faults::Faults;
use crate::persist::FAULTS_FILE;
use crate::server::Shared;

pub(crate) async fn handle(
    shared: &Shared,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> (u16, Value) {
    let result = match (method, path.trim_end_matches('/')) {
        ("GET", "healthz") => Ok(json!({
            "status": "ok",
            "clusters": shared.eks.cluster_statuses().len(),
            "events": shared.env.events.snapshot().last().map_or(0, |e| e.seq),
        })),
        ("GET", "events") => events(shared, query),
        ("GET", "faults") => {
            Ok(serde_json::to_value(shared.env.faults()).expect("faults serialize"))
        }
        ("PUT", "faults") => match parse_faults(body) {
            Ok(f) => set_faults(shared, f).await,
            Err(e) => Err((400, e)),
        },
        ("PATCH", "faults") => patch_faults(shared, body).await,
        ("GET", "leaked-load-balancers") => {
            Ok(serde_json::to_value(shared.eks.leaked_load_balancers()).expect("serializes"))
        }
        ("POST", "reset") => reset(shared).await,
        (method, path) if path.starts_with("clusters/") => {
            cluster_resource(shared, method, path, body).await
        }
        _ => Err(no_endpoint(method, path)),
    };
    match result {
        Ok(v) => (200, v),
        Err((status, message)) => (status, json!({ "message": message })),
    }
}

type ControlResult = Result<Value, (u16, String)>;

fn events(shared: &Shared, query: Option<&str>) -> ControlResult {
    let q = Query::parse(query).map_err(|e| (400, e.message))?;
    let after = match q.get("after") {
        None => 0,
        Some(a) => a.parse::<u64>().map_err(|_| {
            (
                400,
                format!("after must be an event sequence number, got {a:?}"),
            )
        })?,
    };
    let events: Vec<_> = shared
        .env
        .events
        .since(after)
        .into_iter()
        .filter(|e| q.get("kind").is_none_or(|k| e.kind == k))
        .filter(|e| {
            q.get("cluster")
                .is_none_or(|c| e.cluster.as_deref() == Some(c))
        })
        .collect();
    Ok(serde_json::to_value(events).expect("events serialize"))
}

fn parse_faults(body: &[u8]) -> Result<Faults, String> {
    let faults: Faults =
        serde_json::from_slice(body).map_err(|e| format!("invalid faults document: {e}"))?;
    check_faults(&faults)?;
    Ok(faults)
}

/// Range checks serde cannot express.
pub fn check_faults(f: &Faults) -> Result<(), String> {
    if let Some((k, r)) = f
        .lb_error_rate
        .iter()
        .find(|(_, r)| !(0.0..=1.0).contains(*r))
    {
        return Err(format!(
            "lbErrorRate[{k:?}] must be between 0.0 and 1.0, got {r}"
        ));
    }
    if let Some(rps) = f.eks_throttle_rps
        && !(rps.is_finite() && rps > 0.0)
    {
        return Err(format!(
            "eksThrottleRps must be a positive number (or null for no limit), got {rps}"
        ));
    }
    Ok(())
}

async fn patch_faults(shared: &Shared, body: &[u8]) -> ControlResult {
    let patch: Value =
        serde_json::from_slice(body).map_err(|e| (400, format!("the patch is not JSON: {e}")))?;
    if !patch.is_object() {
        return Err((
            400,
            "the patch must be a JSON object (a JSON merge patch of the faults)".into(),
        ));
    }
    let mut doc = serde_json::to_value(shared.env.faults()).expect("faults serialize");
    merge_patch(&mut doc, &patch);
    let merged = serde_json::to_vec(&doc).expect("serializes");
    let faults = parse_faults(&merged).map_err(|e| (400, e))?;
    set_faults(shared, faults).await
}

async fn set_faults(shared: &Shared, faults: Faults) -> ControlResult {
    *shared.env.faults.write().expect("faults lock poisoned") = faults.clone();
    let value = serde_json::to_value(&faults).expect("faults serialize");
    shared
        .env
        .events
        .record("faults-changed", None, value.clone());
    if let Some(store) = &shared.store {
        store
            .save_json(FAULTS_FILE, &faults)
            .map_err(|e| (500, e.to_string()))?;
        store
            .flush_events(&shared.env.events)
            .map_err(|e| (500, e.to_string()))?;
    }
    // A node group or cluster whose creation is due now must see the new faults: nothing to wake,
    // the lifecycle reads faults when it completes a transition.
    Ok(value)
}

async fn reset(shared: &Shared) -> ControlResult {
    shared.eks.reset().await.map_err(|e| (500, e.message))?;
    set_faults(shared, shared.profile_faults.clone()).await?;
    shared.env.events.record("reset", None, json!({}));
    if let Some(store) = &shared.store {
        store
            .flush_events(&shared.env.events)
            .map_err(|e| (500, e.to_string()))?;
    }
    Ok(json!({"status": "reset"}))
}

fn no_endpoint(method: &str, path: &str) -> (u16, String) {
    (
        404,
        format!("no control endpoint {method} /_cloudsim/{path}; see the cloudsim README"),
    )
}

/// `clusters/{name}/...`: per-cluster settings that have no EKS API of their own.
async fn cluster_resource(shared: &Shared, method: &str, path: &str, body: &[u8]) -> ControlResult {
    let eks_err = |e: crate::eks::errors::EksError| (e.kind.status(), e.message);
    match (method, path.split('/').collect::<Vec<_>>().as_slice()) {
        ("GET", ["clusters", name, "insights"]) => {
            let insights = insights::get(&shared.eks, name).map_err(eks_err)?;
            Ok(serde_json::to_value(insights).expect("insights serialize"))
        }
        ("PUT", ["clusters", name, "insights"]) => {
            let list: Vec<insights::Insight> = serde_json::from_slice(body).map_err(|e| {
                (
                    400,
                    format!("invalid insights (a JSON list of DescribeInsight's insight): {e}"),
                )
            })?;
            let stored = insights::set(&shared.eks, name, list)
                .await
                .map_err(eks_err)?;
            Ok(serde_json::to_value(stored).expect("insights serialize"))
        }
        _ => Err(no_endpoint(method, path)),
    }
}

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let map = target.as_object_mut().expect("object");
    for (k, v) in patch {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_merges_replaces_and_deletes() {
        let mut doc = json!({"a": {"x": 1, "y": 2}, "b": [1], "c": 3});
        merge_patch(
            &mut doc,
            &json!({"a": {"y": null, "z": 3}, "b": [2], "c": null}),
        );
        assert_eq!(doc, json!({"a": {"x": 1, "z": 3}, "b": [2]}));
    }

    #[test]
    fn out_of_range_faults_are_refused_with_the_field_named() {
        let err = parse_faults(br#"{"lbErrorRate": {"c/*": 1.5}}"#).unwrap_err();
        assert!(err.contains("lbErrorRate"), "{err}");
        let err = parse_faults(br#"{"eksThrottleRps": 0}"#).unwrap_err();
        assert!(err.contains("eksThrottleRps"), "{err}");
        let err = parse_faults(br#"{"noSuchFault": true}"#).unwrap_err();
        assert!(err.contains("noSuchFault"), "{err}");
    }
}
