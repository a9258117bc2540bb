//! The `irsa` pre-flight gate: IAM roles for service accounts (IRSA) trust one cluster's OIDC
//! issuer, and green's issuer is new. The gate finds the roles the plan's workloads use — the
//! `eks.amazonaws.com/role-arn` annotation of every ServiceAccount the releases render, and each
//! add-on's `serviceAccountRoleArn` — reads their trust policies, and refuses the upgrade when a
//! role trusts blue's issuer and the plan does not let cutover add green's
//! (`spec.green.irsa.updateTrust`). What it read is journaled: the trust step edits only a document
//! that still says exactly that.

use serde::{Deserialize, Serialize};

use super::gates::{Finding, Severity};
use super::removed_apis::{documents, text};
use crate::engine::trust;
use crate::plan::yaml::{self, Node};
use crate::plan::Plan;
use crate::providers::{ErrorKind, ProviderError, Providers};

/// The annotation that gives a ServiceAccount its IRSA role.
pub const ROLE_ANNOTATION: &str = "eks.amazonaws.com/role-arn";

/// A service account that names an IRSA role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRole {
    /// `namespace/name`.
    pub service_account: String,
    /// The annotation's value.
    pub role_arn: String,
}

/// Every ServiceAccount in `manifests` with a role annotation; objects without a namespace are in
/// `default_namespace` (the release's), as helm installs them.
pub fn service_account_roles(manifests: &str, default_namespace: &str) -> Result<Vec<ServiceAccountRole>, String> {
    let mut out = Vec::new();
    for doc in documents(manifests) {
        let root = yaml::parse(doc.text).map_err(|e| format!("a rendered manifest is not valid YAML: {}", e.message))?;
        if let Some(root) = root {
            collect(&root, default_namespace, &mut out);
        }
    }
    Ok(out)
}

fn collect(object: &Node, default_namespace: &str, out: &mut Vec<ServiceAccountRole>) {
    if text(object, "kind") != Some("ServiceAccount") {
        return;
    }
    let Some(meta) = object.get("metadata").map(|e| &e.value) else { return };
    let role = meta.get("annotations").and_then(|a| text(&a.value, ROLE_ANNOTATION));
    if let (Some(name), Some(role)) = (text(meta, "name"), role) {
        let namespace = text(meta, "namespace").unwrap_or(default_namespace);
        out.push(ServiceAccountRole { service_account: format!("{namespace}/{name}"), role_arn: role.trim().to_string() });
    }
}

/// What the gate read: blue's issuer and each role with the trust policy as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrsaReading {
    /// Blue's OIDC issuer URL.
    pub blue_issuer: String,
    /// Roles that trust blue's issuer, which green's pods will need too.
    pub roles: Vec<IrsaRole>,
}

/// A role IRSA workloads of the plan use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IrsaRole {
    /// The role's ARN.
    pub role_arn: String,
    /// Who uses it (`release api: payments/api`, `add-on aws-ebs-csi-driver`).
    pub used_by: Vec<String>,
    /// Its trust policy document as read.
    pub trust_policy: String,
}

/// Roles the plan's workloads name, each with who uses it, in first-seen order.
async fn roles_in_use(plan: &Plan, p: &Providers) -> Result<Vec<(String, Vec<String>)>, ProviderError> {
    let mut roles: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |role: &str, user: String| match roles.iter_mut().find(|(r, _)| r == role) {
        Some((_, users)) => users.push(user),
        None => roles.push((role.to_string(), vec![user])),
    };
    let version = plan.green.version.to_string();
    for r in &plan.releases {
        let manifests = p.releases.render(r, &version).await?;
        let found = service_account_roles(&manifests, &r.namespace)
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, format!("release {}: {e}", r.name)))?;
        for sa in found {
            add(&sa.role_arn, format!("release {}: {}", r.name, sa.service_account));
        }
    }
    for a in &plan.green.addons {
        if let Some(role) = &a.service_account_role_arn {
            add(role, format!("add-on {}", a.name));
        }
    }
    Ok(roles)
}

/// Runs the gate: findings, and what was read for the trust step.
pub async fn gate(plan: &Plan, p: &Providers) -> Result<(Vec<Finding>, Option<IrsaReading>), ProviderError> {
    let Some(blue) = &plan.blue else { return Ok((Vec::new(), None)) };
    let roles = roles_in_use(plan, p).await?;
    if roles.is_empty() {
        return Ok((Vec::new(), None));
    }
    let info = p.clusters.describe_cluster(&blue.cluster).await?;
    let Some(blue_issuer) = info.and_then(|i| i.oidc_issuer) else {
        return Err(ProviderError::new(
            ErrorKind::NotFound,
            format!("blue cluster {} has no OIDC issuer to compare IRSA roles with", blue.cluster),
        ));
    };
    let update = plan.green.identity.irsa_update_trust;
    let mut findings = Vec::new();
    let mut reading = IrsaReading { blue_issuer: blue_issuer.clone(), roles: Vec::new() };
    for (role_arn, used_by) in roles {
        let users = used_by.join(", ");
        let Some(doc) = p.iam.trust_policy(&role_arn).await? else {
            findings.push(Finding::new(
                "PRE-IAM-002",
                Severity::Error,
                format!("role {role_arn} does not exist"),
                users,
                "create the role, or correct the ARN in the service account's eks.amazonaws.com/role-arn annotation".into(),
            ));
            continue;
        };
        let trusts_blue = trust::trusts(&doc, &blue_issuer).map_err(|e| {
            ProviderError::new(ErrorKind::Invalid, format!("role {role_arn}: {e}"))
        })?;
        if !trusts_blue {
            findings.push(Finding::new(
                "PRE-IAM-004",
                Severity::Warning,
                format!("role {role_arn} does not trust blue's OIDC issuer, so cutover leaves its trust policy alone"),
                users,
                format!("check the role's trust policy; blue's issuer is {blue_issuer}"),
            ));
            continue;
        }
        if update {
            findings.push(Finding::new(
                "PRE-IAM-003",
                Severity::Note,
                format!(
                    "role {role_arn} will also trust green's OIDC issuer before releases are installed; blue's statement is removed once blue is retired"
                ),
                users,
                "nothing".into(),
            ));
        } else {
            findings.push(Finding::new(
                "PRE-IAM-001",
                Severity::Error,
                format!(
                    "role {role_arn} trusts blue's OIDC issuer only; green gets a new issuer, so green's pods could not assume it"
                ),
                users,
                "set spec.green.irsa.updateTrust: true (with spec.green.oidcProvider: true) to let cutover add green's issuer, or give the service account a Pod Identity association in spec.green.podIdentities".into(),
            ));
        }
        reading.roles.push(IrsaRole { role_arn, used_by, trust_policy: doc });
    }
    Ok((findings, Some(reading)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_accounts_with_a_role_are_found_in_the_release_namespace_by_default() {
        let manifests = "---\n# Source: api/templates/sa.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: api\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/payments-api\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: plain\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: worker\n  namespace: jobs\n  annotations:\n    eks.amazonaws.com/role-arn: \"arn:aws:iam::111122223333:role/jobs\"\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/not-a-service-account\n";
        let found = service_account_roles(manifests, "payments").unwrap();
        assert_eq!(
            found,
            vec![
                ServiceAccountRole {
                    service_account: "payments/api".into(),
                    role_arn: "arn:aws:iam::111122223333:role/payments-api".into()
                },
                ServiceAccountRole { service_account: "jobs/worker".into(), role_arn: "arn:aws:iam::111122223333:role/jobs".into() },
            ]
        );
    }
}
