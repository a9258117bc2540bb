//! The resource registry and the discovery documents built from it.
//!
//! Owns which resources exist (the built-in kinds helm charts and kubectl use, plus resources defined
//! by CustomResourceDefinitions at run time), and renders `/api`, `/apis`, `/apis/<group>` and the
//! group-version resource lists that clients read before anything else.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::{Value, json};

/// One servable resource at one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    /// Plural, lower case: `deployments`.
    pub resource: String,
    pub kind: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    pub scale_subresource: bool,
    /// Defined by a CRD (as opposed to built in).
    pub custom: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Objects are stored once per group + resource, whatever version they were written at.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource {
            group: self.group.clone(),
            resource: self.resource.clone(),
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    pub group: String,
    pub resource: String,
}

impl GroupResource {
    pub fn new(group: &str, resource: &str) -> Self {
        GroupResource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }
}

impl std::fmt::Display for GroupResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// (group/version, resource, kind, namespaced, short names, status, scale)
type Builtin = (
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    bool,
    bool,
);

const BUILTINS: &[Builtin] = &[
    ("v1", "namespaces", "Namespace", false, &["ns"], true, false),
    ("v1", "nodes", "Node", false, &["no"], true, false),
    ("v1", "pods", "Pod", true, &["po"], true, false),
    ("v1", "services", "Service", true, &["svc"], true, false),
    ("v1", "secrets", "Secret", true, &[], false, false),
    ("v1", "configmaps", "ConfigMap", true, &["cm"], false, false),
    (
        "v1",
        "serviceaccounts",
        "ServiceAccount",
        true,
        &["sa"],
        false,
        false,
    ),
    ("v1", "events", "Event", true, &["ev"], false, false),
    ("v1", "endpoints", "Endpoints", true, &["ep"], false, false),
    (
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
        true,
        false,
    ),
    (
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
        true,
        false,
    ),
    (
        "v1",
        "limitranges",
        "LimitRange",
        true,
        &["limits"],
        false,
        false,
    ),
    (
        "v1",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
        true,
        false,
    ),
    (
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
        &["rc"],
        true,
        true,
    ),
    ("v1", "podtemplates", "PodTemplate", true, &[], false, false),
    (
        "apps/v1",
        "deployments",
        "Deployment",
        true,
        &["deploy"],
        true,
        true,
    ),
    (
        "apps/v1",
        "replicasets",
        "ReplicaSet",
        true,
        &["rs"],
        true,
        true,
    ),
    (
        "apps/v1",
        "statefulsets",
        "StatefulSet",
        true,
        &["sts"],
        true,
        true,
    ),
    (
        "apps/v1",
        "daemonsets",
        "DaemonSet",
        true,
        &["ds"],
        true,
        false,
    ),
    (
        "apps/v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
        false,
        false,
    ),
    ("batch/v1", "jobs", "Job", true, &[], true, false),
    (
        "batch/v1",
        "cronjobs",
        "CronJob",
        true,
        &["cj"],
        true,
        false,
    ),
    (
        "networking.k8s.io/v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
        true,
        false,
    ),
    (
        "networking.k8s.io/v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
        false,
        false,
    ),
    (
        "networking.k8s.io/v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "roles",
        "Role",
        true,
        &[],
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
        false,
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
        false,
        false,
    ),
    (
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        true,
        false,
    ),
    (
        "apiregistration.k8s.io/v1",
        "apiservices",
        "APIService",
        false,
        &[],
        true,
        false,
    ),
    (
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        true,
        false,
    ),
    (
        "autoscaling/v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        true,
        false,
    ),
    (
        "autoscaling/v1",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
        true,
        false,
    ),
    (
        "coordination.k8s.io/v1",
        "leases",
        "Lease",
        true,
        &[],
        false,
        false,
    ),
    (
        "storage.k8s.io/v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
        false,
        false,
    ),
    (
        "storage.k8s.io/v1",
        "volumeattachments",
        "VolumeAttachment",
        false,
        &[],
        true,
        false,
    ),
    (
        "storage.k8s.io/v1",
        "csidrivers",
        "CSIDriver",
        false,
        &[],
        false,
        false,
    ),
    (
        "scheduling.k8s.io/v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
        false,
        false,
    ),
    (
        "node.k8s.io/v1",
        "runtimeclasses",
        "RuntimeClass",
        false,
        &[],
        false,
        false,
    ),
    (
        "discovery.k8s.io/v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
        false,
        false,
    ),
    (
        "events.k8s.io/v1",
        "events",
        "Event",
        true,
        &["ev"],
        false,
        false,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
        false,
        false,
    ),
    (
        "admissionregistration.k8s.io/v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
        false,
        false,
    ),
];

/// Every resource the cluster serves; CRDs add and remove entries while it runs.
#[derive(Debug)]
pub struct Registry {
    types: RwLock<Vec<Arc<ResourceType>>>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    pub fn new() -> Self {
        let types = BUILTINS
            .iter()
            .map(|&(gv, resource, kind, namespaced, short, status, scale)| {
                let (group, version) = gv.split_once('/').unwrap_or(("", gv));
                Arc::new(ResourceType {
                    group: group.to_string(),
                    version: version.to_string(),
                    resource: resource.to_string(),
                    kind: kind.to_string(),
                    singular: kind.to_ascii_lowercase(),
                    namespaced,
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    categories: if matches!(
                        resource,
                        "pods"
                            | "services"
                            | "deployments"
                            | "replicasets"
                            | "statefulsets"
                            | "daemonsets"
                            | "jobs"
                            | "cronjobs"
                            | "replicationcontrollers"
                    ) {
                        vec!["all".to_string()]
                    } else {
                        vec![]
                    },
                    status_subresource: status,
                    scale_subresource: scale,
                    custom: false,
                })
            })
            .collect();
        Registry {
            types: RwLock::new(types),
        }
    }

