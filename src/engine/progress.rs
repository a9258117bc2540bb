//! Progress events: what the engine tells whoever displays it. The telemetry module renders them
//! (progress bars on a TTY); tests collect them. Events are informative only: the journal, not
//! this stream, is the record of a run.

use std::sync::Mutex;

use jiff::Timestamp;
use serde::Serialize;

use super::RunOutcome;

/// One thing the engine reports as a run proceeds, for display.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EngineEvent {
    /// A run began or was resumed.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// True when an earlier run is being continued.
        resumed: bool,
    },
    /// A stage (a group of steps, e.g. "Build green") began.
    StageStarted {
        /// Stage name.
        stage: String,
        /// What the stage does, for people.
        title: String,
    },
    /// A step's `apply` began.
    StepStarted {
        /// Step id.
        step: String,
        /// What the step does, for people.
        title: String,
    },
    /// A step's `apply` finished.
    StepDone {
        /// Step id.
        step: String,
    },
    /// A step's `apply` failed (after any retries).
    StepFailed {
        /// Step id.
        step: String,
        /// The error, for people.
        error: String,
    },
    /// A retryable error; the call is tried again after `delay_ms`.
    StepRetrying {
        /// Step id.
        step: String,
        /// The transient error.
        error: String,
        /// Attempts failed so far (1 at the first retry).
        attempt: u32,
        /// Milliseconds until the next attempt.
        delay_ms: u64,
    },
    /// A long wait began (cluster ACTIVE, DNS INSYNC, a check's retries, a TTL).
    Waiting {
        /// Step id.
        step: String,
        /// What is awaited, for people.
        what: String,
        /// Upper bound of the wait.
        timeout_ms: u64,
    },
    /// Gates passed again during a bake; `remaining_ms` of the bake is left.
    Baking {
        /// Step id of the traffic step baking.
        step: String,
        /// Milliseconds of the bake still to go.
        remaining_ms: u64,
    },
    /// The run stopped until a wall-clock time (blue's retention).
    WaitingUntil {
        /// Step id of the waiting step.
        step: String,
        /// When it may run.
        until: Timestamp,
    },
    /// The run reached a named checkpoint.
    Checkpoint {
        /// Checkpoint name.
        name: String,
    },
    /// A step's `compensate` began.
    Compensating {
        /// Step id.
        step: String,
    },
    /// A step's `compensate` finished.
    Compensated {
        /// Step id.
        step: String,
    },
    /// The run stopped; how it ended.
    RunFinished {
        /// How it ended.
        outcome: RunOutcome,
    },
}

/// Receives engine events. Called from the engine's tasks: must be quick and must not block.
pub trait ProgressSink: Send + Sync {
    /// Handles one event.
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
    /// Every event received so far, in order.
    pub fn events(&self) -> Vec<EngineEvent> {
        self.events.lock().expect("sink lock").clone()
    }
}

impl ProgressSink for CollectingSink {
    fn event(&self, event: &EngineEvent) {
        self.events.lock().expect("sink lock").push(event.clone());
    }
}
