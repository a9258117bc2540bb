//! Drift: the live releases of a cluster against their pins (a lock file or a plan's releases).
//!
//! Reported per release: missing (pinned, not installed), extra (installed, not pinned), chart
//! version, chart content (lock pins only: the same version with other content), values (leaf by
//! leaf, dotted paths), and a latest revision that is not `deployed` (failed, pending) or whose
//! record cannot be read. Secret values are never shown: a secret path reports only that it was
//! set, unset or changed, and a change of a secret's content is not detectable (the lock holds no
//! trace of it, by design).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::{Map, Value};

use super::live::Found;
use crate::plan::lockfile::ReleasesLock;
use super::secrets::SecretRule;
use crate::plan::Plan;

/// What a release should be.
#[derive(Debug, Clone)]
pub struct Pin {
    /// Release name.
    pub name: String,
    /// Namespace the release lives in.
    pub namespace: String,
    /// Chart name.
    pub chart: String,
    /// Exact chart version pinned.
    pub version: String,
    /// Hex sha256 of the chart's content ([`super::package::Package::content_sha256`]); lock pins only.
    pub content_digest: Option<String>,
    /// User-supplied values without secrets.
    pub values: Value,
    /// Dotted paths of values supplied as secrets.
    pub secret_keys: Vec<String>,
}

/// Why the pins of a plan could not be built.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    /// A values file of the plan could not be read or parsed.
    #[error("values file {path} of release {release} cannot be read: {message}")]
    ValuesFile {
        /// Release whose values file it is.
        release: String,
        /// The values file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The pins of a lock file.
pub fn pins_from_lock(lock: &ReleasesLock) -> Vec<Pin> {
    lock.releases
        .iter()
        .map(|r| Pin {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            chart: r.chart.name.clone(),
            version: r.chart.version.clone(),
            content_digest: Some(r.chart.content_digest.trim_start_matches("sha256:").to_string()),
            values: r.values.clone(),
            secret_keys: r.secret_values.iter().map(|s| s.key.clone()).collect(),
        })
        .collect()
}

/// The pins of a plan: values files merged in order as helm merges them, then the inline values.
pub fn pins_from_plan(plan: &Plan) -> Result<Vec<Pin>, PinError> {
    plan.releases
        .iter()
        .map(|r| {
            let mut values = Value::Object(Map::new());
            for f in &r.values_files {
                let bad = |message: String| PinError::ValuesFile { release: r.name.clone(), path: f.clone(), message };
                let text = std::fs::read_to_string(f).map_err(|e| bad(e.to_string()))?;
                let doc = match crate::plan::yaml::parse(&text) {
                    Ok(Some(node)) => crate::plan::lockfile::node_value(&node),
                    Ok(None) => Value::Object(Map::new()),
                    Err(e) => return Err(bad(format!("{}:{}: {}", e.pos.line, e.pos.column, e.message))),
                };
                merge(&mut values, doc);
            }
            merge(&mut values, r.values.clone());
            let chart = match &r.chart {
                crate::plan::ChartSource::Repo { name, .. } => name.clone(),
                crate::plan::ChartSource::Oci { reference } => reference.rsplit('/').next().unwrap_or_default().to_string(),
                crate::plan::ChartSource::Path { path } => path.display().to_string(),
            };
            Ok(Pin {
                name: r.name.clone(),
                namespace: r.namespace.clone(),
                chart,
                version: r.version.clone(),
                content_digest: None,
                values,
                secret_keys: r.secret_values.iter().map(|s| s.key.clone()).collect(),
            })
        })
        .collect()
}

/// Helm's merge of user values: mappings merge key by key, anything else replaces.
fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

/// One leaf that differs; secret leaves show `<secret>` instead of their value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueChange {
    /// Dotted path of the leaf, e.g. `ingress.enabled`.
    pub path: String,
    /// The pinned value; `None` when only the live release sets it.
    pub pinned: Option<Value>,
    /// The live value; `None` when only the pin sets it.
    pub live: Option<Value>,
}

