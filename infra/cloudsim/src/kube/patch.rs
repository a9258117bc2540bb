//! The four PATCH flavours the API accepts: JSON merge patch (RFC 7386), JSON patch (RFC 6902),
//! strategic merge patch (the common cases: lists merged by their Kubernetes merge key, `$patch`
//! directives, `$retainKeys`, `$deleteFromPrimitiveList`, `$setElementOrder` ignored), and
//! server-side apply with per-manager field ownership recorded in `metadata.managedFields`
//! (fields a manager applied before and no longer applies are removed; conflicts between managers
//! are not detected).

use serde_json::{Map, Value, json};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PatchError(pub String);

/// RFC 7386: null deletes, objects merge recursively, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// The merge key Kubernetes declares for a list field, guessed from the field name and its items
/// (container `ports` merge on containerPort, Service `ports` on port).
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "taints" => "key",
        "hostAliases" => "ip",
        "readinessGates" => "conditionType",
        "topologySpreadConstraints" => "topologyKey",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        _ => return None,
    })
}

/// Strategic merge patch.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) -> Result<(), PatchError> {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return Ok(());
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut p = p.clone();
            p.remove("$patch");
            *target = Value::Object(p);
            return Ok(());
        }
        Some("delete") => {
            *target = Value::Null;
            return Ok(());
        }
        Some(other) if other != "merge" => {
            return Err(PatchError(format!("unknown $patch directive `{other}`")));
        }
        _ => {}
    }
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(list), Some(remove)) =
                (t.get_mut(field).and_then(Value::as_array_mut), v.as_array())
            {
                list.retain(|x| !remove.contains(x));
            }
            continue;
        }
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Array(items) => {
                let existing = t
                    .get(k)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let merged = merge_list(k, existing, items)?;
                t.insert(k.clone(), Value::Array(merged));
            }
            Value::Object(_) => {
                let slot = t.entry(k.clone()).or_insert(Value::Null);
                strategic_merge_patch(slot, v)?;
                if slot.is_null() {
                    t.remove(k);
                }
            }
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(retain) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = retain.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()));
    }
    Ok(())
}

fn merge_list(
    field: &str,
    existing: Vec<Value>,
    patch: &[Value],
) -> Result<Vec<Value>, PatchError> {
    if patch.len() == 1 && patch[0].get("$patch").and_then(Value::as_str) == Some("replace") {
        return Ok(Vec::new());
    }
    let all: Vec<Value> = existing.iter().chain(patch).cloned().collect();
    let Some(key) = merge_key(field, &all) else {
        // Lists without a merge key are replaced, except the primitive sets Kubernetes merges.
        if field == "finalizers" {
            let mut out = existing;
            for v in patch {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            return Ok(out);
        }
        return Ok(patch
            .iter()
            .filter(|v| v.get("$patch").is_none())
            .cloned()
            .collect());
    };
    let mut out = existing;
    for item in patch {
        let id = item.get(key).cloned();
        let pos = id
            .as_ref()
            .and_then(|id| out.iter().position(|e| e.get(key) == Some(id)));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                out.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => strategic_merge_patch(&mut out[i], item)?,
            None => {
                let mut fresh = Value::Null;
                strategic_merge_patch(&mut fresh, item)?;
                out.push(fresh);
            }
        }
    }
    Ok(out)
}

/// RFC 6902 JSON patch.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| PatchError("a JSON patch must be an array of operations".into()))?;
    for op in ops {
        let kind = op["op"]
            .as_str()
            .ok_or_else(|| PatchError("every JSON patch operation needs `op`".into()))?;
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError(format!("the `{kind}` operation needs `path`")))?;
        match kind {
            "add" => add(target, path, op["value"].clone())?,
            "remove" => {
                remove(target, path)?;
            }
            "replace" => {
                remove(target, path)?;
                add(target, path, op["value"].clone())?;
            }
            "move" | "copy" => {
                let from = op["from"]
                    .as_str()
                    .ok_or_else(|| PatchError(format!("the `{kind}` operation needs `from`")))?;
                let v = if kind == "move" {
                    remove(target, from)?
                } else {
                    target.pointer(from).cloned().ok_or_else(|| missing(from))?
                };
                add(target, path, v)?;
            }
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(PatchError(format!("test operation failed at {path}")));
                }
            }
            other => {
                return Err(PatchError(format!(
                    "unknown JSON patch operation `{other}`"
                )));
            }
        }
    }
    Ok(())
}

