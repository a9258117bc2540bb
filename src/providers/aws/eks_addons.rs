//! EKS add-ons of [`EksClusters`] as a [`SubResource`]: created from the plan (its version, or
//! EKS's default; conflicts with the self-managed copies a new cluster starts with resolved by
//! OVERWRITE); the lifecycle itself is [`super::eks_lifecycle`]'s.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{Addon as SdkAddon, AddonStatus, ResolveConflicts};

use super::eks::{EksClusters, tags};
use super::eks_lifecycle::{Phase, SubResource, read_issues};
use super::errors::{sdk_error, sdk_kind};
use super::poll;
use crate::plan::{Addon, Timeouts};
use crate::providers::{ErrorKind, Ownership, ProviderError};

/// EKS add-ons.
pub(super) struct Addons;

#[async_trait]
impl SubResource for Addons {
    type Sdk = SdkAddon;
    type Spec = Addon;
    const NOUN: &'static str = "add-on";
    const TYPICAL_ACTIVE: Duration = poll::ADDON_ACTIVE;
    const TYPICAL_DELETION: Duration = poll::ADDON_DELETION;
    const ON_ACTIVE_TIMEOUT: &'static str =
        "some add-ons (coredns) need nodes to become ACTIVE; check the node groups, then resume";

    fn timeout(t: &Timeouts) -> Duration {
        t.addon_active
    }

    fn name(spec: &Addon) -> &str {
        &spec.name
    }

    async fn describe(eks: &EksClusters, cluster: &str, name: &str) -> Result<SdkAddon, ProviderError> {
        let out = eks
            .client
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("describe add-on {cluster}/{name}"), &e))?;
        out.addon.ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("add-on {cluster}/{name} does not exist")))
    }

    async fn list(eks: &EksClusters, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let mut pages = eks.client.list_addons().cluster_name(cluster).into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => names.extend(page.addons().iter().cloned()),
                Err(e) if sdk_kind(&e) == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(sdk_error(&format!("list add-ons of {cluster}"), &e)),
            }
        }
        Ok(names)
    }

    async fn create(
        eks: &EksClusters,
        cluster: &str,
        addon: &Addon,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        eks.client
            .create_addon()
            .cluster_name(cluster)
            .addon_name(&addon.name)
            .set_addon_version(addon.version.clone())
            .set_service_account_role_arn(addon.service_account_role_arn.clone())
            .set_pod_identity_associations(pod_identities(addon))
            // EKS clusters start with self-managed copies of some add-ons: take them over.
            .resolve_conflicts(ResolveConflicts::Overwrite)
            .set_tags(Some(own.tags().into_iter().collect()))
            .client_request_token(token)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("install add-on {} on {cluster}", addon.name), &e))?;
        Ok(())
    }

    async fn delete(eks: &EksClusters, cluster: &str, name: &str) -> Result<(), ProviderError> {
        eks.client
            .delete_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("delete add-on {cluster}/{name}"), &e))?;
        Ok(())
    }

    fn tags(a: &SdkAddon) -> BTreeMap<String, String> {
        tags(a.tags.as_ref())
    }

    fn phase(a: &SdkAddon) -> Phase {
        match a.status.clone().unwrap_or(AddonStatus::Creating) {
            AddonStatus::Active => Phase::Active,
            AddonStatus::CreateFailed | AddonStatus::UpdateFailed => Phase::Failed,
            AddonStatus::DeleteFailed => Phase::DeleteFailed,
            AddonStatus::Deleting => Phase::Deleting,
            _ => Phase::Pending,
        }
    }

    fn status(a: &SdkAddon) -> String {
        a.status.as_ref().map_or("unknown", |s| s.as_str()).to_string()
    }

    fn issues(a: &SdkAddon) -> Vec<String> {
        read_issues(a.health.as_ref().and_then(|h| h.issues.as_deref()))
    }
}

/// CreateAddon's `podIdentityAssociations`, `None` when the plan gives none.
fn pod_identities(addon: &crate::plan::Addon) -> Option<Vec<aws_sdk_eks::types::AddonPodIdentityAssociations>> {
    if addon.pod_identities.is_empty() {
        return None;
    }
    Some(
        addon
            .pod_identities
            .iter()
            .map(|p| {
                aws_sdk_eks::types::AddonPodIdentityAssociations::builder()
                    .service_account(&p.service_account)
                    .role_arn(&p.role_arn)
                    .build()
                    .expect("service account and role are set")
            })
            .collect(),
    )
}
