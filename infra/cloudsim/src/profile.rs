//! The latency profile: how long each asynchronous change takes in simulated time, plus the
//! faults and limits to start with. Loaded from `--profile FILE` (JSON); every field is optional
//! and defaults to what real EKS and AWS load balancers were measured to take.
//!
//! A latency is a number of seconds (fixed) or `{"min": A, "max": B}`: a spread, drawn once per
//! resource (a cluster's creation, a pod's start) from an RNG seeded with `--seed` and the
//! resource's identity, so a run is reproducible whatever order things happen in. The drawn
//! duration is kept with the resource as an absolute deadline (EKS transitions in `eks.json`,
//! Kubernetes objects in annotations), so it survives restarts.
//!
//! In Rust, `Latencies` keeps one `f64` per latency (the fixed value, or the minimum of a spread)
//! so callers can write `Latencies { pod_ready_secs: 5.0, ..Default::default() }`; the upper
//! bounds of spreads live beside them in `max_secs`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::faults::Faults;

/// The seed latencies are drawn with when `--seed` is not given.
pub const DEFAULT_SEED: u64 = 20_261_201;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub latencies: Latencies,
    pub faults: Faults,
}

/// One latency as the profile file writes it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Latency {
    Fixed(f64),
    Spread(Spread),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Spread {
    pub min: f64,
    pub max: f64,
}

