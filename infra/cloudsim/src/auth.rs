//! EKS bearer-token authentication for the per-cluster Kubernetes APIs.
//!
//! An EKS token is `k8s-aws-v1.` + unpadded base64url of a presigned STS `GetCallerIdentity` URL whose
//! signed headers include `x-k8s-aws-id: <cluster>`. Real EKS forwards the URL to STS; cloudsim has no
//! STS, so it checks the SigV4 signature itself against the credentials it was started with.
//!
//! The verifier recomputes the canonical request from the URL and the signed-header list the token
//! names, rather than re-signing with a signing library: that way any correct signer (aws-sigv4,
//! botocore's `aws eks get-token`) passes, and a signer that canonicalises differently is caught.
//! Only `hmac` + `sha2` are needed for that.
//!
//! Freshness follows EKS (aws-iam-authenticator): a token is accepted for 15 minutes after its
//! `X-Amz-Date`, whatever its `X-Amz-Expires` (clients cache ExecCredentials for ~14 minutes).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::env::Credentials;

/// The prefix every EKS token carries.
pub const TOKEN_PREFIX: &str = "k8s-aws-v1.";
/// How long after `X-Amz-Date` a token is still accepted (EKS uses 15 minutes).
pub const TOKEN_LIFETIME_SECS: i64 = 15 * 60;
/// How far in the future `X-Amz-Date` may be (clock skew between client and cloudsim).
pub const MAX_FUTURE_SKEW_SECS: i64 = 5 * 60;

/// Why a token was refused. Messages never contain the token or the secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error(
        "no bearer token: send `Authorization: Bearer k8s-aws-v1.…` (e.g. from `aws eks get-token`)"
    )]
    Missing,
    #[error(
        "not an EKS token: it must start with `k8s-aws-v1.` followed by a base64url presigned STS URL"
    )]
    Malformed,
    #[error("the presigned URL is not an STS GetCallerIdentity request: {0}")]
    NotGetCallerIdentity(String),
    #[error("the token is missing the query parameter {0}")]
    MissingParam(&'static str),
    #[error("the token is not bound to a cluster: `x-k8s-aws-id` is not among its signed headers")]
    NotBoundToCluster,
    #[error(
        "the token has expired (issued at {issued}; EKS tokens are valid for 15 minutes): get a new one"
    )]
    Expired { issued: String },
    #[error("the token is dated in the future ({issued}): check the clock")]
    FromTheFuture { issued: String },
    #[error("the token was signed with an unknown access key id")]
    UnknownAccessKey,
    #[error(
        "the token's signature does not match (wrong secret key, or a token for another cluster)"
    )]
    BadSignature,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub access_key_id: String,
}

/// Verifies `token` (the bearer value, without `Bearer `) for `cluster` at time `now`.
pub fn verify_token(
    token: &str,
    cluster: &str,
    creds: &Credentials,
    now: jiff::Timestamp,
) -> Result<Identity, AuthError> {
    use base64::Engine as _;
    let encoded = token
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(AuthError::Malformed)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|_| AuthError::Malformed)?;
    let url = String::from_utf8(raw).map_err(|_| AuthError::Malformed)?;
    let presigned = PresignedUrl::parse(&url)?;
    presigned.check_shape()?;

    let amz_date = presigned
        .param("X-Amz-Date")
        .ok_or(AuthError::MissingParam("X-Amz-Date"))?;
    let issued = parse_amz_date(amz_date).ok_or(AuthError::MissingParam("X-Amz-Date"))?;
    let age = now.as_second() - issued.as_second();
    if age > TOKEN_LIFETIME_SECS {
        return Err(AuthError::Expired {
            issued: issued.to_string(),
        });
    }
    if age < -MAX_FUTURE_SKEW_SECS {
        return Err(AuthError::FromTheFuture {
            issued: issued.to_string(),
        });
    }
    presigned
        .param("X-Amz-Expires")
        .ok_or(AuthError::MissingParam("X-Amz-Expires"))?;

    let credential = presigned
        .param("X-Amz-Credential")
        .ok_or(AuthError::MissingParam("X-Amz-Credential"))?;
    // <access key>/<yyyymmdd>/<region>/sts/aws4_request
    let mut parts = credential.splitn(2, '/');
    let access_key = parts.next().unwrap_or_default();
    let scope = parts
        .next()
        .ok_or(AuthError::MissingParam("X-Amz-Credential"))?;
    let scope_parts: Vec<&str> = scope.split('/').collect();
    if scope_parts.len() != 4 || scope_parts[2] != "sts" || scope_parts[3] != "aws4_request" {
        return Err(AuthError::NotGetCallerIdentity(
            "its credential scope is not for STS".into(),
        ));
    }
    if !constant_time_eq(access_key.as_bytes(), creds.access_key_id.as_bytes()) {
        return Err(AuthError::UnknownAccessKey);
    }

    let signed_headers = presigned
        .param("X-Amz-SignedHeaders")
        .ok_or(AuthError::MissingParam("X-Amz-SignedHeaders"))?;
    let header_names: Vec<&str> = signed_headers.split(';').collect();
    if !header_names.contains(&"x-k8s-aws-id") {
        return Err(AuthError::NotBoundToCluster);
    }
    let mut canonical_headers = String::new();
    for name in &header_names {
        let value = match *name {
            "host" => presigned.host.as_str(),
            "x-k8s-aws-id" => cluster,
            // A header we cannot know the value of cannot be verified.
            _ => return Err(AuthError::BadSignature),
        };
        canonical_headers.push_str(name);
        canonical_headers.push(':');
        canonical_headers.push_str(value.trim());
        canonical_headers.push('\n');
    }
    let signature = presigned
        .param("X-Amz-Signature")
        .ok_or(AuthError::MissingParam("X-Amz-Signature"))?;
    let key = signing_key(
        &creds.secret_access_key,
        scope_parts[0],
        scope_parts[1],
        scope_parts[2],
    );

    // Presigners hash an empty body; a few use the literal UNSIGNED-PAYLOAD. Either is a complete
    // canonical request, so accepting both weakens nothing.
    let empty_hash = hex::encode(Sha256::digest(b""));
    for payload_hash in [empty_hash.as_str(), "UNSIGNED-PAYLOAD"] {
        let canonical_request = format!(
            "GET\n{}\n{}\n{}\n{}\n{}",
            presigned.path,
            presigned.canonical_query(),
            canonical_headers,
            signed_headers,
            payload_hash
        );
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical_request.as_bytes()))
        );
        let expected = hex::encode(hmac(&key, string_to_sign.as_bytes()));
        if constant_time_eq(
            expected.as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        ) {
            return Ok(Identity {
                access_key_id: access_key.to_string(),
            });
        }
    }
    Err(AuthError::BadSignature)
}

