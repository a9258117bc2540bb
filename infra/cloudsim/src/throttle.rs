//! Request-rate throttling of the EKS API: a token bucket refilled at `eksThrottleRps` (from the
//! faults) holding at most one second's worth of requests. Off while the rate is unset.

use std::sync::Mutex;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Throttle {
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    rate: Option<f64>,
    tokens: f64,
    last: Instant,
}

impl Default for Throttle {
    fn default() -> Self {
        Self::new()
    }
}

impl Throttle {
    pub fn new() -> Self {
        Throttle {
            bucket: Mutex::new(Bucket {
                rate: None,
                tokens: 0.0,
                last: Instant::now(),
            }),
        }
    }

    /// Takes a token for one request at `rate` requests/second; `false` means throttle it.
    /// A changed rate starts a full bucket, so setting a limit never punishes earlier traffic.
    pub fn admit(&self, rate: Option<f64>) -> bool {
        let Some(rate) = rate.filter(|r| r.is_finite() && *r > 0.0) else {
            return true;
        };
        let burst = rate.max(1.0);
        let mut b = self.bucket.lock().expect("throttle lock poisoned");
        let now = Instant::now();
        if b.rate != Some(rate) {
            *b = Bucket {
                rate: Some(rate),
                tokens: burst,
                last: now,
            };
        }
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_burst_beyond_the_rate_is_refused_until_tokens_refill() {
        let t = Throttle::new();
        let admitted = (0..10).filter(|_| t.admit(Some(4.0))).count();
        assert_eq!(admitted, 4, "a burst gets one second's worth of requests");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(
            (0..10).filter(|_| t.admit(Some(4.0))).count(),
            2,
            "half a second refills two tokens"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_means_no_limit_and_a_tiny_rate_still_admits_one() {
        let t = Throttle::new();
        assert!((0..1000).all(|_| t.admit(None)));
        assert!(t.admit(Some(0.5)));
        assert!(!t.admit(Some(0.5)));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(t.admit(Some(0.5)));
    }
}
