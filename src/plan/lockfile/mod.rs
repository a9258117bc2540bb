//! The lock file: every release pinned from a cluster — chart name, version, appVersion and
//! digest, the user-supplied values without their secrets, where each secret comes from, status
//! and revision — plus the releases that could not be pinned and why.
//!
//! It is YAML written in JSON style (JSON is YAML 1.2; we carry no YAML serializer), with sorted
//! keys, so two captures of the same cluster are byte-identical apart from `capturedAt`. It is read
//! with the plan's located YAML reader, so a hand-edited lock file gets `file:line:col` messages
//! like a plan.

pub mod replay;

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::plan::Diagnostic;
use crate::plan::path::locate;
use crate::plan::yaml::{self, Node, NodeKind, ScalarValue};

/// The `apiVersion` every releases lock file carries.
pub const API_VERSION: &str = "cutover.dev/v1";
/// The `kind` every releases lock file carries.
pub const KIND: &str = "ReleaseLock";

/// A releases lock file: the exact releases (charts, versions, values) captured from a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasesLock {
    /// Always [`API_VERSION`].
    pub api_version: String,
    /// Always [`KIND`].
    pub kind: String,
    /// The cluster captured.
    pub cluster: String,
    /// RFC 3339.
    pub captured_at: String,
    /// The pinned releases, replayable through a plan with `releases: {lock: FILE}`.
    pub releases: Vec<LockedRelease>,
    /// Releases found but not pinned (failed, pending, corrupt records): a plan refuses a lock
    /// with problems until someone decides (fix the release and capture again, or delete the entry).
    pub problems: Vec<Problem>,
    /// Pinned, but worth knowing (e.g. a failed upgrade newer than the pinned revision).
    pub warnings: Vec<Problem>,
    /// The cluster's Pod Identity associations (not an add-on's own): a plan replaying this lock
    /// gets them on green unless it lists `green.podIdentities` itself.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pod_identities: Vec<LockedPodIdentity>,
    /// IRSA roles the releases' service accounts name (`eks.amazonaws.com/role-arn`): what the
    /// `irsa` pre-flight gate will check, for the record.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub irsa_roles: Vec<LockedIrsaRole>,
}

/// A Pod Identity association as captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedPodIdentity {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub service_account: String,
    /// The IAM role its pods get.
    pub role_arn: String,
}

/// A service account's IRSA role as captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedIrsaRole {
    /// `namespace/name`.
    pub service_account: String,
    /// The role its annotation names.
    pub role_arn: String,
}

/// One captured release, pinned to its exact chart and values.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedRelease {
    /// Release name.
    pub name: String,
    /// Namespace the release lives in.
    pub namespace: String,
    /// The exact chart it ran, exported next to the lock.
    pub chart: LockedChart,
    /// Helm status of the captured revision, e.g. `deployed`.
    pub status: String,
    /// The captured helm revision.
    pub revision: u32,
    /// User-supplied values, secrets removed.
    pub values: Value,
    /// Where each secret value comes from at replay; the values themselves are never written.
    pub secret_values: Vec<LockedSecret>,
    /// Why this release cannot be replayed as captured (a secret the lock cannot carry).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs_attention: Vec<String>,
}

/// The chart a release ran, as exported by capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedChart {
    /// Chart name.
    pub name: String,
    /// Exact chart version.
    pub version: String,
    /// The chart's `appVersion`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// `sha256:` of the exported package.
    pub digest: String,
    /// `sha256:` of the package's uncompressed tar (what drift compares).
    pub content_digest: String,
    /// The exported package, relative to the lock file (absolute once loaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

/// A secret value of a locked release: its key and where to read it at replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LockedSecret {
    /// Dotted path into the chart's values, e.g. `auth.password`.
    pub key: String,
    /// Environment variable holding the value at replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// File whose content is the value at replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_file: Option<PathBuf>,
}

/// A release capture found but could not pin, or pinned with a caveat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// `namespace/name`.
    pub release: String,
    /// The release Secret concerned.
    pub secret: String,
    /// What is wrong, for people.
    pub message: String,
}

impl ReleasesLock {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("lock serializes");
        text.push('\n');
        text
    }
}

pub(crate) fn node_value(node: &Node) -> Value {
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Seq(items) => Value::Array(items.iter().map(node_value).collect()),
        NodeKind::Map(entries) => {
            Value::Object(entries.iter().map(|e| (e.key.clone(), node_value(&e.value))).collect::<Map<_, _>>())
        }
        NodeKind::Scalar(s) => match s.value {
            ScalarValue::Str => Value::String(s.text.clone()),
            ScalarValue::Bool(b) => Value::Bool(b),
            ScalarValue::Int(i) => i64::try_from(i)
                .map(Value::from)
                .or_else(|_| u64::try_from(i).map(Value::from))
                .unwrap_or_else(|_| Value::String(s.text.clone())),
            ScalarValue::Float(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        },
    }
}

