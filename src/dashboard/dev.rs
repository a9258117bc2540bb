//! Dev clusters with their expiry, read from EKS (their tags) through `ops::dev`, in the regions
//! of the DevCluster plans `--plans` has: the journal does not hold an expiry, since `dev extend`
//! moves it on the cluster. Read at most once a minute (every page would otherwise call EKS) and
//! bounded in time; an expired one joins the needs-attention queue.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::compose::Context;
use crate::dev::clusters::DevClusterView;

/// How long a listing is shown before EKS is asked again.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// The dev clusters of some regions, listed at most once a minute.
pub struct DevClusters {
    cx: Arc<Context>,
    regions: BTreeSet<String>,
    last: Mutex<Option<(Instant, Listing)>>,
}

/// One listing: the clusters of every region, and the regions that could not be read.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Every dev cluster found, by region then name.
    pub clusters: Vec<(String, DevClusterView)>,
    /// `region: why` for each region that did not answer.
    pub problems: Vec<String>,
}

impl DevClusters {
    /// Dev clusters of `regions`, read through `cx`.
    pub fn new(cx: Arc<Context>, regions: BTreeSet<String>) -> DevClusters {
        DevClusters { cx, regions, last: Mutex::new(None) }
    }

    /// The listing, read again when older than a minute; each region bounded by `timeout`.
    pub async fn list(&self, timeout: Duration) -> Listing {
        if self.regions.is_empty() {
            return Listing::default();
        }
        let mut last = self.last.lock().await;
        if let Some((at, listing)) = last.as_ref()
            && at.elapsed() < FRESH_FOR
        {
            return listing.clone();
        }
        let mut listing = Listing::default();
        for region in &self.regions {
            match tokio::time::timeout(timeout, crate::ops::dev::list(&self.cx, region)).await {
                Ok(Ok(found)) => listing.clusters.extend(found.into_iter().map(|c| (region.clone(), c))),
                Ok(Err(e)) => listing.problems.push(format!("{region}: {e}")),
                Err(_) => listing.problems.push(format!("{region}: EKS did not answer within {timeout:?}")),
            }
        }
        *last = Some((Instant::now(), listing.clone()));
        listing
    }
}
