//! AWS: the shared SDK configuration and what is built on it: EKS tokens and kubeconfigs, the EKS
//! cluster provider (`eks*`), the Route53 traffic provider (`route53*`), the S3 state backend
//! (`s3_state`), the EC2 subnet inventory (`ec2_subnets`), EBS volumes and snapshots (`ec2_ebs`) and their storage quotas (`service_quotas`), IAM for workload identity (`iam`), and what they share (`errors`: SDK
//! errors → `ProviderError`; `poll`: adaptive, bounded waits). The composition root
//! ([`crate::compose`]) builds them.
//!
//! Credentials, region and endpoints come from the standard AWS sources (environment, profiles,
//! SSO, instance roles; `AWS_ENDPOINT_URL` and the per-service `AWS_ENDPOINT_URL_EKS`,
//! `AWS_ENDPOINT_URL_ROUTE_53`, `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL_IAM`, `AWS_ENDPOINT_URL_SNS`, `AWS_ENDPOINT_URL_SERVICE_QUOTAS`), so the same binary
//! talks to AWS or to the local stand-ins without a flag. TLS is rustls with ring, the workspace's
//! one crypto provider.

pub mod calls;
pub mod ec2_ebs;
pub mod ec2_subnets;
pub mod eks;
mod eks_access;
mod eks_addons;
mod eks_catalog;
mod eks_directory;
mod eks_insights;
mod eks_lifecycle;
pub mod eks_inventory;
mod eks_nodegroups;
mod eks_pod_identity;
pub mod errors;
pub mod iam;
pub mod kubeconfig;
pub mod poll;
pub mod route53;
pub mod route53_names;
pub mod s3_state;
pub mod service_quotas;
pub mod sns;
pub mod token;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::providers::{ErrorKind, ProviderError};

/// Loads the SDK configuration for `region` from the standard sources.
pub async fn sdk_config(region: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .http_client(http)
        .load()
        .await
}

/// The caller's current credentials (refreshed by the provider chain as they near expiry).
pub async fn credentials(config: &SdkConfig) -> Result<Credentials, ProviderError> {
    let provider = config.credentials_provider().ok_or_else(|| {
        ProviderError::new(
            ErrorKind::Denied,
            "no AWS credentials provider is configured; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
        )
    })?;
    provider.provide_credentials().await.map_err(|e| {
        ProviderError::new(
            ErrorKind::Denied,
            format!("cannot load AWS credentials: {e}; check AWS_PROFILE, `aws sso login`, or the AWS_* variables"),
        )
    })
}
