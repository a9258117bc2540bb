//! IAM for workload identity ([`WorkloadIam`]): green's OIDC provider, so IRSA roles can trust
//! green's issuer, and the trust policies of those roles.
//!
//! The OIDC provider is created with the run's ownership tags and found again by its URL (IAM
//! keys providers by URL, so a retried create answers `EntityAlreadyExists`); one that exists
//! without our tags is used but never deleted. No thumbprint is sent: IAM fetches the issuer's
//! certificate thumbprint itself (EKS issuers are signed by a public CA IAM trusts).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::errors::{sdk_error, sdk_kind};
use crate::providers::{ErrorKind, OidcProvider, Ownership, ProviderError, WorkloadIam, oidc_issuer_host};

/// The audience of tokens EKS projects into pods for IRSA.
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// IAM through the AWS SDK.
pub struct AwsIam {
    client: aws_sdk_iam::Client,
}

impl AwsIam {
    /// A provider on the shared SDK configuration (IAM is global; the region only signs).
    pub fn new(config: &aws_config::SdkConfig) -> AwsIam {
        AwsIam { client: super::calls::iam_client(config) }
    }

    /// The provider for `issuer` and its tags, if IAM has one.
    async fn find_provider(&self, issuer: &str) -> Result<Option<(String, BTreeMap<String, String>)>, ProviderError> {
        let suffix = format!(":oidc-provider/{}", oidc_issuer_host(issuer));
        let list = self
            .client
            .list_open_id_connect_providers()
            .send()
            .await
            .map_err(|e| sdk_error("list IAM OIDC providers", &e))?;
        let Some(arn) = list
            .open_id_connect_provider_list()
            .iter()
            .filter_map(|p| p.arn())
            .find(|arn| arn.ends_with(&suffix))
            .map(str::to_string)
        else {
            return Ok(None);
        };
        let got = self.client.get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await;
        match got {
            Ok(p) => {
                let tags = p.tags().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect();
                Ok(Some((arn, tags)))
            }
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sdk_error(&format!("read IAM OIDC provider {arn}"), &e)),
        }
    }
}

/// The role name of `arn:aws:iam::<account>:role/<path/>name`.
fn role_name(role_arn: &str) -> Result<&str, ProviderError> {
    role_arn
        .split_once(":role/")
        .and_then(|(_, rest)| rest.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ProviderError::new(ErrorKind::Invalid, format!("{role_arn} is not an IAM role ARN")))
}

/// IAM returns policy documents percent-encoded (RFC 3986).
fn decode_document(text: &str) -> String {
    if text.trim_start().starts_with('{') {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[async_trait]
impl WorkloadIam for AwsIam {
    async fn ensure_oidc_provider(&self, issuer: &str, own: &Ownership) -> Result<OidcProvider, ProviderError> {
        if let Some((arn, tags)) = self.find_provider(issuer).await? {
            return Ok(OidcProvider { ours: own.owns(&tags), arn });
        }
        let tags: Vec<aws_sdk_iam::types::Tag> = own
            .tags()
            .into_iter()
            .map(|(k, v)| aws_sdk_iam::types::Tag::builder().key(k).value(v).build().expect("key and value are set"))
            .collect();
        let created = self
            .client
            .create_open_id_connect_provider()
            .url(issuer)
            .client_id_list(STS_AUDIENCE)
            .set_tags(Some(tags))
            .send()
            .await;
        match created {
            Ok(out) => Ok(OidcProvider { arn: out.open_id_connect_provider_arn().unwrap_or_default().to_string(), ours: true }),
            // Made meanwhile (a lost answer to our own create, or someone else): look again.
            Err(e) if sdk_kind(&e) == ErrorKind::Conflict => match self.find_provider(issuer).await? {
                Some((arn, tags)) => Ok(OidcProvider { ours: own.owns(&tags), arn }),
                None => Err(sdk_error(&format!("create the IAM OIDC provider for {issuer}"), &e)),
            },
            Err(e) => Err(sdk_error(&format!("create the IAM OIDC provider for {issuer}"), &e)),
        }
    }

    async fn delete_oidc_provider(&self, issuer: &str, own: &Ownership) -> Result<(), ProviderError> {
        let Some((arn, tags)) = self.find_provider(issuer).await? else {
            return Ok(());
        };
        if !own.owns(&tags) {
            tracing::warn!(provider = %arn, "the IAM OIDC provider was not made by this run; left alone");
            return Ok(());
        }
        match self.client.delete_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await {
            Ok(_) => Ok(()),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(sdk_error(&format!("delete IAM OIDC provider {arn}"), &e)),
        }
    }

    async fn trust_policy(&self, role_arn: &str) -> Result<Option<String>, ProviderError> {
        let name = role_name(role_arn)?;
        match self.client.get_role().role_name(name).send().await {
            Ok(out) => Ok(out.role().map(|r| decode_document(r.assume_role_policy_document().unwrap_or_default()))),
            Err(e) if sdk_kind(&e) == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sdk_error(&format!("read role {role_arn}"), &e)),
        }
    }

    async fn set_trust_policy(&self, role_arn: &str, document: &str) -> Result<(), ProviderError> {
        let name = role_name(role_arn)?;
        self.client
            .update_assume_role_policy()
            .role_name(name)
            .policy_document(document)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(&format!("update the trust policy of role {role_arn}"), &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_decoded_as_iam_encodes_them() {
        assert_eq!(decode_document("%7B%22a%22%3A%201%7D"), r#"{"a": 1}"#);
        assert_eq!(decode_document(r#"{"a": "100%"}"#), r#"{"a": "100%"}"#);
        assert_eq!(decode_document("%7B%2"), "{%2");
    }

    #[test]
    fn role_names_drop_the_path() {
        assert_eq!(role_name("arn:aws:iam::111122223333:role/irsa/payments-api").unwrap(), "payments-api");
        assert_eq!(role_name("arn:aws:iam::111122223333:role/app").unwrap(), "app");
        assert!(role_name("arn:aws:iam::111122223333:user/app").is_err());
    }
}
