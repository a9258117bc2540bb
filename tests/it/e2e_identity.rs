//! Workload identity through the binary against the stand-ins (cloudsim's EKS, moto's IAM): blue
//! has a Pod Identity association and an IRSA role that the api release's ServiceAccount names.
//! An upgrade makes the association on green and green's OIDC provider, lets the role trust green's
//! issuer beside blue's, and once blue is retired the role trusts green's only. A rollback before
//! that puts the exact old trust policy back, and a role edited by hand meanwhile stops the run
//! rather than being overwritten; a plan that does not let cutover edit the role is
//! refused in pre-flight with the role named and nothing changed. IAM is read back with boto3, a
//! client independent of the one cutover uses.

use crate::support;

use support::stack::Stack;
use support::stack::upgrade::{BLUE, GREEN, PlanSpec, Upgrade};

/// moto's account.
const ACCOUNT: &str = "123456789012";
const LBC_SA: &str = "aws-load-balancer-controller";

fn api_role() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/shop-api")
}

fn lbc_role() -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/shop-lbc")
}

/// Blue's IRSA trust policy, written the way people write them (indented, Sid).
fn trust_for(issuer: &str) -> String {
    let host = issuer.trim_start_matches("https://");
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "ShopApiOnBlue",
      "Effect": "Allow",
      "Principal": {{"Federated": "arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"}},
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {{"StringEquals": {{"{host}:sub": "system:serviceaccount:payments:api", "{host}:aud": "sts.amazonaws.com"}}}}
    }}
  ]
}}"#
    )
}

async fn issuer_of(stack: &Stack, cluster: &str) -> String {
    let out = stack.eks().await.describe_cluster().name(cluster).send().await.expect("describe cluster");
    out.cluster().and_then(|c| c.identity()).and_then(|i| i.oidc()).and_then(|o| o.issuer()).expect("an OIDC issuer").to_string()
}

/// Blue as IRSA and Pod Identity users have it: blue's OIDC provider, the api role trusting it,
/// the load balancer controller's role and its association on blue.
async fn give_blue_identities(stack: &Stack) -> String {
    let issuer = issuer_of(stack, BLUE).await;
    let iam = aws_sdk_iam::Client::new(&stack.sdk(&stack.moto.endpoint()).await);
    iam.create_open_id_connect_provider().url(&issuer).client_id_list("sts.amazonaws.com").send().await.expect("blue's OIDC provider");
    iam.create_role().role_name("shop-api").assume_role_policy_document(trust_for(&issuer)).send().await.expect("api role");
    let pods = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#;
    iam.create_role().role_name("shop-lbc").assume_role_policy_document(pods).send().await.expect("lbc role");
    stack
        .eks()
        .await
        .create_pod_identity_association()
        .cluster_name(BLUE)
        .namespace("kube-system")
        .service_account(LBC_SA)
        .role_arn(lbc_role())
        .send()
        .await
        .expect("blue's association");
    issuer
}

fn identity_spec(update_trust: bool, retain: &'static str) -> PlanSpec {
    let irsa = if update_trust { "    irsa: {updateTrust: true}\n" } else { "" };
    PlanSpec {
        green_extra: format!(
            "    podIdentities: [{{namespace: kube-system, serviceAccount: {LBC_SA}, roleArn: \"{}\"}}]\n    oidcProvider: true\n{irsa}",
            lbc_role()
        ),
        api_values: format!("{{serviceAccount: {{create: true, roleArn: \"{}\"}}}}", api_role()),
        retain_blue_for: retain,
        ..PlanSpec::default()
    }
}

/// IAM as boto3 sees it: `{"trust": <api role's policy document>, "providers": [urls]}`.
fn iam_by_boto3(stack: &Stack) -> serde_json::Value {
    let script = r#"
import json, boto3
iam = boto3.client("iam")
trust = iam.get_role(RoleName="shop-api")["Role"]["AssumeRolePolicyDocument"]
urls = [iam.get_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])["Url"]
        for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
print(json.dumps({"trust": trust, "providers": sorted(urls)}))
"#;
    let out = std::process::Command::new(testkit::tools::python())
        .args(["-c", script])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", stack.moto.endpoint())
        .output()
        .expect("run boto3");
    assert!(out.status.success(), "boto3: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("boto3's JSON")
}

