//! REST-JSON routing of the EKS API as aws-sdk-eks calls it: method + path → [`Op`], then the
//! per-resource handler. Path labels arrive percent-encoded (principal and resource ARNs contain
//! `:` and `/`), so each segment is decoded after splitting.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::errors::{EksError, EksResult, ErrorKind};
use super::{
    Eks, access, addons, catalog, clusters, insights, nodegroups, pod_identity, tags, updates,
};

/// One EKS operation with its path labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    CreateCluster,
    ListClusters,
    DescribeCluster(String),
    DeleteCluster(String),
    UpdateClusterVersion(String),
    ListUpdates(String),
    DescribeUpdate(String, String),
    CreateNodegroup(String),
    ListNodegroups(String),
    DescribeNodegroup(String, String),
    DeleteNodegroup(String, String),
    UpdateNodegroupConfig(String, String),
    CreateAddon(String),
    DescribeAddonVersions,
    ListAddons(String),
    DescribeAddon(String, String),
    DeleteAddon(String, String),
    CreateAccessEntry(String),
    ListAccessEntries(String),
    DescribeAccessEntry(String, String),
    DeleteAccessEntry(String, String),
    AssociateAccessPolicy(String, String),
    ListAssociatedAccessPolicies(String, String),
    DisassociateAccessPolicy(String, String, String),
    ListInsights(String),
    DescribeInsight(String, String),
    CreatePodIdentityAssociation(String),
    ListPodIdentityAssociations(String),
    DescribePodIdentityAssociation(String, String),
    UpdatePodIdentityAssociation(String, String),
    DeletePodIdentityAssociation(String, String),
    TagResource(String),
    UntagResource(String),
    ListTagsForResource(String),
}

impl Op {
    /// Maps a request to its operation; `UnknownOperationException` for anything else.
    pub fn route(method: &str, path: &str) -> EksResult<Op> {
        let segs: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(percent_decode)
            .collect::<Result<_, _>>()?;
        let s: Vec<&str> = segs.iter().map(String::as_str).collect();
        let o = |x: &str| x.to_string();
        let op = match (method, s.as_slice()) {
            ("POST", ["clusters"]) => Op::CreateCluster,
            ("GET", ["clusters"]) => Op::ListClusters,
            ("GET", ["clusters", c]) => Op::DescribeCluster(o(c)),
            ("DELETE", ["clusters", c]) => Op::DeleteCluster(o(c)),
            ("POST", ["clusters", c, "updates"]) => Op::UpdateClusterVersion(o(c)),
            ("GET", ["clusters", c, "updates"]) => Op::ListUpdates(o(c)),
            ("GET", ["clusters", c, "updates", u]) => Op::DescribeUpdate(o(c), o(u)),
            ("POST", ["clusters", c, "node-groups"]) => Op::CreateNodegroup(o(c)),
            ("GET", ["clusters", c, "node-groups"]) => Op::ListNodegroups(o(c)),
            ("GET", ["clusters", c, "node-groups", n]) => Op::DescribeNodegroup(o(c), o(n)),
            ("DELETE", ["clusters", c, "node-groups", n]) => Op::DeleteNodegroup(o(c), o(n)),
            ("POST", ["clusters", c, "node-groups", n, "update-config"]) => {
                Op::UpdateNodegroupConfig(o(c), o(n))
            }
            ("POST", ["clusters", c, "addons"]) => Op::CreateAddon(o(c)),
            ("GET", ["addons", "supported-versions"]) => Op::DescribeAddonVersions,
            ("GET", ["clusters", c, "addons"]) => Op::ListAddons(o(c)),
            ("GET", ["clusters", c, "addons", a]) => Op::DescribeAddon(o(c), o(a)),
            ("DELETE", ["clusters", c, "addons", a]) => Op::DeleteAddon(o(c), o(a)),
            ("POST", ["clusters", c, "access-entries"]) => Op::CreateAccessEntry(o(c)),
            ("GET", ["clusters", c, "access-entries"]) => Op::ListAccessEntries(o(c)),
            ("GET", ["clusters", c, "access-entries", p]) => Op::DescribeAccessEntry(o(c), o(p)),
            ("DELETE", ["clusters", c, "access-entries", p]) => Op::DeleteAccessEntry(o(c), o(p)),
            ("POST", ["clusters", c, "access-entries", p, "access-policies"]) => {
                Op::AssociateAccessPolicy(o(c), o(p))
            }
            ("GET", ["clusters", c, "access-entries", p, "access-policies"]) => {
                Op::ListAssociatedAccessPolicies(o(c), o(p))
            }
            ("DELETE", ["clusters", c, "access-entries", p, "access-policies", pol]) => {
                Op::DisassociateAccessPolicy(o(c), o(p), o(pol))
            }
            ("POST", ["clusters", c, "insights"]) => Op::ListInsights(o(c)),
            ("GET", ["clusters", c, "insights", i]) => Op::DescribeInsight(o(c), o(i)),
            ("POST", ["clusters", c, "pod-identity-associations"]) => {
                Op::CreatePodIdentityAssociation(o(c))
            }
            ("GET", ["clusters", c, "pod-identity-associations"]) => {
                Op::ListPodIdentityAssociations(o(c))
            }
            ("GET", ["clusters", c, "pod-identity-associations", a]) => {
                Op::DescribePodIdentityAssociation(o(c), o(a))
            }
            ("POST", ["clusters", c, "pod-identity-associations", a]) => {
                Op::UpdatePodIdentityAssociation(o(c), o(a))
            }
            ("DELETE", ["clusters", c, "pod-identity-associations", a]) => {
                Op::DeletePodIdentityAssociation(o(c), o(a))
            }
            ("POST", ["tags", arn]) => Op::TagResource(o(arn)),
            ("DELETE", ["tags", arn]) => Op::UntagResource(o(arn)),
            ("GET", ["tags", arn]) => Op::ListTagsForResource(o(arn)),
            _ => {
                return Err(EksError::new(
                    ErrorKind::UnknownOperation,
                    format!("cloudsim does not implement the EKS operation {method} {path}"),
                ));
            }
        };
        Ok(op)
    }

