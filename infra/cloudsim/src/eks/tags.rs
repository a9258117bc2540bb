//! Tags on clusters, node groups, add-ons, access entries and Pod Identity associations, addressed by ARN:
//! TagResource, UntagResource, ListTagsForResource, plus the tag rules creation calls share.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Eks;
use super::access;
use super::api::Query;
use super::errors::{EksError, EksResult, ErrorKind};

const MAX_TAGS: usize = 50;

#[derive(Debug, Deserialize)]
pub struct TagRequest {
    #[serde(default)]
    tags: BTreeMap<String, String>,
}

/// AWS tag rules: at most 50, keys 1–128 characters and not `aws:`-prefixed, values up to 256.
pub fn validate(tags: &BTreeMap<String, String>, kind: ErrorKind) -> EksResult<()> {
    let bad = |m: String| Err(EksError::new(kind, m));
    if tags.len() > MAX_TAGS {
        return bad(format!(
            "a resource can have at most {MAX_TAGS} tags, got {}",
            tags.len()
        ));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return bad(format!("tag key {k:?} must be 1-128 characters"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return bad(format!("tag key {k:?} uses the reserved prefix aws:"));
        }
        if v.chars().count() > 256 {
            return bad(format!(
                "the value of tag {k:?} is longer than 256 characters"
            ));
        }
    }
    Ok(())
}

/// Runs `f` on the tags of the resource named by `arn`.
fn with_tags<T>(
    eks: &Eks,
    arn: &str,
    f: impl FnOnce(&mut BTreeMap<String, String>) -> EksResult<T>,
) -> EksResult<T> {
    let prefix = format!("arn:aws:eks:{}:{}:", eks.env.region, eks.account_id);
    let resource = arn.strip_prefix(&prefix).ok_or_else(|| {
        EksError::new(
            ErrorKind::BadRequest,
            format!("{arn:?} is not an EKS resource ARN of this account and region ({prefix}...)"),
        )
    })?;
    let mut parts = resource.split('/');
    let (kind, cluster) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let missing = || EksError::new(ErrorKind::NotFound, format!("Resource {arn} not found"));
    let mut st = eks.state();
    let c = st.clusters.get_mut(cluster).ok_or_else(missing)?;
    let tags = match kind {
        "cluster" if c.arn == arn => &mut c.tags,
        "nodegroup" => {
            &mut c
                .nodegroups
                .values_mut()
                .find(|n| n.arn == arn)
                .ok_or_else(missing)?
                .tags
        }
        "addon" => {
            &mut c
                .addons
                .values_mut()
                .find(|a| a.arn == arn)
                .ok_or_else(missing)?
                .tags
        }
        "access-entry" => &mut access::find_by_arn(c, arn).ok_or_else(missing)?.tags,
        "podidentityassociation" => {
            &mut c
                .pod_identity_associations
                .values_mut()
                .find(|a| a.arn == arn)
                .ok_or_else(missing)?
                .tags
        }
        _ => return Err(missing()),
    };
    f(tags)
}

pub fn tag(eks: &Eks, arn: &str, req: TagRequest) -> EksResult<Value> {
    validate(&req.tags, ErrorKind::BadRequest)?;
    if req.tags.is_empty() {
        return Err(EksError::new(
            ErrorKind::BadRequest,
            "tags must contain at least one tag",
        ));
    }
    with_tags(eks, arn, |tags| {
        let mut merged = tags.clone();
        merged.extend(req.tags);
        validate(&merged, ErrorKind::BadRequest)?;
        *tags = merged;
        Ok(json!({}))
    })
}

pub fn untag(eks: &Eks, arn: &str, q: &Query) -> EksResult<Value> {
    let keys = q.all("tagKeys");
    if keys.is_empty() {
        return Err(EksError::new(
            ErrorKind::BadRequest,
            "tagKeys must name at least one tag key",
        ));
    }
    with_tags(eks, arn, |tags| {
        for k in keys {
            tags.remove(k);
        }
        Ok(json!({}))
    })
}

pub fn list(eks: &Eks, arn: &str) -> EksResult<Value> {
    with_tags(eks, arn, |tags| Ok(json!({ "tags": tags })))
}
