//! EKS bearer tokens, made the way `aws eks get-token` makes them: a presigned STS
//! `GetCallerIdentity` URL whose signed headers bind it to one cluster (`x-k8s-aws-id`), wrapped as
//! `k8s-aws-v1.` + unpadded URL-safe base64. The API server's authenticator replays the URL to STS.
//!
//! Tokens carry the caller's identity, so they are secrets: this module hands them out inside
//! [`EksToken`], whose `Debug` never shows the value, and nothing here logs them.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine as _;

/// How long the presigned URL is valid for STS (what `aws eks get-token` uses).
const PRESIGN_EXPIRY: Duration = Duration::from_secs(60);
/// EKS accepts a token for 15 minutes after signing; clients are told 14 so they refresh early.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(14 * 60);
const TOKEN_PREFIX: &str = "k8s-aws-v1.";
const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// A presigned EKS bearer token; its `Debug` never shows the value.
#[derive(Clone)]
pub struct EksToken {
    value: String,
    /// When clients must stop using it (signing time + [`TOKEN_LIFETIME`]).
    pub expires_at: SystemTime,
}

impl EksToken {
    /// The bearer token. Callers put it in an Authorization header or an ExecCredential, nowhere else.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// True when less than `margin` of its lifetime is left, so a long run refreshes before expiry.
    pub fn expires_within(&self, margin: Duration) -> bool {
        SystemTime::now() + margin >= self.expires_at
    }
}

impl std::fmt::Debug for EksToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksToken").field("value", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}

/// Why an EKS token could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Signing the STS request failed.
    #[error("cannot sign the EKS token request: {0}")]
    Sign(String),
}

/// Presigns a token for `cluster` with `credentials` at `now`.
pub fn eks_token(credentials: &Credentials, region: &str, cluster: &str, now: SystemTime) -> Result<EksToken, TokenError> {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(PRESIGN_EXPIRY);
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| TokenError::Sign(e.to_string()))?
        .into();
    let base = format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let request = SignableRequest::new("GET", &base, std::iter::once((CLUSTER_ID_HEADER, cluster)), SignableBody::Bytes(&[]))
        .map_err(|e| TokenError::Sign(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params).map_err(|e| TokenError::Sign(e.to_string()))?.into_parts();
    let mut url = base;
    for (name, value) in instructions.params() {
        url.push('&');
        url.push_str(name);
        url.push('=');
        url.push_str(&percent_encode(value));
    }
    let value = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url));
    Ok(EksToken { value, expires_at: now + TOKEN_LIFETIME })
}

/// RFC 3986 unreserved characters stay; everything else is %-encoded (what SigV4 canonicalises to).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Credentials {
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "test")
    }

    fn decode(token: &EksToken) -> String {
        let b64 = token.expose().strip_prefix(TOKEN_PREFIX).expect("token prefix");
        String::from_utf8(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()
    }

    #[test]
    fn token_is_a_presigned_get_caller_identity_bound_to_the_cluster() {
        let token = eks_token(&creds(), "us-east-1", "payments-1-32", SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)).unwrap();
        let url = decode(&token);
        assert!(url.starts_with("https://sts.us-east-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"), "{url}");
        assert!(url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"), "{url}");
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=host%3Bx-k8s-aws-id"), "{url}");
        assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fsts%2Faws4_request"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(!token.expose().contains('='), "base64 padding must be stripped");
    }

    #[test]
    fn tokens_for_different_clusters_differ_and_debug_hides_the_value() {
        let now = SystemTime::now();
        let a = eks_token(&creds(), "us-east-1", "a", now).unwrap();
        let b = eks_token(&creds(), "us-east-1", "b", now).unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(!format!("{a:?}").contains(a.expose()));
        assert!(!a.expires_within(Duration::from_secs(60)));
        assert!(a.expires_within(TOKEN_LIFETIME));
    }
}
