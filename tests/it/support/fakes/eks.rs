//! The fake EKS and Kubernetes API: clusters, add-ons, node groups, access entries, load balancers.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use cutover::plan::{AccessEntry, Addon, ClusterSpec, NodeGroup};
use cutover::providers::{
    ClusterInfo, ClusterProvider, ClusterStatus, ErrorKind, Ownership, ProviderError,
    WorkloadProvider,
};

use super::{FakeCluster, World};

pub(super) fn not_found(what: String) -> ProviderError {
    ProviderError::new(ErrorKind::NotFound, what)
}

fn info(name: &str, c: &FakeCluster) -> ClusterInfo {
    ClusterInfo {
        name: name.into(),
        status: c.status,
        version: Some(c.version.clone()),
        endpoint: Some(format!("https://{name}.eks.example")),
        oidc_issuer: Some(super::identity::issuer_of(name)),
        tags: c.tags.clone(),
    }
}

#[async_trait]
impl ClusterProvider for World {
    async fn describe_cluster(&self, name: &str) -> Result<Option<ClusterInfo>, ProviderError> {
        self.enter("describe_cluster", name).await?;
        Ok(self.lock().state.clusters.get(name).map(|c| info(name, c)))
    }

    async fn create_cluster(
        &self,
        spec: &ClusterSpec,
        own: &Ownership,
        _token: &str,
    ) -> Result<ClusterInfo, ProviderError> {
        self.enter("create_cluster", &spec.name).await?;
        {
            let mut w = self.lock();
            match w.state.clusters.get(&spec.name) {
                Some(c) if own.owns(&c.tags) => {}
                Some(_) => {
                    return Err(ProviderError::new(
                        ErrorKind::Conflict,
                        format!("cluster {} exists", spec.name),
                    ));
                }
                None => {
                    let mut tags = spec.tags.clone();
                    tags.extend(own.tags());
                    let c = FakeCluster {
                        status: ClusterStatus::Creating,
                        version: spec.version.to_string(),
                        tags,
                        addons: BTreeSet::new(),
                        nodegroups: BTreeSet::new(),
                        access: BTreeSet::new(),
                        load_balancers: BTreeSet::new(),
                        releases: BTreeMap::new(),
                    };
                    w.state.clusters.insert(spec.name.clone(), c);
                    World::effect_happened(&mut w, format!("create cluster {}", spec.name));
                }
            }
        }
        // The cluster exists (CREATING) before it is ACTIVE, as in EKS: a hang here is a create
        // that never finishes.
        self.enter("wait_cluster_active", &spec.name).await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(&spec.name)
            .ok_or_else(|| not_found(spec.name.clone()))?;
        c.status = ClusterStatus::Active;
        Ok(info(&spec.name, c))
    }

    async fn delete_cluster(&self, name: &str) -> Result<(), ProviderError> {
        self.enter("delete_cluster", name).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.remove(name) {
            w.leaked_load_balancers += c.load_balancers.len() as u32;
            World::effect_happened(&mut w, format!("delete cluster {name}"));
        }
        Ok(())
    }

    async fn ensure_addon(
        &self,
        cluster: &str,
        addon: &Addon,
        _: &Ownership,
        _: &str,
    ) -> Result<(), ProviderError> {
        self.enter("ensure_addon", &addon.name).await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        if c.addons.insert(addon.name.clone()) {
            World::effect_happened(&mut w, format!("create addon {cluster}/{}", addon.name));
        }
        Ok(())
    }

    async fn delete_addon(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        self.enter("delete_addon", name).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.get_mut(cluster)
            && c.addons.remove(name)
        {
            World::effect_happened(&mut w, format!("delete addon {cluster}/{name}"));
        }
        Ok(())
    }

    async fn ensure_nodegroup(
        &self,
        cluster: &str,
        ng: &NodeGroup,
        _: &Ownership,
        _: &str,
    ) -> Result<(), ProviderError> {
        self.enter("ensure_nodegroup", &ng.name).await?;
        assert!(
            !ng.subnets.is_empty(),
            "the engine fills in the cluster's subnets"
        );
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        if c.nodegroups.insert(ng.name.clone()) {
            World::effect_happened(&mut w, format!("create nodegroup {cluster}/{}", ng.name));
        }
        Ok(())
    }

    async fn delete_nodegroup(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        self.enter("delete_nodegroup", name).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.get_mut(cluster)
            && c.nodegroups.remove(name)
        {
            World::effect_happened(&mut w, format!("delete nodegroup {cluster}/{name}"));
        }
        Ok(())
    }

    async fn ensure_access_entry(
        &self,
        cluster: &str,
        entry: &AccessEntry,
        _: &Ownership,
    ) -> Result<(), ProviderError> {
        self.enter("ensure_access_entry", &entry.principal_arn)
            .await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        if c.access.insert(entry.principal_arn.clone()) {
            World::effect_happened(
                &mut w,
                format!("create access {cluster}/{}", entry.principal_arn),
            );
        }
        Ok(())
    }

    async fn delete_access_entry(
        &self,
        cluster: &str,
        principal: &str,
    ) -> Result<(), ProviderError> {
        self.enter("delete_access_entry", principal).await?;
        let mut w = self.lock();
        if let Some(c) = w.state.clusters.get_mut(cluster)
            && c.access.remove(principal)
        {
            World::effect_happened(&mut w, format!("delete access {cluster}/{principal}"));
        }
        Ok(())
    }
}

#[async_trait]
impl WorkloadProvider for World {
    async fn release_load_balancers(&self, cluster: &str) -> Result<(), ProviderError> {
        self.enter("release_load_balancers", cluster).await?;
        let mut w = self.lock();
        let c = w
            .state
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        let released = std::mem::take(&mut c.load_balancers);
        for lb in released {
            World::effect_happened(&mut w, format!("release lb {cluster}/{lb}"));
        }
        Ok(())
    }

    async fn service_address(
        &self,
        cluster: &str,
        ns: &str,
        name: &str,
    ) -> Result<Option<String>, ProviderError> {
        self.enter("service_address", &format!("{cluster}/{ns}/{name}"))
            .await?;
        let w = self.lock();
        let c = w
            .state
            .clusters
            .get(cluster)
            .ok_or_else(|| not_found(cluster.into()))?;
        let svc = format!("{ns}/{name}");
        Ok(c.load_balancers
            .contains(&svc)
            .then(|| format!("{name}.{cluster}.lb.example.net")))
    }
}