/// Reads fields of the lock tree, collecting located problems.
struct Reader<'a> {
    file: &'a Path,
    root: &'a Node,
    out: Vec<Diagnostic>,
}

impl Reader<'_> {
    fn err(&mut self, path: &str, message: String) {
        let pos = locate(self.root, path);
        self.out.push(Diagnostic {
            file: self.file.to_path_buf(),
            line: pos.line,
            column: pos.column,
            path: path.to_string(),
            message,
        });
    }

    fn string(&mut self, v: &Value, path: &str, field: &str) -> String {
        let p = if path.is_empty() { field.to_string() } else { format!("{path}.{field}") };
        match &v[field] {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Null => {
                self.err(path, format!("missing `{field}`"));
                String::new()
            }
            other => {
                self.err(&p, format!("expected a non-empty string, found {other}"));
                String::new()
            }
        }
    }

    fn opt_string(&mut self, v: &Value, path: &str, field: &str) -> Option<String> {
        match &v[field] {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            other => {
                self.err(&format!("{path}.{field}"), format!("expected a string, found {other}"));
                None
            }
        }
    }

    fn digest(&mut self, v: &Value, path: &str, field: &str) -> String {
        let d = self.string(v, path, field);
        match crate::plan::rules::digest(&d) {
            Ok(hex) => hex,
            Err(m) if !d.is_empty() => {
                self.err(&format!("{path}.{field}"), m);
                String::new()
            }
            Err(_) => String::new(),
        }
    }
}

/// Reads the lock file at `file`. Relative chart paths are made absolute against its directory.
pub fn load(file: &Path) -> Result<ReleasesLock, Vec<Diagnostic>> {
    let single = |line, column, message: String| {
        vec![Diagnostic { file: file.to_path_buf(), line, column, path: String::new(), message }]
    };
    let text = std::fs::read_to_string(file).map_err(|e| single(0, 0, format!("cannot read the lock file: {e}")))?;
    let root = match yaml::parse(&text) {
        Ok(Some(root)) => root,
        Ok(None) => return Err(single(1, 1, "the lock file is empty; write it with `cutover capture`".into())),
        Err(e) => return Err(single(e.pos.line, e.pos.column, e.message)),
    };
    let v = node_value(&root);
    let mut r = Reader { file, root: &root, out: Vec::new() };
    if v["apiVersion"] != API_VERSION || v["kind"] != KIND {
        return Err(single(
            root.pos.line,
            root.pos.column,
            format!("not a cutover lock file (expected `apiVersion: {API_VERSION}` and `kind: {KIND}`); write one with `cutover capture`"),
        ));
    }
    let base = file.parent().unwrap_or(Path::new(""));
    let base = std::path::absolute(if base.as_os_str().is_empty() { Path::new(".") } else { base })
        .unwrap_or_else(|_| base.to_path_buf());
    let cluster = r.string(&v, "", "cluster");
    let captured_at = r.opt_string(&v, "", "capturedAt").unwrap_or_default();
    let mut releases = Vec::new();
    for (i, rel) in v["releases"].as_array().into_iter().flatten().enumerate() {
        let p = format!("releases[{i}]");
        let cp = format!("{p}.chart");
        let chart = &rel["chart"];
        let locked_chart = LockedChart {
            name: r.string(chart, &cp, "name"),
            version: r.string(chart, &cp, "version"),
            app_version: r.opt_string(chart, &cp, "appVersion"),
            digest: r.digest(chart, &cp, "digest"),
            content_digest: r.digest(chart, &cp, "contentDigest"),
            path: r.opt_string(chart, &cp, "path").map(|s| base.join(s)),
        };
        let mut secret_values = Vec::new();
        for (j, s) in rel["secretValues"].as_array().into_iter().flatten().enumerate() {
            let sp = format!("{p}.secretValues[{j}]");
            let key = r.string(s, &sp, "key");
            let from_env = r.opt_string(s, &sp, "fromEnv");
            let from_file = r.opt_string(s, &sp, "fromFile").map(|f| base.join(f));
            if from_env.is_some() == from_file.is_some() {
                r.err(&sp, "give exactly one of `fromEnv` or `fromFile`".into());
            }
            secret_values.push(LockedSecret { key, from_env, from_file });
        }
        let values = match &rel["values"] {
            Value::Null => Value::Object(Map::new()),
            v @ Value::Object(_) => v.clone(),
            other => {
                r.err(&format!("{p}.values"), format!("expected a mapping, found {other}"));
                Value::Object(Map::new())
            }
        };
        releases.push(LockedRelease {
            name: r.string(rel, &p, "name"),
            namespace: r.string(rel, &p, "namespace"),
            chart: locked_chart,
            status: r.opt_string(rel, &p, "status").unwrap_or_default(),
            revision: rel["revision"].as_u64().unwrap_or(0) as u32,
            values,
            secret_values,
            needs_attention: strings(&rel["needsAttention"]),
        });
    }
    let warnings = problem_list(&v["warnings"]);
    let problems = problem_list(&v["problems"]);
    let mut pod_identities = Vec::new();
    for (i, pi) in v["podIdentities"].as_array().into_iter().flatten().enumerate() {
        let p = format!("podIdentities[{i}]");
        pod_identities.push(LockedPodIdentity {
            namespace: r.string(pi, &p, "namespace"),
            service_account: r.string(pi, &p, "serviceAccount"),
            role_arn: r.string(pi, &p, "roleArn"),
        });
    }
    let mut irsa_roles = Vec::new();
    for (i, role) in v["irsaRoles"].as_array().into_iter().flatten().enumerate() {
        let p = format!("irsaRoles[{i}]");
        irsa_roles.push(LockedIrsaRole { service_account: r.string(role, &p, "serviceAccount"), role_arn: r.string(role, &p, "roleArn") });
    }
    if !r.out.is_empty() {
        return Err(r.out);
    }
    Ok(ReleasesLock {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        cluster,
        captured_at,
        releases,
        problems,
        warnings,
        pod_identities,
        irsa_roles,
    })
}