    pub fn lookup(&self, group: &str, version: &str, resource: &str) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .expect("registry lock")
            .iter()
            .find(|t| t.group == group && t.version == version && t.resource == resource)
            .cloned()
    }

    /// The preferred (first registered) version of a group + resource.
    pub fn preferred(&self, gr: &GroupResource) -> Option<Arc<ResourceType>> {
        self.types
            .read()
            .expect("registry lock")
            .iter()
            .find(|t| t.group == gr.group && t.resource == gr.resource)
            .cloned()
    }

    /// The resource type for an `apiVersion` + `kind` (e.g. to follow an ownerReference).
    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<Arc<ResourceType>> {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let types = self.types.read().expect("registry lock");
        types
            .iter()
            .find(|t| t.group == group && t.version == version && t.kind == kind)
            .or_else(|| types.iter().find(|t| t.group == group && t.kind == kind))
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<ResourceType>> {
        self.types.read().expect("registry lock").clone()
    }

    /// Replaces the resources a CRD defines (`group`, `plural`) with `defs`; an empty `defs` removes them.
    pub fn set_custom(&self, group: &str, plural: &str, defs: Vec<ResourceType>) {
        let mut types = self.types.write().expect("registry lock");
        types.retain(|t| !(t.custom && t.group == group && t.resource == plural));
        types.extend(defs.into_iter().map(Arc::new));
    }

    /// Groups in registration order, each with its versions in registration order (first = preferred).
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in self
            .types
            .read()
            .expect("registry lock")
            .iter()
            .filter(|t| !t.group.is_empty())
        {
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, versions)) => {
                    if !versions.contains(&t.version) {
                        versions.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        out
    }

    pub fn api_versions(&self) -> Value {
        json!({"kind": "APIVersions", "versions": ["v1"],
               "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]})
    }

    pub fn api_group_list(&self) -> Value {
        let groups: Vec<Value> = self
            .groups()
            .iter()
            .map(|(g, vs)| group_doc(g, vs))
            .collect();
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
    }

    pub fn api_group(&self, group: &str) -> Option<Value> {
        self.groups()
            .iter()
            .find(|(g, _)| g == group)
            .map(|(g, vs)| {
                let mut doc = group_doc(g, vs);
                doc["kind"] = json!("APIGroup");
                doc["apiVersion"] = json!("v1");
                doc
            })
    }

    /// The APIResourceList of one group version, or None when nothing is served there.
    pub fn resource_list(&self, group: &str, version: &str) -> Option<Value> {
        let types = self.types.read().expect("registry lock");
        let mut resources = Vec::new();
        for t in types
            .iter()
            .filter(|t| t.group == group && t.version == version)
        {
            resources.push(resource_doc(t));
            if t.status_subresource {
                resources.push(json!({"name": format!("{}/status", t.resource), "singularName": "", "namespaced": t.namespaced,
                                      "kind": t.kind, "verbs": ["get", "patch", "update"]}));
            }
            if t.scale_subresource {
                resources.push(json!({"name": format!("{}/scale", t.resource), "singularName": "", "namespaced": t.namespaced,
                                      "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
            }
        }
        if resources.is_empty() {
            return None;
        }
        let gv = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
        )
    }
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

fn resource_doc(t: &ResourceType) -> Value {
    let mut doc = json!({
        "name": t.resource, "singularName": t.singular, "namespaced": t.namespaced, "kind": t.kind,
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
    });
    if !t.short_names.is_empty() {
        doc["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        doc["categories"] = json!(t.categories);
    }
    doc
}

/// The resource types a CustomResourceDefinition object defines (one per served version).
pub fn crd_resource_types(crd: &Value) -> Result<Vec<ResourceType>, String> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str().ok_or("spec.group is required")?;
    let names = &spec["names"];
    let plural = names["plural"]
        .as_str()
        .ok_or("spec.names.plural is required")?;
    let kind = names["kind"]
        .as_str()
        .ok_or("spec.names.kind is required")?;
    let expected_name = format!("{plural}.{group}");
    if crd["metadata"]["name"].as_str() != Some(expected_name.as_str()) {
        return Err(format!(
            "metadata.name must be spec.names.plural + \".\" + spec.group: {expected_name}"
        ));
    }
    let namespaced = match spec["scope"].as_str() {
        Some("Namespaced") => true,
        Some("Cluster") => false,
        _ => return Err("spec.scope must be Namespaced or Cluster".into()),
    };
    let versions = spec["versions"]
        .as_array()
        .filter(|v| !v.is_empty())
        .ok_or("spec.versions must list at least one version")?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    // The storage version first, so it is the preferred one in discovery.
    let mut ordered: Vec<&Value> = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .collect();
    ordered.extend(
        versions
            .iter()
            .filter(|v| v["storage"].as_bool() != Some(true)),
    );
    for v in ordered {
        if v["served"].as_bool() == Some(false) {
            continue;
        }
        let version = v["name"]
            .as_str()
            .ok_or("every spec.versions[] needs a name")?;
        out.push(ResourceType {
            group: group.to_string(),
            version: version.to_string(),
            resource: plural.to_string(),
            kind: kind.to_string(),
            singular: names["singular"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| kind.to_ascii_lowercase()),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: v["subresources"]["status"].is_object(),
            scale_subresource: v["subresources"]["scale"].is_object(),
            custom: true,
        });
    }
    Ok(out)
}

/// Groups served, for tests and the OpenAPI index.
pub fn group_versions(registry: &Registry) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in registry.all() {
        let entry: &mut Vec<String> = out.entry(t.group.clone()).or_default();
        if !entry.contains(&t.version) {
            entry.push(t.version.clone());
        }
    }
    out
}
