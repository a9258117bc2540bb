//! A release's chart as a `.tgz` package helm accepts, rebuilt from the release record alone, so
//! a replay works when the chart repository is gone.
//!
//! Helm does not store subcharts in the release (they are unexported in its chart type), only the
//! parent chart and the rendered manifest. Each dependency is therefore rebuilt as a *frozen*
//! subchart: its rendered documents (manifest and hooks whose `# Source:` lies under
//! `<chart>/charts/<dep>/`) become templates that print exactly that text. With the same release
//! name, namespace and values, helm renders the same manifest; a frozen subchart no longer reacts
//! to new values, which is what "replay exactly what blue runs" asks.
//!
//! The archive is byte-stable: sorted entries, fixed mode, owner and mtime, gzip without a
//! timestamp. Its sha256 is the lock file's digest; the sha256 of the uncompressed tar is the
//! content digest drift compares (it does not depend on the compressor's version).

use std::collections::BTreeMap;
use std::io::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::providers::release_record::{ChartFile, Record};

/// A packaged chart.
#[derive(Debug, Clone)]
pub struct Package {
    /// `NAME-VERSION.tgz`, as `helm package` names it.
    pub file_name: String,
    /// The packaged chart's bytes.
    pub bytes: Vec<u8>,
    /// Lowercase hex sha256 of `bytes`.
    pub sha256: String,
    /// Lowercase hex sha256 of the uncompressed tar.
    pub content_sha256: String,
}

fn json_text(v: &Value) -> Vec<u8> {
    let mut text = serde_json::to_vec_pretty(v).expect("JSON serializes");
    text.push(b'\n');
    text
}

/// The documents of the manifest and hooks, grouped by their template path.
fn rendered_by_source(record: &Record) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for doc in record.manifest.split("\n---\n").flat_map(|d| d.strip_prefix("---\n").or(Some(d))) {
        let mut lines = doc.splitn(2, '\n');
        let first = lines.next().unwrap_or_default();
        if let Some(source) = first.strip_prefix("# Source: ") {
            let body = lines.next().unwrap_or_default().trim().to_string();
            if !body.is_empty() {
                out.entry(source.trim().to_string()).or_default().push(body);
            }
        }
    }
    for hook in &record.hooks {
        let body = hook.manifest.trim();
        if !body.is_empty() {
            out.entry(hook.path.clone()).or_default().push(body.to_string());
        }
    }
    out
}

/// Template text that renders to exactly `text`: as is when it holds no template action,
/// otherwise as one Go string literal.
fn frozen_template(text: &str) -> String {
    if !text.contains("{{") {
        return format!("{text}\n");
    }
    let mut lit = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\\' => lit.push_str("\\\\"),
            '"' => lit.push_str("\\\""),
            '\n' => lit.push_str("\\n"),
            '\r' => lit.push_str("\\r"),
            '\t' => lit.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => lit.push_str(&format!("\\x{:02x}", c as u32)),
            c => lit.push(c),
        }
    }
    format!("{{{{ \"{lit}\" }}}}\n")
}

/// The files of the package, relative to its top directory, in archive order.
pub fn chart_files(record: &Record) -> BTreeMap<String, Vec<u8>> {
    let chart = &record.chart;
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert("Chart.yaml".into(), json_text(&chart.metadata));
    files.insert("values.yaml".into(), json_text(&chart.values));
    if let Some(lock) = &chart.lock {
        files.insert("Chart.lock".into(), json_text(lock));
    }
    if let Some(schema) = &chart.schema {
        files.insert("values.schema.json".into(), schema.clone());
    }
    for ChartFile { name, data } in chart.templates.iter().chain(&chart.files) {
        files.insert(name.clone(), data.clone());
    }
    // Frozen subcharts: one directory per dependency (even a disabled one: helm refuses a chart
    // whose Chart.yaml lists a dependency missing from charts/), then nested ones as rendered.
    let prefix = format!("{}/", chart.name());
    let mut subcharts: BTreeMap<String, (String, String)> = BTreeMap::new();
    for dep in chart.metadata["dependencies"].as_array().into_iter().flatten() {
        let Some(name) = dep["name"].as_str() else { continue };
        let dir = dep["alias"].as_str().unwrap_or(name);
        let version = dep["version"].as_str().filter(|v| semver_like(v)).unwrap_or("0.0.0");
        subcharts.insert(format!("charts/{dir}"), (name.to_string(), version.to_string()));
    }
    for (source, docs) in rendered_by_source(record) {
        let Some(rel) = source.strip_prefix(&prefix) else { continue };
        if !rel.starts_with("charts/") {
            continue;
        }
        // charts/a/charts/b/templates/x.yaml → subchart dirs charts/a and charts/a/charts/b.
        let parts: Vec<&str> = rel.split('/').collect();
        let mut i = 0;
        while i + 1 < parts.len() && parts[i] == "charts" {
            let dir = parts[..i + 2].join("/");
            subcharts.entry(dir).or_insert_with(|| (parts[i + 1].to_string(), "0.0.0".into()));
            i += 2;
        }
        files.insert(rel.to_string(), frozen_template(&docs.join("\n---\n")).into_bytes());
    }
    for (dir, (name, version)) in subcharts {
        let meta = serde_json::json!({
            "apiVersion": "v2",
            "name": name,
            "version": version,
            "description": "Frozen by cutover capture: renders exactly what the release ran.",
        });
        files.insert(format!("{dir}/Chart.yaml"), json_text(&meta));
    }
    files
}

