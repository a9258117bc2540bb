//! IRSA trust policies: which statements let a cluster's OIDC issuer assume a role, and the two
//! edits cutover makes — a copy of blue's statements for green's issuer before green's releases
//! need them, and blue's statements dropped once blue is gone. Pure: documents in, documents out;
//! the steps journal both sides of every edit.
//!
//! A statement *federates* an issuer when its `Principal.Federated` names the issuer's IAM OIDC
//! provider (`arn:aws:iam::<account>:oidc-provider/<issuer host and path>`). Green's copy is blue's
//! statement with blue's issuer host replaced by green's everywhere in it — the principal and the
//! condition keys (`<host>:sub`, `<host>:aud`) — so it admits exactly the service accounts blue's
//! did. The copy carries no `Sid` (IAM wants them unique in a document).

use serde_json::Value;

use crate::providers::oidc_issuer_host;

/// A trust policy cutover cannot read as an IAM policy document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the trust policy is not an IAM policy document: {0}")]
pub struct TrustError(String);

fn parse(doc: &str) -> Result<Value, TrustError> {
    let value: Value = serde_json::from_str(doc).map_err(|e| TrustError(e.to_string()))?;
    match value.get("Statement") {
        Some(Value::Array(_) | Value::Object(_)) => Ok(value),
        _ => Err(TrustError("it has no Statement".into())),
    }
}

/// The statements, whether written as a list or as a single object.
fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn with_statements(mut doc: Value, list: Vec<Value>) -> String {
    doc["Statement"] = Value::Array(list);
    doc.to_string()
}

