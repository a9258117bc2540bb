//! Dev clusters with a TTL: what makes a cluster a cutover dev cluster (its tags), how a
//! `DevCluster` plan becomes one named dev cluster ([`prepare`]), and when one is expired.
//! [`clusters`] acts on a region's clusters: list, extend, down, reap.
//!
//! A dev cluster carries the engine's ownership tags (`cutover.dev/plan`, `cutover.dev/run-id`)
//! plus `cutover.dev/kind=dev`, `cutover.dev/owner` and `cutover.dev/expires-at` (RFC 3339).
//! Only a cluster carrying all of them is ever deleted by `down` or `reap`: a cluster without
//! the dev tag, or without cutover's ownership tags, is refused however it is named.

pub mod clusters;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::plan::{Plan, PlanKind};
use crate::providers::{TAG_PLAN, TAG_RUN_ID};

/// Tag marking what kind of cutover environment a cluster is; dev clusters say `dev`.
pub const TAG_KIND: &str = "cutover.dev/kind";
/// The [`TAG_KIND`] value of a dev cluster.
pub const KIND_DEV: &str = "dev";
/// Who brought the dev cluster up.
pub const TAG_OWNER: &str = "cutover.dev/owner";
/// When the reaper may delete it (RFC 3339, UTC).
pub const TAG_EXPIRES: &str = "cutover.dev/expires-at";

/// Why a dev-cluster operation could not be done.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// The request is invalid (a TTL out of range, a bad name).
    #[error("{0}")]
    Invalid(String),
    /// A cluster that is not a cutover dev cluster: never touched.
    #[error("{0}")]
    Refused(String),
    /// No cluster of that name in the region.
    #[error("no cluster named {0} in this region; `cutover dev list` shows the dev clusters")]
    NotFound(String),
    /// A cloud call failed.
    #[error(transparent)]
    Provider(#[from] crate::providers::ProviderError),
}

/// The dev tags for a cluster owned by `owner` that expires at `expires_at`.
pub fn dev_tags(owner: &str, expires_at: Timestamp) -> BTreeMap<String, String> {
    BTreeMap::from([
        (TAG_KIND.to_string(), KIND_DEV.to_string()),
        (TAG_OWNER.to_string(), tag_value(owner)),
        (TAG_EXPIRES.to_string(), expiry_tag(expires_at)),
    ])
}

/// An expiry as written in the tag: whole seconds, UTC (`2026-05-01T18:00:00Z`).
pub fn expiry_tag(at: Timestamp) -> String {
    at.round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| at.to_string())
}

/// EKS tag values allow letters, digits, spaces and `_ . : / = + - @`; anything else (from a
/// login name) becomes `_` rather than failing the create.
fn tag_value(v: &str) -> String {
    let cleaned: String = v
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " _.:/=+-@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(256)
        .collect();
    if cleaned.is_empty() { "unknown".into() } else { cleaned }
}

/// Why a cluster is or is not a cutover dev cluster, read from its tags alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A dev cluster, with what its tags say.
    Dev {
        /// The environment it was built in.
        plan: String,
        /// Who brought it up.
        owner: String,
        /// When the reaper may delete it.
        expires_at: Timestamp,
    },
    /// Not a dev cluster, with the reason shown to people.
    NotDev(String),
}

/// Whether cluster `name` is a cutover dev cluster, judging by its `tags`.
pub fn identify(name: &str, tags: &BTreeMap<String, String>) -> Identity {
    if tags.get(TAG_KIND).map(String::as_str) != Some(KIND_DEV) {
        return Identity::NotDev(format!(
            "cluster {name} has no {TAG_KIND}={KIND_DEV} tag: it is not a cutover dev cluster"
        ));
    }
    let (Some(plan), Some(_)) = (tags.get(TAG_PLAN), tags.get(TAG_RUN_ID)) else {
        return Identity::NotDev(format!(
            "cluster {name} is tagged {TAG_KIND}={KIND_DEV} but lacks cutover's ownership tags ({TAG_PLAN}, {TAG_RUN_ID}): \
             cutover did not create it"
        ));
    };
    let Some(raw) = tags.get(TAG_EXPIRES) else {
        return Identity::NotDev(format!(
            "cluster {name} has no {TAG_EXPIRES} tag; set one with `cutover dev extend`"
        ));
    };
    match raw.parse::<Timestamp>() {
        Ok(expires_at) => Identity::Dev {
            plan: plan.clone(),
            owner: tags.get(TAG_OWNER).cloned().unwrap_or_else(|| "unknown".into()),
            expires_at,
        },
        Err(e) => Identity::NotDev(format!(
            "cluster {name} has an unreadable {TAG_EXPIRES} tag {raw:?} ({e}); fix it with `cutover dev extend {name} --ttl 1h`"
        )),
    }
}

