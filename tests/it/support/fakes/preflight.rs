//! The fake's side of the pre-flight gates: rendered manifests per release (an apps/v1
//! Deployment unless a test sets one), blue's release records (stored the way helm stores them:
//! base64 of JSON), an add-on catalog and EKS upgrade insights, all settable per test.

use std::collections::BTreeMap;

use async_trait::async_trait;
use base64::Engine as _;
use cutover::providers::{
    AddonCatalog, AddonVersions, Insight, ProviderError, ReleaseRecords, ReleaseSecret, UpgradeInsights,
};

use super::World;

/// What the gates read from the fake world.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreflightWorld {
    /// Release name → what `helm template` prints for it.
    pub rendered: BTreeMap<String, String>,
    /// Cluster → (namespace, release, manifest) of its deployed releases.
    pub deployed: BTreeMap<String, Vec<(String, String, String)>>,
    /// Add-on → versions for the green version.
    pub addons: BTreeMap<String, AddonVersions>,
    /// Cluster → insights.
    pub insights: BTreeMap<String, Vec<Insight>>,
    /// Subnets that do not exist.
    pub gone_subnets: std::collections::BTreeSet<String>,
    /// Subnet → free addresses, where a test set them.
    pub free_ips: BTreeMap<String, u32>,
}

/// A manifest no gate objects to.
pub fn current_manifest(name: &str) -> String {
    format!("---\n# Source: {name}/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n")
}

impl World {
    pub fn render_as(&self, release: &str, manifest: &str) {
        self.lock().preflight.rendered.insert(release.into(), manifest.into());
    }

    pub fn deploy_on(&self, cluster: &str, namespace: &str, release: &str, manifest: &str) {
        self.lock().preflight.deployed.entry(cluster.into()).or_default().push((
            namespace.into(),
            release.into(),
            manifest.into(),
        ));
    }

    pub fn addon_catalog(&self, addon: &str, default: &str, compatible: &[&str]) {
        let versions = AddonVersions { default: Some(default.into()), compatible: compatible.iter().map(|v| v.to_string()).collect() };
        self.lock().preflight.addons.insert(addon.into(), versions);
    }

    pub fn insight(&self, cluster: &str, insight: Insight) {
        self.lock().preflight.insights.entry(cluster.into()).or_default().push(insight);
    }

    pub(super) fn rendered(&self, release: &str) -> String {
        self.lock().preflight.rendered.get(release).cloned().unwrap_or_else(|| current_manifest(release))
    }
}

#[async_trait]
impl ReleaseRecords for World {
    async fn release_secrets(&self, cluster: &str) -> Result<Vec<ReleaseSecret>, ProviderError> {
        self.enter("release_secrets", cluster).await?;
        let deployed = self.lock().preflight.deployed.get(cluster).cloned().unwrap_or_default();
        Ok(deployed
            .into_iter()
            .map(|(namespace, name, manifest)| {
                let record = serde_json::json!({
                    "name": name, "namespace": namespace, "version": 1, "info": {"status": "deployed"},
                    "chart": {"metadata": {"name": name, "version": "1.0.0"}}, "manifest": manifest,
                });
                let encoded = base64::engine::general_purpose::STANDARD.encode(record.to_string());
                ReleaseSecret {
                    name: format!("sh.helm.release.v1.{name}.v1"),
                    namespace,
                    secret_type: Some("helm.sh/release.v1".into()),
                    labels: BTreeMap::from([
                        ("name".to_string(), name),
                        ("owner".to_string(), "helm".to_string()),
                        ("status".to_string(), "deployed".to_string()),
                        ("version".to_string(), "1".to_string()),
                    ]),
                    release: Some(encoded.into_bytes()),
                }
            })
            .collect())
    }
}

#[async_trait]
impl AddonCatalog for World {
    async fn addon_versions(&self, addon: &str, _kubernetes_version: &str) -> Result<AddonVersions, ProviderError> {
        self.enter("addon_versions", addon).await?;
        Ok(self.lock().preflight.addons.get(addon).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl UpgradeInsights for World {
    async fn upgrade_insights(&self, cluster: &str, _kubernetes_version: &str) -> Result<Vec<Insight>, ProviderError> {
        self.enter("upgrade_insights", cluster).await?;
        Ok(self.lock().preflight.insights.get(cluster).cloned().unwrap_or_default())
    }
}

#[async_trait]
impl cutover::providers::SubnetInventory for World {
    /// Every subnet exists unless a test removed it, zones alternating a/b, a /24's free addresses
    /// unless a test set fewer.
    async fn subnets(&self, ids: &[String]) -> Result<Vec<cutover::providers::SubnetInfo>, ProviderError> {
        self.enter("subnets", "").await?;
        let w = self.lock();
        let missing: Vec<&String> = ids.iter().filter(|id| w.preflight.gone_subnets.contains(*id)).collect();
        if !missing.is_empty() {
            return Err(ProviderError::new(
                cutover::providers::ErrorKind::NotFound,
                format!("subnets {missing:?} not found"),
            ));
        }
        Ok(ids
            .iter()
            .enumerate()
            .map(|(i, id)| cutover::providers::SubnetInfo {
                id: id.clone(),
                availability_zone: format!("us-east-1{}", if i % 2 == 0 { 'a' } else { 'b' }),
                availability_zone_id: None,
                cidr: format!("10.0.{i}.0/24"),
                available_ips: w.preflight.free_ips.get(id).copied().unwrap_or(251),
                vpc_id: "vpc-1".into(),
            })
            .collect())
    }
}

impl World {
    /// The subnet no longer exists.
    pub fn remove_subnet(&self, id: &str) {
        self.lock().preflight.gone_subnets.insert(id.into());
    }

    /// The subnet has only `free` addresses left.
    pub fn subnet_free_ips(&self, id: &str, free: u32) {
        self.lock().preflight.free_ips.insert(id.into(), free);
    }
}