    /// The AWS operation name (for events and logs).
    pub fn name(&self) -> &'static str {
        match self {
            Op::CreateCluster => "CreateCluster",
            Op::ListClusters => "ListClusters",
            Op::DescribeCluster(_) => "DescribeCluster",
            Op::DeleteCluster(_) => "DeleteCluster",
            Op::UpdateClusterVersion(_) => "UpdateClusterVersion",
            Op::ListUpdates(_) => "ListUpdates",
            Op::DescribeUpdate(..) => "DescribeUpdate",
            Op::CreateNodegroup(_) => "CreateNodegroup",
            Op::ListNodegroups(_) => "ListNodegroups",
            Op::DescribeNodegroup(..) => "DescribeNodegroup",
            Op::DeleteNodegroup(..) => "DeleteNodegroup",
            Op::UpdateNodegroupConfig(..) => "UpdateNodegroupConfig",
            Op::CreateAddon(_) => "CreateAddon",
            Op::DescribeAddonVersions => "DescribeAddonVersions",
            Op::ListAddons(_) => "ListAddons",
            Op::DescribeAddon(..) => "DescribeAddon",
            Op::DeleteAddon(..) => "DeleteAddon",
            Op::CreateAccessEntry(_) => "CreateAccessEntry",
            Op::ListAccessEntries(_) => "ListAccessEntries",
            Op::DescribeAccessEntry(..) => "DescribeAccessEntry",
            Op::DeleteAccessEntry(..) => "DeleteAccessEntry",
            Op::AssociateAccessPolicy(..) => "AssociateAccessPolicy",
            Op::ListAssociatedAccessPolicies(..) => "ListAssociatedAccessPolicies",
            Op::DisassociateAccessPolicy(..) => "DisassociateAccessPolicy",
            Op::ListInsights(_) => "ListInsights",
            Op::DescribeInsight(..) => "DescribeInsight",
            Op::CreatePodIdentityAssociation(_) => "CreatePodIdentityAssociation",
            Op::ListPodIdentityAssociations(_) => "ListPodIdentityAssociations",
            Op::DescribePodIdentityAssociation(..) => "DescribePodIdentityAssociation",
            Op::UpdatePodIdentityAssociation(..) => "UpdatePodIdentityAssociation",
            Op::DeletePodIdentityAssociation(..) => "DeletePodIdentityAssociation",
            Op::TagResource(_) => "TagResource",
            Op::UntagResource(_) => "UntagResource",
            Op::ListTagsForResource(_) => "ListTagsForResource",
        }
    }

    fn mutates(&self) -> bool {
        !self.name().starts_with("List") && !self.name().starts_with("Describe")
    }
}