/// `now + ttl`, refusing a TTL too large to be a date.
pub fn expiry(now: Timestamp, ttl: Duration) -> Result<Timestamp, DevError> {
    SignedDuration::try_from(ttl)
        .ok()
        .and_then(|d| now.checked_add(d).ok())
        .ok_or_else(|| DevError::Invalid(format!("a TTL of {ttl:?} is out of range; use hours or days (e.g. 8h)")))
}

/// Turns a loaded plan into the plan of one dev cluster: `name` (when given) becomes both the
/// environment (its own lock and journal, so dev clusters never share them) and the cluster name;
/// the dev tags are added to the cluster's tags. `Drill` plans are accepted for `drill --keep`.
pub fn prepare(mut plan: Plan, name: Option<&str>, owner: &str, expires_at: Timestamp) -> Result<Plan, DevError> {
    if !matches!(plan.kind, PlanKind::DevCluster | PlanKind::Drill) {
        return Err(DevError::Invalid(format!(
            "plan {} is an {:?} plan; `cutover dev up` builds DevCluster plans (`kind: DevCluster`)",
            plan.metadata.name, plan.kind
        )));
    }
    if let Some(name) = name {
        crate::plan::rules::cluster_name(name)
            .map_err(|why| DevError::Invalid(format!("{why}; it names the dev cluster")))?;
        plan.metadata.name = name.to_string();
        plan.green.name = name.to_string();
    }
    plan.green.tags.extend(dev_tags(owner, expires_at));
    // The plan file may carry no TTL (a kept drill): the tag is the truth from here on.
    plan.kind = PlanKind::DevCluster;
    Ok(plan)
}

/// A human duration, signed: `3h 12m`, `-20m` (already past).
pub fn human(d: SignedDuration) -> String {
    let secs = d.as_secs();
    let sign = if secs < 0 { "-" } else { "" };
    let s = secs.unsigned_abs();
    let (days, hours, mins) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    let body = if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {mins}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{s}s")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn only_clusters_with_every_dev_and_ownership_tag_are_dev_clusters() {
        let full = tags(&[
            (TAG_KIND, "dev"),
            (TAG_PLAN, "ana-dev"),
            (TAG_RUN_ID, "r1"),
            (TAG_OWNER, "ana"),
            (TAG_EXPIRES, "2026-01-01T10:00:00Z"),
        ]);
        assert_eq!(
            identify("ana-dev", &full),
            Identity::Dev {
                plan: "ana-dev".into(),
                owner: "ana".into(),
                expires_at: "2026-01-01T10:00:00Z".parse().unwrap()
            }
        );
        for missing in [TAG_KIND, TAG_PLAN, TAG_RUN_ID, TAG_EXPIRES] {
            let mut t = full.clone();
            t.remove(missing);
            assert!(matches!(identify("x", &t), Identity::NotDev(_)), "without {missing}");
        }
        let mut prod = full.clone();
        prod.insert(TAG_KIND.into(), "upgrade".into());
        assert!(matches!(identify("x", &prod), Identity::NotDev(_)));
        let mut garbled = full;
        garbled.insert(TAG_EXPIRES.into(), "tomorrow".into());
        assert!(matches!(identify("x", &garbled), Identity::NotDev(m) if m.contains("unreadable")));
    }

    #[test]
    fn tag_values_and_names_are_what_eks_accepts() {
        assert_eq!(tag_value("ana!b#c"), "ana_b_c");
        assert_eq!(tag_value("arn:aws:iam::1:user/ana@x"), "arn:aws:iam::1:user/ana@x");
        assert!(crate::plan::rules::cluster_name("ana-dev_2").is_ok());
        assert!(crate::plan::rules::cluster_name("-ana").is_err());
        assert!(crate::plan::rules::cluster_name("ana.dev").is_err());
        assert!(crate::plan::rules::cluster_name("").is_err());
        assert_eq!(
            expiry_tag("2026-01-01T10:00:00.7Z".parse().unwrap()),
            "2026-01-01T10:00:01Z"
        );
    }

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(human(SignedDuration::from_secs(3 * 3600 + 12 * 60 + 5)), "3h 12m");
        assert_eq!(human(SignedDuration::from_secs(-20 * 60)), "-20m");
        assert_eq!(human(SignedDuration::from_secs(2 * 86_400 + 3600)), "2d 1h");
        assert_eq!(human(SignedDuration::from_secs(42)), "42s");
    }
}
