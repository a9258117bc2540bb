//! The cluster API accepts only valid EKS tokens for this cluster: missing, garbage, expired,
//! other-cluster and wrongly-signed tokens get 401.

use std::time::{Duration, SystemTime};

use crate::kube_support::*;

async fn status_of(kc: &cloudsim::kube::KubeCluster, token: Option<String>) -> Result<(), u16> {
    let client = client_with_token(kc, token).await;
    match client.apiserver_version().await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) => Err(e.code),
        Err(other) => panic!("unexpected client error: {other}"),
    }
}

#[tokio::test]
async fn only_valid_tokens_for_this_cluster_are_accepted() {
    let env = env(None);
    let kc = cluster("auth-c1", &env).await;

    assert_eq!(status_of(&kc, Some(token("auth-c1"))).await, Ok(()));
    // aws eks get-token output stays valid for 15 minutes, whatever X-Amz-Expires says.
    let ten_minutes_ago = SystemTime::now() - Duration::from_secs(600);
    assert_eq!(
        status_of(
            &kc,
            Some(token_with("auth-c1", SECRET_KEY, ten_minutes_ago))
        )
        .await,
        Ok(())
    );

    assert_eq!(status_of(&kc, None).await, Err(401), "missing token");
    assert_eq!(
        status_of(&kc, Some("garbage".into())).await,
        Err(401),
        "garbage"
    );
    assert_eq!(
        status_of(&kc, Some("k8s-aws-v1.bm90LWEtdXJs".into())).await,
        Err(401),
        "not a presigned URL"
    );
    let old = SystemTime::now() - Duration::from_secs(16 * 60);
    assert_eq!(
        status_of(&kc, Some(token_with("auth-c1", SECRET_KEY, old))).await,
        Err(401),
        "expired"
    );
    assert_eq!(
        status_of(&kc, Some(token("another-cluster"))).await,
        Err(401),
        "wrong cluster"
    );
    assert_eq!(
        status_of(
            &kc,
            Some(token_with("auth-c1", "not-the-secret", SystemTime::now()))
        )
        .await,
        Err(401),
        "bad signature"
    );
    let valid = token("auth-c1");
    let tampered = format!("{}A", &valid[..valid.len() - 1]);
    assert_eq!(status_of(&kc, Some(tampered)).await, Err(401), "tampered");
    kc.shutdown().await;
}

#[test]
fn verifier_explains_each_refusal_without_echoing_secrets() {
    use cloudsim::auth::{AuthError, verify_token};
    use cloudsim::env::Credentials;
    let creds = Credentials {
        access_key_id: ACCESS_KEY.into(),
        secret_access_key: SECRET_KEY.into(),
    };
    let now = jiff::Timestamp::now();
    let ok = verify_token(&token("c"), "c", &creds, now).unwrap();
    assert_eq!(ok.access_key_id, ACCESS_KEY);
    assert_eq!(
        verify_token(&token("other"), "c", &creds, now),
        Err(AuthError::BadSignature)
    );
    let expired = verify_token(
        &token_with(
            "c",
            SECRET_KEY,
            SystemTime::now() - Duration::from_secs(3600),
        ),
        "c",
        &creds,
        now,
    )
    .unwrap_err();
    assert!(matches!(expired, AuthError::Expired { .. }));
    let other_key = Credentials {
        access_key_id: "AKIDSOMEONEELSE".into(),
        secret_access_key: SECRET_KEY.into(),
    };
    assert_eq!(
        verify_token(&token("c"), "c", &other_key, now),
        Err(AuthError::UnknownAccessKey)
    );
    for e in [
        AuthError::BadSignature,
        expired,
        AuthError::UnknownAccessKey,
    ] {
        assert!(
            !e.to_string().contains(SECRET_KEY) && !e.to_string().contains("k8s-aws-v1."),
            "{e}"
        );
    }
}
