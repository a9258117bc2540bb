//! Simulated time: every latency cloudsim imposes is a realistic duration divided by the time scale,
//! so tests run a 9-minute cluster creation in a fraction of a second and benchmarks in real time.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// 1.0 = real time; 600.0 = ten simulated minutes per real second.
    pub scale: f64,
}

impl Clock {
    pub fn new(scale: f64) -> Self {
        assert!(
            scale.is_finite() && scale > 0.0,
            "time scale must be a positive number"
        );
        Clock { scale }
    }

    /// The real time to wait for a simulated `d`.
    pub fn scaled(&self, d: Duration) -> Duration {
        Duration::from_secs_f64(d.as_secs_f64() / self.scale)
    }

    /// Now, as RFC 3339 UTC (for Kubernetes timestamps and AWS `createdAt`).
    pub fn now_rfc3339(&self) -> String {
        jiff::Timestamp::now().to_string()
    }
}
