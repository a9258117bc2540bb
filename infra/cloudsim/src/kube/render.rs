//! How stored objects are shown to clients: at the apiVersion the client asked for, as lists built
//! without copying the store, as `Table`s for `kubectl get`, or as `PartialObjectMetadata`.

use std::borrow::Cow;
use std::sync::Arc;

use http::StatusCode;
use serde_json::{Value, json};

use super::api::Reply;
use super::discovery::ResourceType;
use super::obj;

/// What the `Accept` header asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Full,
    Table,
    Metadata,
}

pub fn shape(accept: &str) -> Shape {
    // Clients list preferences; the first one we can serve wins.
    for part in accept.split(',') {
        let p = part.replace(' ', "");
        if p.contains("as=Table") {
            return Shape::Table;
        }
        if p.contains("as=PartialObjectMetadata") {
            return Shape::Metadata;
        }
        if p.starts_with("application/json")
            || p.starts_with("*/*")
            || p.starts_with("application/vnd.kubernetes.protobuf")
        {
            return Shape::Full;
        }
    }
    Shape::Full
}

/// The object as served at `rt`'s version.
pub fn at_version<'a>(rt: &ResourceType, o: &'a Value) -> Cow<'a, Value> {
    let want = rt.api_version();
    if o["apiVersion"].as_str() == Some(want.as_str()) {
        Cow::Borrowed(o)
    } else {
        let mut c = o.clone();
        c["apiVersion"] = Value::String(want);
        Cow::Owned(c)
    }
}

fn partial(o: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
}

pub fn one(rt: &ResourceType, o: &Value, accept: &str, code: StatusCode) -> Reply {
    match shape(accept) {
        Shape::Full => Reply::Json(code, at_version(rt, o).into_owned()),
        Shape::Metadata => Reply::Json(code, partial(o)),
        Shape::Table => Reply::Json(
            code,
            table(rt, std::slice::from_ref(&Arc::new(o.clone())), 0),
        ),
    }
}

pub fn list(rt: &ResourceType, items: &[Arc<Value>], rv: u64, accept: &str) -> Reply {
    match shape(accept) {
        Shape::Table => Reply::Json(StatusCode::OK, table(rt, items, rv)),
        Shape::Metadata => Reply::Json(
            StatusCode::OK,
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": {"resourceVersion": rv.to_string()},
                   "items": items.iter().map(|o| partial(o)).collect::<Vec<_>>()}),
        ),
        Shape::Full => {
            let mut out = Vec::with_capacity(256 + items.len() * 1024);
            let head = json!({"kind": rt.list_kind(), "apiVersion": rt.api_version(), "metadata": {"resourceVersion": rv.to_string()}});
            let head = serde_json::to_vec(&head).expect("serialisable");
            out.extend_from_slice(&head[..head.len() - 1]);
            out.extend_from_slice(b",\"items\":[");
            for (i, o) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut out, at_version(rt, o).as_ref()).expect("serialisable");
            }
            out.extend_from_slice(b"]}");
            Reply::Raw(StatusCode::OK, "application/json", out)
        }
    }
}

