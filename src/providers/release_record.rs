//! Decoding one Helm release record: the `release` value of a `helm.sh/release.v1` Secret is
//! base64 of gzip of JSON (helm 3 and 4 alike; helm skips gunzip when the bytes do not start
//! `1f 8b 08`, and so do we). The JSON holds the whole chart except its subcharts (helm does not
//! serialize them), the user-supplied values (`config`), the rendered manifest and the hooks.

use std::io::Read as _;

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

/// Largest decompressed record accepted: a Secret holds at most 1 MiB, and gzip of JSON rarely
/// shrinks more than 20×, so this only stops a gzip bomb.
const MAX_RECORD: u64 = 64 * 1024 * 1024;

/// Why a release record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The Secret has no `release` data value.
    #[error("has no `release` data")]
    Missing,
    /// The data is not valid base64.
    #[error("is not base64 ({0})")]
    Base64(String),
    /// The data is not valid gzip.
    #[error("is not valid gzip ({0})")]
    Gzip(String),
    /// The data decompresses past the size limit (a gzip bomb).
    #[error("decompresses to more than {MAX_RECORD} bytes; refusing it")]
    TooLarge,
    /// The decompressed JSON is not a helm release.
    #[error("is not a helm release record ({0})")]
    Json(String),
}

/// A file of a chart (template, file, or the frozen text of a subchart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFile {
    /// Path within the chart, e.g. `templates/deployment.yaml`.
    pub name: String,
    /// The file's bytes.
    pub data: Vec<u8>,
}

/// The chart as helm stored it in the release.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChart {
    /// Chart.yaml as helm parsed it (camelCase keys, as in the file).
    pub metadata: Value,
    /// Chart.lock, when the chart had one.
    pub lock: Option<Value>,
    /// The chart's templates.
    pub templates: Vec<ChartFile>,
    /// The chart's own values.yaml.
    pub values: Value,
    /// values.schema.json.
    pub schema: Option<Vec<u8>>,
    /// Other files of the chart (and frozen subcharts).
    pub files: Vec<ChartFile>,
}

impl StoredChart {
    /// Chart name, from Chart.yaml.
    pub fn name(&self) -> &str {
        self.metadata["name"].as_str().unwrap_or_default()
    }

    /// Chart version, from Chart.yaml.
    pub fn version(&self) -> &str {
        self.metadata["version"].as_str().unwrap_or_default()
    }

    /// The chart's `appVersion`, from Chart.yaml, if set.
    pub fn app_version(&self) -> Option<&str> {
        self.metadata["appVersion"].as_str()
    }
}

/// A Helm hook of a release revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// Template path, e.g. `worker/charts/queue/templates/job.yaml`.
    pub path: String,
    /// The hook's rendered manifest.
    pub manifest: String,
}

/// One revision of a release.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Release name.
    pub name: String,
    /// Namespace the release lives in.
    pub namespace: String,
    /// Helm revision number.
    pub revision: u32,
    /// As helm writes it: `deployed`, `failed`, `pending-upgrade`…
    pub status: String,
    /// The chart the revision was installed from.
    pub chart: StoredChart,
    /// The user-supplied values (`--set`, `-f`); `{}` when none.
    pub config: Value,
    /// The rendered manifest of the revision.
    pub manifest: String,
    /// The rendered hooks.
    pub hooks: Vec<Hook>,
}

#[derive(Deserialize)]
struct RawRecord {
    name: String,
    namespace: String,
    version: u32,
    #[serde(default)]
    info: Option<RawInfo>,
    chart: Option<RawChart>,
    #[serde(default)]
    config: Option<Value>,
    #[serde(default)]
    manifest: String,
    #[serde(default)]
    hooks: Option<Vec<RawHook>>,
}

#[derive(Deserialize)]
struct RawInfo {
    #[serde(default)]
    status: String,
}

#[derive(Deserialize)]
struct RawChart {
    metadata: Value,
    #[serde(default)]
    lock: Option<Value>,
    #[serde(default)]
    templates: Option<Vec<RawFile>>,
    #[serde(default)]
    values: Option<Value>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    files: Option<Vec<RawFile>>,
}

#[derive(Deserialize)]
struct RawFile {
    name: String,
    /// Go encodes `[]byte` as base64.
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
struct RawHook {
    #[serde(default)]
    path: String,
    #[serde(default)]
    manifest: String,
}

fn b64(text: &str) -> Result<Vec<u8>, RecordError> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| RecordError::Base64(e.to_string()))
}

fn files(raw: Option<Vec<RawFile>>) -> Result<Vec<ChartFile>, RecordError> {
    raw.unwrap_or_default()
        .into_iter()
        .map(|f| {
            let data = match f.data {
                Some(d) => b64(&d).map_err(|e| RecordError::Json(format!("file {}: {e}", f.name)))?,
                None => Vec::new(),
            };
            Ok(ChartFile { name: f.name, data })
        })
        .collect()
}

