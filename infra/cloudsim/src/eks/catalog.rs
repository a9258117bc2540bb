//! The add-on catalog: which add-ons cloudsim knows, their versions, which cluster versions each
//! version runs on and which one EKS installs by default. One table serves DescribeAddonVersions
//! and CreateAddon, so a version the catalog lists is one CreateAddon accepts, and the version
//! CreateAddon picks is the one DescribeAddonVersions marks `defaultVersion`.
//!
//! The versions are modelled on EKS's (late 2025): add-on builds move on as clusters do, and old
//! builds are not offered for new clusters (vpc-cni v1.18.6 stops at 1.32), so a plan that pins a
//! stale build is refused for a newer cluster as EKS refuses it. kube-proxy follows the cluster:
//! one build per Kubernetes minor.

use serde_json::{Value, json};

use super::api::{Query, page_body_with, paginate};
use super::clusters::SUPPORTED_VERSIONS;
use super::errors::{EksError, EksResult};

/// Cluster minors `1.FROM ..= 1.TO` (inclusive); `NONE` is empty.
#[derive(Debug, Clone, Copy)]
pub struct Minors(u32, u32);

const NONE: Minors = Minors(1, 0);
/// Every cluster version cloudsim offers (1.28–1.35).
const ALL: Minors = Minors(28, 35);

impl Minors {
    fn contains(self, minor: u32) -> bool {
        (self.0..=self.1).contains(&minor)
    }
}

#[derive(Debug)]
pub struct AddonVersion {
    pub version: &'static str,
    /// The cluster versions it runs on.
    pub clusters: Minors,
    /// The cluster versions for which it is the default (within `clusters`).
    pub default_for: Minors,
}

#[derive(Debug)]
pub struct AddonSpec {
    pub name: &'static str,
    /// `networking`, `storage`, `observability`, `security`.
    pub kind: &'static str,
    /// `aws` for AWS's own add-ons, `community` for community add-ons EKS packages.
    pub owner: &'static str,
    pub requires_iam: bool,
    /// Newest first, as EKS lists them.
    pub versions: &'static [AddonVersion],
}

const fn v(version: &'static str, clusters: Minors, default_for: Minors) -> AddonVersion {
    AddonVersion {
        version,
        clusters,
        default_for,
    }
}

const fn addon(
    name: &'static str,
    kind: &'static str,
    owner: &'static str,
    requires_iam: bool,
    versions: &'static [AddonVersion],
) -> AddonSpec {
    AddonSpec {
        name,
        kind,
        owner,
        requires_iam,
        versions,
    }
}

