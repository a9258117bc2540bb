//! Events: what the controllers tell people about an object (`kubectl describe`, `kubectl events`),
//! stored as core/v1 Events in the object's namespace (`default` for cluster-scoped objects), as
//! the real recorders write them. Served under `events.k8s.io/v1` too, but not mirrored there.
//!
//! One Event per (object, reason, message): the loop reconciles every half second, and counting each
//! pass would rewrite the Event forever (real recorders aggregate and back off; here `count` stays 1
//! and `lastTimestamp` is when it was first seen). Events go an hour after they were written, the
//! API server's default `--event-ttl`.

use serde_json::{Value, json};

use super::gr;
use crate::kube::discovery::GroupResource;
use crate::kube::obj;
use crate::kube::store::Tx;

/// How long an Event is kept (kube-apiserver's default `--event-ttl`).
const TTL_MILLIS: i64 = 60 * 60 * 1000;

fn events() -> GroupResource {
    gr("", "events")
}

/// Normal or Warning, as `type` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Normal,
    Warning,
}

/// Records that `component` saw `reason` on `involved`, unless that exact Event exists already.
pub fn record(tx: &mut Tx, involved: &Value, kind: Kind, reason: &str, message: &str, component: &str) {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{}\n{reason}\n{message}", obj::uid(involved)).as_bytes());
    let name = format!("{}.{}", obj::name(involved), hex::encode(&digest[..8]));
    let ns = match obj::namespace(involved) {
        "" => "default",
        ns => ns,
    };
    if tx.get(&events(), ns, &name).is_some() {
        return;
    }
    let now = obj::now_time();
    let mut reference = json!({"kind": involved["kind"], "name": obj::name(involved), "uid": obj::uid(involved),
                               "apiVersion": involved["apiVersion"], "resourceVersion": obj::resource_version(involved).to_string()});
    if !obj::namespace(involved).is_empty() {
        reference["namespace"] = json!(obj::namespace(involved));
    }
    tx.put(&events(), json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "uid": obj::new_uid(), "creationTimestamp": now},
        "involvedObject": reference,
        "reason": reason, "message": message,
        "type": match kind { Kind::Normal => "Normal", Kind::Warning => "Warning" },
        "source": {"component": component},
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        "reportingComponent": component, "reportingInstance": "",
    }));
}

/// Removes Events older than the TTL.
pub fn expire(tx: &mut Tx, now_millis: i64) {
    for e in tx.list(&events(), None) {
        let at = e["metadata"]["creationTimestamp"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok());
        if at.is_some_and(|t| now_millis - t.as_millisecond() > TTL_MILLIS) {
            tx.remove(&events(), obj::namespace(&e), obj::name(&e));
        }
    }
}
