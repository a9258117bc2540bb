//! EKS managed node groups of [`EksClusters`] as a [`SubResource`]: created from the plan
//! (scaling, instance types, labels, taints, capacity type, disk); the lifecycle itself is
//! [`super::eks_lifecycle`]'s.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_eks::types::{
    CapacityTypes, Nodegroup, NodegroupScalingConfig, NodegroupStatus, Taint as SdkTaint,
    TaintEffect as SdkEffect,
};

use super::eks::{EksClusters, tags};
use super::eks_lifecycle::{Phase, SubResource, read_issues};
use super::errors::{sdk_error, sdk_kind};
use super::poll;
use crate::plan::{CapacityType, NodeGroup, TaintEffect, Timeouts};
use crate::providers::{ErrorKind, Ownership, ProviderError};

/// EKS managed node groups.
pub(super) struct Nodegroups;

#[async_trait]
impl SubResource for Nodegroups {
    type Sdk = Nodegroup;
    type Spec = NodeGroup;
    const NOUN: &'static str = "node group";
    const TYPICAL_ACTIVE: Duration = poll::NODEGROUP_ACTIVE;
    const TYPICAL_DELETION: Duration = poll::DELETION;
    const ON_ACTIVE_TIMEOUT: &'static str = "EKS may still finish; `cutover resume` adopts the node group and waits again";

    fn timeout(t: &Timeouts) -> Duration {
        t.nodegroup_active
    }

    fn name(spec: &NodeGroup) -> &str {
        &spec.name
    }

    async fn describe(eks: &EksClusters, cluster: &str, name: &str) -> Result<Nodegroup, ProviderError> {
        let out = eks
            .client
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("describe node group {cluster}/{name}"), &e))?;
        out.nodegroup
            .ok_or_else(|| ProviderError::new(ErrorKind::NotFound, format!("node group {cluster}/{name} does not exist")))
    }

    async fn list(eks: &EksClusters, cluster: &str) -> Result<Vec<String>, ProviderError> {
        let mut pages = eks.client.list_nodegroups().cluster_name(cluster).into_paginator().send();
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

    async fn create(
        eks: &EksClusters,
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
        eks
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
            .await
            .map_err(|e| sdk_error(&format!("create node group {cluster}/{}", ng.name), &e))?;
        Ok(())
    }

    async fn delete(eks: &EksClusters, cluster: &str, name: &str) -> Result<(), ProviderError> {
        eks.client
            .delete_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("delete node group {cluster}/{name}"), &e))?;
        Ok(())
    }

    fn tags(ng: &Nodegroup) -> BTreeMap<String, String> {
        tags(ng.tags.as_ref())
    }

    fn phase(ng: &Nodegroup) -> Phase {
        match ng.status.clone().unwrap_or(NodegroupStatus::Creating) {
            NodegroupStatus::Active => Phase::Active,
            NodegroupStatus::CreateFailed => Phase::Failed,
            NodegroupStatus::DeleteFailed => Phase::DeleteFailed,
            NodegroupStatus::Deleting => Phase::Deleting,
            _ => Phase::Pending,
        }
    }

    fn status(ng: &Nodegroup) -> String {
        ng.status.as_ref().map_or("unknown", |s| s.as_str()).to_string()
    }

    fn issues(ng: &Nodegroup) -> Vec<String> {
        read_issues(ng.health.as_ref().and_then(|h| h.issues.as_deref()))
    }
}