fn missing(path: &str) -> PatchError {
    PatchError(format!("path {path} does not exist"))
}

fn split_pointer(path: &str) -> Result<(String, String), PatchError> {
    let i = path
        .rfind('/')
        .ok_or_else(|| PatchError(format!("`{path}` is not a JSON pointer")))?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..i].to_string(), last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    match target
        .pointer_mut(&parent)
        .ok_or_else(|| missing(&parent))?
    {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last.parse().map_err(|_| missing(path))?;
                if i > a.len() {
                    return Err(missing(path));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(missing(path)),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, last) = split_pointer(path)?;
    match target
        .pointer_mut(&parent)
        .ok_or_else(|| missing(&parent))?
    {
        Value::Object(m) => m.remove(&last).ok_or_else(|| missing(path)),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing(path))?;
            if i >= a.len() {
                return Err(missing(path));
            }
            Ok(a.remove(i))
        }
        _ => Err(missing(path)),
    }
}

/// The set of fields `config` sets, in the `FieldsV1` format (`f:<field>`, `k:<merge key JSON>`).
pub fn field_set(config: &Value) -> Value {
    fn walk(v: &Value, field: &str) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, child) in m {
                    out.insert(format!("f:{k}"), walk(child, k));
                }
                Value::Object(out)
            }
            Value::Array(items) => match merge_key(field, items) {
                Some(key) if items.iter().all(|i| i.get(key).is_some()) => {
                    let mut out = Map::new();
                    for item in items {
                        out.insert(format!("k:{}", json!({key: item[key]})), walk(item, ""));
                    }
                    Value::Object(out)
                }
                // Atomic lists are owned as a whole.
                _ => json!({}),
            },
            _ => json!({}),
        }
    }
    let mut set = walk(config, "");
    if let Some(m) = set.as_object_mut() {
        m.remove("f:apiVersion");
        m.remove("f:kind");
        m.remove("f:status");
        if let Some(meta) = m.get_mut("f:metadata").and_then(Value::as_object_mut) {
            for k in [
                "f:name",
                "f:namespace",
                "f:uid",
                "f:resourceVersion",
                "f:creationTimestamp",
                "f:generation",
                "f:managedFields",
            ] {
                meta.remove(k);
            }
        }
    }
    set
}

/// Removes from `target` what `old` owned and `new` does not.
fn remove_unowned(target: &mut Value, old: &Value, new: &Value) {
    let (Some(old), Some(t)) = (old.as_object(), target.as_object_mut()) else {
        return;
    };
    for (k, old_child) in old {
        let new_child = new.get(k);
        if let Some(field) = k.strip_prefix("f:") {
            match new_child {
                None => {
                    t.remove(field);
                }
                Some(nc) => {
                    if let Some(slot) = t.get_mut(field) {
                        if slot.is_array() {
                            remove_unowned_items(slot, old_child, nc);
                        } else {
                            remove_unowned(slot, old_child, nc);
                        }
                    }
                }
            }
        }
    }
}

fn remove_unowned_items(list: &mut Value, old: &Value, new: &Value) {
    let (Some(old), Some(items)) = (old.as_object(), list.as_array_mut()) else {
        return;
    };
    for (k, old_child) in old {
        let Some(key_json) = k.strip_prefix("k:") else {
            continue;
        };
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key_json) else {
            continue;
        };
        let Some(pos) = items
            .iter()
            .position(|i| key.iter().all(|(kk, kv)| i.get(kk) == Some(kv)))
        else {
            continue;
        };
        match new.get(k) {
            None => {
                items.remove(pos);
            }
            Some(nc) => remove_unowned(&mut items[pos], old_child, nc),
        }
    }
}