fn federated(statement: &Value) -> Vec<&str> {
    match statement.get("Principal").and_then(|p| p.get("Federated")) {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn names_issuer(principal: &str, host: &str) -> bool {
    principal.strip_suffix(host).is_some_and(|rest| rest.ends_with(":oidc-provider/"))
}

fn federates(statement: &Value, host: &str) -> bool {
    federated(statement).iter().any(|p| names_issuer(p, host))
}

/// Whether any statement lets `issuer`'s service accounts assume the role.
pub fn trusts(doc: &str, issuer: &str) -> Result<bool, TrustError> {
    let host = oidc_issuer_host(issuer);
    Ok(statements(&parse(doc)?).iter().any(|s| federates(s, host)))
}

/// The document with a copy of every statement federating `from` rewritten for `to`. Unchanged
/// (byte for byte) when `to` is trusted already, so a repeated edit changes nothing.
pub fn add_issuer(doc: &str, from: &str, to: &str) -> Result<String, TrustError> {
    let value = parse(doc)?;
    let (from, to) = (oidc_issuer_host(from), oidc_issuer_host(to));
    let mut list = statements(&value);
    if list.iter().any(|s| federates(s, to)) {
        return Ok(doc.to_string());
    }
    let copies: Vec<Value> = list
        .iter()
        .filter(|s| federates(s, from))
        .map(|s| {
            let mut copy: Value = serde_json::from_str(&s.to_string().replace(from, to)).expect("a rewritten statement is JSON");
            if let Value::Object(map) = &mut copy {
                map.remove("Sid");
            }
            copy
        })
        .collect();
    if copies.is_empty() {
        return Err(TrustError(format!("no statement trusts {from}")));
    }
    list.extend(copies);
    Ok(with_statements(value, list))
}

/// The document without `issuer`: statements federating only it are dropped, and it is taken out
/// of those that federate others too. Unchanged when it is not trusted.
pub fn remove_issuer(doc: &str, issuer: &str) -> Result<String, TrustError> {
    let value = parse(doc)?;
    let host = oidc_issuer_host(issuer);
    let list = statements(&value);
    if !list.iter().any(|s| federates(s, host)) {
        return Ok(doc.to_string());
    }
    let kept: Vec<Value> = list
        .into_iter()
        .filter_map(|mut s| {
            if !federates(&s, host) {
                return Some(s);
            }
            let others: Vec<Value> = federated(&s)
                .into_iter()
                .filter(|p| !names_issuer(p, host))
                .map(|p| Value::String(p.to_string()))
                .collect();
            if others.is_empty() {
                return None;
            }
            s["Principal"]["Federated"] = Value::Array(others);
            Some(s)
        })
        .collect();
    if kept.is_empty() {
        return Err(TrustError(format!("removing {host} would leave the role trusting no one")));
    }
    Ok(with_statements(value, kept))
}

/// Whether two documents say the same (IAM may re-space what it was given).
pub fn same(a: &str, b: &str) -> bool {
    match (serde_json::from_str::<Value>(a), serde_json::from_str::<Value>(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLUE: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/BLUE1";
    const GREEN: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/GREEN2";

    fn role_for(issuer: &str, sa: &str) -> String {
        let host = oidc_issuer_host(issuer);
        serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "Irsa",
                "Effect": "Allow",
                "Principal": {"Federated": format!("arn:aws:iam::111122223333:oidc-provider/{host}")},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {
                    format!("{host}:sub"): format!("system:serviceaccount:{sa}"),
                    format!("{host}:aud"): "sts.amazonaws.com"
                }}
            }]
        })
        .to_string()
    }

    #[test]
    fn greens_statement_admits_the_same_service_account_through_greens_issuer() {
        let doc = role_for(BLUE, "payments:api");
        assert!(trusts(&doc, BLUE).unwrap());
        assert!(!trusts(&doc, GREEN).unwrap());
        let both = add_issuer(&doc, BLUE, GREEN).unwrap();
        assert!(trusts(&both, BLUE).unwrap() && trusts(&both, GREEN).unwrap());
        let green_only: Value = serde_json::from_str(&role_for(GREEN, "payments:api")).unwrap();
        let mut expected = green_only["Statement"][0].clone();
        expected.as_object_mut().unwrap().remove("Sid");
        let added: Value = serde_json::from_str(&both).unwrap();
        assert_eq!(added["Statement"][1], expected);
    }

    #[test]
    fn adding_twice_changes_nothing_and_removing_blue_leaves_green_only() {
        let doc = role_for(BLUE, "payments:api");
        let both = add_issuer(&doc, BLUE, GREEN).unwrap();
        assert_eq!(add_issuer(&both, BLUE, GREEN).unwrap(), both);
        let green = remove_issuer(&both, BLUE).unwrap();
        assert!(!trusts(&green, BLUE).unwrap() && trusts(&green, GREEN).unwrap());
        assert_eq!(remove_issuer(&green, BLUE).unwrap(), green);
    }

    #[test]
    fn a_provider_of_a_longer_issuer_id_is_not_mistaken_for_blues() {
        let other = role_for("https://oidc.eks.us-east-1.amazonaws.com/id/XBLUE1", "a:b");
        assert!(!trusts(&other, BLUE).unwrap());
    }

    #[test]
    fn a_single_statement_object_is_read_and_a_document_without_statements_refused() {
        let mut doc: Value = serde_json::from_str(&role_for(BLUE, "a:b")).unwrap();
        doc["Statement"] = doc["Statement"][0].clone();
        assert!(trusts(&doc.to_string(), BLUE).unwrap());
        assert!(trusts("{\"Version\":\"2012-10-17\"}", BLUE).is_err());
        assert!(add_issuer(&role_for(GREEN, "a:b"), BLUE, "https://x/id/3").is_err());
    }

    #[test]
    fn removing_the_only_trusted_issuer_is_refused() {
        assert!(remove_issuer(&role_for(BLUE, "a:b"), BLUE).is_err());
    }

    #[test]
    fn documents_compare_by_meaning() {
        assert!(same("{\"a\": [1, 2]}", "{\"a\":[1,2]}"));
        assert!(!same("{\"a\": [1, 2]}", "{\"a\":[2,1]}"));
    }
}
