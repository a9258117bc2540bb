//! The green cluster spec: names, version, networking, add-ons, node groups, access and tags.

use std::collections::{BTreeMap, HashMap};

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;
use crate::plan::rules;

pub(super) fn green(cx: &mut Ctx, raw: RawGreen) -> ClusterSpec {
    cx.check("spec.green.cluster", rules::cluster_name(&raw.cluster));
    let version = cx
        .check("spec.green.version", rules::kube_version(&raw.version))
        .map(|(major, minor)| KubeVersion { major, minor })
        .unwrap_or(KubeVersion { major: 0, minor: 0 });
    cx.check("spec.green.roleArn", rules::iam_arn(&raw.role_arn, false));

    ids(cx, "spec.green.subnets", &raw.subnets, "subnet");
    if raw.subnets.len() < 2 {
        cx.err(
            "spec.green.subnets",
            "EKS needs at least two subnets, in different Availability Zones",
        );
    }
    let security_groups = raw.security_groups.unwrap_or_default();
    ids(cx, "spec.green.securityGroups", &security_groups, "sg");
    if security_groups.len() > 5 {
        cx.err(
            "spec.green.securityGroups",
            "EKS takes at most 5 security groups",
        );
    }

    let endpoint = endpoint(cx, raw.endpoint);
    let authentication_mode = match raw.authentication_mode {
        Some(RawAuthMode::ConfigMap) => AuthenticationMode::ConfigMap,
        Some(RawAuthMode::Api) => AuthenticationMode::Api,
        None | Some(RawAuthMode::ApiAndConfigMap) => AuthenticationMode::ApiAndConfigMap,
    };
    let addons = addons(cx, raw.addons.unwrap_or_default());
    if raw.nodegroups.is_empty() {
        cx.err(
            "spec.green.nodegroups",
            "give at least one node group; releases and checks need nodes to run on",
        );
    }
    let mut seen = HashMap::new();
    let nodegroups = raw
        .nodegroups
        .into_iter()
        .enumerate()
        .map(|(i, ng)| {
            cx.unique(
                &mut seen,
                &ng.name,
                i,
                "spec.green.nodegroups",
                "name",
                "node group name",
            );
            nodegroup(cx, &format!("spec.green.nodegroups[{i}]"), ng)
        })
        .collect();
    let access = access(cx, raw.access.unwrap_or_default());
    if !access.is_empty() && authentication_mode == AuthenticationMode::ConfigMap {
        cx.err(
            "spec.green.authenticationMode",
            "access entries need authenticationMode API or API_AND_CONFIG_MAP; CONFIG_MAP ignores them",
        );
    }
    let tags = raw.tags.unwrap_or_default();
    aws_tags(cx, "spec.green.tags", &tags);
    let pod_identities = pod_identities(cx, raw.pod_identities.unwrap_or_default());
    let oidc_provider = raw.oidc_provider.unwrap_or(false);
    let irsa_update_trust = raw.irsa.is_some_and(|i| i.update_trust);
    if irsa_update_trust && !oidc_provider {
        cx.err(
            "spec.green.irsa.updateTrust",
            "roles can only trust green's OIDC issuer once IAM knows it: set spec.green.oidcProvider: true",
        );
    }

    let mut spec = ClusterSpec {
        name: raw.cluster,
        version,
        role_arn: raw.role_arn,
        subnets: raw.subnets,
        security_groups,
        endpoint,
        authentication_mode,
        addons,
        nodegroups,
        access,
        tags,
        identity: WorkloadIdentity { pod_identities, oidc_provider, irsa_update_trust },
    };
    with_pod_identity_agent(&mut spec);
    spec
}

/// Pod Identity needs its agent on the nodes; without it every association is inert.
pub(super) fn with_pod_identity_agent(spec: &mut ClusterSpec) {
    if spec.uses_pod_identity() && !spec.addons.iter().any(|a| a.name == ClusterSpec::POD_IDENTITY_AGENT) {
        spec.addons.push(Addon { name: ClusterSpec::POD_IDENTITY_AGENT.into(), ..Addon::default() });
    }
}

/// A Kubernetes service account name: a DNS subdomain (lowercase, 1–253 characters).
fn service_account(cx: &mut Ctx, path: String, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        });
    if !ok {
        cx.err(path, format!("{name:?} is not a service account name; use lowercase letters, digits, '-' and '.'"));
    }
}

fn pod_identities(cx: &mut Ctx, raw: Vec<RawPodIdentity>) -> Vec<PodIdentity> {
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, p)| {
            let at = format!("spec.green.podIdentities[{i}]");
            cx.check(format!("{at}.namespace"), rules::dns_label(&p.namespace, "namespace"));
            service_account(cx, format!("{at}.serviceAccount"), &p.service_account);
            cx.check(format!("{at}.roleArn"), rules::iam_arn(&p.role_arn, false));
            if let Some(first) = seen.insert((p.namespace.clone(), p.service_account.clone()), i) {
                cx.err(
                    format!("{at}.serviceAccount"),
                    format!(
                        "{}/{} already has a role at spec.green.podIdentities[{first}]; a service account gets one",
                        p.namespace, p.service_account
                    ),
                );
            }
            PodIdentity { namespace: p.namespace, service_account: p.service_account, role_arn: p.role_arn }
        })
        .collect()
}

