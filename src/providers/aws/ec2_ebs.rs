//! EBS volumes and snapshots: [`Ec2Storage`], the [`BlockStorage`] on AWS (EC2's CreateSnapshot,
//! DescribeSnapshots, DeleteSnapshot, CreateVolume, DescribeVolumes, DeleteVolume).
//!
//! EC2 answers a describe of an id that does not exist with `InvalidVolume.NotFound` /
//! `InvalidSnapshot.NotFound`; here that is `None`, and a delete of one is done.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType, Snapshot, Tag, TagSpecification, Volume, VolumeType};

use super::errors::{sdk_code, sdk_error};
use crate::providers::volumes::{BlockStorage, EbsSnapshot, EbsVolume, NewVolume, SnapshotState};
use crate::providers::{ErrorKind, ProviderError};

/// EC2 on the SDK configuration it was built with.
pub struct Ec2Storage {
    client: Client,
}

impl Ec2Storage {
    /// An EC2 client built from `config`, in its region.
    pub fn new(config: &SdkConfig) -> Self {
        Ec2Storage { client: super::calls::ec2_client(config) }
    }
}

fn tag_spec(kind: ResourceType, tags: &BTreeMap<String, String>) -> TagSpecification {
    let tags = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build());
    TagSpecification::builder().resource_type(kind).set_tags(Some(tags.collect())).build()
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

fn volume(v: &Volume) -> EbsVolume {
    EbsVolume {
        id: v.volume_id().unwrap_or_default().to_string(),
        zone: v.availability_zone().unwrap_or_default().to_string(),
        size_gib: v.size().unwrap_or(0).max(0) as u32,
        volume_type: v.volume_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
        state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        snapshot_id: v.snapshot_id().filter(|s| !s.is_empty()).map(str::to_string),
        tags: tags_of(v.tags()),
    }
}

fn snapshot(s: &Snapshot) -> EbsSnapshot {
    let state = match s.state().map(|s| s.as_str()) {
        Some("completed") => SnapshotState::Completed,
        Some("error") => SnapshotState::Error,
        _ => SnapshotState::Pending,
    };
    let started = s
        .start_time()
        .and_then(|t| jiff::Timestamp::from_millisecond(t.to_millis().ok()?).ok())
        .unwrap_or_else(jiff::Timestamp::now);
    EbsSnapshot {
        id: s.snapshot_id().unwrap_or_default().to_string(),
        volume_id: s.volume_id().unwrap_or_default().to_string(),
        state,
        started,
        size_gib: s.volume_size().unwrap_or(0).max(0) as u32,
        tags: tags_of(s.tags()),
    }
}

fn missing(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.ends_with(".NotFound"))
}

#[async_trait]
impl BlockStorage for Ec2Storage {
    async fn volume(&self, id: &str) -> Result<Option<EbsVolume>, ProviderError> {
        match self.client.describe_volumes().volume_ids(id).send().await {
            Ok(out) => Ok(out.volumes().first().map(volume)),
            Err(e) if missing(sdk_code(&e)) => Ok(None),
            Err(e) => Err(sdk_error(&format!("describe volume {id}"), &e)),
        }
    }

    async fn snapshot(&self, id: &str) -> Result<Option<EbsSnapshot>, ProviderError> {
        match self.client.describe_snapshots().snapshot_ids(id).send().await {
            Ok(out) => Ok(out.snapshots().first().map(snapshot)),
            Err(e) if missing(sdk_code(&e)) => Ok(None),
            Err(e) => Err(sdk_error(&format!("describe snapshot {id}"), &e)),
        }
    }

    async fn snapshots_tagged(&self, tags: &BTreeMap<String, String>) -> Result<Vec<EbsSnapshot>, ProviderError> {
        let filters = tags.iter().map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build());
        let mut pages = self
            .client
            .describe_snapshots()
            .owner_ids("self")
            .set_filters(Some(filters.collect()))
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("list cutover's snapshots", &e))?;
            found.extend(page.snapshots().iter().map(snapshot));
        }
        found.sort_by(|a, b| b.started.cmp(&a.started).then(b.id.cmp(&a.id)));
        Ok(found)
    }

    async fn create_snapshot(&self, volume_id: &str, description: &str, tags: &BTreeMap<String, String>) -> Result<EbsSnapshot, ProviderError> {
        let out = self
            .client
            .create_snapshot()
            .volume_id(volume_id)
            .description(description)
            .tag_specifications(tag_spec(ResourceType::Snapshot, tags))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("snapshot volume {volume_id}"), &e))?;
        let id = out.snapshot_id().unwrap_or_default().to_string();
        // The answer has no tags in some implementations: describe it for the whole picture.
        self.snapshot(&id).await?.ok_or_else(|| {
            ProviderError::new(ErrorKind::Unavailable, format!("snapshot {id} of {volume_id} was created but cannot be read back yet"))
        })
    }

    async fn delete_snapshot(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_snapshot().snapshot_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(sdk_code(&e)) => Ok(()),
            Err(e) => Err(sdk_error(&format!("delete snapshot {id}"), &e)),
        }
    }

    async fn used_gib(&self, volume_type: &str) -> Result<u64, ProviderError> {
        let filter = Filter::builder().name("volume-type").values(volume_type).build();
        let mut pages = self.client.describe_volumes().filters(filter).into_paginator().send();
        let mut total = 0u64;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(&format!("list the region's {volume_type} volumes"), &e))?;
            total += page.volumes().iter().map(|v| v.size().unwrap_or(0).max(0) as u64).sum::<u64>();
        }
        Ok(total)
    }

    async fn volumes_tagged(&self, tags: &BTreeMap<String, String>) -> Result<Vec<EbsVolume>, ProviderError> {
        let filters = tags.iter().map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build());
        let mut pages = self.client.describe_volumes().set_filters(Some(filters.collect())).into_paginator().send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error("list cutover's volumes", &e))?;
            found.extend(page.volumes().iter().map(volume));
        }
        Ok(found)
    }

    async fn create_volume(&self, new: &NewVolume, token: &str) -> Result<EbsVolume, ProviderError> {
        let out = self
            .client
            .create_volume()
            .snapshot_id(&new.snapshot_id)
            .availability_zone(&new.zone)
            .volume_type(VolumeType::from(new.volume_type.as_str()))
            .size(new.size_gib as i32)
            .client_token(token)
            .tag_specifications(tag_spec(ResourceType::Volume, &new.tags))
            .send()
            .await
            .map_err(|e| sdk_error(&format!("create a volume from {} in {}", new.snapshot_id, new.zone), &e))?;
        let id = out.volume_id().unwrap_or_default().to_string();
        self.volume(&id).await?.ok_or_else(|| {
            ProviderError::new(ErrorKind::Unavailable, format!("volume {id} was created but cannot be read back yet"))
        })
    }

    async fn delete_volume(&self, id: &str) -> Result<(), ProviderError> {
        match self.client.delete_volume().volume_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if missing(sdk_code(&e)) => Ok(()),
            Err(e) => Err(sdk_error(&format!("delete volume {id}"), &e)),
        }
    }
}
