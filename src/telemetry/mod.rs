//! Logging, the progress display (the only module that touches indicatif) and run reports.
//!
//! Everything here writes to stderr except reports, which are data: stdout is reserved for data
//! (`-o json`, plans, schemas, reports) so `cutover status -o json | jq` works while progress and
//! logs still show.

pub mod logging;
pub mod progress;
pub mod report;

pub use logging::{LogFormat, init_logging};
pub use progress::Progress;