fn ids(cx: &mut Ctx, path: &str, list: &[String], prefix: &str) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, id) in list.iter().enumerate() {
        cx.check(format!("{path}[{i}]"), rules::aws_id(id, prefix));
        if let Some(first) = seen.insert(id, i) {
            cx.err(
                format!("{path}[{i}]"),
                format!("{id:?} is listed twice (also at index {first}); remove one"),
            );
        }
    }
}

fn endpoint(cx: &mut Ctx, raw: Option<RawEndpoint>) -> EndpointAccess {
    let raw = raw.unwrap_or(RawEndpoint {
        public: None,
        private: None,
        public_cidrs: None,
    });
    // EKS's own defaults: public on, private off.
    let public = raw.public.unwrap_or(true);
    let private = raw.private.unwrap_or(false);
    if !public && !private {
        cx.err(
            "spec.green.endpoint",
            "the API endpoint must be public, private or both; nothing could reach the cluster",
        );
    }
    let public_cidrs = raw.public_cidrs.unwrap_or_default();
    if !public && !public_cidrs.is_empty() {
        cx.err(
            "spec.green.endpoint.publicCidrs",
            "publicCidrs only apply to a public endpoint; remove them or set `public: true`",
        );
    }
    for (i, c) in public_cidrs.iter().enumerate() {
        cx.check(
            format!("spec.green.endpoint.publicCidrs[{i}]"),
            rules::cidr(c),
        );
    }
    EndpointAccess {
        public,
        private,
        public_cidrs,
    }
}

fn addons(cx: &mut Ctx, raw: Vec<RawAddon>) -> Vec<Addon> {
    let mut seen = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let p = format!("spec.green.addons[{i}]");
            cx.unique(&mut seen, &a.name, i, "spec.green.addons", "name", "add-on");
            if !a
                .name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric())
                || !a
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                cx.err(
                    format!("{p}.name"),
                    format!(
                        "{:?} is not an EKS add-on name; write one like vpc-cni",
                        a.name
                    ),
                );
            }
            if let Some(v) = &a.version {
                cx.check(
                    format!("{p}.version"),
                    rules::exact_version(v).map_err(|m| format!("{m} (e.g. v1.19.0-eksbuild.1)")),
                );
            }
            if let Some(arn) = &a.service_account_role_arn {
                cx.check(format!("{p}.serviceAccountRoleArn"), rules::iam_arn(arn, false));
            }
            let mut seen: HashMap<String, usize> = HashMap::new();
            let pod_identities = a
                .pod_identity_associations
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(j, pi)| {
                    let at = format!("{p}.podIdentityAssociations[{j}]");
                    service_account(cx, format!("{at}.serviceAccount"), &pi.service_account);
                    cx.check(format!("{at}.roleArn"), rules::iam_arn(&pi.role_arn, false));
                    if let Some(first) = seen.insert(pi.service_account.clone(), j) {
                        cx.err(
                            format!("{at}.serviceAccount"),
                            format!("{} is listed twice (also at index {first})", pi.service_account),
                        );
                    }
                    AddonPodIdentity { service_account: pi.service_account, role_arn: pi.role_arn }
                })
                .collect();
            Addon {
                name: a.name,
                version: a.version,
                service_account_role_arn: a.service_account_role_arn,
                pod_identities,
            }
        })
        .collect()
}

