//! Bounding and retrying provider calls.
//!
//! Every provider call goes through [`call`]: it is bounded by a timeout (the plan's for long
//! waits, `EngineOptions::call_timeout` otherwise) and retried with exponential backoff and
//! jitter (the `backon` crate) when, and only when, the error is retryable. A long wait that runs
//! out is not retried: it already spent the plan's budget.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use crate::providers::{ErrorKind, ProviderError};

use super::error::StepError;
use crate::plan::format_duration;
use super::options::RetryPolicy;
use super::progress::{EngineEvent, ProgressSink};

/// How long one attempt may take.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound {
    /// An ordinary API call: `EngineOptions::call_timeout`; running out is retryable.
    Call,
    /// A wait with a budget from the plan (cluster ACTIVE, helm --wait, DNS INSYNC); running out
    /// fails the step.
    Wait(Duration),
}

pub(crate) struct Retrier<'a> {
    pub policy: RetryPolicy,
    pub call_timeout: Duration,
    pub progress: &'a dyn ProgressSink,
    pub step: &'a str,
}

impl Retrier<'_> {
    /// One attempt bounded by `call_timeout`, for callers that loop themselves (checks).
    pub async fn once<T, Fut>(&self, what: &str, f: impl FnOnce() -> Fut) -> Result<T, StepError>
    where
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        match tokio::time::timeout(self.call_timeout, f()).await {
            Ok(r) => r.map_err(|e| StepError::provider(what, e)),
            Err(_) => Err(StepError::provider(
                what,
                ProviderError::new(
                    ErrorKind::Timeout,
                    format!("no answer within {}", format_duration(self.call_timeout)),
                ),
            )),
        }
    }

    pub async fn call<T, F, Fut>(&self, what: &str, bound: Bound, mut f: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let limit = match bound {
            Bound::Call => self.call_timeout,
            Bound::Wait(d) => d,
        };
        if let Bound::Wait(d) = bound {
            self.progress.event(&EngineEvent::Waiting {
                step: self.step.to_string(),
                what: what.to_string(),
                timeout_ms: d.as_millis() as u64,
            });
        }
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.policy.min_delay)
            .with_max_delay(self.policy.max_delay)
            .with_max_times(self.policy.max_retries)
            .with_total_delay(Some(self.policy.max_total_delay))
            .with_jitter();
        let mut attempt = 0u32;
        let once = || {
            let fut = f();
            async move {
                match tokio::time::timeout(limit, fut).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(StepError::provider(what, e)),
                    Err(_) => Err(match bound {
                        Bound::Call => StepError::provider(
                            what,
                            ProviderError::new(
                                ErrorKind::Timeout,
                                format!("no answer within {}", format_duration(limit)),
                            ),
                        ),
                        Bound::Wait(after) => StepError::Timeout {
                            what: what.to_string(),
                            after,
                        },
                    }),
                }
            }
        };
        once.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(StepError::retryable)
            .notify(|e: &StepError, delay: Duration| {
                attempt += 1;
                tracing::info!(step = self.step, error = %e, ?delay, "retrying");
                self.progress.event(&EngineEvent::StepRetrying {
                    step: self.step.to_string(),
                    error: e.to_string(),
                    attempt,
                    delay_ms: delay.as_millis() as u64,
                });
            })
            .await
    }
}
