//! Removed Kubernetes APIs: the table of API versions each release stopped serving, and the scan
//! that finds objects still using one in a manifest stream.
//!
//! An object whose apiVersion the green cluster no longer serves cannot be installed there: `helm
//! install` fails halfway through the releases, long after the cluster was paid for. Finding it from
//! the manifests first (what `helm template --kube-version` renders, or blue's stored release
//! manifests) turns that into a refusal before anything is created.
//!
//! The table is data, not code: `removed-apis.json` beside this file, with the pages it was taken
//! from and the date it was checked, so a new Kubernetes release is a reviewed edit of one file. It
//! is embedded and parsed once; its tests parse it, so a malformed table fails the build's tests
//! rather than a run.
//!
//! Decisions:
//! - Entries are matched by group, version *and* kind: a version can be re-served for a new kind
//!   (`coordination.k8s.io/v1beta1` is gone for Lease since 1.22 but serves LeaseCandidate from 1.33).
//! - The replacement reported is the one served at the target: when the guide's replacement was
//!   itself removed by then (flowcontrol v1beta1 → v1beta3 → v1), the chain is followed and the
//!   notes along it are kept.
//! - Manifests are split into documents here, at `---` and `...` lines in column 0 (which YAML
//!   reserves for markers, even inside block scalars), and each is read with `plan::yaml`. A document
//!   that is not valid YAML is an error naming its line: helm never renders one, so it means a
//!   corrupt stored manifest, which should be looked at rather than passed as clean.
//! - Documents without a string `apiVersion` and `kind` (comments only, empty, not objects) name no
//!   API and are passed over. A kind ending in `List` with `items` (`kind: List`) is read item by item.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::plan::KubeVersion;
use crate::plan::rules;
use crate::plan::yaml::{self, Node, NodeKind};

/// The table, as committed.
const TABLE_JSON: &str = include_str!("removed-apis.json");

static TABLE: LazyLock<Table> =
    LazyLock::new(|| parse_table(TABLE_JSON).unwrap_or_else(|e| panic!("src/engine/preflight/removed-apis.json: {e}")));

/// The removal table and where it comes from.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    /// Where the entries come from.
    pub source: Source,
    /// Every removed API version the table knows.
    pub removed: Vec<RemovedApi>,
}

/// Where the table's entries were taken from, for reports that cite it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Title of the source, e.g. the Kubernetes deprecation guide.
    pub title: String,
    /// URLs of the sources.
    pub urls: Vec<String>,
    /// The day the entries were last checked against the sources (`YYYY-MM-DD`).
    pub checked: String,
    /// What is covered, and what is deliberately not.
    pub scope: String,
    /// Anything else a reader of the table should know.
    pub notes: String,
}

/// One API version of one kind that a Kubernetes release stopped serving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedApi {
    /// Empty for the core group.
    pub group: String,
    /// API version within the group, e.g. `v1beta1`.
    pub version: String,
    /// Object kind, e.g. `Ingress`.
    pub kind: String,
    /// The first release that no longer serves it.
    pub removed_in: KubeVersion,
    /// The release whose API server started warning about it, where known.
    pub deprecated_in: Option<KubeVersion>,
    /// The apiVersion to use instead; `None` when the kind went away (PodSecurityPolicy).
    pub replacement: Option<String>,
    /// What migrating takes beyond changing `apiVersion`.
    pub note: Option<String>,
}

impl RemovedApi {
    /// `apps/v1beta2`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        join_api_version(&self.group, &self.version)
    }
}

/// An object in a manifest stream that uses an API the target release no longer serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovedUse {
    /// Object kind, e.g. `Ingress`.
    pub kind: String,
    /// `metadata.name`; `metadata.generateName` when only that is set; empty when neither is.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// As written in the manifest.
    pub api_version: String,
    /// The first Kubernetes release that no longer serves the API.
    pub removed_in: KubeVersion,
    /// The apiVersion served at the target to use instead; `None` when there is none.
    pub replacement: Option<String>,
    /// What migrating takes beyond changing `apiVersion` (notes along a followed chain, in order).
    pub note: Option<String>,
}

/// The committed table.
pub fn table() -> &'static Table {
    &TABLE
}

/// The table entry for an object's `apiVersion` and `kind`, if that pair was ever removed.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static RemovedApi> {
    let (group, version) = split_api_version(api_version);
    TABLE.removed.iter().find(|r| r.group == group && r.version == version && r.kind == kind)
}

