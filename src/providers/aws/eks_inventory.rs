//! EKS inventory for dev clusters and drills: every cluster of the region with its tags, age and
//! node groups ([`ClusterSummary`]), and retagging a cluster (TagResource) to move its expiry.
//! Read-only apart from `tag_cluster`; deleting goes through the
//! [`crate::providers::ClusterProvider`] path (node groups → add-ons → cluster).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_eks::types::ClusterStatus as SdkStatus;
use jiff::Timestamp;
use async_trait::async_trait;

use super::eks::{EksClusters, tags};
use super::eks_lifecycle::SubResource as _;
use super::eks_nodegroups::Nodegroups;
use super::errors::sdk_error;
use crate::providers::{ClusterInventory, ClusterStatus, ClusterSummary, ErrorKind, NodegroupSummary, ProviderError};

#[async_trait]
impl ClusterInventory for EksClusters {
    /// Names of every cluster in the region (all pages).
    async fn cluster_names(&self) -> Result<Vec<String>, ProviderError> {
        let mut pages = self.client.list_clusters().into_paginator().send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(&format!("list clusters in {}", self.region), &e))?;
            names.extend(page.clusters().iter().cloned());
        }
        Ok(names)
    }

    /// The cluster with its node groups, `None` when it does not exist (or vanished meanwhile).
    async fn summary(&self, name: &str) -> Result<Option<ClusterSummary>, ProviderError> {
        let Some(c) = self.describe(name).await? else {
            return Ok(None);
        };
        let mut nodegroups = Vec::new();
        for ng in Nodegroups::list(self, name).await? {
            let described = self.describe_sub::<Nodegroups>(name, &ng).await?;
            let Some(n) = described else { continue };
            nodegroups.push(NodegroupSummary {
                name: ng,
                desired: n.scaling_config().and_then(|s| s.desired_size()).unwrap_or(0).max(0) as u32,
                instance_types: n.instance_types().to_vec(),
            });
        }
        Ok(Some(ClusterSummary {
            name: c.name.clone().unwrap_or_else(|| name.to_string()),
            arn: c.arn.clone().unwrap_or_default(),
            status: match c.status.clone().unwrap_or(SdkStatus::Creating) {
                SdkStatus::Active => ClusterStatus::Active,
                SdkStatus::Updating => ClusterStatus::Updating,
                SdkStatus::Deleting => ClusterStatus::Deleting,
                SdkStatus::Failed => ClusterStatus::Failed,
                _ => ClusterStatus::Creating,
            },
            created_at: c.created_at.and_then(|t| Timestamp::from_second(t.secs()).ok()),
            tags: tags(c.tags.as_ref()),
            nodegroups,
        }))
    }

    /// Adds or replaces tags on a cluster (TagResource on its ARN).
    async fn tag_cluster(&self, name: &str, new: &BTreeMap<String, String>) -> Result<(), ProviderError> {
        let arn = self.describe(name).await?.and_then(|c| c.arn).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("cluster {name} does not exist in {}", self.region),
            )
        })?;
        let map: HashMap<String, String> = new.clone().into_iter().collect();
        self.client
            .tag_resource()
            .resource_arn(&arn)
            .set_tags(Some(map))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("tag cluster {name}"), &e))?;
        Ok(())
    }
}