/// The pieces of a presigned URL the signature covers, with query values percent-decoded.
struct PresignedUrl {
    host: String,
    path: String,
    params: Vec<(String, String)>,
}

impl PresignedUrl {
    fn parse(url: &str) -> Result<Self, AuthError> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| AuthError::NotGetCallerIdentity("it is not an https URL".into()))?;
        let (authority, path_and_query) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut params = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.push((
                percent_decode(k).ok_or(AuthError::Malformed)?,
                percent_decode(v).ok_or(AuthError::Malformed)?,
            ));
        }
        Ok(PresignedUrl {
            host: authority.to_ascii_lowercase(),
            path: path.to_string(),
            params,
        })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn check_shape(&self) -> Result<(), AuthError> {
        let host = self.host.split(':').next().unwrap_or_default();
        let is_sts = host == "sts.amazonaws.com"
            || (host.starts_with("sts.")
                && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")));
        if !is_sts {
            return Err(AuthError::NotGetCallerIdentity(format!(
                "host `{host}` is not an STS endpoint"
            )));
        }
        if self.path != "/" {
            return Err(AuthError::NotGetCallerIdentity(
                "the path must be `/`".into(),
            ));
        }
        if self.param("Action") != Some("GetCallerIdentity") {
            return Err(AuthError::NotGetCallerIdentity(
                "Action is not GetCallerIdentity".into(),
            ));
        }
        if self.param("Version") != Some("2011-06-15") {
            return Err(AuthError::NotGetCallerIdentity(
                "Version is not 2011-06-15".into(),
            ));
        }
        if self.param("X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(AuthError::NotGetCallerIdentity(
                "X-Amz-Algorithm is not AWS4-HMAC-SHA256".into(),
            ));
        }
        Ok(())
    }

    /// Sorted `key=value` pairs, URI-encoded the SigV4 way, without the signature itself.
    fn canonical_query(&self) -> String {
        let mut pairs: Vec<(String, String)> = self
            .params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .map(|(k, v)| (uri_encode(k), uri_encode(v)))
            .collect();
        pairs.sort();
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn parse_amz_date(s: &str) -> Option<jiff::Timestamp> {
    // 20250102T030405Z
    if s.len() != 16 || !s.ends_with('Z') {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    iso.parse().ok()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse_and_reject_garbage() {
        assert_eq!(
            parse_amz_date("20250102T030405Z").unwrap().to_string(),
            "2025-01-02T03:04:05Z"
        );
        assert!(parse_amz_date("2025-01-02").is_none());
    }

    #[test]
    fn uri_encoding_keeps_only_unreserved_characters() {
        assert_eq!(
            uri_encode("AKID/20250101/us-east-1/sts/aws4_request"),
            "AKID%2F20250101%2Fus-east-1%2Fsts%2Faws4_request"
        );
        assert_eq!(uri_encode("a b+c~"), "a%20b%2Bc~");
    }

    #[test]
    fn garbage_is_malformed() {
        let creds = Credentials {
            access_key_id: "AKID".into(),
            secret_access_key: "s".into(),
        };
        let now = jiff::Timestamp::now();
        assert_eq!(
            verify_token("hello", "c", &creds, now),
            Err(AuthError::Malformed)
        );
        assert_eq!(
            verify_token("k8s-aws-v1.!!!", "c", &creds, now),
            Err(AuthError::Malformed)
        );
    }
}
