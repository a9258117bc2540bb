//! EC2 subnets: [`Ec2Network`], the [`SubnetInventory`] on AWS. Read-only: one `DescribeSubnets`
//! by id (paged).
//!
//! EC2 refuses the whole request when one id does not exist (`InvalidSubnetID.NotFound`), and its
//! message names the id, but not reliably across implementations (moto names any one of the ids
//! asked). So on that error a second `DescribeSubnets` filters by `subnet-id`, which never refuses:
//! the ids it leaves out are the missing ones, and the `NotFound` error names exactly those.

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::operation::describe_subnets::DescribeSubnetsError;
use aws_sdk_ec2::types::Filter;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;

use super::errors::sdk_error;
use crate::providers::{ErrorKind, ProviderError, SubnetInfo, SubnetInventory};

/// EC2 on the SDK configuration it was built with.
pub struct Ec2Network {
    client: Client,
    region: String,
}

/// How `DescribeSubnets` picks the subnets.
#[derive(Clone, Copy)]
enum Lookup {
    /// `SubnetIds`: every id must exist.
    Ids,
    /// A `subnet-id` filter: what does not exist is left out.
    Filter,
}

impl Ec2Network {
    /// An EC2 client built from `config`, in its region.
    pub fn new(config: &SdkConfig) -> Self {
        Ec2Network {
            client: super::calls::ec2_client(config),
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
        }
    }

    /// Every page of `DescribeSubnets` for `ids`.
    async fn describe(
        &self,
        ids: &[String],
        lookup: Lookup,
    ) -> Result<Vec<SubnetInfo>, SdkError<DescribeSubnetsError, HttpResponse>> {
        let request = match lookup {
            Lookup::Ids => self.client.describe_subnets().set_subnet_ids(Some(ids.to_vec())),
            Lookup::Filter => self
                .client
                .describe_subnets()
                .filters(Filter::builder().name("subnet-id").set_values(Some(ids.to_vec())).build()),
        };
        let mut pages = request.into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            for s in page?.subnets() {
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
        Ok(found)
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

    /// `found` in the order of `wanted`, or a `NotFound` naming the ids it lacks.
    fn in_order(&self, wanted: &[String], mut found: Vec<SubnetInfo>) -> Result<Vec<SubnetInfo>, ProviderError> {
        let mut out = Vec::with_capacity(wanted.len());
        let mut missing = Vec::new();
        for id in wanted {
            match found.iter().position(|s| &s.id == id) {
                Some(at) => out.push(found.swap_remove(at)),
                None => missing.push(id.as_str()),
            }
        }
        if missing.is_empty() { Ok(out) } else { Err(self.not_found(&subject(&missing), "")) }
    }
}

/// `subnet subnet-1` or `subnets subnet-1, subnet-2`.
fn subject(ids: &[&str]) -> String {
    let what = if ids.len() == 1 { "subnet" } else { "subnets" };
    format!("{what} {}", ids.join(", "))
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
        let err = match self.describe(&wanted, Lookup::Ids).await {
            Ok(found) => return self.in_order(&wanted, found),
            Err(err) => sdk_error(&format!("describe subnets {}", wanted.join(", ")), &err),
        };
        if err.kind != ErrorKind::NotFound {
            return Err(err);
        }
        match self.describe(&wanted, Lookup::Filter).await {
            Ok(found) => self.in_order(&wanted, found),
            Err(_) => {
                let among = format!("a subnet among {}", wanted.join(", "));
                Err(self.not_found(&among, &format!(" ({})", err.message)))
            }
        }
    }
}
