//! The dev clusters of a region: list them, move an expiry, delete one, reap the expired.
//!
//! Deleting follows the one teardown rule ([`crate::engine::teardown`]), and only after
//! [`super::identify`] has found every dev and ownership tag on the cluster, read again just
//! before the deletion starts. Every wait is bounded by the plan defaults' timeouts. Everything
//! goes through provider traits, so the rules here are tested against fakes.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use super::{DevError, Identity, TAG_EXPIRES, expiry, expiry_tag, human, identify};
use crate::plan::Timeouts;
use crate::providers::{ClusterInventory, ClusterProvider, ClusterStatus, ClusterSummary, WorkloadProvider};

/// One dev cluster as `cutover dev list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DevClusterView {
    /// EKS cluster name.
    pub name: String,
    /// The environment (lock and journal) it was built in.
    pub plan: String,
    /// Who owns it, from its owner tag.
    pub owner: String,
    /// Lifecycle state.
    pub status: ClusterStatus,
    /// When EKS created it.
    pub created_at: Option<Timestamp>,
    /// When its TTL runs out and the reaper may delete it.
    pub expires_at: Timestamp,
    /// Negative once expired.
    pub expires_in_secs: i64,
    /// Its TTL has run out.
    pub expired: bool,
    /// Desired node count over its node groups.
    pub nodes: u32,
    /// EC2 instance types over its node groups.
    pub instance_types: Vec<String>,
}

impl DevClusterView {
    /// How long it has existed at `now`, for people; `-` when unknown.
    pub fn age(&self, now: Timestamp) -> String {
        self.created_at
            .map(|c| human(now.duration_since(c)))
            .unwrap_or_else(|| "-".into())
    }

    /// Time left until expiry, or how long ago it expired, for people.
    pub fn expires_in(&self) -> String {
        if self.expired {
            format!(
                "expired {} ago",
                human(jiff::SignedDuration::from_secs(-self.expires_in_secs))
            )
        } else {
            human(jiff::SignedDuration::from_secs(self.expires_in_secs))
        }
    }
}

/// What `extend` changed.
#[derive(Debug, Clone, Serialize)]
pub struct Extended {
    /// EKS cluster name.
    pub name: String,
    /// Expiry before the extension.
    pub before: Timestamp,
    /// Expiry after the extension.
    pub after: Timestamp,
    /// False when the cluster already lived longer than asked: expiries are never shortened.
    pub changed: bool,
}

/// What `reap` did (or, dry, would do), cluster by cluster.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReapReport {
    /// Nothing was deleted; the report says what would be.
    pub dry_run: bool,
    /// Expired dev clusters deleted (or that a real run would delete).
    pub deleted: Vec<String>,
    /// Clusters left alone, with why.
    pub kept: Vec<(String, String)>,
    /// Expired dev clusters whose deletion failed, with the error.
    pub failed: Vec<(String, String)>,
}

/// The dev clusters of one region.
pub struct DevClusters {
    inventory: Arc<dyn ClusterInventory>,
    clusters: Arc<dyn ClusterProvider>,
    workloads: Arc<dyn WorkloadProvider>,
    timeouts: Timeouts,
}

impl DevClusters {
    /// Dev clusters seen through these providers; `timeouts` bound each deletion.
    pub fn new(
        inventory: Arc<dyn ClusterInventory>,
        clusters: Arc<dyn ClusterProvider>,
        workloads: Arc<dyn WorkloadProvider>,
        timeouts: Timeouts,
    ) -> Self {
        DevClusters { inventory, clusters, workloads, timeouts }
    }