/// The request's query string, decoded; repeated keys (`tagKeys`) keep every value.
#[derive(Debug, Default)]
pub struct Query(BTreeMap<String, Vec<String>>);

impl Query {
    pub fn parse(raw: Option<&str>) -> EksResult<Query> {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.entry(percent_decode(k)?)
                .or_default()
                .push(percent_decode(&v.replace('+', " "))?);
        }
        Ok(Query(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.first()).map(String::as_str)
    }

    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }
}

/// Runs one operation and persists its effect before returning. The result is the JSON body.
pub async fn call(
    eks: &Arc<Eks>,
    op: Op,
    query: Query,
    body: Bytes,
) -> EksResult<serde_json::Value> {
    if op.mutates() {
        // A change runs to the end in a task of its own. A client that hangs up (a killed
        // process) drops its request's future; had that happened between `dispatch` and
        // `persist`, the change would stay in memory, visible to the next caller but never
        // written to disk nor handed to the lifecycle: a cluster CREATING forever.
        // A node group's nodes are in its subnets' zones: ask EC2 before the change (the change
        // itself runs under the state lock and cannot wait on the network).
        if let (Op::CreateNodegroup(_), Some(ec2)) = (&op, eks.env.ec2.as_ref())
            && let Ok(req) = serde_json::from_slice::<serde_json::Value>(&body)
        {
            let subnets: Vec<String> = req["subnets"].as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect();
            ec2.subnet_zones(&subnets).await;
        }
        let eks = eks.clone();
        tokio::spawn(async move {
            let _gate = eks.gate.write().await;
            let result = dispatch(&eks, &op, &query, &body)?;
            eks.persist().await?;
            eks.wake();
            Ok(result)
        })
        .await
        .expect("an EKS change task panicked")
    } else {
        let _gate = eks.gate.read().await;
        dispatch(eks, &op, &query, &body)
    }
}

fn dispatch(eks: &Eks, op: &Op, q: &Query, body: &[u8]) -> EksResult<serde_json::Value> {
    match op {
        Op::CreateCluster => clusters::create(eks, parse(body)?),
        Op::ListClusters => clusters::list(eks, q),
        Op::DescribeCluster(c) => clusters::describe(eks, c),
        Op::DeleteCluster(c) => clusters::delete(eks, c),
        Op::UpdateClusterVersion(c) => clusters::update_version(eks, c, parse(body)?),
        Op::ListUpdates(c) => updates::list(eks, c, q),
        Op::DescribeUpdate(c, u) => updates::describe(eks, c, u, q),
        Op::CreateNodegroup(c) => nodegroups::create(eks, c, parse(body)?),
        Op::ListNodegroups(c) => nodegroups::list(eks, c, q),
        Op::DescribeNodegroup(c, n) => nodegroups::describe(eks, c, n),
        Op::DeleteNodegroup(c, n) => nodegroups::delete(eks, c, n),
        Op::UpdateNodegroupConfig(c, n) => nodegroups::update_config(eks, c, n, parse(body)?),
        Op::CreateAddon(c) => addons::create(eks, c, parse(body)?),
        Op::DescribeAddonVersions => catalog::describe_versions(q),
        Op::ListAddons(c) => addons::list(eks, c, q),
        Op::DescribeAddon(c, a) => addons::describe(eks, c, a),
        Op::DeleteAddon(c, a) => addons::delete(eks, c, a),
        Op::CreateAccessEntry(c) => access::create(eks, c, parse(body)?),
        Op::ListAccessEntries(c) => access::list(eks, c, q),
        Op::DescribeAccessEntry(c, p) => access::describe(eks, c, p),
        Op::DeleteAccessEntry(c, p) => access::delete(eks, c, p),
        Op::AssociateAccessPolicy(c, p) => access::associate(eks, c, p, parse(body)?),
        Op::ListAssociatedAccessPolicies(c, p) => access::list_policies(eks, c, p, q),
        Op::DisassociateAccessPolicy(c, p, pol) => access::disassociate(eks, c, p, pol),
        Op::ListInsights(c) => insights::list(eks, c, parse(body)?),
        Op::DescribeInsight(c, i) => insights::describe(eks, c, i),
        Op::CreatePodIdentityAssociation(c) => pod_identity::create(eks, c, parse(body)?),
        Op::ListPodIdentityAssociations(c) => pod_identity::list(eks, c, q),
        Op::DescribePodIdentityAssociation(c, a) => pod_identity::describe(eks, c, a),
        Op::UpdatePodIdentityAssociation(c, a) => pod_identity::update(eks, c, a, parse(body)?),
        Op::DeletePodIdentityAssociation(c, a) => pod_identity::delete(eks, c, a),
        Op::TagResource(arn) => tags::tag(eks, arn, parse(body)?),
        Op::UntagResource(arn) => tags::untag(eks, arn, q),
        Op::ListTagsForResource(arn) => tags::list(eks, arn),
    }
}

