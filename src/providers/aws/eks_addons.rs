//! EKS add-ons of [`EksClusters`]: create or adopt one from the plan (its version, or EKS's
//! default; conflicts with self-managed copies resolved by OVERWRITE) and wait until ACTIVE;
//! delete one and wait until it is gone; list a cluster's add-ons for teardown.

use aws_sdk_eks::types::{Addon as SdkAddon, AddonStatus, ResolveConflicts};

use super::eks::{EksClusters, failed, issue, owner_of, tags, with_issues};
use super::errors::{sdk_error, sdk_kind};
use super::poll::{self, Poll, Wait};
use crate::plan::Addon;
use crate::providers::{ErrorKind, Ownership, ProviderError};

fn addon_issues(a: &SdkAddon) -> Vec<String> {
    let issues = a.health.as_ref().and_then(|h| h.issues.as_ref());
    issues
        .into_iter()
        .flatten()
        .map(|i| {
            issue(
                i.code.as_ref().map(|c| c.as_str()),
                i.message.as_deref(),
                i.resource_ids.as_deref(),
            )
        })
        .collect()
}

fn status_of(a: &SdkAddon) -> &str {
    a.status.as_ref().map_or("unknown", |s| s.as_str())
}

impl EksClusters {
    async fn describe_addon(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<SdkAddon>, ProviderError> {
        match self
            .client
            .describe_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.addon),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sdk_error(&format!("describe add-on {cluster}/{name}"), &e)),
        }
    }

    pub(super) async fn addon_names(&self, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let mut pages = self
            .client
            .list_addons()
            .cluster_name(cluster)
            .into_paginator()
            .send();
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

    pub(super) async fn ensure_addon_impl(
        &self,
        cluster: &str,
        addon: &Addon,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        let refuse = |found: &SdkAddon| {
            ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "add-on {} on cluster {cluster} exists and was not installed by this run ({}); refusing to adopt it",
                    addon.name,
                    owner_of(&tags(found.tags.as_ref()))
                ),
            )
        };
        match self.describe_addon(cluster, &addon.name).await? {
            Some(found) if !own.owns(&tags(found.tags.as_ref())) => return Err(refuse(&found)),
            Some(_) => {
                tracing::info!(cluster, addon = %addon.name, "adopting the add-on this run already installed")
            }
            None => {
                let sent = self
                    .client
                    .create_addon()
                    .cluster_name(cluster)
                    .addon_name(&addon.name)
                    .set_addon_version(addon.version.clone())
                    // EKS clusters start with self-managed copies of some add-ons: take them over.
                    .resolve_conflicts(ResolveConflicts::Overwrite)
                    .set_tags(Some(own.tags().into_iter().collect()))
                    .client_request_token(token)
                    .send()
                    .await;
                match sent {
                    Ok(_) => {}
                    Err(e) if sdk_kind(&e) == ErrorKind::Conflict => {
                        if let Some(found) = self.describe_addon(cluster, &addon.name).await?
                            && !own.owns(&tags(found.tags.as_ref()))
                        {
                            return Err(refuse(&found));
                        }
                    }
                    Err(e) => {
                        return Err(sdk_error(
                            &format!("install add-on {} on {cluster}", addon.name),
                            &e,
                        ));
                    }
                }
            }
        }
        self.wait_addon_active(cluster, &addon.name).await
    }

    async fn wait_addon_active(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        let what = format!("add-on {cluster}/{name} to become ACTIVE");
        let wait = Wait {
            what: &what,
            typical: poll::ADDON_ACTIVE,
            timeout: self.timeouts.addon_active,
            on_timeout: "some add-ons (coredns) need nodes to become ACTIVE; check the node groups, then resume",
        };
        poll::poll_until(&self.poll, &wait, || async {
            let Some(a) = self.describe_addon(cluster, name).await? else {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("add-on {cluster}/{name} disappeared while cutover waited for it; was it deleted by hand?"),
                ));
            };
            match a.status.clone().unwrap_or(AddonStatus::Creating) {
                AddonStatus::Active => Ok(Poll::Ready(())),
                AddonStatus::CreateFailed | AddonStatus::UpdateFailed | AddonStatus::DeleteFailed => {
                    Err(failed("add-on", format!("{cluster}/{name}"), addon_issues(&a)))
                }
                AddonStatus::Deleting => Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("add-on {cluster}/{name} is being deleted; wait until it is gone, then resume"),
                )),
                // DEGRADED heals once its pods run (e.g. when nodes arrive).
                _ => Ok(Poll::Pending(with_issues(format!("status {}", status_of(&a)), addon_issues(&a)))),
            }
        })
        .await
    }

    /// Asks EKS to delete the add-on; `false` when it is not installed.
    pub(super) async fn start_addon_delete(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<bool, ProviderError> {
        match self
            .client
            .delete_addon()
            .cluster_name(cluster)
            .addon_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(false),
            Err(e) if sdk_kind(&e) == ErrorKind::Conflict => {
                match self.describe_addon(cluster, name).await? {
                    None => Ok(false),
                    Some(a) if a.status == Some(AddonStatus::Deleting) => Ok(true),
                    Some(_) => Err(sdk_error(&format!("delete add-on {cluster}/{name}"), &e)),
                }
            }
            Err(e) => Err(sdk_error(&format!("delete add-on {cluster}/{name}"), &e)),
        }
    }

    pub(super) async fn wait_addon_gone(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        let what = format!("add-on {cluster}/{name} to be deleted");
        let wait = Wait {
            what: &what,
            typical: poll::ADDON_DELETION,
            timeout: self.timeouts.addon_active,
            on_timeout: "EKS may still finish; `cutover resume` waits again",
        };
        poll::poll_until(&self.poll, &wait, || async {
            match self.describe_addon(cluster, name).await? {
                None => Ok(Poll::Ready(())),
                Some(a) if a.status == Some(AddonStatus::DeleteFailed) => Err(failed(
                    "deletion of add-on",
                    format!("{cluster}/{name}"),
                    addon_issues(&a),
                )),
                Some(a) => Ok(Poll::Pending(format!("status {}", status_of(&a)))),
            }
        })
        .await
    }
}
