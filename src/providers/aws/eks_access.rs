//! EKS access entries of [`EksClusters`]: create the plan's entry (tagged) unless it exists, then
//! associate each of its access policies at cluster or namespace scope unless already associated
//! so; delete an entry.
//!
//! An entry that already exists is adopted whatever its tags: EKS makes one itself for the
//! cluster's creator (`bootstrapClusterCreatorAdminPermissions`), and a plan may name that
//! principal. Access entries only exist on the green cluster, which the engine owns.

use aws_sdk_eks::types::{AccessScope as SdkScope, AccessScopeType, AssociatedAccessPolicy};

use super::eks::EksClusters;
use super::errors::{sdk_error, sdk_kind};
use crate::plan::{AccessEntry, AccessScope};
use crate::providers::{ErrorKind, Ownership, ProviderError};

fn scope(s: &AccessScope) -> SdkScope {
    match s {
        AccessScope::Cluster => SdkScope::builder().r#type(AccessScopeType::Cluster).build(),
        AccessScope::Namespaces(ns) => SdkScope::builder()
            .r#type(AccessScopeType::Namespace)
            .set_namespaces(Some(ns.clone()))
            .build(),
    }
}

/// Whether an association already grants `policy` at exactly `want` scope.
fn same_association(have: &AssociatedAccessPolicy, policy: &str, want: &SdkScope) -> bool {
    let mut have_ns = have
        .access_scope
        .as_ref()
        .and_then(|s| s.namespaces.clone())
        .unwrap_or_default();
    let mut want_ns = want.namespaces.clone().unwrap_or_default();
    have_ns.sort();
    want_ns.sort();
    have.policy_arn.as_deref() == Some(policy)
        && have.access_scope.as_ref().and_then(|s| s.r#type.clone()) == want.r#type
        && have_ns == want_ns
}

impl EksClusters {
    pub(super) async fn ensure_access_entry_impl(
        &self,
        cluster: &str,
        entry: &AccessEntry,
        own: &Ownership,
    ) -> Result<(), ProviderError> {
        let principal = &entry.principal_arn;
        let exists = match self
            .client
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await
        {
            Ok(_) => true,
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => false,
            Err(e) => {
                return Err(sdk_error(
                    &format!("describe access entry {principal} on {cluster}"),
                    &e,
                ));
            }
        };
        if !exists {
            let sent = self
                .client
                .create_access_entry()
                .cluster_name(cluster)
                .principal_arn(principal)
                .set_kubernetes_groups(
                    (!entry.kubernetes_groups.is_empty()).then(|| entry.kubernetes_groups.clone()),
                )
                .set_username(entry.username.clone())
                .set_tags(Some(own.tags().into_iter().collect()))
                .client_request_token(own.token(&format!("access-entry/{cluster}/{principal}")))
                .send()
                .await;
            match sent {
                Ok(_) => {}
                // Made meanwhile: adopted like any existing entry.
                Err(e) if sdk_kind(&e) == ErrorKind::Conflict => {}
                Err(e) => {
                    return Err(sdk_error(
                        &format!("create access entry {principal} on {cluster}"),
                        &e,
                    ));
                }
            }
        }
        if entry.policies.is_empty() {
            return Ok(());
        }
        let associated = self.associated_policies(cluster, principal).await?;
        for policy in &entry.policies {
            let want = scope(&policy.scope);
            if associated
                .iter()
                .any(|a| same_association(a, &policy.policy_arn, &want))
            {
                continue;
            }
            self.client
                .associate_access_policy()
                .cluster_name(cluster)
                .principal_arn(principal)
                .policy_arn(&policy.policy_arn)
                .access_scope(want)
                .send()
                .await
                .map_err(|e| {
                    sdk_error(
                        &format!(
                            "associate {} with {principal} on {cluster}",
                            policy.policy_arn
                        ),
                        &e,
                    )
                })?;
        }
        Ok(())
    }

    async fn associated_policies(
        &self,
        cluster: &str,
        principal: &str,
    ) -> Result<Vec<AssociatedAccessPolicy>, ProviderError> {
        let mut pages = self
            .client
            .list_associated_access_policies()
            .cluster_name(cluster)
            .principal_arn(principal)
            .into_paginator()
            .send();
        let mut all = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                sdk_error(
                    &format!("list access policies of {principal} on {cluster}"),
                    &e,
                )
            })?;
            all.extend(page.associated_access_policies().iter().cloned());
        }
        Ok(all)
    }

    pub(super) async fn delete_access_entry_impl(
        &self,
        cluster: &str,
        principal: &str,
    ) -> Result<(), ProviderError> {
        match self
            .client
            .delete_access_entry()
            .cluster_name(cluster)
            .principal_arn(principal)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(sdk_error(
                &format!("delete access entry {principal} on {cluster}"),
                &e,
            )),
        }
    }
}
