//! EKS clusters: [`EksClusters`], the [`ClusterProvider`] on AWS. This file owns the cluster
//! itself (create or adopt, wait, delete in safe order, describe); node groups, add-ons and
//! access entries live in `eks_nodegroups`, `eks_addons` and `eks_access`.
//!
//! Idempotency: every create carries the engine's `clientRequestToken` (EKS answers a repeat with
//! the resource it already made) and cutover's ownership tags, so a resumed run finds what it
//! made and adopts it; a same-name resource without those tags is refused (`Conflict`), never
//! adopted or deleted. Waits poll adaptively ([`super::poll`]) and are bounded by the plan's
//! timeouts. A resource that ends FAILED is a non-retryable error naming the health issues EKS
//! reports. Deleting a cluster removes its node groups, then its add-ons, then the cluster,
//! waiting for each; the engine releases load balancers before it calls (and checks ownership and
//! traffic), so this provider does neither.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Display;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_eks::Client;
use aws_sdk_eks::types::{
    AuthenticationMode as SdkAuthMode, Cluster, ClusterStatus as SdkStatus,
    CreateAccessConfigRequest, VpcConfigRequest,
};

use super::eks_addons::Addons;
use super::eks_lifecycle::read_issues;
use super::eks_nodegroups::Nodegroups;
use super::errors::{sdk_error, sdk_kind};
use super::kubeconfig::ClusterAccess;
use super::poll::{self, Poll, PollConfig, Wait};
use crate::plan::{AccessEntry, Addon, AuthenticationMode, ClusterSpec, NodeGroup, Timeouts};
use crate::providers::{
    ClusterInfo, ClusterProvider, ClusterStatus, ErrorKind, Ownership, ProviderError, TAG_PLAN,
    TAG_RUN_ID,
};

/// EKS on the SDK configuration it was built with.
pub struct EksClusters {
    pub(super) client: Client,
    pub(super) region: String,
    pub(super) poll: PollConfig,
    pub(super) timeouts: Timeouts,
}

