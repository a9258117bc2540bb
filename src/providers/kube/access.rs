//! How cutover reaches a cluster's API: where it is ([`ClusterDirectory`]: endpoint + CA, from EKS
//! DescribeCluster in production (implemented by the EKS provider), from an emulator in tests) and who it is ([`TokenSource`]: EKS
//! bearer tokens presigned from the caller's AWS credentials, cached per cluster and renewed while
//! at least [`REFRESH_MARGIN`] of their life is left, so a long bake never sends an expired one).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use crate::providers::aws::token::{EksToken, eks_token};
use crate::providers::{ErrorKind, ProviderError};

/// Tokens are renewed when less than this is left of their lifetime.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(2 * 60);

/// Where a cluster's API server is and which CA signs its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// `https://…`
    pub server: String,
    /// The cluster CA bundle in PEM.
    pub ca_pem: Vec<u8>,
}

/// Finds a cluster's API endpoint by name.
#[async_trait]
pub trait ClusterDirectory: Send + Sync {
    /// `NotFound` when no such cluster exists; `Conflict` while it has no endpoint yet.
    async fn access(&self, cluster: &str) -> Result<ClusterEndpoint, ProviderError>;
}


/// EKS bearer tokens for any cluster, from one set of AWS credentials.
pub struct TokenSource {
    region: String,
    credentials: SharedCredentialsProvider,
    cache: Mutex<HashMap<String, EksToken>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// Tokens signed for `region` with whatever `credentials` provides (a static
    /// `Credentials`, or the SDK's refreshing default chain).
    pub fn new(region: &str, credentials: impl ProvideCredentials + 'static) -> Self {
        TokenSource {
            region: region.to_string(),
            credentials: SharedCredentialsProvider::new(credentials),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Tokens from the SDK configuration's credentials chain.
    pub fn from_sdk(config: &aws_config::SdkConfig, region: &str) -> Result<Self, ProviderError> {
        let provider = config.credentials_provider().ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Denied,
                "no AWS credentials provider is configured; set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            )
        })?;
        Ok(TokenSource {
            region: region.to_string(),
            credentials: provider,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The region tokens are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// A token for `cluster` with more than [`REFRESH_MARGIN`] of life left.
    pub async fn token(&self, cluster: &str) -> Result<EksToken, ProviderError> {
        if let Some(t) = self.cache.lock().expect("token cache").get(cluster)
            && !t.expires_within(REFRESH_MARGIN)
        {
            return Ok(t.clone());
        }
        let creds = self.credentials.provide_credentials().await.map_err(|e| {
            ProviderError::new(
                ErrorKind::Denied,
                format!(
                    "cannot load AWS credentials to sign a token for cluster {cluster}: {e}; \
                     check AWS_PROFILE, `aws sso login`, or the AWS_* variables"
                ),
            )
        })?;
        let token = eks_token(&creds, &self.region, cluster, SystemTime::now())
            .map_err(|e| ProviderError::new(ErrorKind::Other, e.to_string()))?;
        self.cache
            .lock()
            .expect("token cache")
            .insert(cluster.to_string(), token.clone());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;

    #[tokio::test]
    async fn tokens_are_cached_per_cluster() {
        let source = TokenSource::new(
            "us-east-1",
            Credentials::new("AKID", "SECRET", None, None, "t"),
        );
        let a1 = source.token("a").await.unwrap();
        let a2 = source.token("a").await.unwrap();
        let b = source.token("b").await.unwrap();
        assert_eq!(a1.expose(), a2.expose(), "a fresh token is reused");
        assert_ne!(a1.expose(), b.expose(), "each cluster has its own token");
    }

    #[tokio::test]
    async fn a_token_near_expiry_is_renewed() {
        let source = TokenSource::new(
            "us-east-1",
            Credentials::new("AKID", "SECRET", None, None, "t"),
        );
        let old = eks_token(
            &Credentials::new("AKID", "SECRET", None, None, "t"),
            "us-east-1",
            "a",
            SystemTime::now() - Duration::from_secs(13 * 60),
        )
        .unwrap();
        source.cache.lock().unwrap().insert("a".into(), old.clone());
        let fresh = source.token("a").await.unwrap();
        assert_ne!(fresh.expose(), old.expose());
        assert!(!fresh.expires_within(REFRESH_MARGIN));
    }
}