fn problem_list(v: &Value) -> Vec<Problem> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|p| Problem {
            release: p["release"].as_str().unwrap_or_default().to_string(),
            secret: p["secret"].as_str().unwrap_or_default().to_string(),
            message: p["message"].as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// Whether `text` is a lock file (its `kind` is `ReleaseLock`) rather than, say, a plan.
pub fn is_lock(text: &str) -> bool {
    yaml::parse(text)
        .ok()
        .flatten()
        .and_then(|root| root.get("kind").map(|e| node_value(&e.value)))
        .is_some_and(|k| k == KIND)
}

/// A problem at `path` of the lock file `file`, located by reading the file again (only errors
/// pay for it).
pub fn diagnostic(file: &Path, path: &str, message: String) -> Diagnostic {
    let pos = std::fs::read_to_string(file)
        .ok()
        .and_then(|t| yaml::parse(&t).ok().flatten())
        .map(|root| locate(&root, path))
        .unwrap_or_default();
    Diagnostic { file: file.to_path_buf(), line: pos.line, column: pos.column, path: path.to_string(), message }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lock() -> ReleasesLock {
        ReleasesLock {
            api_version: API_VERSION.into(),
            kind: KIND.into(),
            cluster: "blue".into(),
            captured_at: "2026-01-01T00:00:00Z".into(),
            releases: vec![LockedRelease {
                name: "web".into(),
                namespace: "apps".into(),
                chart: LockedChart {
                    name: "web".into(),
                    version: "1.0.0".into(),
                    app_version: Some("1.0".into()),
                    digest: format!("sha256:{}", "a".repeat(64)),
                    content_digest: format!("sha256:{}", "b".repeat(64)),
                    path: Some("charts/web-1.0.0.tgz".into()),
                },
                status: "deployed".into(),
                revision: 2,
                values: json!({"replicaCount": 2, "nested": {"on": true, "ratio": 0.5}}),
                secret_values: vec![LockedSecret { key: "auth.password".into(), from_env: Some("PW".into()), from_file: None }],
                needs_attention: vec![],
            }],
            problems: vec![],
            warnings: vec![],
            pod_identities: Vec::new(),
            irsa_roles: Vec::new(),
        }
    }

    #[test]
    fn a_written_lock_reads_back_with_chart_paths_made_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("releases.lock.yaml");
        std::fs::write(&file, lock().to_text()).unwrap();
        let read = load(&file).unwrap();
        let mut expected = lock();
        expected.releases[0].chart.digest = "a".repeat(64);
        expected.releases[0].chart.content_digest = "b".repeat(64);
        expected.releases[0].chart.path = Some(dir.path().join("charts/web-1.0.0.tgz"));
        assert_eq!(read, expected);
    }

    #[test]
    fn a_broken_lock_is_reported_with_file_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("l.yaml");
        let text = lock().to_text().replace("\"version\": \"1.0.0\"", "\"version\": 7");
        std::fs::write(&file, text.replace(&"a".repeat(64), "nothex")).unwrap();
        let errs = load(&file).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 2, "{shown:?}");
        assert!(shown[0].contains("releases[0].chart.version: expected a non-empty string, found 7"), "{shown:?}");
        assert!(shown[0].starts_with(&format!("{}:", file.display())) && errs[0].line > 1, "{shown:?}");
        assert!(shown[1].contains("releases[0].chart.digest"), "{shown:?}");
    }
}