pub const CATALOG: &[AddonSpec] = &[
    addon(
        "vpc-cni",
        "networking",
        "aws",
        false,
        &[
            v("v1.20.4-eksbuild.2", Minors(29, 35), Minors(34, 35)),
            v("v1.19.2-eksbuild.1", ALL, Minors(32, 33)),
            v("v1.19.0-eksbuild.1", Minors(28, 33), Minors(30, 31)),
            v("v1.18.6-eksbuild.1", Minors(28, 32), Minors(28, 29)),
        ],
    ),
    addon(
        "coredns",
        "networking",
        "aws",
        false,
        &[
            v("v1.12.4-eksbuild.1", Minors(33, 35), Minors(35, 35)),
            v("v1.12.1-eksbuild.2", Minors(32, 35), Minors(33, 34)),
            v("v1.11.4-eksbuild.2", Minors(30, 33), Minors(32, 32)),
            v("v1.11.3-eksbuild.2", Minors(29, 31), Minors(30, 31)),
            v("v1.11.1-eksbuild.16", Minors(29, 30), Minors(29, 29)),
            v("v1.10.1-eksbuild.18", Minors(28, 28), Minors(28, 28)),
        ],
    ),
    addon(
        "kube-proxy",
        "networking",
        "aws",
        false,
        &[
            v("v1.35.0-eksbuild.1", Minors(35, 35), Minors(35, 35)),
            v("v1.34.0-eksbuild.1", Minors(34, 34), Minors(34, 34)),
            v("v1.33.0-eksbuild.1", Minors(33, 33), Minors(33, 33)),
            v("v1.32.0-eksbuild.1", Minors(32, 32), Minors(32, 32)),
            v("v1.31.0-eksbuild.1", Minors(31, 31), Minors(31, 31)),
            v("v1.30.0-eksbuild.1", Minors(30, 30), Minors(30, 30)),
            v("v1.29.0-eksbuild.1", Minors(29, 29), Minors(29, 29)),
            v("v1.28.0-eksbuild.1", Minors(28, 28), Minors(28, 28)),
        ],
    ),
    addon(
        "aws-ebs-csi-driver",
        "storage",
        "aws",
        true,
        &[
            v("v1.45.0-eksbuild.2", Minors(29, 35), Minors(34, 35)),
            v("v1.38.1-eksbuild.1", ALL, Minors(28, 33)),
            v("v1.35.0-eksbuild.1", Minors(28, 32), NONE),
        ],
    ),
    addon(
        "aws-efs-csi-driver",
        "storage",
        "aws",
        true,
        &[v("v2.1.4-eksbuild.1", ALL, ALL)],
    ),
    addon(
        "aws-mountpoint-s3-csi-driver",
        "storage",
        "aws",
        true,
        &[v("v1.11.0-eksbuild.1", ALL, ALL)],
    ),
    addon(
        "eks-pod-identity-agent",
        "security",
        "aws",
        false,
        &[
            v("v1.3.8-eksbuild.2", Minors(30, 35), Minors(34, 35)),
            v("v1.3.4-eksbuild.1", ALL, Minors(28, 33)),
            v("v1.3.2-eksbuild.2", Minors(28, 32), NONE),
        ],
    ),
    addon(
        "snapshot-controller",
        "storage",
        "aws",
        false,
        &[v("v8.1.0-eksbuild.1", ALL, ALL)],
    ),
    addon(
        "amazon-cloudwatch-observability",
        "observability",
        "aws",
        true,
        &[v("v2.6.0-eksbuild.1", ALL, ALL)],
    ),
    addon(
        "aws-guardduty-agent",
        "security",
        "aws",
        false,
        &[v("v1.8.1-eksbuild.1", ALL, ALL)],
    ),
    addon(
        "metrics-server",
        "observability",
        "community",
        false,
        &[v("v0.7.2-eksbuild.1", ALL, ALL)],
    ),
    addon(
        "adot",
        "observability",
        "aws",
        true,
        &[v("v0.109.0-eksbuild.1", ALL, ALL)],
    ),
];

/// The add-on named `name`; `InvalidParameterException` naming the known ones otherwise.
pub fn find(name: &str, cluster_version: &str) -> EksResult<&'static AddonSpec> {
    CATALOG.iter().find(|a| a.name == name).ok_or_else(|| {
        let known: Vec<&str> = CATALOG.iter().map(|a| a.name).collect();
        EksError::invalid(format!(
            "Addon {name} specified is not supported in {cluster_version} kubernetes version (cloudsim knows: {})",
            known.join(", ")
        ))
    })
}

fn minor(cluster_version: &str) -> Option<u32> {
    cluster_version.strip_prefix("1.")?.parse().ok()
}

