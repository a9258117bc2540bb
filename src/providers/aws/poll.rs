//! Adaptive waiting: how every AWS wait (cluster, node group, add-on ACTIVE or gone, DNS INSYNC)
//! polls, and the bound on it.
//!
//! A fixed interval wastes up to one interval after the resource is ready (the SDK waiters poll a
//! cluster every 30 s). Here the interval grows with the time already waited,
//! `clamp(fraction × elapsed, min, max)`, so the time lost after readiness is at most `fraction`
//! of the wait (2 % by default) whatever the wait's length, and the first polls come quickly (a
//! resumed run often finds the resource ready). Around the expected completion time the fraction
//! halves, because that is where the completion most likely falls. Expectations (below) are what
//! AWS typically takes; [`PollConfig::scaled`] divides them, and the intervals, for an emulator
//! that runs time faster, so a scaled-down run waits proportionally little.
//!
//! Every wait is bounded by the plan's timeout (plus at most one shortest interval for the answer
//! to a poll sent at the deadline) and fails with [`ErrorKind::WaitTimedOut`] naming
//! the last state seen. Retryable errors while polling (throttling, 5xx) do not end the wait: they
//! back off and poll again until the bound; any other error ends it at once.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::plan::format_duration;
use crate::providers::{ErrorKind, ProviderError};

/// Typical time for CreateCluster to reach ACTIVE (AWS says "several minutes"; 8–15 min reported).
pub const CLUSTER_ACTIVE: Duration = Duration::from_secs(9 * 60);
/// Typical time for a managed node group to reach ACTIVE.
pub const NODEGROUP_ACTIVE: Duration = Duration::from_secs(3 * 60);
/// Typical time for an add-on to reach ACTIVE.
pub const ADDON_ACTIVE: Duration = Duration::from_secs(60);
/// Typical time for a cluster or node group deletion to finish.
pub const DELETION: Duration = Duration::from_secs(5 * 60);
/// Typical time for an add-on deletion to finish.
pub const ADDON_DELETION: Duration = Duration::from_secs(60);
/// Typical time for a Route53 change to become INSYNC (AWS: "generally within 60 seconds").
pub const DNS_INSYNC: Duration = Duration::from_secs(30);

/// The variable naming an emulator's time scale (see [`PollConfig::from_env`]).
pub const TIME_SCALE_VAR: &str = "CUTOVER_TIME_SCALE";

/// How polls are spaced. `Default` suits real AWS; tests and emulators shrink it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollConfig {
    /// The shortest interval (the first polls, and the floor after errors).
    pub min_interval: Duration,
    /// The longest interval, however long the wait has run.
    pub max_interval: Duration,
    /// Interval as a share of the time waited so far: the most time lost after readiness,
    /// relative to the wait.
    pub fraction: f64,
    /// Real time per simulated time: expectations are divided by it (1 for AWS).
    pub time_scale: f64,
    /// First pause after a failed poll (throttling, 5xx), doubled per consecutive failure up to
    /// `error_backoff_max`. Rate limits are real-time quantities, so these are never scaled.
    pub error_backoff_min: Duration,
    /// Longest pause after failed polls.
    pub error_backoff_max: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            min_interval: Duration::from_millis(1000),
            max_interval: Duration::from_secs(15),
            fraction: 0.02,
            time_scale: 1.0,
            error_backoff_min: Duration::from_millis(500),
            error_backoff_max: Duration::from_secs(15),
        }
    }
}

impl PollConfig {
    /// For an emulator running `time_scale` times faster than AWS (cloudsim's `--time-scale`):
    /// expectations and the longest interval shrink by that factor; the shortest interval shrinks
    /// too but stays at or above 10 ms so a fast emulator is not hammered.
    pub fn scaled(time_scale: f64) -> Self {
        let d = PollConfig::default();
        let scale = if time_scale.is_finite() && time_scale >= 1.0 {
            time_scale
        } else {
            1.0
        };
        PollConfig {
            min_interval: d.min_interval.div_f64(scale).max(Duration::from_millis(10)),
            max_interval: d.max_interval.div_f64(scale).max(Duration::from_millis(10)),
            fraction: d.fraction,
            time_scale: scale,
            ..d
        }
    }

    /// AWS's pace, or [`PollConfig::scaled`] by `CUTOVER_TIME_SCALE` when it is set: for running
    /// against an emulator that speeds time up (cloudsim `--time-scale N`); never set it for AWS.
    pub fn from_env() -> Result<Self, ProviderError> {
        match std::env::var(TIME_SCALE_VAR) {
            Err(_) => Ok(PollConfig::default()),
            Ok(raw) => match raw.trim().parse::<f64>() {
                Ok(scale) if scale.is_finite() && scale >= 1.0 => Ok(PollConfig::scaled(scale)),
                _ => Err(ProviderError::new(
                    ErrorKind::Invalid,
                    format!(
                        "{TIME_SCALE_VAR}={raw:?} is not a number >= 1; set it to the emulator's --time-scale, \
                         or unset it when running against AWS"
                    ),
                )),
            },
        }
    }

