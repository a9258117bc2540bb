//! The fake's workload identity: Pod Identity associations per cluster, IAM OIDC providers by
//! issuer, and IAM roles' trust policies (stored byte for byte, as IAM keeps them).

use std::collections::BTreeMap;

use async_trait::async_trait;
use cutover::plan::PodIdentity;
use cutover::providers::{
    ErrorKind, OidcProvider, Ownership, PodIdentities, PodIdentityInfo, ProviderError, WorkloadIam,
};

use super::World;

/// What the fake IAM and EKS hold of workload identity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityWorld {
    /// (cluster, `namespace/service account`) → (role, tags).
    pub associations: BTreeMap<(String, String), (String, BTreeMap<String, String>)>,
    /// Issuer URL → the provider's tags.
    pub oidc_providers: BTreeMap<String, BTreeMap<String, String>>,
    /// Role ARN → trust policy document.
    pub roles: BTreeMap<String, String>,
}

/// The issuer the fake gives a cluster.
pub fn issuer_of(cluster: &str) -> String {
    format!("https://oidc.eks.us-east-1.amazonaws.com/id/{}", cluster.to_uppercase().replace('-', ""))
}

#[async_trait]
impl PodIdentities for World {
    async fn ensure_pod_identity(
        &self,
        cluster: &str,
        identity: &PodIdentity,
        own: &Ownership,
        _token: &str,
    ) -> Result<PodIdentityInfo, ProviderError> {
        self.enter("ensure_pod_identity", cluster).await?;
        let key = (cluster.to_string(), format!("{}/{}", identity.namespace, identity.service_account));
        let mut w = self.lock();
        let (role, tags) = match w.identity.associations.get(&key) {
            Some((role, tags)) if own.owns(tags) => (role.clone(), tags.clone()),
            Some(_) => return Err(ProviderError::new(ErrorKind::Conflict, format!("{} has an association", key.1))),
            None => {
                let entry = (identity.role_arn.clone(), own.tags().into_iter().collect::<BTreeMap<_, _>>());
                w.identity.associations.insert(key.clone(), entry.clone());
                World::effect_happened(&mut w, format!("associate {} on {cluster}", key.1));
                entry
            }
        };
        Ok(PodIdentityInfo {
            id: format!("a-{}", key.1.replace('/', "-")),
            namespace: identity.namespace.clone(),
            service_account: identity.service_account.clone(),
            role_arn: role,
            tags,
            owner_arn: None,
        })
    }

    async fn delete_pod_identity(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
        own: &Ownership,
    ) -> Result<(), ProviderError> {
        self.enter("delete_pod_identity", cluster).await?;
        let key = (cluster.to_string(), format!("{namespace}/{service_account}"));
        let mut w = self.lock();
        if w.identity.associations.get(&key).is_some_and(|(_, tags)| own.owns(tags)) {
            w.identity.associations.remove(&key);
            World::effect_happened(&mut w, format!("delete association {} on {cluster}", key.1));
        }
        Ok(())
    }

    async fn pod_identities(&self, cluster: &str) -> Result<Vec<PodIdentityInfo>, ProviderError> {
        self.enter("pod_identities", cluster).await?;
        Ok(self
            .lock()
            .identity
            .associations
            .iter()
            .filter(|((c, _), _)| c == cluster)
            .map(|((_, sa), (role, tags))| {
                let (ns, name) = sa.split_once('/').expect("namespace/name");
                PodIdentityInfo {
                    id: format!("a-{ns}-{name}"),
                    namespace: ns.into(),
                    service_account: name.into(),
                    role_arn: role.clone(),
                    tags: tags.clone(),
                    owner_arn: None,
                }
            })
            .collect())
    }
}

#[async_trait]
impl WorkloadIam for World {
    async fn ensure_oidc_provider(&self, issuer: &str, own: &Ownership) -> Result<OidcProvider, ProviderError> {
        self.enter("ensure_oidc_provider", issuer).await?;
        let arn = format!("arn:aws:iam::111122223333:oidc-provider/{}", issuer.trim_start_matches("https://"));
        let mut w = self.lock();
        if let Some(tags) = w.identity.oidc_providers.get(issuer) {
            return Ok(OidcProvider { ours: own.owns(tags), arn });
        }
        w.identity.oidc_providers.insert(issuer.into(), own.tags().into_iter().collect());
        World::effect_happened(&mut w, format!("create OIDC provider {issuer}"));
        Ok(OidcProvider { arn, ours: true })
    }

    async fn delete_oidc_provider(&self, issuer: &str, own: &Ownership) -> Result<(), ProviderError> {
        self.enter("delete_oidc_provider", issuer).await?;
        let mut w = self.lock();
        if w.identity.oidc_providers.get(issuer).is_some_and(|tags| own.owns(tags)) {
            w.identity.oidc_providers.remove(issuer);
            World::effect_happened(&mut w, format!("delete OIDC provider {issuer}"));
        }
        Ok(())
    }

    async fn trust_policy(&self, role_arn: &str) -> Result<Option<String>, ProviderError> {
        self.enter("trust_policy", role_arn).await?;
        Ok(self.lock().identity.roles.get(role_arn).cloned())
    }

    async fn set_trust_policy(&self, role_arn: &str, document: &str) -> Result<(), ProviderError> {
        self.enter("set_trust_policy", role_arn).await?;
        let mut w = self.lock();
        match w.identity.roles.get_mut(role_arn) {
            Some(doc) => *doc = document.to_string(),
            None => return Err(ProviderError::new(ErrorKind::NotFound, format!("role {role_arn}"))),
        }
        World::effect_happened(&mut w, format!("set trust policy {role_arn}"));
        Ok(())
    }
}