/// The removals an upgrade from `from` to `to` crosses (removed after `from`, at or before `to`),
/// oldest release first.
pub fn removals_between(from: KubeVersion, to: KubeVersion) -> Vec<&'static RemovedApi> {
    let mut crossed: Vec<&RemovedApi> =
        TABLE.removed.iter().filter(|r| r.removed_in > from && r.removed_in <= to).collect();
    crossed.sort_by(|a, b| (a.removed_in, &a.group, &a.kind).cmp(&(b.removed_in, &b.group, &b.kind)));
    crossed
}

/// Every object in `manifests` (a multi-document stream as `helm template` prints it, or a release's
/// stored manifest) whose apiVersion and kind were removed at or before `target`, in stream order.
pub fn removed_uses(manifests: &str, target: KubeVersion) -> Result<Vec<RemovedUse>, String> {
    let mut found = Vec::new();
    for (n, doc) in documents(manifests).iter().enumerate() {
        let root = yaml::parse(doc.text).map_err(|e| {
            // A truncated stream has no position of its own: point at the document.
            let line = if e.pos.line == 0 { doc.first_line } else { doc.first_line + e.pos.line - 1 };
            format!(
                "manifest document {} (from line {}) is not valid YAML: line {line}, column {}: {}",
                n + 1,
                doc.first_line,
                e.pos.column.max(1),
                e.message
            )
        })?;
        if let Some(root) = root {
            collect(&root, target, &mut found);
        }
    }
    Ok(found)
}

/// One document of a stream: its text (marker line included) and the stream line it starts on.
pub(super) struct Document<'a> {
    pub(super) text: &'a str,
    first_line: usize,
}

/// Splits a stream at document markers: a `---` line starts a document, a `...` line ends one.
pub(super) fn documents(stream: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let (mut start, mut first_line, mut offset) = (0, 1, 0);
    for (i, line) in stream.split_inclusive('\n').enumerate() {
        let bare = line.trim_end_matches(['\n', '\r']);
        if is_marker(bare, "---") && offset > start {
            docs.push(Document { text: &stream[start..offset], first_line });
            (start, first_line) = (offset, i + 1);
        }
        offset += line.len();
        if is_marker(bare, "...") {
            docs.push(Document { text: &stream[start..offset], first_line });
            (start, first_line) = (offset, i + 2);
        }
    }
    if offset > start {
        docs.push(Document { text: &stream[start..], first_line });
    }
    docs
}

/// `---` alone or followed by a space or tab (`--- # comment`); `----` is text, not a marker.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker).is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn collect(object: &Node, target: KubeVersion, found: &mut Vec<RemovedUse>) {
    let (Some(api_version), Some(kind)) = (text(object, "apiVersion"), text(object, "kind")) else {
        return;
    };
    if kind.ends_with("List")
        && let Some(NodeKind::Seq(items)) = object.get("items").map(|e| &e.value.kind)
    {
        for item in items {
            collect(item, target, found);
        }
        return;
    }
    let Some(removed) = lookup(api_version, kind).filter(|r| r.removed_in <= target) else {
        return;
    };
    let metadata = object.get("metadata").map(|e| &e.value);
    let field = |key: &str| metadata.and_then(|m| text(m, key)).map(str::to_owned);
    let (replacement, note) = served_replacement(removed, target);
    found.push(RemovedUse {
        kind: kind.to_owned(),
        name: field("name").or_else(|| field("generateName")).unwrap_or_default(),
        namespace: field("namespace"),
        api_version: api_version.to_owned(),
        removed_in: removed.removed_in,
        replacement,
        note,
    });
}

/// The replacement served at `target`, following replacements that were removed in turn, with the
/// notes met on the way joined in order.
fn served_replacement(removed: &RemovedApi, target: KubeVersion) -> (Option<String>, Option<String>) {
    let mut notes: Vec<&str> = removed.note.as_deref().into_iter().collect();
    let mut replacement = removed.replacement.clone();
    // Bounded by the table's length: a cycle is refused by `parse_table`, this only keeps it finite.
    for _ in 0..TABLE.removed.len() {
        let Some(next) = replacement.as_deref().and_then(|r| lookup(r, &removed.kind)) else { break };
        if next.removed_in > target {
            break;
        }
        notes.extend(next.note.as_deref());
        replacement = next.replacement.clone();
    }
    let note = (!notes.is_empty()).then(|| notes.join(" "));
    (replacement, note)
}

