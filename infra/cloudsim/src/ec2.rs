//! cloudsim's link to EC2 (moto in tests): where the fake EBS CSI driver makes, reads and deletes
//! volumes, and where node groups' subnets say which availability zone their nodes are in. EC2 is
//! not emulated here: volumes and snapshots are moto's, so cutover and boto3 see the same ones.
//!
//! Configured by `AWS_ENDPOINT_URL_EC2` when cloudsim starts (credentials are cloudsim's own);
//! without it, nodes sit in `<region>a` and claims that need a new volume stay Pending.

use std::collections::BTreeMap;
use std::sync::Mutex;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification, VolumeType};

/// An EC2 client, and the zones of subnets already looked up.
pub struct Ec2Link {
    client: Client,
    zones: Mutex<BTreeMap<String, String>>,
}

impl std::fmt::Debug for Ec2Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ec2Link").finish_non_exhaustive()
    }
}

/// A volume the driver asks EC2 for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVolume {
    pub zone: String,
    pub size_gib: i32,
    /// `gp2`, `gp3`, `io2`, ...
    pub volume_type: String,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    /// Provisioned IOPS (io1, io2, gp3) and throughput in MiB/s (gp3), when the class asks.
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub tags: BTreeMap<String, String>,
    /// The idempotency token (the driver uses the PersistentVolume's name).
    pub token: String,
}

/// An EC2 call that failed: its error code (`InvalidParameterValue`, ...) when EC2 gave one, and
/// what it said, for Events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Ec2Error {
    pub code: Option<String>,
    pub message: String,
}

impl Ec2Error {
    fn from_sdk<E, R>(e: aws_sdk_ec2::error::SdkError<E, R>) -> Ec2Error
    where
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        Ec2Error {
            code: aws_sdk_ec2::error::ProvideErrorMetadata::code(&e).map(str::to_string),
            message: aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
        }
    }
}

/// A volume as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    pub id: String,
    pub zone: String,
    pub state: String,
}

impl Ec2Link {
    /// A client of the EC2 at `endpoint`.
    pub fn new(endpoint: &str, region: &str, access_key_id: &str, secret_access_key: &str) -> Ec2Link {
        use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
        let http = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(CryptoMode::Ring)).build_https();
        let creds = aws_credential_types::Credentials::new(access_key_id, secret_access_key, None, None, "cloudsim");
        let config = aws_sdk_ec2::Config::builder()
            .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
            .region(aws_sdk_ec2::config::Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(creds)
            .http_client(http)
            .build();
        Ec2Link { client: Client::from_conf(config), zones: Mutex::default() }
    }

    /// The availability zone of each subnet, in order (`None` for one EC2 does not know).
    pub async fn subnet_zones(&self, subnets: &[String]) -> Vec<Option<String>> {
        let missing: Vec<String> = {
            let known = self.zones.lock().expect("zones lock");
            subnets.iter().filter(|s| !known.contains_key(*s)).cloned().collect()
        };
        if !missing.is_empty() {
            let filter = Filter::builder().name("subnet-id").set_values(Some(missing)).build();
            match self.client.describe_subnets().filters(filter).send().await {
                Ok(out) => {
                    let mut known = self.zones.lock().expect("zones lock");
                    for s in out.subnets() {
                        if let (Some(id), Some(az)) = (s.subnet_id(), s.availability_zone()) {
                            known.insert(id.to_string(), az.to_string());
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %aws_sdk_ec2::error::DisplayErrorContext(&e), "DescribeSubnets failed; nodes get the region's first zone"),
            }
        }
        let known = self.zones.lock().expect("zones lock");
        subnets.iter().map(|s| known.get(s).cloned()).collect()
    }

    /// The zones already looked up of `subnets` (see [`Ec2Link::subnet_zones`]), without a request.
    pub fn cached_zones(&self, subnets: &[String]) -> Vec<Option<String>> {
        let known = self.zones.lock().expect("zones lock");
        subnets.iter().map(|s| known.get(s).cloned()).collect()
    }

    /// Makes an empty volume, as the EBS CSI driver's CreateVolume does.
    pub async fn create_volume(&self, req: &NewVolume) -> Result<VolumeInfo, Ec2Error> {
        let tags = req.tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
        let mut call = self
            .client
            .create_volume()
            .availability_zone(&req.zone)
            .size(req.size_gib)
            .volume_type(VolumeType::from(req.volume_type.as_str()))
            .client_token(&req.token)
            .tag_specifications(TagSpecification::builder().resource_type(ResourceType::Volume).set_tags(Some(tags)).build());
        call = call.set_iops(req.iops).set_throughput(req.throughput);
        if req.encrypted {
            call = call.encrypted(true).set_kms_key_id(req.kms_key_id.clone());
        }
        let out = call.send().await.map_err(Ec2Error::from_sdk)?;
        Ok(VolumeInfo {
            id: out.volume_id().unwrap_or_default().to_string(),
            zone: out.availability_zone().unwrap_or(&req.zone).to_string(),
            state: out.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        })
    }

    /// The volume, `None` when EC2 has none of that id.
    pub async fn volume(&self, id: &str) -> Result<Option<VolumeInfo>, Ec2Error> {
        match self.client.describe_volumes().volume_ids(id).send().await {
            Ok(out) => Ok(out.volumes().first().map(|v| VolumeInfo {
                id: v.volume_id().unwrap_or_default().to_string(),
                zone: v.availability_zone().unwrap_or_default().to_string(),
                state: v.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
            })),
            Err(e) if aws_sdk_ec2::error::ProvideErrorMetadata::code(&e).is_some_and(|c| c.ends_with(".NotFound")) => Ok(None),
            Err(e) => Err(Ec2Error::from_sdk(e)),
        }
    }

    /// Deletes a volume (gone already is done).
    pub async fn delete_volume(&self, id: &str) -> Result<(), Ec2Error> {
        match self.client.delete_volume().volume_id(id).send().await {
            Ok(_) => Ok(()),
            Err(e) if aws_sdk_ec2::error::ProvideErrorMetadata::code(&e).is_some_and(|c| c.ends_with(".NotFound")) => Ok(()),
            Err(e) => Err(Ec2Error::from_sdk(e)),
        }
    }
}
