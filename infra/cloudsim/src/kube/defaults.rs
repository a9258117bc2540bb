//! Kind-specific admission: the defaults, validation and allocations the real API server applies
//! when an object is created or replaced (Service IPs and node ports, Secret `stringData`,
//! Namespace finalizers, workload selectors, CRD registration status, the default StorageClass and
//! in-use protection of claims and volumes, claims' immutable spec).

use base64::Engine as _;
use serde_json::{Value, json};

use super::api::ApiError;
use super::discovery::{GroupResource, ResourceType, crd_resource_types};
use super::obj;
use super::selectors::LabelSelector;
use super::store::Tx;
use super::controller::volumes::{PV_PROTECTION, PVC_PROTECTION};

fn kind_of(rt: &ResourceType) -> (&str, &str) {
    (rt.group.as_str(), rt.resource.as_str())
}

/// Defaults and validation for a new object (metadata already filled in).
pub fn on_create(tx: &Tx, rt: &ResourceType, o: &mut Value) -> Result<(), ApiError> {
    let name = obj::name(o).to_string();
    match kind_of(rt) {
        ("", "namespaces") => {
            let meta = obj::meta_mut(o);
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            labels["kubernetes.io/metadata.name"] = json!(name);
            o["spec"] = json!({"finalizers": ["kubernetes"]});
            o["status"] = json!({"phase": "Active"});
        }
        ("", "secrets") => fold_string_data(o),
        ("", "services") => service_defaults(tx, o, None)?,
        ("", "pods") => {
            o["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
            pod_spec_defaults(&mut o["spec"]);
        }
        ("apps", "deployments")
        | ("apps", "replicasets")
        | ("apps", "statefulsets")
        | ("apps", "daemonsets") => {
            validate_workload(rt, &name, o)?;
            if rt.resource != "daemonsets" && o["spec"]["replicas"].is_null() {
                o["spec"]["replicas"] = json!(1);
            }
            if rt.resource == "deployments" && o["spec"]["strategy"].is_null() {
                o["spec"]["strategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            }
            if rt.resource == "statefulsets" && o["spec"]["podManagementPolicy"].is_null() {
                o["spec"]["podManagementPolicy"] = json!("OrderedReady");
            }
            // helm 3's --wait skips the readiness of a set or daemon set whose update strategy is
            // not RollingUpdate, so the default the API server fills in matters.
            if rt.resource == "statefulsets" && o["spec"]["updateStrategy"].is_null() {
                o["spec"]["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
            }
            if rt.resource == "daemonsets" && o["spec"]["updateStrategy"].is_null() {
                o["spec"]["updateStrategy"] = json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}});
            }
            for (k, v) in [
                ("revisionHistoryLimit", json!(10)),
                ("progressDeadlineSeconds", json!(600)),
            ] {
                if rt.resource == "deployments" && o["spec"][k].is_null() {
                    o["spec"][k] = v;
                }
            }
            pod_spec_defaults(&mut o["spec"]["template"]["spec"]);
        }
        ("batch", "jobs") => job_defaults(o),
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd_status(rt, &name, o)?,
        ("", "persistentvolumeclaims") => claim_defaults(tx, rt, &name, o)?,
        ("", "persistentvolumes") => {
            // The StorageObjectInUseProtection admission plugin, and the API's defaults.
            obj::add_finalizer(o, PV_PROTECTION);
            for (k, v) in [("persistentVolumeReclaimPolicy", "Retain"), ("volumeMode", "Filesystem")] {
                if o["spec"][k].is_null() {
                    o["spec"][k] = json!(v);
                }
            }
            o["status"] = json!({"phase": "Pending"});
        }
        _ => {}
    }
    if rt.group == "apps" && rt.resource == "statefulsets" && o["spec"]["persistentVolumeClaimRetentionPolicy"].is_null() {
        o["spec"]["persistentVolumeClaimRetentionPolicy"] = json!({"whenDeleted": "Retain", "whenScaled": "Retain"});
    }
    Ok(())
}

/// A new claim: the default class when it names none (DefaultStorageClass admission), in-use
/// protection, and the fields it must have.
fn claim_defaults(tx: &Tx, rt: &ResourceType, name: &str, o: &mut Value) -> Result<(), ApiError> {
    if o["spec"]["resources"]["requests"]["storage"].is_null() {
        return Err(ApiError::invalid(rt, name, "spec.resources[storage]: Required value"));
    }
    if o["spec"]["accessModes"].as_array().is_none_or(Vec::is_empty) {
        return Err(ApiError::invalid(rt, name, "spec.accessModes: Required value: at least 1 access mode is required"));
    }
    if o["spec"]["storageClassName"].is_null()
        && let Some(class) = super::controller::volumes::default_class(tx)
    {
        o["spec"]["storageClassName"] = json!(class);
    }
    if o["spec"]["volumeMode"].is_null() {
        o["spec"]["volumeMode"] = json!("Filesystem");
    }
    obj::add_finalizer(o, PVC_PROTECTION);
    o["status"] = json!({"phase": "Pending"});
    Ok(())
}

/// A claim's spec is immutable once made, but for its requested size, a volume name or class it did
/// not have yet, and `volumeAttributesClassName` (the API server's validation).
fn claim_update(rt: &ResourceType, name: &str, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    if new["spec"]["volumeMode"].is_null() {
        new["spec"]["volumeMode"] = old["spec"]["volumeMode"].clone();
    }
    let comparable = |spec: &Value, other: &Value| {
        let mut s = spec.clone();
        if let Some(m) = s.as_object_mut() {
            m.remove("volumeAttributesClassName");
            if let Some(r) = m.get_mut("resources").and_then(Value::as_object_mut) {
                r.remove("requests");
            }
            if other["volumeName"].as_str().is_none_or(str::is_empty) {
                m.remove("volumeName");
            }
            if other["storageClassName"].is_null() {
                m.remove("storageClassName");
            }
            m.retain(|_, v| !v.is_null());
        }
        s
    };
    if comparable(&old["spec"], &old["spec"]) != comparable(&new["spec"], &old["spec"]) {
        return Err(ApiError::invalid(rt, name, "spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"));
    }
    Ok(())
}

/// Rules for replacing `old` with `new` (status and identity already carried over).
pub fn on_update(tx: &Tx, rt: &ResourceType, old: &Value, new: &mut Value) -> Result<(), ApiError> {
    let name = obj::name(new).to_string();
    match kind_of(rt) {
        ("", "namespaces") if new["spec"].is_null() => {
            new["spec"] = old["spec"].clone();
        }
        ("", "secrets") => fold_string_data(new),
        ("", "services") => service_defaults(tx, new, Some(old))?,
        ("apps", "deployments")
        | ("apps", "replicasets")
        | ("apps", "statefulsets")
        | ("apps", "daemonsets") => {
            validate_workload(rt, &name, new)?;
            if old["spec"]["selector"] != new["spec"]["selector"]
                && !new["spec"]["selector"].is_null()
            {
                return Err(ApiError::invalid(
                    rt,
                    &name,
                    "spec.selector: Invalid value: field is immutable",
                ));
            }
        }
        ("", "persistentvolumeclaims") => claim_update(rt, &name, old, new)?,
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            if new["status"].is_null() || new["status"]["conditions"].is_null() {
                crd_status(rt, &name, new)?;
            } else {
                crd_resource_types(new).map_err(|e| ApiError::invalid(rt, &name, e))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn fold_string_data(o: &mut Value) {
    if let Some(sd) = o.get("stringData").and_then(Value::as_object).cloned() {
        let data = o
            .as_object_mut()
            .expect("object")
            .entry("data")
            .or_insert_with(|| json!({}));
        for (k, v) in sd {
            data[k] = json!(
                base64::engine::general_purpose::STANDARD.encode(v.as_str().unwrap_or_default())
            );
        }
        o.as_object_mut().expect("object").remove("stringData");
    }
    if o["type"].is_null() {
        o["type"] = json!("Opaque");
    }
}

fn pod_spec_defaults(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for (k, v) in [
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
    ] {
        if spec[k].is_null() {
            spec[k] = json!(v);
        }
    }
    if spec["terminationGracePeriodSeconds"].is_null() {
        spec["terminationGracePeriodSeconds"] = json!(30);
    }
}

fn validate_workload(rt: &ResourceType, name: &str, o: &Value) -> Result<(), ApiError> {
    let selector = &o["spec"]["selector"];
    if !selector.is_object() {
        return Err(ApiError::invalid(rt, name, "spec.selector: Required value"));
    }
    let template_labels = &o["spec"]["template"]["metadata"]["labels"];
    if !LabelSelector::from_label_selector(selector).matches_labels(template_labels) {
        return Err(ApiError::invalid(
            rt,
            name,
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
        ));
    }
    if o["spec"]["template"]["spec"]["containers"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        return Err(ApiError::invalid(
            rt,
            name,
            "spec.template.spec.containers: Required value",
        ));
    }
    Ok(())
}

fn job_defaults(o: &mut Value) {
    let uid = obj::uid(o).to_string();
    let name = obj::name(o).to_string();
    let spec = &mut o["spec"];
    for (k, v) in [("completions", 1), ("parallelism", 1), ("backoffLimit", 6)] {
        if spec[k].is_null() {
            spec[k] = json!(v);
        }
    }
    if spec["selector"].is_null() {
        spec["selector"] = json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}});
    }
    let labels = &mut spec["template"]["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", &uid),
        ("controller-uid", &uid),
        ("batch.kubernetes.io/job-name", &name),
        ("job-name", &name),
    ] {
        labels[k] = json!(v);
    }
    if spec["template"]["spec"]["restartPolicy"].is_null() {
        spec["template"]["spec"]["restartPolicy"] = json!("Never");
    }
}

