//! The EKS add-on catalog ([`AddonCatalog`] for [`EksClusters`]): DescribeAddonVersions for one
//! add-on and Kubernetes version — which versions are compatible, and which one EKS installs when
//! none is pinned. `cutover next` moves pinned add-ons to the new version's defaults with it.

use async_trait::async_trait;

use super::eks::EksClusters;
use super::errors::sdk_error;
use crate::providers::{AddonCatalog, AddonVersions, ProviderError};

#[async_trait]
impl AddonCatalog for EksClusters {
    async fn addon_versions(&self, addon: &str, kubernetes_version: &str) -> Result<AddonVersions, ProviderError> {
        let mut pages = self
            .client
            .describe_addon_versions()
            .addon_name(addon)
            .kubernetes_version(kubernetes_version)
            .into_paginator()
            .send();
        let mut out = AddonVersions::default();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| sdk_error(&format!("list versions of add-on {addon} for Kubernetes {kubernetes_version}"), &e))?;
            for info in page.addons().iter().filter(|a| a.addon_name() == Some(addon)) {
                for v in info.addon_versions() {
                    let Some(version) = v.addon_version() else { continue };
                    let fits = v.compatibilities().iter().filter(|c| c.cluster_version() == Some(kubernetes_version));
                    let mut compatible = false;
                    for c in fits {
                        compatible = true;
                        if c.default_version() {
                            out.default = Some(version.to_string());
                        }
                    }
                    if compatible {
                        out.compatible.push(version.to_string());
                    }
                }
            }
        }
        Ok(out)
    }
}
