//! One kube-rs client per cluster, cached and rebuilt before its bearer token expires, plus the
//! mapping of Kubernetes API errors onto [`ProviderError`] kinds (which decide retrying).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use super::access::{ClusterDirectory, ClusterEndpoint, REFRESH_MARGIN, TokenSource};
use crate::providers::{ErrorKind, ProviderError};

/// Longest a single API request may wait for an answer (no call here watches).
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

struct Cached {
    client: kube::Client,
    expires_at: SystemTime,
}

/// Clients for every cluster a run touches (green, blue, a drill's rebuild).
pub struct KubeClients {
    directory: Arc<dyn ClusterDirectory>,
    tokens: Arc<TokenSource>,
    endpoints: Mutex<HashMap<String, ClusterEndpoint>>,
    cache: Mutex<HashMap<String, Cached>>,
}

impl KubeClients {
    /// Clients that find clusters through `directory` and authenticate with `tokens`.
    pub fn new(directory: Arc<dyn ClusterDirectory>, tokens: Arc<TokenSource>) -> Self {
        KubeClients {
            directory,
            tokens,
            endpoints: Mutex::new(HashMap::new()),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Clusters found through EKS DescribeCluster, tokens signed with the SDK's credentials.
    pub fn for_aws(config: &aws_config::SdkConfig, region: &str) -> Result<Self, ProviderError> {
        Ok(KubeClients::new(
            Arc::new(crate::providers::aws::eks::EksClusters::new(config, &crate::plan::Timeouts::default())),
            Arc::new(TokenSource::from_sdk(config, region)?),
        ))
    }

    /// The EKS token source the clients authenticate with.
    pub fn tokens(&self) -> &Arc<TokenSource> {
        &self.tokens
    }

    /// The cluster's endpoint (looked up once, until [`KubeClients::forget`]).
    pub async fn endpoint(&self, cluster: &str) -> Result<ClusterEndpoint, ProviderError> {
        if let Some(e) = self.endpoints.lock().expect("endpoint cache").get(cluster) {
            return Ok(e.clone());
        }
        let endpoint = self.directory.access(cluster).await?;
        self.endpoints
            .lock()
            .expect("endpoint cache")
            .insert(cluster.to_string(), endpoint.clone());
        Ok(endpoint)
    }

    /// A client whose token has more than the refresh margin left.
    pub async fn client(&self, cluster: &str) -> Result<kube::Client, ProviderError> {
        if let Some(c) = self.cache.lock().expect("client cache").get(cluster)
            && SystemTime::now() + REFRESH_MARGIN < c.expires_at
        {
            return Ok(c.client.clone());
        }
        let endpoint = self.endpoint(cluster).await?;
        let token = self.tokens.token(cluster).await?;
        let client = build(cluster, &endpoint, token.expose())?;
        self.cache.lock().expect("client cache").insert(
            cluster.to_string(),
            Cached {
                client: client.clone(),
                expires_at: token.expires_at,
            },
        );
        Ok(client)
    }

    /// Drops what is cached for `cluster` (it was deleted and may come back at a new endpoint).
    pub fn forget(&self, cluster: &str) {
        self.cache.lock().expect("client cache").remove(cluster);
        self.endpoints
            .lock()
            .expect("endpoint cache")
            .remove(cluster);
    }

    /// Maps an API error and forgets the cluster's client when the server could not be reached,
    /// so the next call looks the endpoint up again.
    pub fn error(&self, cluster: &str, what: &str, e: kube::Error) -> ProviderError {
        let err = api_error(cluster, what, e);
        if err.kind == ErrorKind::Unavailable {
            self.forget(cluster);
        }
        err
    }
}

fn build(
    cluster: &str,
    endpoint: &ClusterEndpoint,
    token: &str,
) -> Result<kube::Client, ProviderError> {
    let invalid = |msg: String| ProviderError::new(ErrorKind::Invalid, msg);
    let url = endpoint.server.parse().map_err(|e| {
        invalid(format!(
            "cluster {cluster}: API endpoint {:?} is not a URL: {e}",
            endpoint.server
        ))
    })?;
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&endpoint.ca_pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(format!("cluster {cluster}: the CA bundle is not PEM: {e}")))?;
    if roots.is_empty() {
        return Err(invalid(format!(
            "cluster {cluster}: the CA bundle holds no certificate"
        )));
    }
    let mut config = kube::Config::new(url);
    config.root_cert = Some(roots);
    config.auth_info.token = Some(token.to_string().into());
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(READ_TIMEOUT);
    config.default_namespace = "default".into();
    kube::Client::try_from(config).map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("cluster {cluster}: cannot build a Kubernetes client: {e}"),
        )
    })
}

/// What a failed Kubernetes call means for retrying. Messages name the call and the cluster, and
/// never the token (kube-rs does not put it in errors).
pub fn api_error(cluster: &str, what: &str, e: kube::Error) -> ProviderError {
    match e {
        kube::Error::Api(status) => {
            let kind = match status.code {
                401 | 403 => ErrorKind::Denied,
                404 => ErrorKind::NotFound,
                409 => ErrorKind::Conflict,
                429 => ErrorKind::Throttled,
                400 | 422 => ErrorKind::Invalid,
                504 => ErrorKind::Timeout,
                500..=599 => ErrorKind::Unavailable,
                _ => ErrorKind::Other,
            };
            let hint = match status.code {
                401 => {
                    ": the EKS token was refused (check the AWS credentials and the cluster's access entries)"
                }
                403 => {
                    ": the caller's identity lacks permission (check its access entry and policies)"
                }
                _ => "",
            };
            ProviderError::new(
                kind,
                format!(
                    "{what} on cluster {cluster}: {} ({}){hint}",
                    status.message, status.code
                ),
            )
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) => ProviderError::new(
            ErrorKind::Unavailable,
            format!("{what} on cluster {cluster}: the API server could not be reached: {e}"),
        ),
        other => ProviderError::new(
            ErrorKind::Other,
            format!("{what} on cluster {cluster}: {other}"),
        ),
    }
}
