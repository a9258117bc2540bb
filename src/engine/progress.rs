//! Progress events: what the engine tells whoever displays it. The telemetry module renders them
//! (progress bars on a TTY); tests collect them. Events are informative only: the journal, not
//! this stream, is the record of a run.

use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;

use super::RunOutcome;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EngineEvent {
    RunStarted {
        run_id: String,
        resumed: bool,
    },
    StageStarted {
        stage: String,
        title: String,
    },
    StepStarted {
        step: String,
        title: String,
    },
    StepDone {
        step: String,
    },
    StepFailed {
        step: String,
        error: String,
    },
    /// A retryable error; the call is tried again after `delay_ms`.
    StepRetrying {
        step: String,
        error: String,
        attempt: u32,
        delay_ms: u64,
    },
    /// A long wait began (cluster ACTIVE, DNS INSYNC, a check's retries, a TTL).
    Waiting {
        step: String,
        what: String,
        timeout_ms: u64,
    },
    /// Gates passed again during a bake; `remaining_ms` of the bake is left.
    Baking {
        step: String,
        remaining_ms: u64,
    },
    /// The run stopped until a wall-clock time (blue's retention).
    WaitingUntil {
        step: String,
        until: Timestamp,
    },
    Checkpoint {
        name: String,
    },
    Compensating {
        step: String,
    },
    Compensated {
        step: String,
    },
    RunFinished {
        outcome: RunOutcome,
    },
}

/// Receives engine events. Called from the engine's tasks: must be quick and must not block.
pub trait ProgressSink: Send + Sync {
    fn event(&self, event: &EngineEvent);
}

/// Discards events.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopSink;

impl ProgressSink for NoopSink {
    fn event(&self, _: &EngineEvent) {}
}

/// Keeps every event, for tests and reports.
#[derive(Debug, Default)]
pub struct CollectingSink {
    events: Mutex<Vec<EngineEvent>>,
}

impl CollectingSink {
    pub fn events(&self) -> Vec<EngineEvent> {
        self.events.lock().expect("sink lock").clone()
    }
}

impl ProgressSink for CollectingSink {
    fn event(&self, event: &EngineEvent) {
        self.events.lock().expect("sink lock").push(event.clone());
    }
}