    /// The expected duration of a wait under this configuration's time scale.
    pub fn expect(&self, typical: Duration) -> Duration {
        typical.div_f64(self.time_scale)
    }

    /// The pause after a poll made `elapsed` into a wait expected to take `expected`.
    pub fn interval(&self, elapsed: Duration, expected: Duration) -> Duration {
        let secs = elapsed.as_secs_f64();
        let exp = expected.as_secs_f64();
        // Completion most likely falls between 3/4 and 3/2 of the expectation: poll twice as often.
        let near = secs >= 0.75 * exp && secs <= 1.5 * exp;
        let fraction = if near {
            self.fraction / 2.0
        } else {
            self.fraction
        };
        Duration::from_secs_f64(fraction * secs)
            .clamp(self.min_interval, self.max_interval.max(self.min_interval))
    }
}

/// What one poll found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// Done, with what the poll found.
    Ready(T),
    /// Not yet; the state seen, for the timeout message (e.g. "status CREATING").
    Pending(String),
}

/// One bounded wait: what is awaited, when it is expected, and the plan's bound.
#[derive(Debug, Clone)]
pub struct Wait<'a> {
    /// What is awaited, for messages: "cluster payments-1-32 to become ACTIVE".
    pub what: &'a str,
    /// Typical duration on AWS (one of the constants above), before scaling.
    pub typical: Duration,
    /// Upper bound of the wait (the plan's timeout).
    pub timeout: Duration,
    /// What to do when the bound runs out, appended to the timeout message.
    pub on_timeout: &'a str,
}