impl AddonSpec {
    /// The version CreateAddon installs on a cluster of `cluster_version` when none is asked for.
    pub fn default_version(&self, cluster_version: &str) -> EksResult<&'static str> {
        let m = minor(cluster_version);
        self.versions
            .iter()
            .find(|v| m.is_some_and(|m| v.default_for.contains(m)))
            .map(|v| v.version)
            .ok_or_else(|| {
                EksError::invalid(format!(
                    "Addon {} has no default version for Kubernetes {cluster_version}",
                    self.name
                ))
            })
    }

    /// Refuses a version the catalog does not have, or one that does not run on `cluster_version`.
    pub fn check_version(&self, version: &str, cluster_version: &str) -> EksResult<()> {
        let Some(found) = self.versions.iter().find(|v| v.version == version) else {
            let known: Vec<&str> = self.versions.iter().map(|v| v.version).collect();
            return Err(EksError::invalid(format!(
                "Addon version {version} specified is not supported for {} (known versions: {})",
                self.name,
                known.join(", ")
            )));
        };
        if minor(cluster_version).is_some_and(|m| found.clusters.contains(m)) {
            Ok(())
        } else {
            Err(EksError::invalid(format!(
                "Addon version {version} of {} is not supported in {cluster_version} kubernetes version; \
                 DescribeAddonVersions lists the compatible versions",
                self.name
            )))
        }
    }

    /// AddonInfo for DescribeAddonVersions, its versions and compatibilities limited to
    /// `cluster_version` when given; `None` when nothing is left.
    fn info(&self, cluster_version: Option<&str>) -> Option<Value> {
        let wanted: Vec<&str> = match cluster_version {
            Some(v) => vec![v],
            None => SUPPORTED_VERSIONS.to_vec(),
        };
        let versions: Vec<Value> = self
            .versions
            .iter()
            .filter_map(|v| {
                let compat: Vec<Value> = wanted
                    .iter()
                    .filter_map(|cv| {
                        let m = minor(cv).filter(|m| v.clusters.contains(*m))?;
                        Some(json!({
                            "clusterVersion": cv,
                            "platformVersions": ["*"],
                            "defaultVersion": v.default_for.contains(m),
                        }))
                    })
                    .collect();
                (!compat.is_empty()).then(|| {
                    json!({
                        "addonVersion": v.version,
                        "architecture": ["amd64", "arm64"],
                        "computeTypes": ["ec2"],
                        "compatibilities": compat,
                        "requiresConfiguration": false,
                        "requiresIamPermissions": self.requires_iam,
                    })
                })
            })
            .collect();
        (!versions.is_empty()).then(|| {
            json!({
                "addonName": self.name,
                "type": self.kind,
                "addonVersions": versions,
                "publisher": "eks",
                "owner": self.owner,
            })
        })
    }
}

/// DescribeAddonVersions: filters `kubernetesVersion`, `addonName`, `types`, `publishers`,
/// `owners` (each of the last three matches any of its values), paged by add-on name.
pub fn describe_versions(q: &Query) -> EksResult<Value> {
    let matches =
        |key: &str, value: &str| q.all(key).is_empty() || q.all(key).iter().any(|v| v == value);
    let mut infos: Vec<(String, Value)> = CATALOG
        .iter()
        .filter(|a| q.get("addonName").is_none_or(|n| n == a.name))
        .filter(|a| {
            matches("types", a.kind) && matches("publishers", "eks") && matches("owners", a.owner)
        })
        .filter_map(|a| {
            a.info(q.get("kubernetesVersion"))
                .map(|i| (a.name.to_string(), i))
        })
        .collect();
    infos.sort_by(|a, b| a.0.cmp(&b.0));
    let names = infos.iter().map(|(n, _)| n.clone()).collect();
    let (page, next) = paginate(names, q, 100)?;
    let addons: Vec<Value> = infos
        .into_iter()
        .filter(|(n, _)| page.contains(n))
        .map(|(_, i)| i)
        .collect();
    Ok(page_body_with("addons", addons, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_addon_has_exactly_one_default_per_cluster_version_and_it_runs_there() {
        for a in CATALOG {
            for cv in SUPPORTED_VERSIONS {
                let m = minor(cv).unwrap();
                let defaults: Vec<_> = a
                    .versions
                    .iter()
                    .filter(|v| v.default_for.contains(m))
                    .collect();
                assert_eq!(defaults.len(), 1, "{} on {cv}: {defaults:?}", a.name);
                assert!(
                    defaults[0].clusters.contains(m),
                    "{} default on {cv}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn a_stale_pin_is_refused_for_a_newer_cluster() {
        let cni = find("vpc-cni", "1.33").unwrap();
        assert!(cni.check_version("v1.18.6-eksbuild.1", "1.32").is_ok());
        let err = cni.check_version("v1.18.6-eksbuild.1", "1.33").unwrap_err();
        assert!(
            err.message.contains("not supported in 1.33"),
            "{}",
            err.message
        );
        assert!(cni.check_version("v9.9.9-eksbuild.1", "1.33").is_err());
        assert_eq!(
            find("kube-proxy", "1.32")
                .unwrap()
                .default_version("1.32")
                .unwrap(),
            "v1.32.0-eksbuild.1"
        );
    }
}