/// Parses a JSON request body (an empty body is `{}`).
fn parse<T: DeserializeOwned>(body: &[u8]) -> EksResult<T> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        EksError::invalid(format!(
            "the request body is not valid for this operation: {e}"
        ))
    })
}

/// One page of `names` (already sorted) after `nextToken`, at most `maxResults` long.
/// The token is the hex of the last name returned, so pages stay stable while resources come and go.
pub fn paginate(
    names: Vec<String>,
    q: &Query,
    max_limit: usize,
) -> EksResult<(Vec<String>, Option<String>)> {
    paginate_with(names, q.get("maxResults"), q.get("nextToken"), max_limit)
}

/// [`paginate`] for operations that carry `maxResults` and `nextToken` in the body (ListInsights).
pub fn paginate_with(
    names: Vec<String>,
    max_results: Option<&str>,
    next_token: Option<&str>,
    max_limit: usize,
) -> EksResult<(Vec<String>, Option<String>)> {
    let max = match max_results {
        None => max_limit,
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max_limit).contains(&n) => n,
            _ => {
                return Err(EksError::invalid(format!(
                    "maxResults must be a number from 1 to {max_limit}, got {v:?}"
                )));
            }
        },
    };
    let after = match next_token {
        None => None,
        Some(t) => Some(
            hex::decode(t)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    EksError::invalid(
                        "nextToken is not one this API returned; start again without it",
                    )
                })?,
        ),
    };
    let rest: Vec<String> = names
        .into_iter()
        .filter(|n| after.as_ref().is_none_or(|a| n > a))
        .collect();
    let more = rest.len() > max;
    let page: Vec<String> = rest.into_iter().take(max).collect();
    let token = if more {
        page.last().map(|l| hex::encode(l.as_bytes()))
    } else {
        None
    };
    Ok((page, token))
}

/// A list response: `{key: [...], "nextToken": ...}` (the token only when there is a next page).
pub fn page_body(key: &str, page: Vec<String>, next: Option<String>) -> serde_json::Value {
    page_body_with(
        key,
        page.into_iter().map(serde_json::Value::String).collect(),
        next,
    )
}

/// [`page_body`] for pages of objects (ListInsights' summaries).
pub fn page_body_with(
    key: &str,
    page: Vec<serde_json::Value>,
    next: Option<String>,
) -> serde_json::Value {
    let mut body = serde_json::json!({ key: page });
    if let Some(next) = next {
        body["nextToken"] = serde_json::json!(next);
    }
    body
}

/// Decodes `%XX` escapes (strictly: a malformed escape is an error, not passed through).
pub fn percent_decode(s: &str) -> EksResult<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            let Some(b) = byte else {
                return Err(EksError::invalid(format!(
                    "malformed percent-encoding in {s:?}"
                )));
            };
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| EksError::invalid(format!("{s:?} does not decode to UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_encoded_arn_labels() {
        let op = Op::route("DELETE", "/clusters/c1/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fops/access-policies/arn%3Ap%2FX")
            .unwrap();
        assert_eq!(
            op,
            Op::DisassociateAccessPolicy(
                "c1".into(),
                "arn:aws:iam::1:role/ops".into(),
                "arn:p/X".into()
            )
        );
        assert_eq!(
            Op::route("PUT", "/clusters").unwrap_err().kind,
            ErrorKind::UnknownOperation
        );
    }

    #[test]
    fn pages_follow_the_token() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let q = Query::parse(Some("maxResults=2")).unwrap();
        let (page, token) = paginate(names.clone(), &q, 100).unwrap();
        assert_eq!(page, ["a", "b"]);
        let q = Query::parse(Some(&format!("maxResults=2&nextToken={}", token.unwrap()))).unwrap();
        assert_eq!(
            paginate(names.clone(), &q, 100).unwrap(),
            (vec!["c".to_string()], None)
        );
        let q = Query::parse(Some("maxResults=0")).unwrap();
        assert_eq!(
            paginate(names, &q, 100).unwrap_err().kind,
            ErrorKind::InvalidParameter
        );
    }
}
