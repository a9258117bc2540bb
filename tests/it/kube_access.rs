//! Cluster access through EKS: the directory reads endpoint and CA from DescribeCluster (moto's
//! EKS) and says plainly when a cluster does not exist.

use crate::kube_support;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use cutover::providers::ErrorKind;
use cutover::providers::aws::eks::EksClusters;
use cutover::providers::kube::{ClusterDirectory, KubeClients, TokenSource};
use testkit::moto::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eks_directory_describes_clusters_and_names_missing_ones() {
    let moto = Moto::start();
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .region(Region::new(kube_support::REGION))
        .endpoint_url(moto.endpoint())
        .credentials_provider(Credentials::new(
            "AKIDMOTO",
            "moto-secret",
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let eks = aws_sdk_eks::Client::new(&config);
    eks.create_cluster()
        .name("green")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .build(),
        )
        .send()
        .await
        .expect("moto creates the cluster");
    let directory: Arc<dyn ClusterDirectory> = Arc::new(EksClusters::new(&config, &cutover::plan::Timeouts::default()));

    let missing = directory.access("nope").await.unwrap_err();
    assert_eq!(missing.kind, ErrorKind::NotFound);
    assert_eq!(missing.message, "cluster nope does not exist in EKS");

    let described = eks.describe_cluster().name("green").send().await.unwrap();
    let cluster = described.cluster().unwrap();
    let found = directory
        .access("green")
        .await
        .expect("the cluster is described");
    assert_eq!(Some(found.server.as_str()), cluster.endpoint());
    // moto's CA data is base64 of random bytes: decoded, not interpreted (the client build checks PEM).
    assert!(!found.ca_pem.is_empty());

    // A client is only built on a CA that is PEM; garbage is refused, not trusted.
    let clients = KubeClients::new(
        directory,
        Arc::new(TokenSource::new(
            kube_support::REGION,
            Credentials::new("AKIDMOTO", "moto-secret", None, None, "test"),
        )),
    );
    let Err(refused) = clients.client("green").await else {
        panic!("a client was built on moto's random CA data")
    };
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert!(
        refused.message.starts_with("cluster green: the CA bundle"),
        "{}",
        refused.message
    );
}
