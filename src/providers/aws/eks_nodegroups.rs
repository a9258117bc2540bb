//! EKS managed node groups of [`EksClusters`]: create or adopt one from the plan and wait until
//! ACTIVE; delete one and wait until it is gone; list a cluster's node groups for teardown.

use std::collections::HashMap;

use aws_sdk_eks::types::{
    CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus, Taint as SdkTaint,
    TaintEffect as SdkEffect,
};

use super::eks::{EksClusters, failed, issue, owner_of, tags, with_issues};
use super::errors::{sdk_error, sdk_kind};
use super::poll::{self, Poll, Wait};
use crate::plan::{CapacityType, NodeGroup, TaintEffect};
use crate::providers::{ErrorKind, Ownership, ProviderError};

fn nodegroup_issues(ng: &Nodegroup) -> Vec<String> {
    let issues = ng.health.as_ref().and_then(|h| h.issues.as_ref());
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

fn status_of(ng: &Nodegroup) -> &str {
    ng.status.as_ref().map_or("unknown", |s| s.as_str())
}

impl EksClusters {
    pub(super) async fn describe_nodegroup(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<Nodegroup>, ProviderError> {
        match self
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
        {
            Ok(out) => Ok(out.nodegroup),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sdk_error(
                &format!("describe node group {cluster}/{name}"),
                &e,
            )),
        }
    }

    pub(super) async fn nodegroup_names(
        &self,
        cluster: &str,
    ) -> Result<Vec<String>, ProviderError> {
        let mut pages = self
            .client
            .list_nodegroups()
            .cluster_name(cluster)
            .into_paginator()
            .send();
        let mut names = Vec::new();
        while let Some(page) = pages.next().await {
            match page {
                Ok(page) => names.extend(page.nodegroups().iter().cloned()),
                Err(e) if sdk_kind(&e) == ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(sdk_error(&format!("list node groups of {cluster}"), &e)),
            }
        }
        Ok(names)
    }

    pub(super) async fn ensure_nodegroup_impl(
        &self,
        cluster: &str,
        ng: &NodeGroup,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        let refuse = |found: &Nodegroup| {
            ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "node group {cluster}/{} exists and was not created by this run ({}); refusing to adopt it",
                    ng.name,
                    owner_of(&tags(found.tags.as_ref()))
                ),
            )
        };
        match self.describe_nodegroup(cluster, &ng.name).await? {
            Some(found) if !own.owns(&tags(found.tags.as_ref())) => return Err(refuse(&found)),
            Some(_) => {
                tracing::info!(cluster, nodegroup = %ng.name, "adopting the node group this run already created")
            }
            None => {
                self.create_nodegroup(cluster, ng, own, token).await?;
                if let Some(found) = self.describe_nodegroup(cluster, &ng.name).await?
                    && !own.owns(&tags(found.tags.as_ref()))
                {
                    return Err(refuse(&found));
                }
            }
        }
        self.wait_nodegroup_active(cluster, &ng.name).await
    }

    async fn create_nodegroup(
        &self,
        cluster: &str,
        ng: &NodeGroup,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        let scaling = NodegroupScalingConfig::builder()
            .min_size(ng.scaling.min as i32)
            .desired_size(ng.scaling.desired as i32)
            .max_size(ng.scaling.max as i32)
            .build();
        let mut taints = Vec::new();
        for t in &ng.taints {
            taints.push(
                SdkTaint::builder()
                    .key(&t.key)
                    .set_value(t.value.clone())
                    .effect(match t.effect {
                        TaintEffect::NoSchedule => SdkEffect::NoSchedule,
                        TaintEffect::PreferNoSchedule => SdkEffect::PreferNoSchedule,
                        TaintEffect::NoExecute => SdkEffect::NoExecute,
                    })
                    .build(),
            );
        }
        let labels: HashMap<String, String> = ng.labels.clone().into_iter().collect();
        let sent = self
            .client
            .create_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(&ng.name)
            .scaling_config(scaling)
            .set_subnets(Some(ng.subnets.clone()))
            .set_instance_types(Some(ng.instance_types.clone()))
            .node_role(&ng.node_role_arn)
            .set_labels((!labels.is_empty()).then_some(labels))
            .set_taints((!taints.is_empty()).then_some(taints))
            .capacity_type(match ng.capacity_type {
                CapacityType::OnDemand => CapacityTypes::OnDemand,
                CapacityType::Spot => CapacityTypes::Spot,
            })
            .set_disk_size(ng.disk_size_gib.map(|d| d as i32))
            .set_tags(Some(own.tags().into_iter().collect()))
            .client_request_token(token)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Exists already (a concurrent or lost attempt): the caller checks it is ours.
            Err(e) if sdk_kind(&e) == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(sdk_error(
                &format!("create node group {cluster}/{}", ng.name),
                &e,
            )),
        }
    }

    async fn wait_nodegroup_active(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        let what = format!("node group {cluster}/{name} to become ACTIVE");
        let wait = Wait {
            what: &what,
            typical: poll::NODEGROUP_ACTIVE,
            timeout: self.timeouts.nodegroup_active,
            on_timeout: "EKS may still finish; `cutover resume` adopts the node group and waits again",
        };
        poll::poll_until(&self.poll, &wait, || async {
            let Some(ng) = self.describe_nodegroup(cluster, name).await? else {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("node group {cluster}/{name} disappeared while cutover waited for it; was it deleted by hand?"),
                ));
            };
            match ng.status.clone().unwrap_or(NodegroupStatus::Creating) {
                NodegroupStatus::Active => Ok(Poll::Ready(())),
                NodegroupStatus::CreateFailed | NodegroupStatus::DeleteFailed => {
                    Err(failed("node group", format!("{cluster}/{name}"), nodegroup_issues(&ng)))
                }
                NodegroupStatus::Deleting => Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("node group {cluster}/{name} is being deleted; wait until it is gone, then resume"),
                )),
                // DEGRADED can heal (capacity arrives); keep waiting and say why if it does not.
                _ => Ok(Poll::Pending(with_issues(format!("status {}", status_of(&ng)), nodegroup_issues(&ng)))),
            }
        })
        .await
    }

    /// Asks EKS to delete the node group; `false` when it does not exist.
    pub(super) async fn start_nodegroup_delete(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<bool, ProviderError> {
        match self
            .client
            .delete_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(false),
            Err(e) if sdk_kind(&e) == ErrorKind::Conflict => {
                // Already being deleted is what we want; any other busy state is reported.
                match self.describe_nodegroup(cluster, name).await? {
                    None => Ok(false),
                    Some(ng) if ng.status == Some(NodegroupStatus::Deleting) => Ok(true),
                    Some(_) => Err(sdk_error(
                        &format!("delete node group {cluster}/{name}"),
                        &e,
                    )),
                }
            }
            Err(e) => Err(sdk_error(
                &format!("delete node group {cluster}/{name}"),
                &e,
            )),
        }
    }

    pub(super) async fn wait_nodegroup_gone(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<(), ProviderError> {
        let what = format!("node group {cluster}/{name} to be deleted");
        let wait = Wait {
            what: &what,
            typical: poll::DELETION,
            timeout: self.timeouts.nodegroup_active,
            on_timeout: "EKS may still finish; `cutover resume` waits again",
        };
        poll::poll_until(&self.poll, &wait, || async {
            match self.describe_nodegroup(cluster, name).await? {
                None => Ok(Poll::Ready(())),
                Some(ng) if ng.status == Some(NodegroupStatus::DeleteFailed) => Err(failed(
                    "deletion of node group",
                    format!("{cluster}/{name}"),
                    nodegroup_issues(&ng),
                )),
                Some(ng) => Ok(Poll::Pending(format!("status {}", status_of(&ng)))),
            }
        })
        .await
    }
}
