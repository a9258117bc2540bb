//! Where an EKS cluster's API is: the one describe-for-access ([`ClusterDirectory`] for
//! [`EksClusters`]), on the same DescribeCluster and the same AWS error table ([`super::errors`])
//! as everything else EKS, so kube clients, helm's kubeconfigs and `cutover kubeconfig` agree.

use async_trait::async_trait;
use base64::Engine as _;

use super::eks::EksClusters;
use crate::providers::kube::{ClusterDirectory, ClusterEndpoint};
use crate::providers::{ErrorKind, ProviderError};

#[async_trait]
impl ClusterDirectory for EksClusters {
    async fn access(&self, cluster: &str) -> Result<ClusterEndpoint, ProviderError> {
        let Some(described) = self.describe(cluster).await? else {
            return Err(ProviderError::new(ErrorKind::NotFound, format!("cluster {cluster} does not exist in EKS")));
        };
        let (Some(server), Some(ca)) =
            (described.endpoint(), described.certificate_authority().and_then(|c| c.data()))
        else {
            return Err(ProviderError::new(
                ErrorKind::Conflict,
                format!(
                    "cluster {cluster} has no API endpoint yet (status {:?}); it must be ACTIVE first",
                    described.status()
                ),
            ));
        };
        let ca_pem = base64::engine::general_purpose::STANDARD.decode(ca.trim()).map_err(|e| {
            ProviderError::new(
                ErrorKind::Other,
                format!("cluster {cluster}: the certificate authority data is not base64: {e}"),
            )
        })?;
        Ok(ClusterEndpoint { server: server.to_string(), ca_pem })
    }
}
