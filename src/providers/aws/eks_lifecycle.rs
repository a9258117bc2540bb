//! The lifecycle every EKS sub-resource of a cluster shares — add-ons and node groups alike — written
//! once: describe (absent is `None`), ensure (create, or adopt one this run made, refuse one it did
//! not; a create that collides re-checks who owns what it collided with), wait until ACTIVE, delete
//! (already deleting counts as started), and wait until gone. What differs per kind (the SDK calls,
//! how status reads, the typical durations) is a [`SubResource`]. Health issues of clusters, node
//! groups and add-ons read the same way ([`HealthIssue`]).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::eks::{EksClusters, failed, issue, owner_of, with_issues};
use super::poll::{self, Poll, Wait};
use crate::plan::Timeouts;
use crate::providers::{ErrorKind, Ownership, ProviderError};

/// Where a sub-resource stands, as the lifecycle needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Active,
    /// Creating, updating or degraded: may still become ACTIVE.
    Pending,
    Failed,
    Deleting,
    DeleteFailed,
}

/// One kind of EKS sub-resource (add-on, node group).
#[async_trait]
pub(super) trait SubResource: Send + Sync + 'static {
    /// The SDK's description of one.
    type Sdk: Send + Sync;
    /// What the plan asks for.
    type Spec: Send + Sync;
    /// "add-on", "node group".
    const NOUN: &'static str;
    /// How long becoming ACTIVE usually takes on AWS.
    const TYPICAL_ACTIVE: Duration;
    /// How long deletion usually takes on AWS.
    const TYPICAL_DELETION: Duration;
    /// What to tell a person when ACTIVE does not come in time.
    const ON_ACTIVE_TIMEOUT: &'static str;

    fn timeout(t: &Timeouts) -> Duration;
    fn name(spec: &Self::Spec) -> &str;
    /// The SDK description; a `NotFound` error when it does not exist.
    async fn describe(eks: &EksClusters, cluster: &str, name: &str) -> Result<Self::Sdk, ProviderError>;
    /// Every name on the cluster; an empty list when the cluster is gone.
    async fn list(eks: &EksClusters, cluster: &str) -> Result<Vec<String>, ProviderError>;
    /// Sends the create call (with the ownership tags and `token`); errors keep their kind.
    async fn create(
        eks: &EksClusters,
        cluster: &str,
        spec: &Self::Spec,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError>;
    /// Sends the delete call; errors keep their kind.
    async fn delete(eks: &EksClusters, cluster: &str, name: &str) -> Result<(), ProviderError>;
    fn tags(sdk: &Self::Sdk) -> BTreeMap<String, String>;
    fn phase(sdk: &Self::Sdk) -> Phase;
    /// The SDK's status word, for progress ("CREATING").
    fn status(sdk: &Self::Sdk) -> String;
    fn issues(sdk: &Self::Sdk) -> Vec<String>;
}

/// A health issue of a cluster, node group or add-on, in the SDK's shape.
pub(super) trait HealthIssue {
    fn code(&self) -> Option<&str>;
    fn message(&self) -> Option<&str>;
    fn resource_ids(&self) -> Option<&[String]>;
}

/// The issues as people read them (`code: message (resources)`).
pub(super) fn read_issues<I: HealthIssue>(issues: Option<&[I]>) -> Vec<String> {
    issues.into_iter().flatten().map(|i| issue(i.code(), i.message(), i.resource_ids())).collect()
}

macro_rules! health_issue {
    ($($t:ty),*) => {$(
        impl HealthIssue for $t {
            fn code(&self) -> Option<&str> {
                self.code.as_ref().map(|c| c.as_str())
            }
            fn message(&self) -> Option<&str> {
                self.message.as_deref()
            }
            fn resource_ids(&self) -> Option<&[String]> {
                self.resource_ids.as_deref()
            }
        }
    )*};
}
health_issue!(aws_sdk_eks::types::ClusterIssue, aws_sdk_eks::types::Issue, aws_sdk_eks::types::AddonIssue);

