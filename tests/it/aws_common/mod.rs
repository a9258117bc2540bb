//! Shared by the tests/aws_*.rs files: an AWS SDK configuration aimed at a local stand-in (moto or
//! cloudsim) with dummy credentials, and a scripted HTTP endpoint for answers the stand-ins never give.


pub mod fake_http;

use std::time::Duration;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_credential_types::Credentials;

pub const REGION: &str = "us-east-1";

/// The product's SDK configuration (ring TLS client, the standard retry mode: three attempts,
/// jittered backoff from 1 s) pointed at `endpoint`, with dummy credentials.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    cutover::providers::aws::sdk_config(REGION)
        .await
        .to_builder()
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "testing", "testing", None, None, "tests",
            )),
        )
        .build()
}

/// As [`sdk_config`], with the SDK's retry backoff shortened to milliseconds, for endpoints that
/// refuse on purpose and count the attempts.
pub async fn sdk_config_quick_retry(endpoint: &str) -> SdkConfig {
    sdk_config(endpoint)
        .await
        .to_builder()
        .retry_config(RetryConfig::standard().with_initial_backoff(Duration::from_millis(5)))
        .build()
}

/// A name unique to this test process, for buckets, zones and clusters shared by parallel tests.
pub fn unique(stem: &str) -> String {
    format!("{stem}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}
