//! EBS storage quotas from Service Quotas: [`EbsQuotas`], the [`StorageQuotas`] on AWS. The
//! quota of a volume type is found by its name among the `ebs` service's quotas as applied to
//! the account (`ListServiceQuotas`), e.g. "Storage for General Purpose SSD (gp3) volumes, in
//! TiB", rather than by a hard-coded quota code.

use async_trait::async_trait;

use super::errors::{sdk_code, sdk_error};
use crate::providers::volumes::StorageQuotas;
use crate::providers::ProviderError;

/// Service Quotas on the SDK configuration it was built with.
pub struct EbsQuotas {
    client: aws_sdk_servicequotas::Client,
}

impl EbsQuotas {
    /// A client built from `config`, in its region.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        EbsQuotas { client: super::calls::service_quotas_client(config) }
    }
}

/// Whether quota `name` is the storage quota of `volume_type`, and its unit's size in GiB.
fn storage_quota_of(name: &str, volume_type: &str) -> Option<u64> {
    if !name.starts_with("Storage for") || !name.contains(&format!("({volume_type})")) {
        return None;
    }
    if name.ends_with("in TiB") {
        Some(1024)
    } else if name.ends_with("in GiB") {
        Some(1)
    } else {
        None
    }
}

#[async_trait]
impl StorageQuotas for EbsQuotas {
    async fn storage_quota_gib(&self, volume_type: &str) -> Result<Option<u64>, ProviderError> {
        let mut pages = self.client.list_service_quotas().service_code("ebs").into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = match page {
                Ok(p) => p,
                Err(e) if sdk_code(&e) == Some("NoSuchResourceException") => return Ok(None),
                Err(e) => return Err(sdk_error("list the region's EBS quotas", &e)),
            };
            for q in page.quotas() {
                if let (Some(unit), Some(value)) = (q.quota_name().and_then(|n| storage_quota_of(n, volume_type)), q.value()) {
                    return Ok(Some((value * unit as f64) as u64));
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::storage_quota_of;

    #[test]
    fn a_types_storage_quota_is_found_by_its_name_and_unit() {
        assert_eq!(storage_quota_of("Storage for General Purpose SSD (gp3) volumes, in TiB", "gp3"), Some(1024));
        assert_eq!(storage_quota_of("Storage for General Purpose SSD (gp3) volumes, in TiB", "gp2"), None);
        assert_eq!(storage_quota_of("Concurrent snapshots per General Purpose SSD (gp3) volume", "gp3"), None);
    }
}