impl EksClusters {
    /// `None` when it does not exist.
    pub(super) async fn describe_sub<R: SubResource>(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<R::Sdk>, ProviderError> {
        match R::describe(self, cluster, name).await {
            Ok(found) => Ok(Some(found)),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates it if absent, adopts it if this run made it, refuses it otherwise; then waits
    /// until it is ACTIVE.
    pub(super) async fn ensure_sub<R: SubResource>(
        &self,
        cluster: &str,
        spec: &R::Spec,
        own: &Ownership,
        token: &str,
    ) -> Result<(), ProviderError> {
        let name = R::name(spec);
        let refuse = |found: &R::Sdk| {
            ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "{} {cluster}/{name} exists and was not made by this run ({}); refusing to adopt it",
                    R::NOUN,
                    owner_of(&R::tags(found))
                ),
            )
        };
        match self.describe_sub::<R>(cluster, name).await? {
            Some(found) if !own.owns(&R::tags(&found)) => return Err(refuse(&found)),
            Some(_) => tracing::info!(cluster, name, kind = R::NOUN, "adopting what this run already made"),
            None => match R::create(self, cluster, spec, own, token).await {
                Ok(()) => {}
                // Exists already (a concurrent or lost attempt): adopt it only if it is ours.
                Err(e) if e.kind == ErrorKind::Conflict => {
                    if let Some(found) = self.describe_sub::<R>(cluster, name).await?
                        && !own.owns(&R::tags(&found))
                    {
                        return Err(refuse(&found));
                    }
                }
                Err(e) => return Err(e),
            },
        }
        self.wait_sub_active::<R>(cluster, name).await
    }

    async fn wait_sub_active<R: SubResource>(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        let what = format!("{} {cluster}/{name} to become ACTIVE", R::NOUN);
        let wait = Wait {
            what: &what,
            typical: R::TYPICAL_ACTIVE,
            timeout: R::timeout(&self.timeouts),
            on_timeout: R::ON_ACTIVE_TIMEOUT,
        };
        poll::poll_until(&self.poll, &wait, || async {
            let Some(found) = self.describe_sub::<R>(cluster, name).await? else {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "{} {cluster}/{name} disappeared while cutover waited for it; was it deleted by hand?",
                        R::NOUN
                    ),
                ));
            };
            match R::phase(&found) {
                Phase::Active => Ok(Poll::Ready(())),
                Phase::Failed | Phase::DeleteFailed => Err(failed(R::NOUN, format!("{cluster}/{name}"), R::issues(&found))),
                Phase::Deleting => Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!("{} {cluster}/{name} is being deleted; wait until it is gone, then resume", R::NOUN),
                )),
                // DEGRADED can heal (capacity arrives, pods get nodes); keep waiting and say why.
                Phase::Pending => Ok(Poll::Pending(with_issues(format!("status {}", R::status(&found)), R::issues(&found)))),
            }
        })
        .await
    }

    /// Asks EKS to delete it; `false` when it does not exist. Already deleting counts as asked.
    pub(super) async fn start_sub_delete<R: SubResource>(&self, cluster: &str, name: &str) -> Result<bool, ProviderError> {
        match R::delete(self, cluster, name).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind == ErrorKind::NotFound => Ok(false),
            Err(e) if e.kind == ErrorKind::Conflict => match self.describe_sub::<R>(cluster, name).await? {
                None => Ok(false),
                Some(found) if R::phase(&found) == Phase::Deleting => Ok(true),
                Some(_) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// Waits until it is gone.
    pub(super) async fn wait_sub_gone<R: SubResource>(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        let what = format!("{} {cluster}/{name} to be deleted", R::NOUN);
        let wait = Wait {
            what: &what,
            typical: R::TYPICAL_DELETION,
            timeout: R::timeout(&self.timeouts),
            on_timeout: "EKS may still finish; `cutover resume` waits again",
        };
        poll::poll_until(&self.poll, &wait, || async {
            match self.describe_sub::<R>(cluster, name).await? {
                None => Ok(Poll::Ready(())),
                Some(found) if R::phase(&found) == Phase::DeleteFailed => {
                    Err(failed(&format!("deletion of {}", R::NOUN), format!("{cluster}/{name}"), R::issues(&found)))
                }
                Some(found) => Ok(Poll::Pending(format!("status {}", R::status(&found)))),
            }
        })
        .await
    }

    /// Deletes it and waits until it is gone; succeeds if it is absent.
    pub(super) async fn delete_sub<R: SubResource>(&self, cluster: &str, name: &str) -> Result<(), ProviderError> {
        if self.start_sub_delete::<R>(cluster, name).await? {
            self.wait_sub_gone::<R>(cluster, name).await?;
        }
        Ok(())
    }

    /// Deletes every one on the cluster: all deletions first, then the waits, so they run in parallel
    /// on EKS's side.
    pub(super) async fn delete_all_sub<R: SubResource>(&self, cluster: &str) -> Result<(), ProviderError> {
        let names = R::list(self, cluster).await?;
        for name in &names {
            self.start_sub_delete::<R>(cluster, name).await?;
        }
        for name in &names {
            self.wait_sub_gone::<R>(cluster, name).await?;
        }
        Ok(())
    }
}
