//! Clusters: CreateCluster, DescribeCluster, ListClusters, DeleteCluster, UpdateClusterVersion, and
//! how a cluster looks on the wire.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{Query, page_body, paginate};
use super::errors::{EksError, EksResult, ErrorKind};
use super::model::{Change, Cluster, Pending, Update};
use super::{Eks, access, check_name, epoch_secs, new_id, tags, updates};
use crate::profile::LatencyKind;

/// Kubernetes versions cloudsim offers, oldest first (standard plus extended support).
pub const SUPPORTED_VERSIONS: &[&str] = &[
    "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34", "1.35",
];
/// The version a cluster gets when CreateCluster names none.
pub const DEFAULT_VERSION: &str = "1.34";

const AUTH_MODES: &[&str] = &["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateClusterRequest {
    name: Option<String>,
    version: Option<String>,
    role_arn: Option<String>,
    resources_vpc_config: Option<VpcConfigRequest>,
    kubernetes_network_config: Option<Value>,
    logging: Option<Value>,
    client_request_token: Option<String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    access_config: Option<AccessConfigRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VpcConfigRequest {
    #[serde(default)]
    subnet_ids: Vec<String>,
    #[serde(default)]
    security_group_ids: Vec<String>,
    endpoint_public_access: Option<bool>,
    endpoint_private_access: Option<bool>,
    public_access_cidrs: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessConfigRequest {
    bootstrap_cluster_creator_admin_permissions: Option<bool>,
    authentication_mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateVersionRequest {
    version: Option<String>,
    client_request_token: Option<String>,
}

pub fn create(eks: &Eks, req: CreateClusterRequest) -> EksResult<Value> {
    let name = req
        .name
        .ok_or_else(|| EksError::invalid("name is required"))?;
    check_name("cluster", &name)?;
    let role_arn = req.role_arn.ok_or_else(|| {
        EksError::invalid("roleArn is required: the IAM role the control plane uses")
    })?;
    check_iam_arn("roleArn", &role_arn, "role")?;
    let vpc = req
        .resources_vpc_config
        .ok_or_else(|| EksError::invalid("resourcesVpcConfig is required (subnetIds)"))?;
    let distinct: std::collections::BTreeSet<_> = vpc.subnet_ids.iter().collect();
    if distinct.len() < 2 {
        return Err(EksError::invalid(
            "resourcesVpcConfig.subnetIds must name at least two subnets (in different Availability Zones)",
        ));
    }
    let version = req.version.unwrap_or_else(|| DEFAULT_VERSION.to_string());
    check_version(&version)?;
    tags::validate(&req.tags, ErrorKind::InvalidParameter)?;
    let access = req.access_config.unwrap_or(AccessConfigRequest {
        bootstrap_cluster_creator_admin_permissions: None,
        authentication_mode: None,
    });
    let auth_mode = access
        .authentication_mode
        .unwrap_or_else(|| "API_AND_CONFIG_MAP".to_string());
    if !AUTH_MODES.contains(&auth_mode.as_str()) {
        return Err(EksError::invalid(format!(
            "accessConfig.authenticationMode must be one of {AUTH_MODES:?}, got {auth_mode:?}"
        )));
    }
    let bootstrap_admin = access
        .bootstrap_cluster_creator_admin_permissions
        .unwrap_or(true);

    let mut st = eks.state();
    if let Some(existing) = st.clusters.get(&name) {
        if req.client_request_token.is_some()
            && existing.client_request_token == req.client_request_token
        {
            return Ok(json!({ "cluster": to_json(eks, existing) }));
        }
        return Err(EksError::in_use(format!(
            "Cluster already exists with name: {name}"
        )));
    }
    let now = eks.time.now_ms();
    let network = req.kubernetes_network_config.unwrap_or_else(|| json!({}));
    let mut cluster = Cluster {
        name: name.clone(),
        arn: eks.arn(&format!("cluster/{name}")),
        created_at_ms: now,
        version: version.clone(),
        platform_version: "eks.1".into(),
        role_arn,
        status: "CREATING".into(),
        client_request_token: req.client_request_token,
        tags: req.tags,
        resources_vpc_config: json!({
            "subnetIds": vpc.subnet_ids,
            "securityGroupIds": vpc.security_group_ids,
            "clusterSecurityGroupId": format!("sg-{}", &new_id().replace('-', "")[..17]),
            "vpcId": format!("vpc-{}", &new_id().replace('-', "")[..17]),
            "endpointPublicAccess": vpc.endpoint_public_access.unwrap_or(true),
            "endpointPrivateAccess": vpc.endpoint_private_access.unwrap_or(false),
            "publicAccessCidrs": vpc.public_access_cidrs.unwrap_or_else(|| vec!["0.0.0.0/0".into()]),
        }),
        kubernetes_network_config: json!({
            "serviceIpv4Cidr": network.get("serviceIpv4Cidr").cloned().unwrap_or(json!("10.100.0.0/16")),
            "ipFamily": network.get("ipFamily").cloned().unwrap_or(json!("ipv4")),
            "elasticLoadBalancing": {"enabled": false},
        }),
        logging: req.logging.unwrap_or_else(|| {
            json!({"clusterLogging": [{"types": ["api", "audit", "authenticator", "controllerManager", "scheduler"], "enabled": false}]})
        }),
        authentication_mode: auth_mode,
        bootstrap_admin,
        oidc_id: new_id().replace('-', "").to_uppercase(),
        endpoint: None,
        ca_pem: None,
        health_issues: Vec::new(),
        pending: Some(Pending { due_ms: eks.due_in(LatencyKind::ClusterCreate, &name), change: Change::Create }),
        nodegroups: BTreeMap::new(),
        addons: BTreeMap::new(),
        access_entries: BTreeMap::new(),
        updates: BTreeMap::new(),
        insights: BTreeMap::new(),
        pod_identity_associations: BTreeMap::new(),
    };
    if bootstrap_admin && cluster.authentication_mode != "CONFIG_MAP" {
        access::bootstrap_creator(eks, &mut cluster, now);
    }
    let body = json!({ "cluster": to_json(eks, &cluster) });
    st.clusters.insert(name.clone(), cluster);
    drop(st);
    eks.env
        .events
        .record("cluster-creating", Some(&name), json!({"version": version}));
    Ok(body)
}

pub fn describe(eks: &Eks, name: &str) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(name).ok_or_else(|| not_found(name))?;
    Ok(json!({ "cluster": to_json(eks, c) }))
}

pub fn list(eks: &Eks, q: &Query) -> EksResult<Value> {
    let names = eks.state().clusters.keys().cloned().collect();
    let (page, next) = paginate(names, q, 100)?;
    Ok(page_body("clusters", page, next))
}

pub fn delete(eks: &Eks, name: &str) -> EksResult<Value> {
    let mut st = eks.state();
    let c = st.clusters.get_mut(name).ok_or_else(|| not_found(name))?;
    match c.status.as_str() {
        "DELETING" => return Ok(json!({ "cluster": to_json(eks, c) })),
        "CREATING" | "UPDATING" => {
            return Err(EksError::in_use(format!(
                "Cluster {name} is currently {}; wait until it is ACTIVE or FAILED before deleting it",
                c.status
            )));
        }
        _ => {}
    }
    if !c.nodegroups.is_empty() {
        let ngs: Vec<&str> = c.nodegroups.keys().map(String::as_str).collect();
        return Err(EksError::in_use(format!(
            "Cluster has nodegroups attached ({}); delete them first",
            ngs.join(", ")
        )));
    }
    if !c.addons.is_empty() {
        let addons: Vec<&str> = c.addons.keys().map(String::as_str).collect();
        return Err(EksError::in_use(format!(
            "Cluster has add-ons attached ({}); delete them first",
            addons.join(", ")
        )));
    }
    c.status = "DELETING".into();
    c.pending = Some(Pending {
        due_ms: eks.due_in(LatencyKind::ClusterDelete, name),
        change: Change::Delete,
    });
    let body = json!({ "cluster": to_json(eks, c) });
    drop(st);
    eks.env
        .events
        .record("cluster-deleting", Some(name), json!({}));
    Ok(body)
}

pub fn update_version(eks: &Eks, name: &str, req: UpdateVersionRequest) -> EksResult<Value> {
    let mut st = eks.state();
    let c = st.clusters.get_mut(name).ok_or_else(|| not_found(name))?;
    if let Some(token) = &req.client_request_token
        && let Some(u) = c
            .updates
            .values()
            .find(|u| u.client_request_token.as_ref() == Some(token))
    {
        return Ok(json!({ "update": updates::to_json(u) }));
    }
    let version = req
        .version
        .ok_or_else(|| EksError::invalid("version is required"))?;
    check_version(&version)?;
    match c.status.as_str() {
        "ACTIVE" => {}
        "UPDATING" => {
            return Err(EksError::in_use(format!(
                "Cluster {name} already has an update in progress"
            )));
        }
        other => {
            return Err(EksError::bad_state(format!(
                "Cluster {name} is {other}; only an ACTIVE cluster can be updated"
            )));
        }
    }
    if minor(&version) != minor(&c.version).map(|m| m + 1) {
        return Err(EksError::invalid(format!(
            "Unsupported Kubernetes minor version update from {} to {version}: update one minor version at a time",
            c.version
        )));
    }
    let now = eks.time.now_ms();
    let update = Update {
        id: new_id(),
        status: "InProgress".into(),
        kind: "VersionUpdate".into(),
        params: vec![
            ("Version".into(), version.clone()),
            ("PlatformVersion".into(), "eks.1".into()),
        ],
        created_at_ms: now,
        nodegroup: None,
        addon: None,
        client_request_token: req.client_request_token,
    };
    let body = json!({ "update": updates::to_json(&update) });
    c.status = "UPDATING".into();
    c.pending = Some(Pending {
        due_ms: eks.due_in(LatencyKind::ClusterUpdate, &format!("{name}/{version}")),
        change: Change::Version {
            update_id: update.id.clone(),
            version: version.clone(),
        },
    });
    let id = update.id.clone();
    c.updates.insert(update.id.clone(), update);
    drop(st);
    eks.env.events.record(
        "cluster-updating",
        Some(name),
        json!({"version": version, "updateId": id}),
    );
    Ok(body)
}

pub fn to_json(eks: &Eks, c: &Cluster) -> Value {
    let mut v = json!({
        "name": c.name,
        "arn": c.arn,
        "createdAt": epoch_secs(c.created_at_ms),
        "version": c.version,
        "roleArn": c.role_arn,
        "resourcesVpcConfig": c.resources_vpc_config,
        "kubernetesNetworkConfig": c.kubernetes_network_config,
        "logging": c.logging,
        "identity": {"oidc": {"issuer": format!("https://oidc.eks.{}.amazonaws.com/id/{}", eks.env.region, c.oidc_id)}},
        "status": c.status,
        "platformVersion": c.platform_version,
        "tags": c.tags,
        "health": {"issues": c.health_issues.iter().map(|i| json!({"code": i.code, "message": i.message, "resourceIds": i.resource_ids})).collect::<Vec<_>>()},
        "accessConfig": {"bootstrapClusterCreatorAdminPermissions": c.bootstrap_admin, "authenticationMode": c.authentication_mode},
        "upgradePolicy": {"supportType": "EXTENDED"},
    });
    if let Some(token) = &c.client_request_token {
        v["clientRequestToken"] = json!(token);
    }
    if let Some(endpoint) = &c.endpoint {
        v["endpoint"] = json!(endpoint);
    }
    if let Some(ca) = &c.ca_pem {
        use base64::Engine as _;
        v["certificateAuthority"] =
            json!({"data": base64::engine::general_purpose::STANDARD.encode(ca)});
    }
    v
}

pub(crate) fn not_found(name: &str) -> EksError {
    EksError::not_found(format!("No cluster found for name: {name}."))
}

fn check_version(version: &str) -> EksResult<()> {
    if SUPPORTED_VERSIONS.contains(&version) {
        Ok(())
    } else {
        Err(EksError::invalid(format!(
            "unsupported Kubernetes version {version:?}; supported: {}",
            SUPPORTED_VERSIONS.join(", ")
        )))
    }
}

fn minor(version: &str) -> Option<u32> {
    version.strip_prefix("1.")?.parse().ok()
}

/// `arn:aws:iam::<12 digits>:<kind>/<name>` (kind `role`, or `role|user` for principals).
pub(crate) fn check_iam_arn(field: &str, arn: &str, kinds: &str) -> EksResult<()> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(':'))
        .is_some_and(|(account, res)| {
            account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && kinds.split('|').any(|k| {
                    res.strip_prefix(k)
                        .and_then(|r| r.strip_prefix('/'))
                        .is_some_and(|n| !n.is_empty())
                })
        });
    if ok {
        Ok(())
    } else {
        Err(EksError::invalid(format!(
            "{field} {arn:?} is not an IAM {kinds} ARN (arn:aws:iam::ACCOUNT:{kinds}/NAME)"
        )))
    }
}
