//! Notifications: the payload every sink gets (cutover's versioned JSON, `cutover schema
//! --notification`), the [`NotificationSender`] trait, and its HTTP implementation for Slack
//! incoming webhooks, Microsoft Teams Workflows webhooks and plain JSON webhooks.
//!
//! One send is one request; retries, backoff and journaling are the engine's. A failure says
//! whether a retry may help (429, 5xx, timeouts) and how long the receiver asked to wait
//! (`Retry-After`). Neither the URL nor the secret appears in any error or log: a webhook URL is a
//! credential, so errors name the sink only.

use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::{NotifyEvent, NotifySink, NotifyUrl};

/// The JSON schema's version, in every payload.
pub const SCHEMA: &str = "cutover.dev/notification/v1";

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A notification as cutover's JSON format sends it; Slack and Teams payloads are made from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Idempotency key: the run id and the journal sequence number of what happened. A receiver
    /// that sees a key twice (a resend after a crash) can drop the second.
    pub id: String,
    /// What happened.
    #[schemars(with = "String")]
    pub event: NotifyEvent,
    /// The environment (`metadata.name`).
    pub environment: String,
    /// The plan file the run was started with.
    pub plan_file: String,
    /// The run.
    pub run_id: String,
    /// When it happened.
    #[schemars(with = "String")]
    pub at: Timestamp,
    /// One line for people.
    pub summary: String,
    /// The step concerned, if any.
    pub step: Option<String>,
    /// The checkpoint reached, for `checkpoint`.
    pub checkpoint: Option<String>,
    /// Green's target weight, for traffic steps.
    pub weight: Option<u8>,
    /// Weights per record as the journal saw them when it happened.
    pub weights: Vec<WeightSnapshot>,
    /// Why, for failures and stops.
    pub cause: Option<String>,
    /// When `resume` may continue, for `waiting`.
    #[schemars(with = "Option<String>")]
    pub until: Option<Timestamp>,
    /// The command to run next, for stops.
    pub next_command: Option<String>,
    /// The stop code (`CUT-CHK-002`), for stops.
    pub code: Option<String>,
    /// The runbook, for stops (the same as `cutover explain` prints).
    pub runbook: Option<serde_json::Value>,
}

/// One record name's weights at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WeightSnapshot {
    /// The DNS name.
    pub record: String,
    /// Blue's weight (`None`: no record).
    pub blue: Option<u8>,
    /// Green's weight (`None`: no record).
    pub green: Option<u8>,
}

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendFailure {
    /// What happened, naming the sink, never its URL.
    pub message: String,
    /// Whether trying again may help.
    pub retry: bool,
    /// How long the receiver asked to wait first.
    pub retry_after: Option<Duration>,
}

/// Sends notifications to sinks.
#[async_trait]
pub trait NotificationSender: Send + Sync {
    /// One attempt to deliver `n` to `sink`.
    async fn send(&self, sink: &NotifySink, n: &Notification) -> Result<(), SendFailure>;
}

/// Sinks reached over HTTP(S).
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpNotifications;

fn failure(sink: &str, message: impl std::fmt::Display, retry: bool) -> SendFailure {
    SendFailure { message: format!("sink {sink}: {message}"), retry, retry_after: None }
}

/// `sha256=<hex>` of the body under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn env(sink: &str, var: &str, what: &str) -> Result<String, SendFailure> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| failure(sink, format!("{var} (its {what}) is not set in cutover's environment"), false))
}

#[async_trait]
impl NotificationSender for HttpNotifications {
    async fn send(&self, sink: &NotifySink, n: &Notification) -> Result<(), SendFailure> {
        super::probe::ensure_crypto_provider();
        let name = &sink.name;
        let url = match &sink.url {
            NotifyUrl::Inline(url) => url.clone(),
            NotifyUrl::FromEnv(var) => env(name, var, "webhook URL")?,
            NotifyUrl::Sns(_) => return Err(failure(name, "an SNS topic is not a webhook", false)),
        };
        let body = serde_json::to_vec(&super::notify_format::payload(sink.format, n)).expect("a payload serializes");
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| failure(name, format!("cannot build the HTTP client: {}", e.without_url()), false))?;
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("idempotency-key", &n.id)
            .header("user-agent", concat!("cutover/", env!("CARGO_PKG_VERSION")));
        if let Some(var) = &sink.secret_from_env {
            let secret = env(name, var, "signing secret")?;
            request = request.header("x-cutover-signature", signature(secret.as_bytes(), &body));
        }
        let response = request.body(body).send().await.map_err(|e| {
            let e = e.without_url();
            let what = if e.is_timeout() { "no answer within 5s".to_string() } else { format!("cannot reach the webhook: {e}") };
            failure(name, what, true)
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            // Slack answers 200 `ok`; anything else in a 200 is still a delivery.
            return Ok(());
        }
        let retry = status.as_u16() == 429 || status.is_server_error();
        let detail: String = text.chars().take(200).collect();
        Err(SendFailure { retry_after, ..failure(name, format!("HTTP {status}: {detail}"), retry) })
    }
}

/// Every kind of sink: webhooks over HTTP, SNS topics through the AWS SDK.
pub struct Notifications {
    /// Webhooks.
    pub http: HttpNotifications,
    /// SNS topics.
    pub sns: super::aws::sns::SnsNotifications,
}

#[async_trait]
impl NotificationSender for Notifications {
    async fn send(&self, sink: &NotifySink, n: &Notification) -> Result<(), SendFailure> {
        match sink.url {
            NotifyUrl::Sns(_) => self.sns.send(sink, n).await,
            NotifyUrl::Inline(_) | NotifyUrl::FromEnv(_) => self.http.send(sink, n).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