impl EksClusters {
    /// Waits are bounded by `timeouts` (the plan's).
    pub fn new(config: &SdkConfig, timeouts: &Timeouts) -> Self {
        EksClusters {
            client: super::calls::eks_client(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            poll: PollConfig::default(),
            timeouts: timeouts.clone(),
        }
    }

    /// Polls on another schedule (an emulator's time scale, tests).
    pub fn with_poll(mut self, poll: PollConfig) -> Self {
        self.poll = poll;
        self
    }

    /// Endpoint and CA of an ACTIVE cluster: what a kubeconfig needs (see `kubeconfig`).
    pub async fn cluster_access(&self, name: &str) -> Result<ClusterAccess, ProviderError> {
        let cluster = self.describe(name).await?.ok_or_else(|| {
            ProviderError::new(
                ErrorKind::NotFound,
                format!("cluster {name} does not exist in {}", self.region),
            )
        })?;
        let endpoint = cluster.endpoint.clone().filter(|e| !e.is_empty());
        let ca = cluster
            .certificate_authority
            .as_ref()
            .and_then(|c| c.data.clone())
            .filter(|d| !d.is_empty());
        match (endpoint, ca) {
            (Some(endpoint), Some(ca_data)) => Ok(ClusterAccess {
                cluster: name.to_string(),
                region: self.region.clone(),
                endpoint,
                ca_data,
            }),
            _ => Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "cluster {name} has no API endpoint yet (status {}); wait until it is ACTIVE",
                    cluster.status.as_ref().map_or("unknown", |s| s.as_str())
                ),
            )),
        }
    }

    /// The SDK's view of a cluster, `None` when it does not exist.
    pub(super) async fn describe(&self, name: &str) -> Result<Option<Cluster>, ProviderError> {
        match self.client.describe_cluster().name(name).send().await {
            Ok(out) => Ok(out.cluster),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sdk_error(&format!("describe cluster {name}"), &e)),
        }
    }

    async fn create(
        &self,
        spec: &ClusterSpec,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        let mut tags: HashMap<String, String> = spec.tags.clone().into_iter().collect();
        tags.extend(own.tags());
        let vpc = VpcConfigRequest::builder()
            .set_subnet_ids(Some(spec.subnets.clone()))
            .set_security_group_ids(
                (!spec.security_groups.is_empty()).then(|| spec.security_groups.clone()),
            )
            .endpoint_public_access(spec.endpoint.public)
            .endpoint_private_access(spec.endpoint.private)
            .set_public_access_cidrs(
                (!spec.endpoint.public_cidrs.is_empty())
                    .then(|| spec.endpoint.public_cidrs.clone()),
            )
            .build();
        let access = CreateAccessConfigRequest::builder()
            .authentication_mode(match spec.authentication_mode {
                AuthenticationMode::ConfigMap => SdkAuthMode::ConfigMap,
                AuthenticationMode::ApiAndConfigMap => SdkAuthMode::ApiAndConfigMap,
                AuthenticationMode::Api => SdkAuthMode::Api,
            })
            // The identity running cutover must reach the cluster it just made (helm, checks).
            .bootstrap_cluster_creator_admin_permissions(true)
            .build();
        let sent = self
            .client
            .create_cluster()
            .name(&spec.name)
            .version(spec.version.to_string())
            .role_arn(&spec.role_arn)
            .resources_vpc_config(vpc)
            .access_config(access)
            .set_tags(Some(tags))
            .client_request_token(token)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Made meanwhile (a concurrent attempt, or one whose answer was lost with another
            // token): the caller looks at it again and adopts it only if it is ours.
            Err(e) if sdk_kind(&e) == ErrorKind::Conflict => Ok(()),
            Err(e) => Err(sdk_error(&format!("create cluster {}", spec.name), &e)),
        }
    }

    /// Waits until the cluster is ACTIVE; FAILED or vanishing ends the wait with an error.
    async fn wait_active(&self, name: &str) -> Result<Cluster, ProviderError> {
        let what = format!("cluster {name} to become ACTIVE");
        let wait = Wait {
            what: &what,
            typical: poll::CLUSTER_ACTIVE,
            timeout: self.timeouts.cluster_active,
            on_timeout: "EKS may still finish; `cutover resume` adopts the cluster and waits again",
        };
        poll::poll_until(&self.poll, &wait, || async {
            let Some(c) = self.describe(name).await? else {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("cluster {name} disappeared while cutover waited for it to become ACTIVE; was it deleted by hand?"),
                ));
            };
            match c.status.clone().unwrap_or(SdkStatus::Creating) {
                SdkStatus::Active => Ok(Poll::Ready(c)),
                SdkStatus::Failed => Err(failed("cluster", name, cluster_issues(&c))),
                SdkStatus::Deleting => Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("cluster {name} is being deleted; wait until it is gone, then resume"),
                )),
                other => Ok(Poll::Pending(with_issues(format!("status {}", other.as_str()), cluster_issues(&c)))),
            }
        })
        .await
    }

    /// Waits until the cluster is gone.
    async fn wait_gone(&self, name: &str) -> Result<(), ProviderError> {
        let what = format!("cluster {name} to be deleted");
        let wait = Wait {
            what: &what,
            typical: poll::DELETION,
            timeout: self.timeouts.cluster_active,
            on_timeout: "EKS may still finish; `cutover resume` waits again",
        };
        poll::poll_until(&self.poll, &wait, || async {
            match self.describe(name).await? {
                None => Ok(Poll::Ready(())),
                Some(c) if c.status == Some(SdkStatus::Failed) => {
                    Err(failed("cluster deletion of", name, cluster_issues(&c)))
                }
                Some(c) => Ok(Poll::Pending(format!(
                    "status {}",
                    c.status.as_ref().map_or("unknown", |s| s.as_str())
                ))),
            }
        })
        .await
    }

    /// EKS refuses to delete a cluster while it is being created or updated: wait that out.
    async fn wait_settled(&self, name: &str) -> Result<Option<Cluster>, ProviderError> {
        let what = format!("cluster {name} to finish its current change before deletion");
        let wait = Wait {
            what: &what,
            typical: poll::CLUSTER_ACTIVE,
            timeout: self.timeouts.cluster_active,
            on_timeout: "run `cutover resume` (or rollback) again once EKS has finished",
        };
        poll::poll_until(&self.poll, &wait, || async {
            match self.describe(name).await? {
                Some(c)
                    if matches!(
                        c.status,
                        Some(SdkStatus::Creating | SdkStatus::Updating | SdkStatus::Pending)
                    ) =>
                {
                    Ok(Poll::Pending(format!(
                        "status {}",
                        c.status.as_ref().map_or("unknown", |s| s.as_str())
                    )))
                }
                other => Ok(Poll::Ready(other)),
            }
        })
        .await
    }
}

/// The engine's view of an SDK cluster.
fn info(c: &Cluster) -> ClusterInfo {
    ClusterInfo {
        name: c.name.clone().unwrap_or_default(),
        status: match c.status.clone().unwrap_or(SdkStatus::Creating) {
            SdkStatus::Active => ClusterStatus::Active,
            SdkStatus::Updating => ClusterStatus::Updating,
            SdkStatus::Deleting => ClusterStatus::Deleting,
            SdkStatus::Failed => ClusterStatus::Failed,
            _ => ClusterStatus::Creating,
        },
        version: c.version.clone(),
        endpoint: c.endpoint.clone(),
        oidc_issuer: c.identity.as_ref().and_then(|i| i.oidc.as_ref()).and_then(|o| o.issuer.clone()),
        tags: tags(c.tags.as_ref()),
    }
}

