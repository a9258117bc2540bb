//! Dev clusters' rules against the in-process fakes, through the same `DevClusters` the CLI uses:
//! only clusters with every dev and ownership tag are listed, extended or deleted; the reaper
//! deletes the expired ones alone (load balancers first), a dry run deletes nothing, and an expiry
//! is never moved earlier.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use cutover::dev::clusters::DevClusters;
use cutover::dev::{TAG_EXPIRES, TAG_KIND, TAG_OWNER};
use cutover::plan::Timeouts;
use cutover::providers::{TAG_PLAN, TAG_RUN_ID};
use jiff::Timestamp;
use support::fakes::World;

const NOW: &str = "2026-06-01T12:00:00Z";

fn dev_tags(expires: &str) -> Vec<(&'static str, String)> {
    vec![
        (TAG_KIND, "dev".into()),
        (TAG_PLAN, "dev-env".into()),
        (TAG_RUN_ID, "r1".into()),
        (TAG_OWNER, "ana".into()),
        (TAG_EXPIRES, expires.into()),
    ]
}

fn world() -> World {
    let w = World::new();
    let add = |name: &str, tags: &[(&str, String)], lbs: &[&str]| {
        let tags: Vec<(&str, &str)> = tags.iter().map(|(k, v)| (*k, v.as_str())).collect();
        w.add_cluster(name, &tags, lbs);
    };
    add("ana-expired", &dev_tags("2026-06-01T11:00:00Z"), &["web/frontend"]);
    add("bob-fresh", &dev_tags("2026-06-01T14:00:00Z"), &[]);
    add("payments-prod", &[], &["ingress/nginx"]);
    let mut no_owner = dev_tags("2026-06-01T11:00:00Z");
    no_owner.retain(|(k, _)| *k != TAG_RUN_ID);
    add("kind-dev-not-ours", &no_owner, &[]);
    w
}

fn clusters(w: &World) -> DevClusters {
    let me = Arc::new(w.clone());
    DevClusters::new(me.clone(), me.clone(), me, Timeouts::default())
}

#[tokio::test(start_paused = true)]
async fn only_tagged_dev_clusters_are_listed() {
    let w = world();
    let listed = clusters(&w).list(NOW.parse().unwrap()).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ana-expired", "bob-fresh"]);
    assert!(listed[0].expired && !listed[1].expired);
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_reaps_nothing_and_a_real_one_only_the_expired_dev_cluster() {
    let w = world();
    let now: Timestamp = NOW.parse().unwrap();
    let before = w.state();
    let dry = clusters(&w).reap(now, true).await.unwrap();
    assert_eq!(dry.deleted, ["ana-expired"]);
    assert_eq!(w.state(), before, "a dry run changes nothing");

    let report = clusters(&w).reap(now, false).await.unwrap();
    assert_eq!(report.deleted, ["ana-expired"]);
    let kept: Vec<&str> = report.kept.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(kept, ["bob-fresh", "kind-dev-not-ours", "payments-prod"]);
    let state = w.state();
    assert!(!state.clusters.contains_key("ana-expired"));
    assert!(state.clusters.contains_key("payments-prod") && state.clusters.contains_key("kind-dev-not-ours"));
    assert_eq!(w.leaked_load_balancers(), 0, "its load balancers were released before the cluster went");
}

#[tokio::test(start_paused = true)]
async fn down_refuses_what_is_not_a_cutover_dev_cluster() {
    let w = world();
    for name in ["payments-prod", "kind-dev-not-ours"] {
        let err = clusters(&w).down(name).await.unwrap_err();
        assert!(matches!(err, cutover::dev::DevError::Refused(_)), "{name}: {err}");
    }
    assert_eq!(w.state().clusters.len(), 4, "nothing was deleted");
}

#[tokio::test(start_paused = true)]
async fn an_expiry_moves_later_but_never_earlier() {
    let w = world();
    let now: Timestamp = NOW.parse().unwrap();
    let same = clusters(&w).extend("bob-fresh", Duration::from_secs(3600), now).await.unwrap();
    assert!(!same.changed, "1h from now is earlier than its 2h left");
    let later = clusters(&w).extend("bob-fresh", Duration::from_secs(10 * 3600), now).await.unwrap();
    assert!(later.changed);
    assert_eq!(w.state().clusters["bob-fresh"].tags[TAG_EXPIRES], "2026-06-01T22:00:00Z");
}