fn nodegroup(cx: &mut Ctx, p: &str, raw: RawNodeGroup) -> NodeGroup {
    cx.check(format!("{p}.name"), rules::nodegroup_name(&raw.name));
    if raw.instance_types.is_empty() {
        cx.err(
            format!("{p}.instanceTypes"),
            "give at least one instance type, e.g. [m6i.large]",
        );
    }
    for (i, t) in raw.instance_types.iter().enumerate() {
        cx.check(format!("{p}.instanceTypes[{i}]"), rules::instance_type(t));
    }
    let s = &raw.scaling;
    if s.max == 0 {
        cx.err(
            format!("{p}.scaling.max"),
            "max is 0; a node group needs room for at least one node",
        );
    }
    if s.min > s.desired || s.desired > s.max {
        cx.err(
            format!("{p}.scaling"),
            format!(
                "need min ≤ desired ≤ max, got min {} desired {} max {}",
                s.min, s.desired, s.max
            ),
        );
    }
    cx.check(
        format!("{p}.nodeRoleArn"),
        rules::iam_arn(&raw.node_role_arn, false),
    );
    let labels = raw.labels.unwrap_or_default();
    kube_labels(cx, &format!("{p}.labels"), &labels);
    let taints = raw
        .taints
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            cx.check(format!("{p}.taints[{i}].key"), rules::label_key(&t.key));
            if let Some(v) = &t.value {
                cx.check(format!("{p}.taints[{i}].value"), rules::label_value(v));
            }
            let effect = match t.effect {
                RawTaintEffect::NoSchedule => TaintEffect::NoSchedule,
                RawTaintEffect::PreferNoSchedule => TaintEffect::PreferNoSchedule,
                RawTaintEffect::NoExecute => TaintEffect::NoExecute,
            };
            Taint {
                key: t.key,
                value: t.value,
                effect,
            }
        })
        .collect::<Vec<_>>();
    if taints.len() > 50 {
        cx.err(
            format!("{p}.taints"),
            "EKS takes at most 50 taints per node group",
        );
    }
    let subnets = raw.subnets.unwrap_or_default();
    ids(cx, &format!("{p}.subnets"), &subnets, "subnet");
    if raw.disk_size == Some(0) {
        cx.err(
            format!("{p}.diskSize"),
            "diskSize is 0; give the root disk size in GiB, e.g. 50",
        );
    }
    NodeGroup {
        name: raw.name,
        instance_types: raw.instance_types,
        scaling: Scaling {
            min: s.min,
            desired: s.desired,
            max: s.max,
        },
        labels,
        taints,
        node_role_arn: raw.node_role_arn,
        subnets,
        capacity_type: match raw.capacity_type {
            Some(RawCapacityType::Spot) => CapacityType::Spot,
            None | Some(RawCapacityType::OnDemand) => CapacityType::OnDemand,
        },
        disk_size_gib: raw.disk_size,
    }
}

fn kube_labels(cx: &mut Ctx, p: &str, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        let mut path = p.to_owned();
        crate::plan::path::push_key(&mut path, k);
        cx.check(path.clone(), rules::label_key(k));
        cx.check(path, rules::label_value(v));
    }
}

fn aws_tags(cx: &mut Ctx, p: &str, tags: &BTreeMap<String, String>) {
    for (k, v) in tags {
        let mut path = p.to_owned();
        crate::plan::path::push_key(&mut path, k);
        if k.to_lowercase().starts_with("aws:") {
            cx.err(
                path,
                format!("tag key {k:?}: the `aws:` prefix is reserved by AWS; rename it"),
            );
        } else if k.starts_with("cutover.dev/") {
            cx.err(
                path,
                format!("tag key {k:?}: cutover sets `cutover.dev/` tags itself; rename it"),
            );
        } else if k.is_empty() || k.chars().count() > 128 {
            cx.err(path, "tag keys are 1–128 characters");
        } else if v.chars().count() > 256 {
            cx.err(path, "tag values are at most 256 characters");
        }
    }
    if tags.len() > 45 {
        // EKS allows 50; cutover adds its own ownership tags.
        cx.err(
            p,
            "at most 45 tags (EKS allows 50 and cutover adds its own)",
        );
    }
}

fn access(cx: &mut Ctx, raw: Vec<RawAccess>) -> Vec<AccessEntry> {
    let mut seen = HashMap::new();
    raw.into_iter()
        .enumerate()
        .map(|(i, a)| {
            let p = format!("spec.green.access[{i}]");
            cx.unique(&mut seen, &a.principal_arn, i, "spec.green.access", "principalArn", "principal");
            cx.check(format!("{p}.principalArn"), rules::iam_arn(&a.principal_arn, true));
            let kubernetes_groups = a.kubernetes_groups.unwrap_or_default();
            for (j, g) in kubernetes_groups.iter().enumerate() {
                if g.starts_with("system:") {
                    cx.err(format!("{p}.kubernetesGroups[{j}]"), format!("{g:?}: EKS refuses `system:` groups in access entries; use an access policy"));
                }
            }
            let raw_policies = a.policies.unwrap_or_default();
            if raw_policies.is_empty() && kubernetes_groups.is_empty() {
                cx.err(&p, "this access entry grants nothing; give `policies` or `kubernetesGroups`");
            }
            let policies = raw_policies
                .into_iter()
                .enumerate()
                .map(|(j, pol)| {
                    cx.check(format!("{p}.policies[{j}].arn"), rules::access_policy_arn(&pol.arn));
                    let scope = match pol.scope {
                        RawScope::Cluster(_) => AccessScope::Cluster,
                        RawScope::Namespaces(ns) => {
                            if ns.namespaces.is_empty() {
                                cx.err(format!("{p}.policies[{j}].scope.namespaces"), "list at least one namespace, or use `scope: cluster`");
                            }
                            for (k, n) in ns.namespaces.iter().enumerate() {
                                cx.check(format!("{p}.policies[{j}].scope.namespaces[{k}]"), rules::dns_label(n, "namespace"));
                            }
                            AccessScope::Namespaces(ns.namespaces)
                        }
                    };
                    AccessPolicy { policy_arn: pol.arn, scope }
                })
                .collect();
            AccessEntry { principal_arn: a.principal_arn, kubernetes_groups, username: a.username, policies }
        })
        .collect()
}
