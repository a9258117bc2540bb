//! The fake's region inventory: every cluster with its tags and node groups, and retagging, as
//! dev clusters and the reaper read them.

use std::collections::BTreeMap;

use async_trait::async_trait;
use cutover::providers::{ClusterInventory, ClusterSummary, NodegroupSummary, ProviderError};

use super::World;
use super::eks::not_found;

#[async_trait]
impl ClusterInventory for World {
    async fn cluster_names(&self) -> Result<Vec<String>, ProviderError> {
        self.enter("cluster_names", "").await?;
        Ok(self.lock().state.clusters.keys().cloned().collect())
    }

    async fn summary(&self, name: &str) -> Result<Option<ClusterSummary>, ProviderError> {
        self.enter("summary", name).await?;
        Ok(self.lock().state.clusters.get(name).map(|c| ClusterSummary {
            name: name.to_string(),
            arn: format!("arn:aws:eks:us-east-1:111122223333:cluster/{name}"),
            status: c.status,
            created_at: None,
            tags: c.tags.clone(),
            nodegroups: c
                .nodegroups
                .iter()
                .map(|ng| NodegroupSummary { name: ng.clone(), desired: 2, instance_types: vec!["m6i.large".into()] })
                .collect(),
        }))
    }

    async fn tag_cluster(&self, name: &str, tags: &BTreeMap<String, String>) -> Result<(), ProviderError> {
        self.enter("tag_cluster", name).await?;
        let mut w = self.lock();
        let c = w.state.clusters.get_mut(name).ok_or_else(|| not_found(name.into()))?;
        c.tags.extend(tags.clone());
        World::effect_happened(&mut w, format!("tag cluster {name}"));
        Ok(())
    }
}