fn age(o: &Value) -> String {
    let Some(created) = o["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|s| s.parse::<jiff::Timestamp>().ok())
    else {
        return "<unknown>".into();
    };
    let secs = (jiff::Timestamp::now().as_second() - created.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn condition(o: &Value, ty: &str) -> String {
    o["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty))
        .map(|c| s(&c["status"]))
        .unwrap_or_else(|| "Unknown".into())
}

/// Extra columns for the kinds people `kubectl get` most.
fn columns(rt: &ResourceType) -> Vec<(&'static str, &'static str)> {
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "nodes") => vec![("Status", "string"), ("Version", "string")],
        ("", "pods") => vec![
            ("Ready", "string"),
            ("Status", "string"),
            ("Restarts", "integer"),
            ("Node", "string"),
        ],
        ("", "services") => vec![
            ("Type", "string"),
            ("Cluster-IP", "string"),
            ("External-IP", "string"),
            ("Port(s)", "string"),
        ],
        ("", "namespaces") => vec![("Status", "string")],
        ("apps", "deployments") => vec![
            ("Ready", "string"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
        ],
        ("apps", "replicasets") => vec![
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
        ],
        ("apps", "statefulsets") => vec![("Ready", "string")],
        ("apps", "daemonsets") => vec![
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
        ],
        ("batch", "jobs") => vec![("Status", "string"), ("Completions", "string")],
        ("", "persistentvolumes") => vec![
            ("Capacity", "string"),
            ("Access Modes", "string"),
            ("Reclaim Policy", "string"),
            ("Status", "string"),
            ("Claim", "string"),
            ("StorageClass", "string"),
            ("VolumeAttributesClass", "string"),
            ("Reason", "string"),
        ],
        ("", "persistentvolumeclaims") => vec![
            ("Status", "string"),
            ("Volume", "string"),
            ("Capacity", "string"),
            ("Access Modes", "string"),
            ("StorageClass", "string"),
            ("VolumeAttributesClass", "string"),
        ],
        ("storage.k8s.io", "storageclasses") => vec![
            ("Provisioner", "string"),
            ("ReclaimPolicy", "string"),
            ("VolumeBindingMode", "string"),
            ("AllowVolumeExpansion", "string"),
        ],
        ("storage.k8s.io", "volumeattachments") => vec![
            ("Attacher", "string"),
            ("PV", "string"),
            ("Node", "string"),
            ("Attached", "boolean"),
        ],
        _ => vec![],
    }
}

/// `RWO,ROX`: access modes as kubectl abbreviates them.
fn access_modes(modes: &Value) -> String {
    let short = |m: &str| match m {
        "ReadWriteOnce" => "RWO".to_string(),
        "ReadOnlyMany" => "ROX".to_string(),
        "ReadWriteMany" => "RWX".to_string(),
        "ReadWriteOncePod" => "RWOP".to_string(),
        other => other.to_string(),
    };
    modes.as_array().map(|ms| ms.iter().filter_map(Value::as_str).map(short).collect::<Vec<_>>().join(",")).unwrap_or_default()
}

/// `<unset>` for an empty value, as kubectl prints optional storage columns.
fn or_unset(v: &Value) -> String {
    Some(s(v)).filter(|v| !v.is_empty()).unwrap_or_else(|| "<unset>".into())
}

fn cells(rt: &ResourceType, o: &Value) -> Vec<Value> {
    let st = &o["status"];
    let i = |v: &Value| json!(v.as_i64().unwrap_or(0));
    match (rt.group.as_str(), rt.resource.as_str()) {
        ("", "nodes") => {
            let ready = if condition(o, "Ready") == "True" {
                "Ready"
            } else {
                "NotReady"
            };
            vec![json!(ready), json!(s(&st["nodeInfo"]["kubeletVersion"]))]
        }
        ("", "pods") => {
            let cs = st["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = cs.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = cs
                .iter()
                .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                .sum();
            let waiting = cs
                .iter()
                .find_map(|c| c["state"]["waiting"]["reason"].as_str().map(str::to_string));
            let phase = if obj::is_deleting(o) {
                "Terminating".to_string()
            } else {
                waiting.unwrap_or_else(|| s(&st["phase"]))
            };
            vec![
                json!(format!("{ready}/{total}")),
                json!(phase),
                json!(restarts),
                json!(s(&o["spec"]["nodeName"])),
            ]
        }
        ("", "services") => {
            let ext = st["loadBalancer"]["ingress"][0]["hostname"]
                .as_str()
                .unwrap_or(if o["spec"]["type"] == "LoadBalancer" {
                    "<pending>"
                } else {
                    "<none>"
                });
            let ports: Vec<String> = o["spec"]["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            format!(
                                "{}/{}",
                                s(&p["port"]),
                                p["protocol"].as_str().unwrap_or("TCP")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            vec![
                json!(s(&o["spec"]["type"])),
                json!(s(&o["spec"]["clusterIP"])),
                json!(ext),
                json!(ports.join(",")),
            ]
        }
        ("", "namespaces") => vec![json!(s(&st["phase"]))],
        ("apps", "deployments") | ("apps", "statefulsets") => {
            let mut c = vec![json!(format!(
                "{}/{}",
                st["readyReplicas"].as_i64().unwrap_or(0),
                o["spec"]["replicas"].as_i64().unwrap_or(1)
            ))];
            if rt.resource == "deployments" {
                c.push(i(&st["updatedReplicas"]));
                c.push(i(&st["availableReplicas"]));
            }
            c
        }
        ("", "persistentvolumes") => {
            let claim = &o["spec"]["claimRef"];
            let claim = if claim.is_null() { String::new() } else { format!("{}/{}", s(&claim["namespace"]), s(&claim["name"])) };
            let reclaim = &o["spec"]["persistentVolumeReclaimPolicy"];
            vec![
                json!(s(&o["spec"]["capacity"]["storage"])),
                json!(access_modes(&o["spec"]["accessModes"])),
                json!(s(reclaim)),
                json!(if obj::is_deleting(o) { "Terminating".to_string() } else { s(&st["phase"]) }),
                json!(claim),
                json!(s(&o["spec"]["storageClassName"])),
                json!(or_unset(&o["spec"]["volumeAttributesClassName"])),
                json!(s(&st["reason"])),
            ]
        }
        ("", "persistentvolumeclaims") => vec![
            json!(if obj::is_deleting(o) { "Terminating".to_string() } else { s(&st["phase"]) }),
            json!(s(&o["spec"]["volumeName"])),
            json!(s(&st["capacity"]["storage"])),
            json!(access_modes(&st["accessModes"])),
            json!(s(&o["spec"]["storageClassName"])),
            json!(or_unset(&o["spec"]["volumeAttributesClassName"])),
        ],
        ("storage.k8s.io", "storageclasses") => vec![
            json!(s(&o["provisioner"])),
            json!(o["reclaimPolicy"].as_str().unwrap_or("Delete")),
            json!(o["volumeBindingMode"].as_str().unwrap_or("Immediate")),
            json!(o["allowVolumeExpansion"].as_bool().unwrap_or(false).to_string()),
        ],
        ("storage.k8s.io", "volumeattachments") => vec![
            json!(s(&o["spec"]["attacher"])),
            json!(s(&o["spec"]["source"]["persistentVolumeName"])),
            json!(s(&o["spec"]["nodeName"])),
            json!(st["attached"].as_bool().unwrap_or(false)),
        ],
        ("apps", "replicasets") => vec![
            i(&o["spec"]["replicas"]),
            i(&st["replicas"]),
            i(&st["readyReplicas"]),
        ],
        ("apps", "daemonsets") => vec![
            i(&st["desiredNumberScheduled"]),
            i(&st["currentNumberScheduled"]),
            i(&st["numberReady"]),
        ],
        ("batch", "jobs") => {
            let status = if condition(o, "Complete") == "True" {
                "Complete"
            } else if condition(o, "Failed") == "True" {
                "Failed"
            } else {
                "Running"
            };
            vec![
                json!(status),
                json!(format!(
                    "{}/{}",
                    st["succeeded"].as_i64().unwrap_or(0),
                    o["spec"]["completions"].as_i64().unwrap_or(1)
                )),
            ]
        }
        _ => vec![],
    }
}

/// The Name cell: the default StorageClass says so, as kubectl shows it.
fn display_name(rt: &ResourceType, o: &Value) -> String {
    let default = rt.group == "storage.k8s.io"
        && rt.resource == "storageclasses"
        && obj::annotation(o, "storageclass.kubernetes.io/is-default-class") == Some("true");
    if default { format!("{} (default)", obj::name(o)) } else { obj::name(o).to_string() }
}

pub fn table(rt: &ResourceType, items: &[Arc<Value>], rv: u64) -> Value {
    let mut defs = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}),
    ];
    for (name, ty) in columns(rt) {
        defs.push(
            json!({"name": name, "type": ty, "format": "", "description": name, "priority": 0}),
        );
    }
    defs.push(
        json!({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0}),
    );
    let rows: Vec<Value> = items
        .iter()
        .map(|o| {
            let mut c = vec![json!(display_name(rt, o))];
            c.extend(cells(rt, o));
            c.push(json!(age(o)));
            json!({"cells": c, "object": partial(o)})
        })
        .collect();
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv.to_string()},
           "columnDefinitions": defs, "rows": rows})
}