macro_rules! latencies {
    ($( $(#[$doc:meta])* $kind:ident, $field:ident, $json:literal, $default:literal; )*) => {
        /// Which latency (the key a spread is drawn under, with the resource's identity).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum LatencyKind { $($kind),* }

        impl LatencyKind {
            /// The profile's name for it, e.g. `clusterCreateSecs`.
            pub fn json_name(self) -> &'static str {
                match self { $(LatencyKind::$kind => $json),* }
            }
        }

        /// Simulated durations in seconds (divided by `--time-scale` before cloudsim waits them).
        #[derive(Debug, Clone, PartialEq)]
        pub struct Latencies {
            $( $(#[$doc])* pub $field: f64, )*
            /// Upper bounds of the latencies given as spreads; the `_secs` field is the minimum.
            pub max_secs: BTreeMap<LatencyKind, f64>,
            /// Seeds the draws (`--seed`).
            pub seed: u64,
        }

        impl Default for Latencies {
            fn default() -> Self {
                Latencies { $($field: $default,)* max_secs: BTreeMap::new(), seed: DEFAULT_SEED }
            }
        }

        impl Latencies {
            fn min_secs(&self, kind: LatencyKind) -> f64 {
                match kind { $(LatencyKind::$kind => self.$field),* }
            }
        }

        /// The profile file's form of [`Latencies`].
        #[derive(Debug, Default, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        struct LatenciesDoc {
            $( #[serde(rename = $json, skip_serializing_if = "Option::is_none")] $field: Option<Latency>, )*
        }

        impl TryFrom<LatenciesDoc> for Latencies {
            type Error = String;
            fn try_from(doc: LatenciesDoc) -> Result<Self, String> {
                let mut l = Latencies::default();
                $( if let Some(v) = doc.$field { l.set(LatencyKind::$kind, v)?; } )*
                Ok(l)
            }
        }

        impl From<Latencies> for LatenciesDoc {
            fn from(l: Latencies) -> Self {
                LatenciesDoc { $( $field: Some(l.latency(LatencyKind::$kind)), )* }
            }
        }

        impl Latencies {
            fn set(&mut self, kind: LatencyKind, v: Latency) -> Result<(), String> {
                let (min, max) = match v {
                    Latency::Fixed(s) => (s, None),
                    Latency::Spread(Spread { min, max }) => (min, Some(max)),
                };
                let ok = |s: f64| s.is_finite() && s >= 0.0;
                if !ok(min) || !max.is_none_or(|m| ok(m) && m >= min) {
                    return Err(format!(
                        "{}: a latency is seconds >= 0, or {{\"min\": A, \"max\": B}} with 0 <= A <= B",
                        kind.json_name()
                    ));
                }
                match kind { $(LatencyKind::$kind => self.$field = min),* }
                match max {
                    Some(m) => self.max_secs.insert(kind, m),
                    None => self.max_secs.remove(&kind),
                };
                Ok(())
            }
        }
    };
}

latencies! {
    ClusterCreate, cluster_create_secs, "clusterCreateSecs", 540.0;
    ClusterDelete, cluster_delete_secs, "clusterDeleteSecs", 300.0;
    ClusterUpdate, cluster_update_secs, "clusterUpdateSecs", 1500.0;
    NodegroupCreate, nodegroup_create_secs, "nodegroupCreateSecs", 180.0;
    NodegroupDelete, nodegroup_delete_secs, "nodegroupDeleteSecs", 180.0;
    NodegroupUpdate, nodegroup_update_secs, "nodegroupUpdateSecs", 120.0;
    AddonCreate, addon_create_secs, "addonCreateSecs", 60.0;
    AddonDelete, addon_delete_secs, "addonDeleteSecs", 30.0;
    /// From a pod's creation to Running and Ready.
    PodReady, pod_ready_secs, "podReadySecs", 15.0;
    /// From a LoadBalancer Service's creation to `status.loadBalancer.ingress`.
    LbProvision, lb_provision_secs, "lbProvisionSecs", 120.0;
    /// From a LoadBalancer Service's deletion to its load balancer being released.
    LbRelease, lb_release_secs, "lbReleaseSecs", 60.0;
    /// From a node group turning ACTIVE to its Nodes being Ready.
    NodeReady, node_ready_secs, "nodeReadySecs", 30.0;
}

impl Latencies {
    pub fn get(secs: f64) -> Duration {
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The latency as the profile file would write it.
    pub fn latency(&self, kind: LatencyKind) -> Latency {
        let min = self.min_secs(kind);
        match self.max_secs.get(&kind) {
            Some(&max) if max > min => Latency::Spread(Spread { min, max }),
            _ => Latency::Fixed(min),
        }
    }

    /// The simulated seconds `kind` takes for the resource named `resource` (e.g.
    /// `blue/nodegroup/general`): the fixed value, or a draw from the spread that depends only
    /// on the seed, the kind and the resource.
    pub fn draw(&self, kind: LatencyKind, resource: &str) -> f64 {
        match self.latency(kind) {
            Latency::Fixed(s) => s,
            Latency::Spread(Spread { min, max }) => {
                let digest = Sha256::new()
                    .chain_update(self.seed.to_le_bytes())
                    .chain_update(kind.json_name())
                    .chain_update(resource)
                    .finalize();
                let seed = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
                min + fastrand::Rng::with_seed(seed).f64() * (max - min)
            }
        }
    }
}

impl Serialize for Latencies {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LatenciesDoc::from(self.clone()).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Latencies {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Latencies::try_from(LatenciesDoc::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> Result<Profile, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn a_latency_is_a_number_or_a_spread_and_bad_ones_are_named() {
        let p = profile(
            r#"{"latencies": {"clusterCreateSecs": {"min": 480, "max": 900}, "podReadySecs": 5}}"#,
        )
        .unwrap();
        assert_eq!(p.latencies.cluster_create_secs, 480.0);
        assert_eq!(p.latencies.max_secs[&LatencyKind::ClusterCreate], 900.0);
        assert_eq!(p.latencies.pod_ready_secs, 5.0);
        assert_eq!(
            p.latencies.addon_create_secs, 60.0,
            "the rest keep their defaults"
        );
        let again: Profile = serde_json::from_value(serde_json::to_value(&p).unwrap()).unwrap();
        assert_eq!(again, p, "a profile round-trips");

        let err = profile(r#"{"latencies": {"clusterCreateSecs": {"min": 900, "max": 480}}}"#)
            .unwrap_err();
        assert!(err.contains("clusterCreateSecs"), "{err}");
        assert!(profile(r#"{"latencies": {"nodegroupCreateSecs": -1}}"#).is_err());
        assert!(profile(r#"{"latencies": {"clusterCreateSecs": {"min": 1, "mx": 2}}}"#).is_err());
        assert!(profile(r#"{"latencies": {"clusterCreatSecs": 1}}"#).is_err());
    }

    #[test]
    fn draws_stay_in_the_spread_and_depend_only_on_seed_kind_and_resource() {
        let mut l = profile(r#"{"latencies": {"clusterCreateSecs": {"min": 480, "max": 900}}}"#)
            .unwrap()
            .latencies;
        let draws: Vec<f64> = (0..50)
            .map(|i| l.draw(LatencyKind::ClusterCreate, &format!("c{i}")))
            .collect();
        assert!(
            draws.iter().all(|d| (480.0..=900.0).contains(d)),
            "{draws:?}"
        );
        assert!(
            draws.iter().any(|d| *d < 600.0) && draws.iter().any(|d| *d > 780.0),
            "{draws:?}"
        );
        assert_eq!(
            l.draw(LatencyKind::ClusterCreate, "c7"),
            draws[7],
            "the same resource, the same draw"
        );
        assert_eq!(
            l.draw(LatencyKind::ClusterDelete, "c7"),
            300.0,
            "fixed latencies are not drawn"
        );
        l.seed += 1;
        assert_ne!(
            l.draw(LatencyKind::ClusterCreate, "c7"),
            draws[7],
            "another seed, another draw"
        );
    }
}