/// A mapping's value for `key` when it is a scalar, as written.
pub(super) fn text<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    match &node.get(key)?.value.kind {
        NodeKind::Scalar(s) => Some(s.text.as_str()),
        _ => None,
    }
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

fn join_api_version(group: &str, version: &str) -> String {
    if group.is_empty() { version.to_owned() } else { format!("{group}/{version}") }
}

/// The file's shape; versions are strings there (`"1.25"`) and checked by [`parse_table`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    source: Source,
    removed: Vec<RawRemovedApi>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawRemovedApi {
    group: String,
    version: String,
    kind: String,
    removed_in: String,
    #[serde(default)]
    deprecated_in: Option<String>,
    replacement: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

/// Parses and checks a table: versions are `major.minor`, deprecation precedes removal, each entry
/// says what to do instead, no entry appears twice, and following replacements always ends.
fn parse_table(json: &str) -> Result<Table, String> {
    let raw: RawTable = serde_json::from_str(json).map_err(|e| format!("not a removal table: {e}"))?;
    let mut removed: Vec<RemovedApi> = Vec::with_capacity(raw.removed.len());
    for (i, r) in raw.removed.into_iter().enumerate() {
        let at = format!("removed[{i}] ({} {})", join_api_version(&r.group, &r.version), r.kind);
        let version = |v: &str| {
            rules::kube_version(v).map(|(major, minor)| KubeVersion { major, minor }).map_err(|e| format!("{at}: {e}"))
        };
        let removed_in = version(&r.removed_in)?;
        let deprecated_in = r.deprecated_in.as_deref().map(version).transpose()?;
        if deprecated_in.is_some_and(|d| d >= removed_in) {
            return Err(format!("{at}: deprecatedIn must be before removedIn"));
        }
        if r.version.is_empty() || r.kind.is_empty() {
            return Err(format!("{at}: version and kind are required"));
        }
        if r.replacement.is_none() && r.note.is_none() {
            return Err(format!("{at}: name a replacement, or a note saying what to do instead"));
        }
        if removed.iter().any(|p| (&p.group, &p.version, &p.kind) == (&r.group, &r.version, &r.kind)) {
            return Err(format!("{at}: listed twice"));
        }
        removed.push(RemovedApi {
            group: r.group,
            version: r.version,
            kind: r.kind,
            removed_in,
            deprecated_in,
            replacement: r.replacement,
            note: r.note,
        });
    }
    // A replacement must be served for longer than what it replaces, or the chain could loop.
    for r in &removed {
        let Some(next) = r.replacement.as_deref().and_then(|a| {
            let (g, v) = split_api_version(a);
            removed.iter().find(|n| n.group == g && n.version == v && n.kind == r.kind)
        }) else {
            continue;
        };
        if next.removed_in <= r.removed_in {
            return Err(format!(
                "{} {}: its replacement {} is removed in {}, no later than it is",
                r.api_version(),
                r.kind,
                next.api_version(),
                next.removed_in
            ));
        }
    }
    Ok(Table { source: raw.source, removed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> KubeVersion {
        KubeVersion { major: 1, minor }
    }

    fn kinds(found: &[RemovedUse]) -> Vec<(&str, &str)> {
        found.iter().map(|u| (u.kind.as_str(), u.name.as_str())).collect()
    }

    const PDB_V1BETA1: &str = "\
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: api
  namespace: payments
spec:
  minAvailable: 1
";

    #[test]
    fn a_policy_v1beta1_pod_disruption_budget_is_found_going_to_1_25_but_not_to_1_24() {
        let found = removed_uses(PDB_V1BETA1, v(25)).unwrap();
        assert_eq!(
            found,
            vec![RemovedUse {
                kind: "PodDisruptionBudget".into(),
                name: "api".into(),
                namespace: Some("payments".into()),
                api_version: "policy/v1beta1".into(),
                removed_in: v(25),
                replacement: Some("policy/v1".into()),
                note: table().removed.iter().find(|r| r.kind == "PodDisruptionBudget").unwrap().note.clone(),
            }]
        );
        assert_eq!(removed_uses(PDB_V1BETA1, v(24)).unwrap(), vec![]);
    }

    #[test]
    fn a_flowcontrol_v1beta3_flow_schema_is_found_at_1_32_not_1_31() {
        let manifest = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta3\nkind: FlowSchema\nmetadata: {name: probes}\n";
        let found = removed_uses(manifest, v(32)).unwrap();
        assert_eq!(kinds(&found), [("FlowSchema", "probes")]);
        assert_eq!(found[0].replacement.as_deref(), Some("flowcontrol.apiserver.k8s.io/v1"));
        assert_eq!(found[0].namespace, None, "a cluster-scoped object has no namespace");
        assert_eq!(removed_uses(manifest, v(31)).unwrap(), vec![]);
    }

    #[test]
    fn current_apis_are_never_found() {
        let manifests = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: api}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: api}
---
apiVersion: example.com/v1beta1
kind: Widget
metadata: {name: custom-resources-are-not-ours-to-judge}
";
        assert_eq!(removed_uses(manifests, v(99)).unwrap(), vec![]);
    }

    #[test]
    fn a_version_served_again_for_a_new_kind_is_not_mistaken_for_the_removed_one() {
        // coordination.k8s.io/v1beta1 lost Lease in 1.22 and gained LeaseCandidate in 1.33.
        let manifests = "\
apiVersion: coordination.k8s.io/v1beta1
kind: LeaseCandidate
metadata: {name: candidate}
---
apiVersion: coordination.k8s.io/v1beta1
kind: Lease
metadata: {name: lock}
";
        assert_eq!(kinds(&removed_uses(manifests, v(33)).unwrap()), [("Lease", "lock")]);
    }

    #[test]
    fn items_of_a_list_are_scanned_one_by_one() {
        let manifest = "\
apiVersion: v1
kind: List
items:
  - apiVersion: batch/v1beta1
    kind: CronJob
    metadata: {name: nightly, namespace: jobs}
  - apiVersion: batch/v1
    kind: CronJob
    metadata: {name: hourly, namespace: jobs}
  - apiVersion: v1
    kind: List
    items:
      - apiVersion: extensions/v1beta1
        kind: Ingress
        metadata: {name: legacy}
";
        let found = removed_uses(manifest, v(30)).unwrap();
        assert_eq!(kinds(&found), [("CronJob", "nightly"), ("Ingress", "legacy")]);
        assert_eq!(found[0].namespace.as_deref(), Some("jobs"));
    }

    #[test]
    fn helm_source_comments_and_empty_documents_are_tolerated() {
        let helm_template = "\
---
# Source: api/templates/pdb.yaml
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: api
---
# Source: api/templates/disabled.yaml
---
---
# Source: api/templates/hpa.yaml
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata:
  name: api
  generateName: ignored-when-a-name-is-set-
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: api}
...
--- # a marker with a comment
# Source: api/templates/cm.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  generateName: settings-
data:
  embedded.yaml: |
    ----
    apiVersion: policy/v1beta1
";
        let found = removed_uses(helm_template, v(26)).unwrap();
        assert_eq!(kinds(&found), [("PodDisruptionBudget", "api"), ("HorizontalPodAutoscaler", "api")]);
        assert_eq!(removed_uses("", v(26)).unwrap(), vec![]);
        assert_eq!(removed_uses("---\n# nothing rendered\n---\r\n\r\n", v(26)).unwrap(), vec![]);
    }

    #[test]
    fn a_document_that_is_not_yaml_is_an_error_naming_where_it_is() {
        let stored = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: fine}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: [broken
";
        let err = removed_uses(stored, v(30)).unwrap_err();
        assert_eq!(
            err,
            "manifest document 2 (from line 4) is not valid YAML: line 8, column 1: \
             invalid YAML: while parsing a flow sequence, expected ',' or ']'"
        );
    }

    #[test]
    fn a_replacement_removed_in_turn_is_followed_to_the_one_served_at_the_target() {
        let flow = "apiVersion: flowcontrol.apiserver.k8s.io/v1beta1\n\
                    kind: PriorityLevelConfiguration\n\
                    metadata: {name: x}\n";
        let at = |minor| removed_uses(flow, v(minor)).unwrap().remove(0);
        assert_eq!(at(26).replacement.as_deref(), Some("flowcontrol.apiserver.k8s.io/v1beta3"));
        let at_1_32 = at(32);
        assert_eq!(at_1_32.replacement.as_deref(), Some("flowcontrol.apiserver.k8s.io/v1"));
        assert!(at_1_32.note.unwrap().contains("an explicit 0 stays 0"), "the later entry's note is kept");

        let psp = "apiVersion: extensions/v1beta1\nkind: PodSecurityPolicy\nmetadata: {name: restricted}\n";
        let before = removed_uses(psp, v(24)).unwrap().remove(0);
        assert_eq!(before.replacement.as_deref(), Some("policy/v1beta1"));
        let after = removed_uses(psp, v(25)).unwrap().remove(0);
        assert_eq!(after.replacement, None, "PodSecurityPolicy has no replacement from 1.25");
        assert!(after.note.unwrap().contains("Pod Security Admission"));
    }

    #[test]
    fn removals_between_lists_only_what_the_upgrade_crosses() {
        let crossed: Vec<String> =
            removals_between(v(31), v(32)).iter().map(|r| format!("{} {}", r.api_version(), r.kind)).collect();
        assert_eq!(
            crossed,
            [
                "flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema",
                "flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration"
            ]
        );
        assert!(removals_between(v(32), v(35)).is_empty(), "nothing was removed in 1.33 to 1.35");
        assert_eq!(removals_between(v(15), v(35)).len(), table().removed.len());
        let releases: Vec<KubeVersion> = removals_between(v(15), v(35)).iter().map(|r| r.removed_in).collect();
        assert!(releases.is_sorted(), "oldest release first");
    }

    #[test]
    fn every_table_entry_parses_and_names_a_replacement_or_a_note() {
        let table = parse_table(TABLE_JSON).unwrap();
        assert!(table.removed.len() >= 50, "{} entries", table.removed.len());
        let guide = "https://kubernetes.io/docs/reference/using-api/deprecation-guide/";
        assert!(table.source.urls.iter().any(|u| u == guide), "the table cites the migration guide");
        assert_eq!(table.source.checked.len(), "YYYY-MM-DD".len(), "the date the table was checked");
        for r in &table.removed {
            assert!(r.replacement.is_some() || r.note.is_some(), "{} {}", r.api_version(), r.kind);
            if let Some(replacement) = &r.replacement {
                assert_ne!(replacement, &r.api_version(), "{} replaces itself", r.kind);
                assert!(replacement.contains('/'), "{replacement}: only core is group-less, and core lost none");
            }
        }
    }

    #[test]
    fn the_table_covers_each_release_that_removed_apis() {
        let releases: std::collections::BTreeSet<u32> = table().removed.iter().map(|r| r.removed_in.minor).collect();
        assert_eq!(releases.into_iter().collect::<Vec<_>>(), [16, 22, 25, 26, 27, 29, 32]);
        for (api_version, kind) in [
            ("extensions/v1beta1", "Deployment"),
            ("apps/v1beta2", "StatefulSet"),
            ("extensions/v1beta1", "PodSecurityPolicy"),
            ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
            ("networking.k8s.io/v1beta1", "IngressClass"),
            ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
            ("storage.k8s.io/v1beta1", "VolumeAttachment"),
            ("batch/v1beta1", "CronJob"),
            ("policy/v1beta1", "PodSecurityPolicy"),
            ("autoscaling/v2beta2", "HorizontalPodAutoscaler"),
            ("storage.k8s.io/v1beta1", "CSIStorageCapacity"),
            ("flowcontrol.apiserver.k8s.io/v1beta2", "PriorityLevelConfiguration"),
        ] {
            assert!(lookup(api_version, kind).is_some(), "{api_version} {kind} missing");
        }
    }

    #[test]
    fn a_malformed_table_is_refused_with_the_entry_named() {
        let table = |entry: &str| {
            format!(
                r#"{{"source": {{"title": "t", "urls": [], "checked": "2026-01-01", "scope": "s", "notes": "n"}},
                    "removed": [{entry}]}}"#
            )
        };
        let entry = r#"{"group": "batch", "version": "v1beta1", "kind": "CronJob", "removedIn": "1.25",
                        "replacement": "batch/v1"}"#;
        assert!(parse_table(&table(entry)).is_ok());
        let err = |e: &str| parse_table(&table(e)).unwrap_err();
        assert!(err(&entry.replace("1.25", "v1.25")).contains("removed[0] (batch/v1beta1 CronJob)"));
        assert!(err(&entry.replace(r#""batch/v1""#, "null")).contains("name a replacement"));
        assert!(err(&format!("{entry}, {entry}")).contains("listed twice"));
        assert!(err(&entry.replace("\"kind\"", "\"deprecatedIn\": \"1.25\", \"kind\"")).contains("before removedIn"));
        assert!(err(&entry.replace("removedIn", "removed")).contains("not a removal table"));
        let looping = r#"{"group": "a", "version": "v1", "kind": "K", "removedIn": "1.20", "replacement": "b/v1"},
                         {"group": "b", "version": "v1", "kind": "K", "removedIn": "1.20", "replacement": "a/v1"}"#;
        assert!(err(looping).contains("no later than"));
    }
}
