//! Small accessors for Kubernetes objects held as JSON (`metadata.name`, labels, owner references…),
//! so the rest of the server reads like the API it implements.

use serde_json::{Map, Value, json};

pub fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or_default()
}

pub fn namespace(o: &Value) -> &str {
    o["metadata"]["namespace"].as_str().unwrap_or_default()
}

pub fn uid(o: &Value) -> &str {
    o["metadata"]["uid"].as_str().unwrap_or_default()
}

pub fn resource_version(o: &Value) -> u64 {
    o["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub fn generation(o: &Value) -> i64 {
    o["metadata"]["generation"].as_i64().unwrap_or(0)
}

pub fn labels(o: &Value) -> Option<&Map<String, Value>> {
    o["metadata"]["labels"].as_object()
}

pub fn label<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["labels"][key].as_str()
}

pub fn annotation<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o["metadata"]["annotations"][key].as_str()
}

pub fn is_deleting(o: &Value) -> bool {
    o["metadata"]["deletionTimestamp"].is_string()
}

pub fn finalizers(o: &Value) -> Vec<String> {
    o["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The mutable `metadata` map, created if missing.
pub fn meta_mut(o: &mut Value) -> &mut Map<String, Value> {
    if !o.is_object() {
        *o = json!({});
    }
    let m = o
        .as_object_mut()
        .expect("object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if !m.is_object() {
        *m = json!({});
    }
    m.as_object_mut().expect("metadata is an object")
}

pub fn set_resource_version(o: &mut Value, rv: u64) {
    meta_mut(o).insert("resourceVersion".into(), Value::String(rv.to_string()));
}

pub fn set_annotation(o: &mut Value, key: &str, value: &str) {
    let meta = meta_mut(o);
    let a = meta.entry("annotations").or_insert_with(|| json!({}));
    if !a.is_object() {
        *a = json!({});
    }
    a.as_object_mut()
        .expect("annotations")
        .insert(key.to_string(), Value::String(value.to_string()));
}

pub fn remove_annotation(o: &mut Value, key: &str) {
    if let Some(a) = meta_mut(o)
        .get_mut("annotations")
        .and_then(Value::as_object_mut)
    {
        a.remove(key);
    }
}

pub fn remove_finalizer(o: &mut Value, finalizer: &str) {
    let meta = meta_mut(o);
    if let Some(list) = meta.get_mut("finalizers").and_then(Value::as_array_mut) {
        list.retain(|f| f.as_str() != Some(finalizer));
        if list.is_empty() {
            meta.remove("finalizers");
        }
    }
}

pub fn add_finalizer(o: &mut Value, finalizer: &str) {
    let meta = meta_mut(o);
    let list = meta.entry("finalizers").or_insert_with(|| json!([]));
    if let Some(a) = list.as_array_mut()
        && !a.iter().any(|f| f.as_str() == Some(finalizer))
    {
        a.push(Value::String(finalizer.to_string()));
    }
}

/// `(apiVersion, kind, name, uid, controller)` of each owner reference.
pub fn owner_refs(o: &Value) -> Vec<OwnerRef> {
    o["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .map(|r| OwnerRef {
                    api_version: r["apiVersion"].as_str().unwrap_or_default().to_string(),
                    kind: r["kind"].as_str().unwrap_or_default().to_string(),
                    name: r["name"].as_str().unwrap_or_default().to_string(),
                    uid: r["uid"].as_str().unwrap_or_default().to_string(),
                    controller: r["controller"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: bool,
}

/// The controller owner reference pointing at `owner` (blockOwnerDeletion, as controllers set it).
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": name(owner), "uid": uid(owner),
        "controller": true, "blockOwnerDeletion": true,
    })
}

pub fn is_controlled_by(o: &Value, owner_uid: &str) -> bool {
    owner_refs(o)
        .iter()
        .any(|r| r.controller && r.uid == owner_uid)
}

/// A fresh random RFC 4122 version-4 UID.
pub fn new_uid() -> String {
    let b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6] & 0x0f,
        b[7],
        8 | (b[8] & 0x3),
        b[8] >> 4,
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// Lower-case alphanumerics as Kubernetes uses for generated name suffixes.
pub fn random_suffix(n: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..n)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}

/// Now, as Kubernetes serialises `metav1.Time` (seconds precision, UTC).
pub fn now_time() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| jiff::Timestamp::now())
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Now with millisecond precision (internal deadlines kept in annotations).
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The content of an object that `generation` tracks: everything except metadata and status.
pub fn spec_changed(old: &Value, new: &Value) -> bool {
    let skip = |k: &str| matches!(k, "metadata" | "status" | "apiVersion" | "kind");
    let (Some(a), Some(b)) = (old.as_object(), new.as_object()) else {
        return old != new;
    };
    a.iter()
        .filter(|(k, _)| !skip(k))
        .any(|(k, v)| b.get(k) != Some(v))
        || b.keys().filter(|k| !skip(k)).any(|k| !a.contains_key(k))
}