/// Polls `probe` until it is ready, spaced by `config`, for at most `wait.timeout`.
pub async fn poll_until<T, F, Fut>(
    config: &PollConfig,
    wait: &Wait<'_>,
    mut probe: F,
) -> Result<T, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let start = Instant::now();
    let deadline = start + wait.timeout;
    let expected = config.expect(wait.typical);
    let mut last = "no answer yet".to_string();
    let mut errors = 0u32;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        // A poll that hangs must not outlive the bound either; one sent at the deadline gets the
        // shortest interval to answer, so every wait ends within `timeout + min_interval`.
        let answer = tokio::time::timeout(remaining + config.min_interval, probe()).await;
        let mut pause = config.interval(start.elapsed(), expected);
        match answer {
            Ok(Ok(Poll::Ready(v))) => return Ok(v),
            Ok(Ok(Poll::Pending(state))) => {
                errors = 0;
                last = state;
            }
            Ok(Err(e)) if e.retryable() => {
                errors += 1;
                tracing::debug!(what = wait.what, error = %e, "transient error while waiting; polling on");
                // Back off on repeated errors (throttling): polling on at the usual pace would
                // only spend the rate limit that the provider's other calls need.
                let backoff = config
                    .error_backoff_min
                    .saturating_mul(1 << (errors - 1).min(10));
                pause = pause.max(backoff.min(config.error_backoff_max));
                last = format!("last poll failed: {e}");
            }
            Ok(Err(e)) => return Err(e),
            Err(_) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(ProviderError::new(
                ErrorKind::WaitTimedOut,
                format!(
                    "{} did not happen within {} ({last}); {}",
                    wait.what,
                    format_duration(wait.timeout),
                    wait.on_timeout
                ),
            ));
        }
        // The last poll lands on the deadline, so a resource ready just in time still counts.
        tokio::time::sleep_until((now + pause).min(deadline)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn first_polls_are_quick_and_later_ones_grow_with_the_wait() {
        let c = PollConfig::default();
        let expected = CLUSTER_ACTIVE;
        assert_eq!(c.interval(Duration::ZERO, expected), c.min_interval);
        assert_eq!(c.interval(secs(10.0), expected), c.min_interval);
        assert_eq!(c.interval(secs(200.0), expected), secs(4.0));
        assert!(c.interval(secs(300.0), expected) > c.interval(secs(200.0), expected));
    }

    #[test]
    fn polls_tighten_around_the_expected_completion() {
        let c = PollConfig::default();
        let before = c.interval(secs(400.0), CLUSTER_ACTIVE);
        let near = c.interval(secs(450.0), CLUSTER_ACTIVE);
        assert!(near < before, "{near:?} should be shorter than {before:?}");
        assert_eq!(near, secs(4.5));
        assert_eq!(
            c.interval(secs(900.0), CLUSTER_ACTIVE),
            secs(15.0),
            "capped after the window"
        );
    }

    #[test]
    fn time_lost_after_readiness_stays_within_two_percent_and_never_a_fixed_30s() {
        for config in [PollConfig::default(), PollConfig::scaled(600.0)] {
            for typical in [CLUSTER_ACTIVE, NODEGROUP_ACTIVE, ADDON_ACTIVE, DELETION] {
                let expected = config.expect(typical);
                let floor = config.min_interval.as_secs_f64() / config.fraction;
                let mut t = 0.0;
                while t < 3.0 * expected.as_secs_f64() {
                    let i = config.interval(secs(t), expected);
                    assert!(i <= config.max_interval && i < Duration::from_secs(30));
                    if t >= floor {
                        assert!(i.as_secs_f64() <= 0.02 * t + 1e-9, "interval {i:?} at {t}s");
                    }
                    t += i.as_secs_f64();
                }
            }
        }
    }

    #[test]
    fn scaling_shrinks_expectations_and_intervals_with_a_floor() {
        let c = PollConfig::scaled(600.0);
        assert_eq!(c.expect(CLUSTER_ACTIVE), secs(0.9));
        assert_eq!(c.min_interval, Duration::from_millis(10));
        assert_eq!(c.max_interval, Duration::from_millis(25));
        assert_eq!(PollConfig::scaled(0.0), PollConfig::default());
    }

    fn wait(timeout: Duration) -> Wait<'static> {
        Wait {
            what: "cluster c to become ACTIVE",
            typical: CLUSTER_ACTIVE,
            timeout,
            on_timeout: "check it",
        }
    }

    /// A probe that is ready from `ready_at` (paused clock) and counts its calls.
    fn ready_at(
        start: Instant,
        at: Duration,
        calls: Arc<AtomicU32>,
    ) -> impl FnMut() -> std::future::Ready<Result<Poll<Instant>, ProviderError>> {
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let now = Instant::now();
            std::future::ready(Ok(if now >= start + at {
                Poll::Ready(now)
            } else {
                Poll::Pending("status CREATING".into())
            }))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_ends_soon_after_readiness() {
        let config = PollConfig::default();
        for at in [secs(0.0), secs(5.0), secs(95.0), secs(500.0), secs(700.0)] {
            let start = Instant::now();
            let calls = Arc::new(AtomicU32::new(0));
            let seen = poll_until(
                &config,
                &wait(Duration::from_secs(1800)),
                ready_at(start, at, calls.clone()),
            )
            .await
            .unwrap();
            let overshoot = (seen - start).saturating_sub(at).as_secs_f64();
            let allowed = (0.02 * at.as_secs_f64()).max(config.min_interval.as_secs_f64());
            assert!(
                overshoot <= allowed + 1e-6,
                "ready at {at:?}: overshoot {overshoot}s > {allowed}s"
            );
            // Not hammering the API either: a 9-minute-class wait takes a couple of hundred polls.
            assert!(
                calls.load(Ordering::SeqCst) <= 250,
                "{} polls for {at:?}",
                calls.load(Ordering::SeqCst)
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_plan_timeout_bounds_the_wait_and_names_the_last_state() {
        let start = Instant::now();
        let calls = Arc::new(AtomicU32::new(0));
        let err = poll_until(
            &PollConfig::default(),
            &wait(Duration::from_secs(60)),
            ready_at(start, secs(3600.0), calls),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::WaitTimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        assert!(
            err.message.contains("cluster c to become ACTIVE")
                && err.message.contains("status CREATING"),
            "{}",
            err.message
        );
        assert!(
            err.message.contains("1m") && err.message.ends_with("check it"),
            "{}",
            err.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_that_hangs_is_cut_off_at_the_bound() {
        let start = Instant::now();
        let err = poll_until(
            &PollConfig::default(),
            &wait(Duration::from_secs(30)),
            std::future::pending::<Result<Poll<()>, ProviderError>>,
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::WaitTimedOut);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(31),
            "the bound plus one shortest interval"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_resource_ready_at_the_deadline_still_counts_though_the_answer_takes_time() {
        let start = Instant::now();
        let probe = || async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let ready = start.elapsed() >= Duration::from_secs(60);
            Ok::<_, ProviderError>(if ready {
                Poll::Ready(())
            } else {
                Poll::Pending("CREATING".into())
            })
        };
        poll_until(
            &PollConfig::default(),
            &wait(Duration::from_secs(60)),
            probe,
        )
        .await
        .unwrap();
        assert!(
            start.elapsed() <= Duration::from_secs(61),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_while_waiting_backs_off_and_polls_on() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let start = Instant::now();
        let v = poll_until(
            &PollConfig::default(),
            &wait(Duration::from_secs(600)),
            move || {
                let n = c.fetch_add(1, Ordering::SeqCst);
                std::future::ready(match n {
                    0..=3 => Err(ProviderError::new(ErrorKind::Throttled, "Rate exceeded")),
                    4 => Ok(Poll::Pending("status CREATING".into())),
                    _ => Ok(Poll::Ready(n)),
                })
            },
        )
        .await
        .unwrap();
        assert_eq!(v, 5);
        // 0.5 + 1 + 2 + 4 s of backoff, then one ordinary interval.
        assert!(
            start.elapsed() >= Duration::from_millis(8500),
            "{:?}",
            start.elapsed()
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_permanent_error_ends_the_wait_at_once() {
        let err = poll_until(
            &PollConfig::default(),
            &wait(Duration::from_secs(600)),
            || {
                std::future::ready(Err::<Poll<()>, _>(ProviderError::new(
                    ErrorKind::Denied,
                    "AccessDenied",
                )))
            },
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Denied);
    }
}
