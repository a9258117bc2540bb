//! Each cluster's OIDC issuer (what IRSA trust policies name): `https://oidc.eks.<region>.
//! amazonaws.com/id/<32 uppercase hex>`, different for every cluster (a cluster recreated under
//! the same name gets a new one, as in EKS) and the same after a restart.

use std::collections::BTreeSet;

use crate::support::*;

async fn issuer(eks: &aws_sdk_eks::Client, name: &str) -> String {
    let c = eks
        .describe_cluster()
        .name(name)
        .send()
        .await
        .unwrap()
        .cluster
        .unwrap();
    c.identity()
        .unwrap()
        .oidc()
        .unwrap()
        .issuer()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn every_cluster_has_its_own_issuer_which_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_with(1000.0, Some(dir.path())).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;
    active_cluster(&eks, "green", "1.33").await;
    let blue = issuer(&eks, "blue").await;
    let green = issuer(&eks, "green").await;
    for i in [&blue, &green] {
        let id = i
            .strip_prefix("https://oidc.eks.us-east-1.amazonaws.com/id/")
            .unwrap_or_else(|| panic!("{i}"));
        assert!(
            id.len() == 32
                && id
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c)),
            "{id}"
        );
    }
    assert_ne!(blue, green);
    server.shutdown().await;

    let (server, _) = start_with(1000.0, Some(dir.path())).await;
    let eks = eks_client(&server.url());
    assert_eq!(
        issuer(&eks, "blue").await,
        blue,
        "the same issuer after a restart"
    );
    eks.delete_cluster().name("blue").send().await.unwrap();
    eventually(
        "blue gone",
        std::time::Duration::from_secs(10),
        async || {
            eks.describe_cluster()
                .name("blue")
                .send()
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    active_cluster(&eks, "blue", "1.32").await;
    let seen: BTreeSet<String> = [blue, green, issuer(&eks, "blue").await].into();
    assert_eq!(seen.len(), 3, "a recreated cluster gets a new issuer");
    server.shutdown().await;
}
