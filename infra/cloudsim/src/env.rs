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
}

pub type Env = Arc<SimEnv>;

impl SimEnv {
    /// A snapshot of the current faults (cheap to clone; callers must not hold the lock across awaits).
    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock poisoned").clone()
    }
}
