//! infra/iam's operator policy, with its placeholders filled in, is a policy document that moto's
//! IAM validator accepts, every placeholder the README tells people to replace is the only kind of
//! placeholder in it, and it allows every AWS operation cutover's code calls.

use std::path::Path;

use testkit::moto::Moto;
use testkit::net::{HttpResponse, http_with_headers, percent_encode};

const PLACEHOLDERS: [(&str, &str); 9] = [
    ("ACCOUNT_ID", "111122223333"),
    ("REGION", "us-east-1"),
    ("CLUSTER_ROLE_NAME", "eks-cluster"),
    ("NODE_ROLE_NAME", "eks-node"),
    ("HOSTED_ZONE_ID", "Z0123456789"),
    ("STATE_BUCKET", "acme-cutover-state"),
    ("STATE_PREFIX", "payments-prod"),
    ("WORKLOAD_ROLE_PREFIX", "payments-"),
    ("NOTIFY_TOPIC", "cutover-events"),
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

/// The IAM service prefix of the SDK client a source file of cutover calls.
fn service_of(file: &str) -> &'static str {
    match file {
        f if f.starts_with("eks") => "eks",
        f if f.starts_with("route53") => "route53",
        f if f.starts_with("ec2") => "ec2",
        "s3_state.rs" => "s3",
        "iam.rs" => "iam",
        "sns.rs" => "sns",
        "service_quotas.rs" => "servicequotas",
        "compose.rs" => "sts",
        other => panic!("{other} calls an AWS SDK client; say which service it is"),
    }
}

/// `list_objects_v2` → `ListObjectsV2`.
fn operation_name(method: &str) -> String {
    method
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
        })
        .collect()
}

/// Every `service:Operation` cutover's product code sends through an SDK client: the fluent
/// calls on a `client` (or `sts`) receiver, which take no arguments (`client.describe_cluster()`).
fn operations_called() -> std::collections::BTreeSet<String> {
    let src = iam_dir().join("../../src");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(src.join("providers/aws"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(src.join("compose.rs"));
    let mut ops = std::collections::BTreeSet::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let compact: String = text.split_whitespace().collect();
        for receiver in ["client.", "sts."] {
            for (i, _) in compact.match_indices(receiver) {
                let rest = &compact[i + receiver.len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
                if name.is_empty() || !rest[name.len()..].starts_with("()") {
                    continue;
                }
                let file = path.file_name().unwrap().to_str().unwrap();
                let service = service_of(file);
                // IAM authorizes some S3 operations under another action's name.
                let action = match (service, operation_name(&name).as_str()) {
                    ("s3", "ListObjectsV2") => "ListBucket".to_string(),
                    ("s3", "HeadObject") => "GetObject".to_string(),
                    (_, op) => op.to_string(),
                };
                ops.insert(format!("{service}:{action}"));
            }
        }
    }
    ops
}

fn actions_allowed() -> std::collections::BTreeSet<String> {
    let policy: serde_json::Value = serde_json::from_str(&rendered_policy()).unwrap();
    let mut out = std::collections::BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        match &statement["Action"] {
            serde_json::Value::String(a) => {
                out.insert(a.clone());
            }
            serde_json::Value::Array(list) => out.extend(list.iter().map(|a| a.as_str().unwrap().to_string())),
            other => panic!("an Action of {other}"),
        }
    }
    out
}

#[test]
fn the_policy_allows_every_aws_operation_the_code_calls() {
    let called = operations_called();
    // The scan must see the calls it is meant to check (a rename would silently empty it).
    for op in ["eks:CreateCluster", "route53:ChangeResourceRecordSets", "s3:PutObject", "ec2:DescribeSubnets", "iam:UpdateAssumeRolePolicy", "sts:GetCallerIdentity"] {
        assert!(called.contains(op), "the scan no longer finds {op}: {called:?}");
    }
    // IAM matches actions case-insensitively (`OpenIdConnect` from the method name is `OpenIDConnect`).
    let allowed: Vec<String> = actions_allowed().iter().map(|a| a.to_ascii_lowercase()).collect();
    let missing: Vec<&String> = called.iter().filter(|op| !allowed.contains(&op.to_ascii_lowercase())).collect();
    assert!(missing.is_empty(), "operations cutover calls that infra/iam/cutover-operator-policy.json does not allow: {missing:?}");
}
