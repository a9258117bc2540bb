//! Garbage collection and namespace lifecycle:
//! - dependents whose owners are all gone are deleted (Background propagation);
//! - owners waiting behind `foregroundDeletion` have their dependents deleted first, then go;
//! - owners behind `orphan` have their dependents' references removed, then go;
//! - Terminating namespaces are emptied, then removed;
//! - objects of resources whose CRD is gone are removed;
//! - every active namespace gets its `default` ServiceAccount.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};

use super::gr;
use crate::kube::delete::{FOREGROUND, ORPHAN};
use crate::kube::discovery::GroupResource;
use crate::kube::store::{StoreError, Tx};
use crate::kube::{ClusterState, obj};

/// Deletes an object the way the collector does: at once, or behind its finalizers.
pub fn collect_one(tx: &mut Tx, gr: &GroupResource, o: &Value) {
    if obj::finalizers(o).is_empty() {
        tx.remove(gr, obj::namespace(o), obj::name(o));
    } else if !obj::is_deleting(o) {
        let mut d = o.clone();
        obj::meta_mut(&mut d).insert("deletionTimestamp".into(), json!(obj::now_time()));
        tx.put(gr, d);
    }
}

pub fn collect(cs: &ClusterState, tx: &mut Tx) -> Result<(), StoreError> {
    let all = tx.all();
    let uids: HashSet<&str> = all.iter().map(|(_, o)| obj::uid(o)).collect();
    let mut dependents: HashMap<String, Vec<(GroupResource, Arc<Value>)>> = HashMap::new();
    for (g, o) in &all {
        for r in obj::owner_refs(o) {
            dependents
                .entry(r.uid)
                .or_default()
                .push((g.clone(), o.clone()));
        }
    }

    for (g, o) in &all {
        let refs = obj::owner_refs(o);
        if !refs.is_empty() && refs.iter().all(|r| !uids.contains(r.uid.as_str())) {
            collect_one(tx, g, o);
            continue;
        }
        if !obj::is_deleting(o) {
            continue;
        }
        let finalizers = obj::finalizers(o);
        let deps = dependents.get(obj::uid(o)).cloned().unwrap_or_default();
        if finalizers.iter().any(|f| f == ORPHAN) {
            for (dg, d) in &deps {
                if let Some(cur) = tx.get(dg, obj::namespace(d), obj::name(d)) {
                    let mut freed = (*cur).clone();
                    if let Some(list) = freed["metadata"]["ownerReferences"].as_array_mut() {
                        list.retain(|r| r["uid"] != obj::uid(o));
                    }
                    tx.put(dg, freed);
                }
            }
            finish(tx, g, o, ORPHAN);
        } else if finalizers.iter().any(|f| f == FOREGROUND) {
            let live: Vec<_> = deps
                .iter()
                .filter(|(dg, d)| tx.get(dg, obj::namespace(d), obj::name(d)).is_some())
                .collect();
            if live.is_empty() {
                finish(tx, g, o, FOREGROUND);
            } else {
                for (dg, d) in live {
                    let mut d = (**d).clone();
                    // Dependents of a foreground deletion are deleted in the foreground too.
                    if !obj::owner_refs(&d).is_empty() && dependents.contains_key(obj::uid(&d)) {
                        obj::add_finalizer(&mut d, FOREGROUND);
                    }
                    collect_one(tx, dg, &d);
                }
            }
        }
    }

    namespaces(tx);
    custom_resources(cs, tx);
    default_service_accounts(tx);
    Ok(())
}

/// Removes `finalizer` from the stored object and deletes it if nothing else holds it.
fn finish(tx: &mut Tx, g: &GroupResource, o: &Value, finalizer: &str) {
    let Some(cur) = tx.get(g, obj::namespace(o), obj::name(o)) else {
        return;
    };
    let mut done = (*cur).clone();
    obj::remove_finalizer(&mut done, finalizer);
    if obj::finalizers(&done).is_empty() {
        tx.remove(g, obj::namespace(o), obj::name(o));
    } else {
        tx.put(g, done);
    }
}

fn namespaces(tx: &mut Tx) {
    let ns_gr = gr("", "namespaces");
    for ns in tx.list(&ns_gr, None) {
        if !obj::is_deleting(&ns) {
            continue;
        }
        let name = obj::name(&ns).to_string();
        let mut remaining = 0;
        for (g, o) in tx.all() {
            if g == ns_gr || obj::namespace(&o) != name {
                continue;
            }
            remaining += 1;
            collect_one(tx, &g, &o);
        }
        if remaining == 0 {
            tx.remove(&ns_gr, "", &name);
        }
    }
}

fn custom_resources(cs: &ClusterState, tx: &mut Tx) {
    let served: HashSet<(String, String)> = cs
        .registry
        .all()
        .iter()
        .map(|t| (t.group.clone(), t.resource.clone()))
        .collect();
    for (g, o) in tx.all() {
        if !served.contains(&(g.group.clone(), g.resource.clone())) {
            tx.remove(&g, obj::namespace(&o), obj::name(&o));
        }
    }
}

fn default_service_accounts(tx: &mut Tx) {
    let sa_gr = gr("", "serviceaccounts");
    for ns in tx.list(&gr("", "namespaces"), None) {
        if obj::is_deleting(&ns) {
            continue;
        }
        let name = obj::name(&ns);
        if tx.get(&sa_gr, name, "default").is_none() {
            tx.put(&sa_gr, json!({"apiVersion": "v1", "kind": "ServiceAccount",
                                  "metadata": {"name": "default", "namespace": name, "uid": obj::new_uid(), "creationTimestamp": obj::now_time()}}));
        }
    }
}