    /// Every dev cluster of the region, by name.
    pub async fn list(&self, now: Timestamp) -> Result<Vec<DevClusterView>, DevError> {
        let mut out = Vec::new();
        for name in self.inventory.cluster_names().await? {
            if let Some(summary) = self.inventory.summary(&name).await?
                && let Some(view) = view(&summary, now)
            {
                out.push(view);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Moves the expiry to `now + ttl`, never earlier than it already is.
    pub async fn extend(&self, name: &str, ttl: Duration, now: Timestamp) -> Result<Extended, DevError> {
        let summary = self.dev_cluster(name).await?;
        let Identity::Dev { expires_at: before, .. } = identify(name, &summary.tags) else {
            unreachable!("dev_cluster checked the identity")
        };
        let wanted = expiry(now, ttl)?;
        if wanted <= before {
            return Ok(Extended {
                name: name.into(),
                before,
                after: before,
                changed: false,
            });
        }
        let tag = std::collections::BTreeMap::from([(TAG_EXPIRES.to_string(), expiry_tag(wanted))]);
        self.inventory.tag_cluster(name, &tag).await?;
        Ok(Extended {
            name: name.into(),
            before,
            after: wanted.round(jiff::Unit::Second).unwrap_or(wanted),
            changed: true,
        })
    }

    /// Deletes one dev cluster in safe order; refuses any cluster that is not one.
    pub async fn down(&self, name: &str) -> Result<(), DevError> {
        let summary = self.dev_cluster(name).await?;
        self.delete(&summary).await
    }

    /// Deletes every expired dev cluster of the region, one after another; a failure is recorded
    /// and the reaper goes on with the next. `dry_run` deletes nothing.
    pub async fn reap(&self, now: Timestamp, dry_run: bool) -> Result<ReapReport, DevError> {
        let mut report = ReapReport {
            dry_run,
            ..ReapReport::default()
        };
        for name in self.inventory.cluster_names().await? {
            let Some(summary) = self.inventory.summary(&name).await? else {
                continue;
            };
            match identify(&name, &summary.tags) {
                Identity::NotDev(why) => report.kept.push((name, why)),
                Identity::Dev { expires_at, .. } if expires_at > now => {
                    let left = human(expires_at.duration_since(now));
                    report.kept.push((name, format!("dev cluster, expires in {left}")));
                }
                Identity::Dev { .. } if dry_run => report.deleted.push(name),
                Identity::Dev { .. } => match self.delete(&summary).await {
                    Ok(()) => report.deleted.push(name),
                    Err(e) => report.failed.push((name, e.to_string())),
                },
            }
        }
        Ok(report)
    }

    /// The cluster, if it exists and is a dev cluster.
    async fn dev_cluster(&self, name: &str) -> Result<ClusterSummary, DevError> {
        let summary = self
            .inventory
            .summary(name)
            .await?
            .ok_or_else(|| DevError::NotFound(name.to_string()))?;
        match identify(name, &summary.tags) {
            Identity::Dev { .. } => Ok(summary),
            Identity::NotDev(why) => Err(DevError::Refused(format!("{why}; cutover leaves it alone"))),
        }
    }

    /// Tears the cluster down by the one teardown rule.
    async fn delete(&self, summary: &ClusterSummary) -> Result<(), DevError> {
        crate::engine::teardown::tear_down(
            self.clusters.as_ref(),
            self.workloads.as_ref(),
            &summary.name,
            summary.status,
            &self.timeouts,
        )
        .await?;
        Ok(())
    }
}

fn view(s: &ClusterSummary, now: Timestamp) -> Option<DevClusterView> {
    let Identity::Dev {
        plan,
        owner,
        expires_at,
    } = identify(&s.name, &s.tags)
    else {
        return None;
    };
    let mut instance_types: Vec<String> = s
        .nodegroups
        .iter()
        .flat_map(|n| n.instance_types.iter().cloned())
        .collect();
    instance_types.sort();
    instance_types.dedup();
    let expires_in_secs = expires_at.duration_since(now).as_secs();
    Some(DevClusterView {
        name: s.name.clone(),
        plan,
        owner,
        status: s.status,
        created_at: s.created_at,
        expires_at,
        expires_in_secs,
        expired: expires_at <= now,
        nodes: s.nodegroups.iter().map(|n| n.desired).sum(),
        instance_types,
    })
}