fn crd_status(rt: &ResourceType, name: &str, o: &mut Value) -> Result<(), ApiError> {
    let types = crd_resource_types(o).map_err(|e| ApiError::invalid(rt, name, e))?;
    let storage = o["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["storage"] == true))
        .map(|v| v["name"].clone())
        .unwrap_or_else(|| json!(types.first().map(|t| t.version.clone())));
    let now = obj::now_time();
    o["status"] = json!({
        "acceptedNames": o["spec"]["names"],
        "storedVersions": [storage],
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
        ],
    });
    Ok(())
}

/// Service defaults: type, protocol, targetPort, and allocated cluster IP and node ports
/// (kept from `old` on replace, as the real API server does).
fn service_defaults(tx: &Tx, o: &mut Value, old: Option<&Value>) -> Result<(), ApiError> {
    let spec = &mut o["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    if spec["type"].is_null() {
        spec["type"] = json!("ClusterIP");
    }
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = json!("None");
    }
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if let Some(old) = old {
        for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec[k].is_null() && !old["spec"][k].is_null() {
                spec[k] = old["spec"][k].clone();
            }
        }
    }
    let services = tx.list(&GroupResource::new("", "services"), None);
    if ty != "ExternalName" && spec["clusterIP"].is_null() {
        let used: Vec<&str> = services
            .iter()
            .filter_map(|s| s["spec"]["clusterIP"].as_str())
            .collect();
        let ip = loop {
            let ip = format!("10.100.{}.{}", fastrand::u8(0..=255), fastrand::u8(1..=254));
            if !used.contains(&ip.as_str()) {
                break ip;
            }
        };
        spec["clusterIP"] = json!(ip);
        spec["clusterIPs"] = json!([ip]);
        spec["ipFamilies"] = json!(["IPv4"]);
        spec["ipFamilyPolicy"] = json!("SingleStack");
    }
    let needs_node_ports = ty == "NodePort" || ty == "LoadBalancer";
    let used_ports: Vec<i64> = services
        .iter()
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_i64())
        .collect();
    let old_ports = old
        .and_then(|o| o["spec"]["ports"].as_array().cloned())
        .unwrap_or_default();
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports.iter_mut() {
            if p["protocol"].is_null() {
                p["protocol"] = json!("TCP");
            }
            if p["targetPort"].is_null() {
                p["targetPort"] = p["port"].clone();
            }
            if needs_node_ports && p["nodePort"].is_null() {
                let kept = old_ports
                    .iter()
                    .find(|op| op["port"] == p["port"])
                    .and_then(|op| op["nodePort"].as_i64());
                let port = kept.unwrap_or_else(|| {
                    loop {
                        let n = fastrand::i64(30000..=32767);
                        if !used_ports.contains(&n) {
                            break n;
                        }
                    }
                });
                p["nodePort"] = json!(port);
            }
            if !needs_node_ports && let Some(m) = p.as_object_mut() {
                m.remove("nodePort");
            }
        }
    }
    if ty == "LoadBalancer" {
        if spec["externalTrafficPolicy"].is_null() {
            spec["externalTrafficPolicy"] = json!("Cluster");
        }
        if spec["allocateLoadBalancerNodePorts"].is_null() {
            spec["allocateLoadBalancerNodePorts"] = json!(true);
        }
    }
    if o["status"].is_null() {
        o["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}
