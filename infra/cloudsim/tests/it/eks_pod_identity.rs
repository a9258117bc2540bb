//! Pod Identity associations through aws-sdk-eks: create (idempotent by clientRequestToken, one
//! per namespace + service account), describe, list with filters and paging, update, tags on the
//! association's ARN, delete; they survive a restart and go with their cluster, which they do not
//! hold up.

use crate::support::*;

const ROLE: &str = "arn:aws:iam::111122223333:role/payments-api";

fn associate(
    eks: &aws_sdk_eks::Client,
    cluster: &str,
    namespace: &str,
    service_account: &str,
) -> aws_sdk_eks::operation::create_pod_identity_association::builders::CreatePodIdentityAssociationFluentBuilder{
    eks.create_pod_identity_association()
        .cluster_name(cluster)
        .namespace(namespace)
        .service_account(service_account)
        .role_arn(ROLE)
}

async fn listed(
    eks: &aws_sdk_eks::Client,
    namespace: Option<&str>,
    service_account: Option<&str>,
) -> Vec<String> {
    let out = eks
        .list_pod_identity_associations()
        .cluster_name("blue")
        .set_namespace(namespace.map(str::to_string))
        .set_service_account(service_account.map(str::to_string))
        .send()
        .await
        .unwrap();
    let mut sas: Vec<String> = out
        .associations()
        .iter()
        .map(|a| {
            format!(
                "{}/{}",
                a.namespace().unwrap(),
                a.service_account().unwrap()
            )
        })
        .collect();
    sas.sort();
    sas
}

#[tokio::test]
async fn associations_are_created_once_listed_updated_tagged_and_deleted() {
    let (server, _) = start(1000.0).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;

    let created = associate(&eks, "blue", "payments", "api")
        .client_request_token("tok-1")
        .tags("cutover.dev/run-id", "r1")
        .send()
        .await
        .unwrap()
        .association
        .unwrap();
    let id = created.association_id().unwrap().to_string();
    assert!(
        id.len() == 19
            && id.starts_with("a-")
            && id[2..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
        "{id}"
    );
    let arn = created.association_arn().unwrap().to_string();
    assert_eq!(
        arn,
        format!("arn:aws:eks:us-east-1:000000000000:podidentityassociation/blue/{id}")
    );
    assert_eq!(created.cluster_name(), Some("blue"));
    assert_eq!(created.role_arn(), Some(ROLE));
    assert!(created.created_at().is_some() && created.modified_at().is_some());
    assert_eq!(created.owner_arn(), None, "not owned by an add-on");
    assert_eq!(created.disable_session_tags(), Some(false));

    let again = associate(&eks, "blue", "payments", "api")
        .client_request_token("tok-1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.association().unwrap().association_id(),
        Some(id.as_str()),
        "same token: the same one"
    );
    let err = associate(&eks, "blue", "payments", "api")
        .client_request_token("tok-2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceInUseException");

    associate(&eks, "blue", "payments", "worker")
        .send()
        .await
        .unwrap();
    associate(&eks, "blue", "ingress", "api")
        .send()
        .await
        .unwrap();
    assert_eq!(
        listed(&eks, None, None).await,
        ["ingress/api", "payments/api", "payments/worker"]
    );
    assert_eq!(
        listed(&eks, Some("payments"), None).await,
        ["payments/api", "payments/worker"]
    );
    assert_eq!(
        listed(&eks, None, Some("api")).await,
        ["ingress/api", "payments/api"]
    );
    let first = eks
        .list_pod_identity_associations()
        .cluster_name("blue")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.associations().len(), 2);
    let rest = eks
        .list_pod_identity_associations()
        .cluster_name("blue")
        .max_results(2)
        .next_token(first.next_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.associations().len(), 1);

    let updated = eks
        .update_pod_identity_association()
        .cluster_name("blue")
        .association_id(&id)
        .role_arn("arn:aws:iam::111122223333:role/payments-api-v2")
        .send()
        .await
        .unwrap()
        .association
        .unwrap();
    assert_eq!(
        updated.role_arn(),
        Some("arn:aws:iam::111122223333:role/payments-api-v2")
    );
    assert!(updated.modified_at().unwrap() >= created.modified_at().unwrap());
    let described = eks
        .describe_pod_identity_association()
        .cluster_name("blue")
        .association_id(&id)
        .send()
        .await
        .unwrap()
        .association
        .unwrap();
    assert_eq!(described.role_arn(), updated.role_arn());

    eks.tag_resource()
        .resource_arn(&arn)
        .tags("team", "payments")
        .send()
        .await
        .unwrap();
    let tags = eks
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags = tags.tags().unwrap();
    assert_eq!(
        (tags.get("team"), tags.len()),
        (Some(&"payments".to_string()), 2)
    );

    eks.delete_pod_identity_association()
        .cluster_name("blue")
        .association_id(&id)
        .send()
        .await
        .unwrap();
    let err = eks
        .describe_pod_identity_association()
        .cluster_name("blue")
        .association_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = eks
        .list_pod_identity_associations()
        .cluster_name("ghost")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = associate(&eks, "blue", "payments", "api")
        .role_arn("not-an-arn")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&err), "InvalidParameterException");
    server.shutdown().await;
}

#[tokio::test]
async fn associations_survive_a_restart_and_go_with_their_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let (server, _) = start_with(1000.0, Some(dir.path())).await;
    let eks = eks_client(&server.url());
    active_cluster(&eks, "blue", "1.32").await;
    let created = associate(&eks, "blue", "payments", "api")
        .send()
        .await
        .unwrap();
    let id = created
        .association()
        .unwrap()
        .association_id()
        .unwrap()
        .to_string();
    server.shutdown().await;

    let (server, _) = start_with(1000.0, Some(dir.path())).await;
    let eks = eks_client(&server.url());
    let kept = eks
        .describe_pod_identity_association()
        .cluster_name("blue")
        .association_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(kept.association().unwrap().namespace(), Some("payments"));

    eks.delete_cluster()
        .name("blue")
        .send()
        .await
        .expect("associations do not hold the deletion up");
    eventually(
        "cluster gone",
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
    assert!(
        listed(&eks, None, None).await.is_empty(),
        "a new cluster of the same name starts with none"
    );
    server.shutdown().await;
}
