//! Counts the AWS API requests this process sends, by service and operation, for the run report
//! and the speed script. An SDK interceptor on every client cutover builds; retries count, since
//! each is a request AWS meters and throttles.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

static CALLS: LazyLock<Mutex<BTreeMap<String, u64>>> = LazyLock::new(Mutex::default);

/// Requests sent so far, keyed `Service.Operation` (e.g. `EKS.DescribeCluster`).
pub fn api_calls() -> BTreeMap<String, u64> {
    CALLS.lock().map(|c| c.clone()).unwrap_or_default()
}

/// The interceptor; attach it with `.interceptor(CallCounter)` on a client's config builder.
#[derive(Debug, Clone, Copy)]
pub struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "cutover.CallCounter"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(meta) = cfg.load::<Metadata>() {
            let key = format!("{}.{}", meta.service(), meta.name());
            if let Ok(mut calls) = CALLS.lock() {
                *calls.entry(key).or_default() += 1;
            }
        }
        Ok(())
    }
}

/// An EKS client that counts its requests.
pub fn eks_client(config: &aws_config::SdkConfig) -> aws_sdk_eks::Client {
    aws_sdk_eks::Client::from_conf(aws_sdk_eks::config::Builder::from(config).interceptor(CallCounter).build())
}

/// An EC2 client that counts its requests.
pub fn ec2_client(config: &aws_config::SdkConfig) -> aws_sdk_ec2::Client {
    aws_sdk_ec2::Client::from_conf(aws_sdk_ec2::config::Builder::from(config).interceptor(CallCounter).build())
}

/// A Service Quotas client that counts its requests.
pub fn service_quotas_client(config: &aws_config::SdkConfig) -> aws_sdk_servicequotas::Client {
    aws_sdk_servicequotas::Client::from_conf(aws_sdk_servicequotas::config::Builder::from(config).interceptor(CallCounter).build())
}

/// A Route53 client that counts its requests.
pub fn route53_client(config: &aws_config::SdkConfig) -> aws_sdk_route53::Client {
    aws_sdk_route53::Client::from_conf(aws_sdk_route53::config::Builder::from(config).interceptor(CallCounter).build())
}

/// An S3 client that counts its requests.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(config).interceptor(CallCounter).build())
}

/// An STS client that counts its requests.
pub fn sts_client(config: &aws_config::SdkConfig) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(aws_sdk_sts::config::Builder::from(config).interceptor(CallCounter).build())
}

/// An IAM client that counts its requests.
pub fn iam_client(config: &aws_config::SdkConfig) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::from_conf(aws_sdk_iam::config::Builder::from(config).interceptor(CallCounter).build())
}

/// An SNS client for `region` that counts its requests.
pub fn sns_client(config: &aws_config::SdkConfig, region: &str) -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::config::Builder::from(config)
        .region(aws_config::Region::new(region.to_string()))
        .interceptor(CallCounter)
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}
