//! EC2 subnets: [`Ec2Network`], the [`SubnetInventory`] on AWS. One `DescribeSubnets` by id
//! (paged), read-only; EC2's `InvalidSubnetID.NotFound` becomes a `NotFound` error naming the
//! missing subnets, which EC2's message quotes (a subnet EC2 leaves out of its answer without an
//! error is named the same way).

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::errors::sdk_error;
use crate::providers::{ErrorKind, ProviderError, SubnetInfo, SubnetInventory};

/// EC2 on the SDK configuration it was built with.
pub struct Ec2Network {
    client: Client,
    region: String,
}

impl Ec2Network {
    pub fn new(config: &SdkConfig) -> Self {
        Ec2Network {
            client: super::calls::ec2_client(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// `subject` names what is missing: `subnet subnet-1`, `subnets subnet-1, subnet-2`.
    fn not_found(&self, subject: &str, detail: &str) -> ProviderError {
        ProviderError::new(
            ErrorKind::NotFound,
            format!(
                "{subject} not found in {}: check green.subnets and the node groups' subnets in the plan, and \
                 spec.aws.region{detail}",
                self.region
            ),
        )
    }

    /// An SDK error of `DescribeSubnets` for `ids`; a `NotFound` names the subnets EC2 named.
    fn describe_error(&self, ids: &[String], err: &SdkError<DescribeSubnetsError, HttpResponse>) -> ProviderError {
        let general = sdk_error(&format!("describe subnets {}", ids.join(", ")), err);
        if general.kind != ErrorKind::NotFound {
            return general;
        }
        let named = mentioned(ids, err.message().unwrap_or_default());
        let who = match named.as_slice() {
            [] => format!("a subnet among {}", ids.join(", ")),
            _ => subject(&named),
        };
        self.not_found(&who, &format!(" ({})", general.message))
    }
}

/// `subnet subnet-1` or `subnets subnet-1, subnet-2`.
fn subject(ids: &[&str]) -> String {
    let what = if ids.len() == 1 { "subnet" } else { "subnets" };
    format!("{what} {}", ids.join(", "))
}

/// The ids of `ids` that `message` names as words (so `subnet-1` is not found in `subnet-12`).
fn mentioned<'a>(ids: &'a [String], message: &str) -> Vec<&'a str> {
    let words: BTreeSet<&str> = message.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')).collect();
    ids.iter().map(String::as_str).filter(|id| words.contains(id)).collect()
}

#[async_trait]
impl SubnetInventory for Ec2Network {
    async fn subnets(&self, ids: &[String]) -> Result<Vec<SubnetInfo>, ProviderError> {
        let mut seen = BTreeSet::new();
        let wanted: Vec<String> = ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect();
        // Without ids DescribeSubnets lists every subnet of the account.
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let mut pages = self.client.describe_subnets().set_subnet_ids(Some(wanted.clone())).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.describe_error(&wanted, &e))?;
            for s in page.subnets() {
                let Some(id) = s.subnet_id() else { continue };
                found.push(SubnetInfo {
                    id: id.to_string(),
                    availability_zone: s.availability_zone().unwrap_or_default().to_string(),
                    availability_zone_id: s.availability_zone_id().map(str::to_string),
                    cidr: s.cidr_block().unwrap_or_default().to_string(),
                    available_ips: s.available_ip_address_count().unwrap_or(0).max(0) as u32,
                    vpc_id: s.vpc_id().unwrap_or_default().to_string(),
                });
            }
        }
        let mut out = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for id in &wanted {
            match found.iter().position(|s| &s.id == id) {
                Some(at) => out.push(found.swap_remove(at)),
                None => missing.push(id.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(self.not_found(&subject(&missing), ""));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_matched_as_whole_words() {
        let ids = ["subnet-1".to_string(), "subnet-12".to_string(), "subnet-3".to_string()];
        assert_eq!(mentioned(&ids, "The subnet ID 'subnet-12' does not exist"), ["subnet-12"]);
        assert_eq!(mentioned(&ids, "The subnet IDs 'subnet-1, subnet-3' do not exist"), ["subnet-1", "subnet-3"]);
        assert!(mentioned(&ids, "no ids here").is_empty());
    }
}