/// The issuer hosts the api role's statements federate, in order.
fn trusted_issuers(trust: &serde_json::Value) -> Vec<String> {
    trust["Statement"]
        .as_array()
        .expect("statements")
        .iter()
        .map(|s| s["Principal"]["Federated"].as_str().expect("federated").split("oidc-provider/").nth(1).unwrap().to_string())
        .collect()
}

async fn associations(stack: &Stack, cluster: &str) -> Vec<(String, String)> {
    let eks = stack.eks().await;
    let list = eks.list_pod_identity_associations().cluster_name(cluster).send().await.expect("list associations");
    list.associations().iter().map(|a| (a.namespace().unwrap().to_string(), a.service_account().unwrap().to_string())).collect()
}

async fn prepared(stack: &Stack, update_trust: bool, retain: &'static str) -> (Upgrade, String) {
    // Blue first: the plan is validated (and blue's issuer read) against it.
    let up = stack.prepare_upgrade(identity_spec(update_trust, retain)).await;
    let issuer = give_blue_identities(stack).await;
    (up, issuer)
}

fn host(issuer: &str) -> String {
    issuer.trim_start_matches("https://").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_carries_pod_identity_and_irsa_to_green_and_retires_blues_trust_last_never_over_a_hand_edit() {
    let stack = Stack::start(600.0).await;
    let (up, blue_issuer) = prepared(&stack, true, "6s").await;
    let before = iam_by_boto3(&stack);

    // Up to blue's retention: green serves, blue is still the way back.
    let run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]).finish(&stack).await;
    run.expect_code(7, "waiting out blue's retention");
    // The wait's runbook: resume later (run below), or traffic back to blue.
    assert!(run.stdout.contains("CUT-WAIT-001"), "{}", run.stdout);
    let next = crate::e2e_runbook::runbook_commands(&run.stdout);
    assert_eq!(&next[..2], [format!("cutover resume {}", up.plan_arg()), format!("cutover rollback {} --to verified", up.plan_arg())]);
    let green_issuer = issuer_of(&stack, GREEN).await;
    let mid = iam_by_boto3(&stack);
    assert_eq!(trusted_issuers(&mid["trust"]), [host(&blue_issuer), host(&green_issuer)], "{mid}");
    assert!(mid["providers"].as_array().unwrap().iter().any(|u| u.as_str().unwrap().contains(&host(&green_issuer))), "{mid}");
    assert_eq!(associations(&stack, GREEN).await, [("kube-system".to_string(), LBC_SA.to_string())]);
    let addons = stack.eks().await.list_addons().cluster_name(GREEN).send().await.unwrap();
    assert!(addons.addons().iter().any(|a| a == "eks-pod-identity-agent"), "{addons:?}");
    let edit = support::stack::run::output(&support::stack::run::journal(&up.runs_dir()), "provision.irsa-trust").expect("journaled");
    let journaled_before: serde_json::Value = serde_json::from_str(edit["roles"][0]["before"].as_str().unwrap()).unwrap();
    assert_eq!(journaled_before, before["trust"], "the journal holds the document as it was");

    // Someone edits the role meanwhile: cutover will not overwrite it, and says how to go on.
    let iam = aws_sdk_iam::Client::new(&stack.sdk(&stack.moto.endpoint()).await);
    let ours = edit["roles"][0]["after"].as_str().unwrap().to_string();
    let mut theirs: serde_json::Value = serde_json::from_str(&ours).unwrap();
    theirs["Statement"][0]["Sid"] = "EditedByHand".into();
    iam.update_assume_role_policy().role_name("shop-api").policy_document(theirs.to_string()).send().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let run = stack.run_cutover(&next[0].split_whitespace().skip(1).chain(["--yes"]).collect::<Vec<_>>());
    let run = support::stack::run::Finished {
        code: run.status.code(),
        stdout: String::from_utf8_lossy(&run.stdout).into(),
        stderr: String::from_utf8_lossy(&run.stderr).into(),
    };
    run.expect_code(5, "stopped for a human at the hand-edited role");
    assert!(run.stdout.contains("CUT-IAM-001"), "{}", run.stdout);
    assert!(run.stderr.contains("shop-api") && run.stderr.contains("changed since cutover read it"), "{}", run.stderr);
    assert_eq!(iam_by_boto3(&stack)["trust"], theirs, "the hand edit is left as it is");

    // Put back what cutover wrote, as the message says, and resume.
    iam.update_assume_role_policy().role_name("shop-api").policy_document(&ours).send().await.unwrap();
    let run = stack.spawn_cutover("resume", &["resume", up.plan_arg(), "--yes"]).finish(&stack).await;
    run.expect_code(0, "resume after the retention");
    assert!(!stack.cluster_exists(BLUE).await);
    let after = iam_by_boto3(&stack);
    assert_eq!(trusted_issuers(&after["trust"]), [host(&green_issuer)], "only green's issuer once blue is gone: {after}");
    let condition = &after["trust"]["Statement"][0]["Condition"]["StringEquals"];
    assert_eq!(condition[format!("{}:sub", host(&green_issuer))], "system:serviceaccount:payments:api", "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_before_blue_is_retired_restores_the_exact_trust_policy() {
    let stack = Stack::start(600.0).await;
    let (up, blue_issuer) = prepared(&stack, true, "1h").await;
    let before = iam_by_boto3(&stack);
    let run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]).finish(&stack).await;
    run.expect_code(7, "waiting out blue's retention");
    assert_eq!(trusted_issuers(&iam_by_boto3(&stack)["trust"]).len(), 2);

    let run = stack.spawn_cutover("rollback", &["rollback", up.plan_arg(), "--to", "start", "--yes"]).finish(&stack).await;
    run.expect_code(0, "rollback to start");
    let after = iam_by_boto3(&stack);
    assert_eq!(after["trust"], before["trust"], "the trust policy is the one read before the upgrade");
    assert_eq!(after["providers"], before["providers"], "green's OIDC provider is gone, blue's stays");
    assert_eq!(trusted_issuers(&after["trust"]), [host(&blue_issuer)]);
    assert!(!stack.cluster_exists(GREEN).await);
    assert_eq!(associations(&stack, BLUE).await, [("kube-system".to_string(), LBC_SA.to_string())], "blue's association is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_using_an_irsa_role_without_update_trust_is_refused_before_any_change() {
    let stack = Stack::start(600.0).await;
    let (up, _) = prepared(&stack, false, "0s").await;
    let before = iam_by_boto3(&stack);
    let run = stack.spawn_cutover("apply", &["apply", up.plan_arg(), "--yes"]).finish(&stack).await;
    run.expect_code(3, "refused by the irsa gate");
    assert!(run.stdout.contains("CUT-PRE-001"), "{}", run.stdout);
    let preflight = crate::e2e_runbook::runbook_commands(&run.stdout)[0].clone();
    assert_eq!(preflight, format!("cutover preflight {}", up.plan_arg()));
    let again = crate::e2e_runbook::run_command(&stack, &preflight);
    assert_eq!(again.status.code(), Some(3), "the pre-flight it gives runs and refuses the same way");
    assert!(String::from_utf8_lossy(&again.stdout).contains("PRE-IAM-001"));
    assert!(run.stderr.contains("PRE-IAM-001"), "{}", run.stderr);
    assert!(run.stderr.contains(&api_role()), "the role is named: {}", run.stderr);
    assert!(run.stderr.contains("updateTrust"), "the fix is named: {}", run.stderr);
    assert_eq!(stack.count_events("cluster-creating", GREEN), 0, "no green cluster");
    assert!(stack.route53.change_batches().is_empty(), "Route53 untouched");
    assert_eq!(iam_by_boto3(&stack), before, "IAM untouched");

    // Capture carries blue's association to the next plan: a plan replaying the lock gets it.
    let lock = stack.dir.path().join("blue.lock.yaml");
    let out = stack.run_cutover(&["capture", "--cluster", BLUE, "--region", "us-east-1", "-o", lock.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let captured: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap()).expect("JSON-style YAML");
    assert_eq!(
        captured["podIdentities"],
        serde_json::json!([{"namespace": "kube-system", "serviceAccount": LBC_SA, "roleArn": lbc_role()}]),
        "{captured}"
    );
}
