//! An append-only log of what cloudsim did (resources created, state changes, faults fired, leaked
//! load balancers), served at `GET /_cloudsim/events` so tests can assert on what happened.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Event {
    /// Monotonic sequence number, starting at 1.
    pub seq: u64,
    /// RFC 3339 wall-clock time.
    pub at: String,
    /// A stable kebab-case kind, e.g. `cluster-active`, `nodegroup-deleted`, `lb-leaked`, `fault-fired`.
    pub kind: String,
    /// The cluster it concerns, if any.
    pub cluster: Option<String>,
    /// Kind-specific details.
    pub detail: serde_json::Value,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EventLog {
    events: Mutex<Vec<Event>>,
}

impl EventLog {
    pub fn record(&self, kind: &str, cluster: Option<&str>, detail: serde_json::Value) {
        let mut events = self.events.lock().expect("event log poisoned");
        let seq = events.len() as u64 + 1;
        events.push(Event {
            seq,
            at: jiff::Timestamp::now().to_string(),
            kind: kind.to_string(),
            cluster: cluster.map(str::to_string),
            detail,
        });
    }

    /// Events with `seq > after`, oldest first.
    pub fn since(&self, after: u64) -> Vec<Event> {
        let events = self.events.lock().expect("event log poisoned");
        events.iter().filter(|e| e.seq > after).cloned().collect()
    }

    pub fn snapshot(&self) -> Vec<Event> {
        self.since(0)
    }

    pub fn restore(events: Vec<Event>) -> Self {
        EventLog {
            events: Mutex::new(events),
        }
    }
}