/// Decodes the `release` value of a release Secret (the bytes Kubernetes returns in `data`).
pub fn decode(release: &[u8]) -> Result<Record, RecordError> {
    let text = std::str::from_utf8(release).map_err(|e| RecordError::Base64(e.to_string()))?;
    let bytes = b64(text)?;
    let json = if bytes.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .take(MAX_RECORD + 1)
            .read_to_end(&mut out)
            .map_err(|e| RecordError::Gzip(e.to_string()))?;
        if out.len() as u64 > MAX_RECORD {
            return Err(RecordError::TooLarge);
        }
        out
    } else {
        bytes
    };
    let raw: RawRecord = serde_json::from_slice(&json).map_err(|e| RecordError::Json(e.to_string()))?;
    let chart = raw.chart.ok_or_else(|| RecordError::Json("it holds no chart".into()))?;
    if !chart.metadata.is_object() || chart.metadata["name"].as_str().is_none() {
        return Err(RecordError::Json("its chart has no metadata.name".into()));
    }
    let schema = match chart.schema {
        Some(s) if !s.is_empty() => Some(b64(&s).map_err(|e| RecordError::Json(format!("schema: {e}")))?),
        _ => None,
    };
    let config = match raw.config {
        Some(Value::Object(m)) => Value::Object(m),
        _ => Value::Object(Default::default()),
    };
    Ok(Record {
        name: raw.name,
        namespace: raw.namespace,
        revision: raw.version,
        status: raw.info.map(|i| i.status).unwrap_or_default(),
        chart: StoredChart {
            metadata: chart.metadata,
            lock: chart.lock.filter(|l| !l.is_null()),
            templates: files(chart.templates)?,
            values: match chart.values {
                Some(Value::Object(m)) => Value::Object(m),
                _ => Value::Object(Default::default()),
            },
            schema,
            files: files(chart.files)?,
        },
        config,
        manifest: raw.manifest,
        hooks: raw
            .hooks
            .unwrap_or_default()
            .into_iter()
            .map(|h| Hook { path: h.path, manifest: h.manifest })
            .collect(),
    })
}

/// Encodes a record the way helm stores it (for tests and fixtures).
pub fn encode_json(json: &Value) -> Vec<u8> {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&serde_json::to_vec(json).expect("JSON serializes")).expect("in-memory gzip");
    let bytes = gz.finish().expect("in-memory gzip");
    base64::engine::general_purpose::STANDARD.encode(bytes).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "name": "web", "namespace": "apps", "version": 3,
            "info": {"status": "deployed"},
            "chart": {
                "metadata": {"name": "web", "version": "1.0.0", "appVersion": "1.0", "apiVersion": "v2"},
                "templates": [{"name": "templates/a.yaml", "data": "a2luZDogQQ=="}],
                "values": {"replicaCount": 1}, "schema": null, "files": null
            },
            "config": {"message": "hi"},
            "manifest": "---\n# Source: web/templates/a.yaml\nkind: A\n",
            "hooks": [{"path": "web/templates/job.yaml", "manifest": "kind: Job"}]
        })
    }

    #[test]
    fn a_gzipped_record_decodes_with_its_chart_values_and_hooks() {
        let r = decode(&encode_json(&sample())).unwrap();
        assert_eq!((r.name.as_str(), r.revision, r.status.as_str()), ("web", 3, "deployed"));
        assert_eq!(r.chart.templates[0].data, b"kind: A");
        assert_eq!((r.chart.version(), r.chart.app_version()), ("1.0.0", Some("1.0")));
        assert_eq!(r.config, json!({"message": "hi"}));
        assert_eq!(r.hooks[0].path, "web/templates/job.yaml");
    }

    #[test]
    fn plain_json_without_gzip_is_accepted_like_helm_does() {
        let text = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&sample()).unwrap());
        assert_eq!(decode(text.as_bytes()).unwrap().revision, 3);
    }

    #[test]
    fn corrupt_records_say_what_is_wrong() {
        assert!(matches!(decode(b"!!not base64!!"), Err(RecordError::Base64(_))));
        let fake_gzip = base64::engine::general_purpose::STANDARD.encode([0x1f, 0x8b, 0x08, 0, 1, 2, 3]);
        assert!(matches!(decode(fake_gzip.as_bytes()), Err(RecordError::Gzip(_))));
        let not_json = base64::engine::general_purpose::STANDARD.encode(b"hello");
        assert!(matches!(decode(not_json.as_bytes()), Err(RecordError::Json(_))));
    }
}