/// Merges an applied configuration: maps recursively, keyed lists by key, everything else replaced.
fn apply_merge(target: &mut Value, config: &Value, field: &str) {
    match (target, config) {
        (Value::Object(t), Value::Object(c)) => {
            for (k, v) in c {
                match t.get_mut(k) {
                    Some(slot) => apply_merge(slot, v, k),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(c)) => {
            let all: Vec<Value> = t.iter().chain(c).cloned().collect();
            match merge_key(field, &all) {
                Some(key) if all.iter().all(|i| i.get(key).is_some()) => {
                    for item in c {
                        match t.iter_mut().find(|e| e.get(key) == item.get(key)) {
                            Some(e) => apply_merge(e, item, ""),
                            None => t.push(item.clone()),
                        }
                    }
                }
                _ => *t = c.clone(),
            }
        }
        (t, c) => *t = c.clone(),
    }
}

/// Server-side apply of `config` by `manager` onto `live` (None = create). Returns the new object.
pub fn server_side_apply(live: Option<&Value>, config: &Value, manager: &str, now: &str) -> Value {
    let new_set = field_set(config);
    let api_version = config["apiVersion"].clone();
    let mut result = match live {
        None => config.clone(),
        Some(live) => {
            let mut result = live.clone();
            let old_set = managed_entry(live, manager)
                .map(|e| e["fieldsV1"].clone())
                .unwrap_or_else(|| json!({}));
            remove_unowned(&mut result, &old_set, &new_set);
            apply_merge(&mut result, config, "");
            result
        }
    };
    let entry = json!({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now,
                       "fieldsType": "FieldsV1", "fieldsV1": new_set});
    let meta = super::obj::meta_mut(&mut result);
    let mut entries: Vec<Value> = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter(|e| !(e["manager"] == manager && e["operation"] == "Apply"))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    entries.push(entry);
    meta.insert("managedFields".into(), Value::Array(entries));
    result
}

fn managed_entry<'a>(o: &'a Value, manager: &str) -> Option<&'a Value> {
    o["metadata"]["managedFields"]
        .as_array()?
        .iter()
        .find(|e| e["manager"] == manager && e["operation"] == "Apply")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_deletes_with_null_and_merges_maps() {
        let mut t = json!({"a": {"b": 1, "c": 2}, "d": [1, 2]});
        merge_patch(&mut t, &json!({"a": {"b": null, "e": 3}, "d": [3]}));
        assert_eq!(t, json!({"a": {"c": 2, "e": 3}, "d": [3]}));
    }

    #[test]
    fn strategic_patch_merges_containers_by_name_and_honours_delete() {
        let mut t = json!({"spec": {"replicas": 1, "containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}});
        let p = json!({"spec": {"replicas": 2, "$setElementOrder/containers": [{"name": "a"}],
                       "containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"}]}});
        strategic_merge_patch(&mut t, &p).unwrap();
        assert_eq!(
            t,
            json!({"spec": {"replicas": 2, "containers": [{"name": "a", "image": "x:2"}]}})
        );
    }

    #[test]
    fn json_patch_applies_operations_in_order() {
        let mut t = json!({"spec": {"replicas": 1, "list": [1]}});
        json_patch(
            &mut t,
            &json!([{"op": "replace", "path": "/spec/replicas", "value": 3},
                                   {"op": "add", "path": "/spec/list/-", "value": 2},
                                   {"op": "test", "path": "/spec/replicas", "value": 3}]),
        )
        .unwrap();
        assert_eq!(t, json!({"spec": {"replicas": 3, "list": [1, 2]}}));
        assert!(json_patch(&mut t, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }

    #[test]
    fn apply_removes_fields_the_manager_stopped_applying_and_keeps_others() {
        let first = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"x": "1", "y": "2"}});
        let live = server_side_apply(None, &first, "helm", "t");
        let mut live2 = live.clone();
        live2["data"]["z"] = json!("from-someone-else");
        let second = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "10"}});
        let out = server_side_apply(Some(&live2), &second, "helm", "t");
        assert_eq!(out["data"], json!({"x": "10", "z": "from-someone-else"}));
        assert!(out["metadata"]["labels"].get("a").is_none());
    }
}
