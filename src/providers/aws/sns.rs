//! SNS notification sinks (`snsTopicArn`): each notification is published as cutover's JSON, its
//! summary as the subject, with message attributes (`event`, `environment`, `code`) that
//! subscription filter policies can select on. The topic's region comes from its ARN.

use async_trait::async_trait;
use aws_sdk_sns::types::MessageAttributeValue;

use super::errors::{sdk_error, sdk_kind};
use crate::plan::{NotifySink, NotifyUrl};
use crate::providers::ErrorKind;
use crate::providers::notify::{Notification, NotificationSender, SendFailure};

/// Publishes to SNS topics with the shared SDK configuration.
pub struct SnsNotifications {
    config: aws_config::SdkConfig,
}

impl SnsNotifications {
    /// Sinks on the shared SDK configuration (the region is each topic's).
    pub fn new(config: &aws_config::SdkConfig) -> SnsNotifications {
        SnsNotifications { config: config.clone() }
    }
}

fn attribute(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder().data_type("String").string_value(value).build().expect("data type is set")
}

#[async_trait]
impl NotificationSender for SnsNotifications {
    async fn send(&self, sink: &NotifySink, n: &Notification) -> Result<(), SendFailure> {
        let NotifyUrl::Sns(topic) = &sink.url else {
            return Err(SendFailure { message: format!("sink {}: not an SNS topic", sink.name), retry: false, retry_after: None });
        };
        let region = topic.split(':').nth(3).unwrap_or_default();
        let client = super::calls::sns_client(&self.config, region);
        // SNS subjects: printable ASCII, at most 100 characters.
        let subject: String =
            format!("cutover {}: {}", n.environment, n.summary).chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(100).collect();
        let mut publish = client
            .publish()
            .topic_arn(topic)
            .subject(subject)
            .message(serde_json::to_string(n).expect("a notification serializes"))
            .message_attributes("event", attribute(n.event.name()))
            .message_attributes("environment", attribute(&n.environment));
        if let Some(code) = &n.code {
            publish = publish.message_attributes("code", attribute(code));
        }
        publish.send().await.map(|_| ()).map_err(|e| {
            let err = sdk_error(&format!("publish to sink {}", sink.name), &e);
            SendFailure {
                retry: matches!(sdk_kind(&e), ErrorKind::Throttled | ErrorKind::Unavailable),
                message: err.message,
                retry_after: None,
            }
        })
    }
}
