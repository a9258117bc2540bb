//! Logging, the progress display (the only module that touches indicatif) and reports.
