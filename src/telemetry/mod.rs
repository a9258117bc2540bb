//! Logging, the progress display (the only module that touches indicatif), run reports, runbooks
//! as text, and a run as an OpenTelemetry trace (`trace`).
//!
//! Everything here writes to stderr except reports, which are data: stdout is reserved for data
//! (`-o json`, plans, schemas, reports) so `cutover status -o json | jq` works while progress and
//! logs still show.

pub mod logging;
pub mod progress;
pub mod report;
pub mod runbook;
pub mod trace;

pub use logging::{LogFormat, init_logging};

/// A time shown to people: UTC, to the second (`2026-12-05T01:20:17Z`). JSON output keeps the
/// journal's full precision.
pub fn format_time(at: jiff::Timestamp) -> String {
    at.round(jiff::Unit::Second).unwrap_or(at).to_string()
}
pub use progress::Progress;
