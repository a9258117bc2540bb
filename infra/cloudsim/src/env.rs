//! The simulation environment every part of cloudsim shares: the clock, the latency profile, the
//! current faults, the event log, the credentials tokens must be signed with, and where state lives.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use crate::clock::Clock;
use crate::events::EventLog;
use crate::faults::Faults;
use crate::profile::Latencies;

/// The AWS credentials cloudsim verifies EKS bearer tokens against (from the standard
/// `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` variables at start-up). Never logged.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct SimEnv {
    pub clock: Clock,
    pub latencies: Latencies,
    pub faults: RwLock<Faults>,
    pub events: EventLog,
    pub credentials: Credentials,
    /// The region cloudsim pretends to be (ARNs, STS host in tokens).
    pub region: String,
    /// Where state is persisted; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// EC2 (moto in tests) for volumes and subnets' zones; `None`: nodes in `<region>a`, and no
    /// volume is made.
    pub ec2: Option<crate::ec2::Ec2Link>,
}

pub type Env = Arc<SimEnv>;

impl SimEnv {
    /// A snapshot of the current faults (cheap to clone; callers must not hold the lock across awaits).
    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock poisoned").clone()
    }

    /// The zones of `subnets` as far as EC2 told (looked up when the node group was asked for),
    /// each defaulting to the region's first zone; without duplicates, in order.
    pub fn zones_of(&self, subnets: &[String]) -> Vec<String> {
        let fallback = format!("{}a", self.region);
        let found = self.ec2.as_ref().map(|e| e.cached_zones(subnets)).unwrap_or_default();
        let mut zones: Vec<String> = Vec::new();
        for i in 0..subnets.len().max(1) {
            let z = found.get(i).cloned().flatten().unwrap_or_else(|| fallback.clone());
            if !zones.contains(&z) {
                zones.push(z);
            }
        }
        zones
    }
}
