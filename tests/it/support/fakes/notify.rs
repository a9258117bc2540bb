//! The fake's notification sinks: every delivery is recorded; a sink can be made to fail.

use async_trait::async_trait;
use cutover::plan::NotifySink;
use cutover::providers::notify::{Notification, NotificationSender, SendFailure};

use super::World;

impl World {
    /// Every notification delivered, as (sink, notification), in order.
    pub fn notifications(&self) -> Vec<(String, Notification)> {
        self.lock().notifications.clone()
    }
}

#[async_trait]
impl NotificationSender for World {
    async fn send(&self, sink: &NotifySink, n: &Notification) -> Result<(), SendFailure> {
        if let Err(e) = self.enter("notify", &sink.name).await {
            return Err(SendFailure { retry: e.retryable(), message: e.message, retry_after: None });
        }
        self.lock().notifications.push((sink.name.clone(), n.clone()));
        Ok(())
    }
}
