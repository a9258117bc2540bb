//! EKS Pod Identity associations ([`PodIdentities`] for [`EksClusters`]): a service account's AWS
//! role on a cluster. Created with the run's ownership tags and a client token (a retried create
//! returns the same association); one that exists for the same service account is adopted only
//! when this run made it, refused otherwise; listed (for capture) and deleted.

use async_trait::async_trait;

use super::eks::{EksClusters, owner_of, tags};
use super::errors::{sdk_error, sdk_kind};
use crate::plan::PodIdentity;
use crate::providers::{ErrorKind, Ownership, PodIdentities, PodIdentityInfo, ProviderError};

impl EksClusters {
    async fn find_association(&self, cluster: &str, namespace: &str, sa: &str) -> Result<Option<String>, ProviderError> {
        let out = self
            .client
            .list_pod_identity_associations()
            .cluster_name(cluster)
            .namespace(namespace)
            .service_account(sa)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("list pod identity associations of {cluster}"), &e))?;
        Ok(out.associations().first().and_then(|a| a.association_id()).map(str::to_string))
    }

    async fn describe_association(&self, cluster: &str, id: &str) -> Result<PodIdentityInfo, ProviderError> {
        let out = self
            .client
            .describe_pod_identity_association()
            .cluster_name(cluster)
            .association_id(id)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("describe pod identity association {id} of {cluster}"), &e))?;
        let a = out.association().ok_or_else(|| {
            ProviderError::new(ErrorKind::NotFound, format!("pod identity association {id} of {cluster} does not exist"))
        })?;
        Ok(PodIdentityInfo {
            id: id.to_string(),
            namespace: a.namespace().unwrap_or_default().to_string(),
            service_account: a.service_account().unwrap_or_default().to_string(),
            role_arn: a.role_arn().unwrap_or_default().to_string(),
            tags: tags(a.tags()),
            owner_arn: a.owner_arn().map(str::to_string),
        })
    }
}

#[async_trait]
impl PodIdentities for EksClusters {
    async fn ensure_pod_identity(
        &self,
        cluster: &str,
        identity: &PodIdentity,
        own: &Ownership,
        token: &str,
    ) -> Result<PodIdentityInfo, ProviderError> {
        let (ns, sa) = (&identity.namespace, &identity.service_account);
        if let Some(id) = self.find_association(cluster, ns, sa).await? {
            let found = self.describe_association(cluster, &id).await?;
            if !own.owns(&found.tags) {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{ns}/{sa} on {cluster} already has a pod identity association ({}); refusing to adopt it",
                        owner_of(&found.tags)
                    ),
                ));
            }
            return Ok(found);
        }
        let sent = self
            .client
            .create_pod_identity_association()
            .cluster_name(cluster)
            .namespace(ns)
            .service_account(sa)
            .role_arn(&identity.role_arn)
            .set_tags(Some(own.tags().into_iter().collect()))
            .client_request_token(token)
            .send()
            .await;
        match sent {
            Ok(out) => {
                let id = out.association().and_then(|a| a.association_id()).unwrap_or_default().to_string();
                self.describe_association(cluster, &id).await
            }
            // Made meanwhile (a lost answer to our own create): the same ownership check applies.
            Err(e) if sdk_kind(&e) == ErrorKind::Conflict => Box::pin(self.ensure_pod_identity(cluster, identity, own, token)).await,
            Err(e) => Err(sdk_error(&format!("associate {ns}/{sa} with {} on {cluster}", identity.role_arn), &e)),
        }
    }

    async fn delete_pod_identity(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        own: &Ownership,
    ) -> Result<(), ProviderError> {
        let Some(id) = self.find_association(cluster, namespace, service_account).await? else {
            return Ok(());
        };
        let found = self.describe_association(cluster, &id).await?;
        if !own.owns(&found.tags) {
            tracing::warn!(%cluster, association = %id, "{namespace}/{service_account}'s association was not made by this run; left alone");
            return Ok(());
        }
        match self.client.delete_pod_identity_association().cluster_name(cluster).association_id(&id).send().await {
            Ok(_) => Ok(()),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(sdk_error(&format!("delete pod identity association {id} of {cluster}"), &e)),
        }
    }

    async fn pod_identities(&self, cluster: &str) -> Result<Vec<PodIdentityInfo>, ProviderError> {
        let mut ids = Vec::new();
        let mut pages = self.client.list_pod_identity_associations().cluster_name(cluster).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(&format!("list pod identity associations of {cluster}"), &e))?;
            ids.extend(page.associations().iter().filter_map(|a| a.association_id().map(str::to_string)));
        }
        let mut out = Vec::new();
        for id in ids {
            out.push(self.describe_association(cluster, &id).await?);
        }
        Ok(out)
    }
}