/// One way a live release differs from its pin.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Difference {
    /// Pinned but not installed.
    Missing {
        /// Chart name of the pin.
        chart: String,
        /// Chart version of the pin.
        version: String,
    },
    /// Installed but not pinned.
    Extra {
        /// Chart name installed.
        chart: String,
        /// Chart version installed.
        version: String,
    },
    /// A different chart version is installed.
    Version {
        /// Version pinned.
        pinned: String,
        /// Version installed.
        live: String,
    },
    /// Same version, other chart content (a republished chart, an edited local copy).
    ChartContent {
        /// Content digest pinned.
        pinned: String,
        /// Content digest of the installed chart.
        live: String,
    },
    /// User-supplied values differ.
    Values {
        /// Every differing leaf.
        changes: Vec<ValueChange>,
    },
    /// The latest revision is not deployed.
    Status {
        /// The latest revision's status, e.g. `failed` or `pending-upgrade`.
        status: String,
        /// The latest revision's number.
        revision: u32,
    },
    /// The deployed revision's record cannot be read.
    Unreadable {
        /// Name of the release Secret.
        secret: String,
        /// Why it cannot be read.
        message: String,
    },
}

/// How one release differs from its pin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseDrift {
    /// `namespace/name`.
    pub release: String,
    /// Everything that differs.
    pub differences: Vec<Difference>,
}

/// The releases of a cluster compared with their pins.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    /// EKS cluster name compared.
    pub cluster: String,
    /// What the cluster was compared with (a file name).
    pub against: String,
    /// Releases that match their pins.
    pub in_sync: Vec<String>,
    /// Releases that differ from their pins (missing, extra or changed).
    pub drifted: Vec<ReleaseDrift>,
}

impl DriftReport {
    /// Whether any release differs from its pin.
    pub fn has_drift(&self) -> bool {
        !self.drifted.is_empty()
    }
}

fn leaves(v: &Value, path: &mut Vec<String>, out: &mut BTreeMap<Vec<String>, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                path.push(k.clone());
                leaves(c, path, out);
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone(), v.clone());
            }
        }
    }
}

fn value_changes(pin: &Pin, live_config: &Value, rule: &SecretRule) -> Vec<ValueChange> {
    let secret_paths: BTreeSet<Vec<String>> =
        pin.secret_keys.iter().map(|k| k.split('.').map(str::to_string).collect()).collect();
    let mut pinned = BTreeMap::new();
    leaves(&pin.values, &mut Vec::new(), &mut pinned);
    let mut live = BTreeMap::new();
    leaves(live_config, &mut Vec::new(), &mut live);
    let mut changes = Vec::new();
    // Secrets: presence only.
    for key in &secret_paths {
        if !live.contains_key(key) {
            changes.push(ValueChange { path: key.join("."), pinned: Some("<secret>".into()), live: None });
        }
    }
    let hidden = |p: &Vec<String>, v: &Value| if rule.is_secret(p) { Value::from("<secret>") } else { v.clone() };
    let keys: BTreeSet<&Vec<String>> = pinned.keys().chain(live.keys()).collect();
    for key in keys {
        if secret_paths.contains(key) {
            continue;
        }
        // An empty mapping left where secrets were taken out equals no mapping at all.
        let empty = |v: Option<&Value>| v.is_none_or(|v| v.as_object().is_some_and(Map::is_empty));
        let (p, l) = (pinned.get(key), live.get(key));
        if p == l || (empty(p) && empty(l)) {
            continue;
        }
        changes.push(ValueChange {
            path: key.join("."),
            pinned: p.map(|v| hidden(key, v)),
            live: l.map(|v| hidden(key, v)),
        });
    }
    changes
}

