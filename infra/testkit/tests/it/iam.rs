//! infra/iam's operator policy, with its placeholders filled in, is a policy document that moto's
//! IAM validator accepts, and every placeholder the README tells people to replace is the only
//! kind of placeholder in it.

use std::path::Path;

use testkit::moto::Moto;
use testkit::net::{HttpResponse, http_with_headers, percent_encode};

const PLACEHOLDERS: [(&str, &str); 7] = [
    ("ACCOUNT_ID", "111122223333"),
    ("REGION", "us-east-1"),
    ("CLUSTER_ROLE_NAME", "eks-cluster"),
    ("NODE_ROLE_NAME", "eks-node"),
    ("HOSTED_ZONE_ID", "Z0123456789"),
    ("STATE_BUCKET", "acme-cutover-state"),
    ("STATE_PREFIX", "payments-prod"),
];

fn iam_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../iam")
}

fn rendered_policy() -> String {
    let mut policy =
        std::fs::read_to_string(iam_dir().join("cutover-operator-policy.json")).unwrap();
    for (placeholder, value) in PLACEHOLDERS {
        policy = policy.replace(placeholder, value);
    }
    policy
}

#[test]
fn the_readme_names_every_placeholder_and_rendering_leaves_none() {
    let readme = std::fs::read_to_string(iam_dir().join("README.md")).unwrap();
    for (placeholder, _) in PLACEHOLDERS {
        assert!(
            readme.contains(placeholder),
            "README.md must say how to replace {placeholder}"
        );
    }
    let policy = rendered_policy();
    let leftover: Vec<&str> = policy
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .filter(|word| word.len() >= 6 && word.contains('_'))
        .collect();
    assert!(leftover.is_empty(), "unreplaced placeholders: {leftover:?}");
}

/// IAM `CreatePolicy` against moto, as a signed-looking form POST.
fn create_policy(moto: &Moto, name: &str, document: &str) -> HttpResponse {
    let body = format!(
        "Action=CreatePolicy&Version=2010-05-08&PolicyName={name}&PolicyDocument={}",
        percent_encode(document)
    );
    // moto routes by the credential scope of the (unverified) signature.
    let authorization = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
                         SignedHeaders=host, Signature=0";
    http_with_headers(
        "POST",
        &format!("{}/", moto.endpoint()),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Authorization", authorization),
        ],
        body.as_bytes(),
    )
    .unwrap()
}

#[test]
fn moto_accepts_the_rendered_operator_policy() {
    let moto = Moto::start();
    let response = create_policy(&moto, "cutover-operator", &rendered_policy());
    assert_eq!(
        response.status,
        200,
        "moto rejected the policy:\n{}",
        response.text()
    );
    assert!(
        response
            .text()
            .contains("<PolicyName>cutover-operator</PolicyName>"),
        "{}",
        response.text()
    );

    // The validator is real: a malformed action is refused.
    let broken = rendered_policy().replace("\"sts:GetCallerIdentity\"", "\"GetCallerIdentity\"");
    let response = create_policy(&moto, "broken", &broken);
    assert_eq!(response.status, 400, "{}", response.text());
    assert!(
        response.text().contains("MalformedPolicyDocument"),
        "{}",
        response.text()
    );
}
