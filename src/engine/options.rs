//! Engine options: concurrency, retry policy, default bounds, the progress sink and the clock.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::progress::{NoopSink, ProgressSink};

/// Wall-clock time as journaled (`ts`, retention deadlines). Injected so tests can move it.
/// Short waits (bakes, polls, backoff) use tokio's clock instead, which tests pause.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Exponential backoff with jitter for retryable provider errors.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Delay before the first retry.
    pub min_delay: Duration,
    /// Longest delay between retries.
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Upper bound on the sum of the delays.
    pub max_total_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retries: 8,
            max_total_delay: Duration::from_secs(5 * 60),
        }
    }
}

/// Knobs of one engine: concurrency, retries, poll intervals, and where events and time come from.
#[derive(Clone)]
pub struct EngineOptions {
    /// How many releases install at once when their `needs` allow (default 4).
    pub release_concurrency: usize,
    /// Backoff for retryable provider errors.
    pub retry: RetryPolicy,
    /// Bound for one provider call that the plan gives no timeout for (describe, read records,
    /// change, one check attempt). Default 2 minutes; running out counts as a retryable timeout.
    pub call_timeout: Duration,
    /// Interval between attempts of checks that do not set their own (default 10 s); also the
    /// gate re-check interval during bakes.
    pub check_interval: Duration,
    /// The trace a new run journals (a fresh one when `None`); under the caller's when CI gave one.
    pub trace: Option<super::journal::TraceRef>,
    /// Interval between polls for a green load balancer address (default 10 s), bounded by the
    /// plan's `timeouts.load_balancer_release`.
    pub address_poll_interval: Duration,
    /// The caller's identity as written into the lock and journal.
    pub who: String,
    /// Where progress events go (a display, or nowhere).
    pub progress: Arc<dyn ProgressSink>,
    /// The wall clock used for journal times and retention deadlines.
    pub clock: Arc<dyn Clock>,
    /// Counts of the AWS requests this process has sent, by operation (the composition root gives
    /// the SDK interceptor's); each session journals what it added. `None`: nothing is counted.
    pub requests: Option<RequestMeter>,
}

/// Reads a process-wide count of requests by operation.
pub type RequestMeter = fn() -> std::collections::BTreeMap<String, u64>;

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            release_concurrency: 4,
            retry: RetryPolicy::default(),
            call_timeout: Duration::from_secs(120),
            check_interval: Duration::from_secs(10),
            trace: None,
            address_poll_interval: Duration::from_secs(10),
            who: super::lock::login_name(),
            progress: Arc::new(NoopSink),
            clock: Arc::new(SystemClock),
            requests: None,
        }
    }
}