/// A loose check that helm will accept `v` as a chart version (it must be SemVer 2).
fn semver_like(v: &str) -> bool {
    let core = v.trim_start_matches('v').split(['-', '+']).next().unwrap_or_default();
    let nums: Vec<&str> = core.split('.').collect();
    nums.len() == 3 && nums.iter().all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Packages the chart of `record`.
pub fn package(record: &Record) -> Package {
    let chart = &record.chart;
    let top = chart.name().to_string();
    let mut tar = tar::Builder::new(Vec::new());
    tar.mode(tar::HeaderMode::Deterministic);
    for (path, data) in chart_files(record) {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{top}/{path}"), data.as_slice())
            .expect("writing to memory cannot fail");
    }
    let raw = tar.into_inner().expect("writing to memory cannot fail");
    let content_sha256 = hex::encode(Sha256::digest(&raw));
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    gz.write_all(&raw).expect("writing to memory cannot fail");
    let bytes = gz.finish().expect("writing to memory cannot fail");
    Package {
        file_name: format!("{top}-{}.tgz", chart.version()),
        sha256: hex::encode(Sha256::digest(&bytes)),
        content_sha256,
        bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::release_record::StoredChart;
    use serde_json::json;

    fn record() -> Record {
        Record {
            name: "w".into(),
            namespace: "n".into(),
            revision: 1,
            status: "deployed".into(),
            chart: StoredChart {
                metadata: json!({"apiVersion": "v2", "name": "worker", "version": "0.3.0",
                    "dependencies": [{"name": "queue", "version": "0.1.0", "condition": "queue.enabled"},
                                     {"name": "cache", "version": "~1.2", "alias": "redis"}]}),
                lock: None,
                templates: vec![ChartFile { name: "templates/d.yaml".into(), data: b"kind: {{ .Values.k }}".to_vec() }],
                values: json!({"k": "D"}),
                schema: None,
                files: vec![],
            },
            config: json!({}),
            manifest: "---\n# Source: worker/charts/queue/templates/svc.yaml\nkind: Service\nmetadata: {name: q}\n---\n# Source: worker/charts/queue/templates/svc.yaml\nkind: Service\ndata: \"{{ literal }}\"\n---\n# Source: worker/templates/d.yaml\nkind: D\n".into(),
            hooks: vec![],
        }
    }

    #[test]
    fn subcharts_are_frozen_from_the_manifest_and_every_dependency_has_a_chart() {
        let files = chart_files(&record());
        assert_eq!(files["templates/d.yaml"], b"kind: {{ .Values.k }}");
        let svc = String::from_utf8(files["charts/queue/templates/svc.yaml"].clone()).unwrap();
        assert_eq!(
            svc,
            "{{ \"kind: Service\\nmetadata: {name: q}\\n---\\nkind: Service\\ndata: \\\"{{ literal }}\\\"\" }}\n"
        );
        let queue: Value = serde_json::from_slice(&files["charts/queue/Chart.yaml"]).unwrap();
        assert_eq!((queue["name"].as_str(), queue["version"].as_str()), (Some("queue"), Some("0.1.0")));
        // An aliased dependency keeps its chart name; a version range becomes a placeholder.
        let redis: Value = serde_json::from_slice(&files["charts/redis/Chart.yaml"]).unwrap();
        assert_eq!((redis["name"].as_str(), redis["version"].as_str()), (Some("cache"), Some("0.0.0")));
    }

    #[test]
    fn the_same_record_packages_to_the_same_bytes() {
        let a = package(&record());
        let b = package(&record());
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(a.file_name, "worker-0.3.0.tgz");
        let mut other = record();
        other.chart.values = json!({"k": "E"});
        assert_ne!(package(&other).content_sha256, a.content_sha256);
    }
}