/// Compares the releases found on `cluster` with `pins`.
pub fn compare(cluster: &str, against: &str, pins: &[Pin], found: &[Found], rule: &SecretRule) -> DriftReport {
    let mut report = DriftReport { cluster: cluster.into(), against: against.into(), in_sync: Vec::new(), drifted: Vec::new() };
    let live: BTreeMap<(&str, &str), &Found> =
        found.iter().map(|f| ((f.namespace.as_str(), f.name.as_str()), f)).collect();
    let pinned: BTreeSet<(&str, &str)> = pins.iter().map(|p| (p.namespace.as_str(), p.name.as_str())).collect();
    let mut per_release: BTreeMap<String, Vec<Difference>> = BTreeMap::new();
    for pin in pins {
        let id = format!("{}/{}", pin.namespace, pin.name);
        let mut diffs = Vec::new();
        match live.get(&(pin.namespace.as_str(), pin.name.as_str())) {
            None => diffs.push(Difference::Missing { chart: pin.chart.clone(), version: pin.version.clone() }),
            Some(f) => {
                if f.latest_status != "deployed" {
                    diffs.push(Difference::Status { status: f.latest_status.clone(), revision: f.latest_revision });
                }
                match &f.deployed {
                    None => {}
                    Some((secret, Err(e))) => {
                        diffs.push(Difference::Unreadable { secret: secret.clone(), message: e.to_string() })
                    }
                    Some((_, Ok(record))) => {
                        let version = record.chart.version();
                        if crate::plan::rules::normalize_version(version)
                            != crate::plan::rules::normalize_version(&pin.version)
                        {
                            diffs.push(Difference::Version { pinned: pin.version.clone(), live: version.to_string() });
                        } else if let Some(pinned) = &pin.content_digest {
                            let live = super::package::package(record).content_sha256;
                            if *pinned != live {
                                diffs.push(Difference::ChartContent {
                                    pinned: format!("sha256:{pinned}"),
                                    live: format!("sha256:{live}"),
                                });
                            }
                        }
                        let changes = value_changes(pin, &record.config, rule);
                        if !changes.is_empty() {
                            diffs.push(Difference::Values { changes });
                        }
                    }
                }
            }
        }
        per_release.insert(id, diffs);
    }
    for f in found {
        if pinned.contains(&(f.namespace.as_str(), f.name.as_str())) {
            continue;
        }
        let (chart, version) = match &f.deployed {
            Some((_, Ok(r))) => (r.chart.name().to_string(), r.chart.version().to_string()),
            _ => (String::new(), String::new()),
        };
        per_release
            .insert(format!("{}/{}", f.namespace, f.name), vec![Difference::Extra { chart, version }]);
    }
    for (release, differences) in per_release {
        if differences.is_empty() {
            report.in_sync.push(release);
        } else {
            report.drifted.push(ReleaseDrift { release, differences });
        }
    }
    report
}

fn shown(v: &Option<Value>) -> String {
    match v {
        None => "(unset)".into(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// The report as text for people.
pub fn render(report: &DriftReport) -> String {
    let mut out = String::new();
    if !report.has_drift() {
        out.push_str(&format!(
            "no drift: the {} release(s) on cluster {} match {}\n",
            report.in_sync.len(),
            report.cluster,
            report.against
        ));
        return out;
    }
    out.push_str(&format!(
        "drift on cluster {} against {}: {} release(s) differ, {} match\n",
        report.cluster,
        report.against,
        report.drifted.len(),
        report.in_sync.len()
    ));
    for r in &report.drifted {
        for d in &r.differences {
            let line = match d {
                Difference::Missing { chart, version } => format!("missing: pinned {chart} {version}, not installed"),
                Difference::Extra { chart, version } => format!("extra: {chart} {version} is installed but not pinned"),
                Difference::Version { pinned, live } => format!("chart version: pinned {pinned}, live {live}"),
                Difference::ChartContent { pinned, live } => {
                    format!("chart content: same version, but live {live} is not the pinned {pinned}")
                }
                Difference::Status { status, revision } => format!("status: revision {revision} is {status}"),
                Difference::Unreadable { secret, message } => format!("unreadable: release Secret {secret} {message}"),
                Difference::Values { changes } => {
                    let mut s = String::from("values:");
                    for c in changes {
                        s.push_str(&format!("\n      {}: {} → {}", c.path, shown(&c.pinned), shown(&c.live)));
                    }
                    s
                }
            };
            out.push_str(&format!("  {}  {line}\n", r.release));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merging_follows_helm_maps_merge_and_lists_replace() {
        let mut v = json!({"a": {"b": 1, "c": [1, 2]}, "d": 1});
        merge(&mut v, json!({"a": {"c": [3], "e": 2}}));
        assert_eq!(v, json!({"a": {"b": 1, "c": [3], "e": 2}, "d": 1}));
    }

    #[test]
    fn value_changes_hide_secrets_and_check_their_presence() {
        let pin = Pin {
            name: "api".into(),
            namespace: "apps".into(),
            chart: "api".into(),
            version: "1.0.0".into(),
            content_digest: None,
            values: json!({"replicas": 1, "auth": {}, "db": {"user": "u"}}),
            secret_keys: vec!["auth.password".into(), "db.token".into()],
        };
        let live = json!({"replicas": 3, "auth": {"password": "hunter2"}, "db": {"user": "u"}, "apiKey": "k9"});
        let changes = value_changes(&pin, &live, &SecretRule::default());
        assert_eq!(
            changes,
            vec![
                ValueChange { path: "db.token".into(), pinned: Some("<secret>".into()), live: None },
                ValueChange { path: "apiKey".into(), pinned: None, live: Some("<secret>".into()) },
                ValueChange { path: "replicas".into(), pinned: Some(json!(1)), live: Some(json!(3)) },
            ]
        );
    }
}
