//! Helm's release storage read straight from the Kubernetes API: every Secret labelled
//! `owner=helm`, in every namespace, page by page ([`ReleaseRecords`] for
//! [`KubeWorkloads`]). Decoding and grouping them into releases is capture's job; this module only
//! moves bytes, so capture and pre-flight work against fakes in tests.

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

use super::workloads::KubeWorkloads;
use crate::providers::{ProviderError, ReleaseRecords, ReleaseSecret};

/// Secrets per list page: large enough for few round trips, small enough for a bounded response.
const PAGE: u32 = 200;

#[async_trait]
impl ReleaseRecords for KubeWorkloads {
    async fn release_secrets(&self, cluster: &str) -> Result<Vec<ReleaseSecret>, ProviderError> {
        let clients = self.clients();
        let api: Api<Secret> = Api::all(clients.client(cluster).await?);
        let mut out = Vec::new();
        let mut params = ListParams::default().labels("owner=helm").limit(PAGE);
        loop {
            let page = api
                .list(&params)
                .await
                .map_err(|e| clients.error(cluster, "list the Helm release Secrets", e))?;
            for s in page.items {
                out.push(ReleaseSecret {
                    namespace: s.metadata.namespace.unwrap_or_default(),
                    name: s.metadata.name.unwrap_or_default(),
                    secret_type: s.type_,
                    labels: s.metadata.labels.unwrap_or_default(),
                    release: s.data.as_ref().and_then(|d| d.get("release")).map(|b| b.0.clone()),
                });
            }
            match page.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
        Ok(out)
    }
}