pub(super) fn tags(t: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    t.map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Who made a resource according to its tags, for refusals.
pub(super) fn owner_of(tags: &BTreeMap<String, String>) -> String {
    match (tags.get(TAG_PLAN), tags.get(TAG_RUN_ID)) {
        (Some(plan), Some(run)) => format!("tagged as made by run {run} of plan {plan}"),
        _ => "it has no cutover ownership tags".into(),
    }
}

fn cluster_issues(c: &Cluster) -> Vec<String> {
    read_issues(c.health.as_ref().and_then(|h| h.issues.as_deref()))
}

/// One EKS health issue as people read it.
pub(super) fn issue(
    code: Option<&str>,
    message: Option<&str>,
    resources: Option<&[String]>,
) -> String {
    let mut s = format!(
        "{}: {}",
        code.unwrap_or("issue"),
        message.unwrap_or("no detail")
    );
    if let Some(r) = resources.filter(|r| !r.is_empty()) {
        s.push_str(&format!(" ({})", r.join(", ")));
    }
    s
}

pub(super) fn with_issues(state: String, issues: Vec<String>) -> String {
    if issues.is_empty() {
        state
    } else {
        format!("{state}; health: {}", issues.join("; "))
    }
}

/// A resource EKS reports as failed: not retryable, the issues say why.
pub(super) fn failed(kind: &str, name: impl Display, issues: Vec<String>) -> ProviderError {
    let why = if issues.is_empty() {
        "EKS reports no health issue".to_string()
    } else {
        issues.join("; ")
    };
    ProviderError::new(
        ErrorKind::Other,
        format!(
            "{kind} {name} failed: {why}. Fix the cause (IAM roles, subnets, quotas), then roll back or resume"
        ),
    )
}

#[async_trait]
impl ClusterProvider for EksClusters {
    async fn describe_cluster(&self, name: &str) -> Result<Option<ClusterInfo>, ProviderError> {
        Ok(self.describe(name).await?.as_ref().map(info))
    }

    async fn create_cluster(
        &self,
        spec: &ClusterSpec,
        own: &Ownership,
        token: &str,
    ) -> Result<ClusterInfo, ProviderError> {
        let refuse = |c: &Cluster| {
            ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "cluster {} already exists and was not created by this plan's run ({}); refusing to adopt it. \
                     Choose another green cluster name, or delete that cluster if it is a leftover",
                    spec.name,
                    owner_of(&tags(c.tags.as_ref()))
                ),
            )
        };
        if let Some(existing) = self.describe(&spec.name).await? {
            if !own.owns(&tags(existing.tags.as_ref())) {
                return Err(refuse(&existing));
            }
            tracing::info!(cluster = %spec.name, "adopting the cluster this run already created");
        } else {
            self.create(spec, own, token).await?;
            // A create that met an existing cluster must still prove it is ours.
            match self.describe(&spec.name).await? {
                Some(c) if !own.owns(&tags(c.tags.as_ref())) => return Err(refuse(&c)),
                _ => {}
            }
        }
        let active = self.wait_active(&spec.name).await?;
        Ok(info(&active))
    }

    async fn delete_cluster(&self, name: &str) -> Result<(), ProviderError> {
        let Some(cluster) = self.wait_settled(name).await? else {
            return Ok(());
        };
        if cluster.status != Some(SdkStatus::Deleting) {
            // EKS refuses to delete a cluster that still has node groups or add-ons.
            // All deletions are started before any is awaited: EKS runs them side by side.
            self.delete_all_sub::<Nodegroups>(name).await?;
            self.delete_all_sub::<Addons>(name).await?;
            match self.client.delete_cluster().name(name).send().await {
                Ok(_) => {}
                Err(e) if sdk_kind(&e) == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(sdk_error(&format!("delete cluster {name}"), &e)),
            }
        }
        self.wait_gone(name).await
    }

    async fn ensure_addon(
        &self,
        cluster: &str,
        addon: &Addon,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        self.ensure_sub::<Addons>(cluster, addon, own, token).await
    }

    async fn delete_addon(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        self.delete_sub::<Addons>(cluster, name).await
    }

    async fn ensure_nodegroup(
        &self,
        cluster: &str,
        nodegroup: &NodeGroup,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        self.ensure_sub::<Nodegroups>(cluster, nodegroup, own, token).await
    }

    async fn delete_nodegroup(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        self.delete_sub::<Nodegroups>(cluster, name).await
    }

    async fn ensure_access_entry(
        &self,
        cluster: &str,
        entry: &AccessEntry,
        own: &Ownership,
    ) -> Result<(), ProviderError> {
        self.ensure_access_entry_impl(cluster, entry, own).await
    }

    async fn delete_access_entry(
        &self,
        cluster: &str,
        principal_arn: &str,
    ) -> Result<(), ProviderError> {
        self.delete_access_entry_impl(cluster, principal_arn).await
    }
}
