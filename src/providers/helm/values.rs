//! A release's values as helm receives them: the plan's values files in order, the inline values as
//! one generated file, and the secret values as a second generated file — both JSON (valid YAML),
//! mode 0600 in a private 0700 directory that is deleted when the install ends or is cancelled.
//! Secrets never go on helm's command line (argv is visible to every user in `ps`).
//!
//! Also here: the inputs digest recorded on the release (chart package + every value), so a re-run
//! can tell "already deployed exactly like this" from "needs an upgrade", and the [`Redactor`] that
//! scrubs resolved secret values out of helm's output before it reaches a log or an error.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::plan::{Release, SecretSource};
use crate::providers::{ErrorKind, ProviderError};

/// Replaces resolved secret values in text meant for logs and errors.
#[derive(Default, Clone)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl Redactor {
    /// A redactor hiding these secret values (empty ones are ignored).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "<redacted>");
            }
        }
        out
    }
}

/// The values of one install, ready to pass as `-f` files.
pub struct Values {
    /// In the order helm must apply them.
    pub files: Vec<PathBuf>,
    /// 32 hex digits over the chart package and every value (label-sized).
    pub digest: String,
    /// Hides the release's secret values in helm's output.
    pub redactor: Redactor,
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

/// Reads every secret of `release`: `fromEnv` from `given` (values the caller supplied
/// explicitly), else from this process's environment; `fromFile` from the file.
pub fn resolve_secrets(
    release: &Release,
    given: &BTreeMap<String, String>,
) -> Result<Vec<(String, String)>, ProviderError> {
    release
        .secret_values
        .iter()
        .map(|s| {
            let value = match &s.from {
                SecretSource::Env(var) => given.get(var).cloned().map_or_else(|| std::env::var(var), Ok).map_err(|_| {
                    invalid(format!(
                        "secret value {} of release {}: environment variable {var} is not set (or not UTF-8); export it before running cutover",
                        s.key, release.name
                    ))
                })?,
                SecretSource::File(path) => {
                    let text = fs::read_to_string(path).map_err(|e| {
                        invalid(format!(
                            "secret value {} of release {}: cannot read {}: {e}",
                            s.key,
                            release.name,
                            path.display()
                        ))
                    })?;
                    text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string()
                }
            };
            Ok((s.key.clone(), value))
        })
        .collect()
}

/// `[("auth.password", "x")]` → `{"auth": {"password": "x"}}`.
fn nest(release: &str, pairs: &[(String, String)]) -> Result<Value, ProviderError> {
    let mut root = Map::new();
    for (key, value) in pairs {
        let parts: Vec<&str> = key.split('.').collect();
        let mut node = &mut root;
        for (i, part) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                if node.contains_key(*part) {
                    return Err(invalid(format!(
                        "secret values of release {release}: {key} overlaps another secret key; give each its own path"
                    )));
                }
                node.insert(part.to_string(), Value::String(value.clone()));
            } else {
                let entry = node
                    .entry(part.to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
                node = entry.as_object_mut().ok_or_else(|| {
                    invalid(format!(
                        "secret values of release {release}: {key} goes through another secret value; give each its own path"
                    ))
                })?;
            }
        }
    }
    Ok(Value::Object(root))
}

/// Writes `bytes` to a new file readable by this user only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ProviderError> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Other,
                format!("cannot create {}: {e}", path.display()),
            )
        })?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(|e| {
            ProviderError::new(
                ErrorKind::Other,
                format!("cannot write {}: {e}", path.display()),
            )
        })
}

/// Prepares the values of `release` in `dir` (a private directory the caller deletes afterwards).
pub fn prepare(
    release: &Release,
    chart_sha256: &str,
    dir: &Path,
    given_secrets: &BTreeMap<String, String>,
) -> Result<Values, ProviderError> {
    let secrets = resolve_secrets(release, given_secrets)?;
    let mut h = Sha256::new();
    h.update(b"chart\0");
    h.update(chart_sha256.as_bytes());
    let mut files = Vec::new();
    for f in &release.values_files {
        let bytes = fs::read(f).map_err(|e| {
            invalid(format!(
                "values file {} of release {} cannot be read: {e}",
                f.display(),
                release.name
            ))
        })?;
        h.update(b"\0file\0");
        h.update(Sha256::digest(&bytes));
        files.push(f.clone());
    }
    let has_inline = release.values.as_object().is_some_and(|m| !m.is_empty());
    if has_inline {
        // serde_json keeps object keys sorted, so the text is canonical.
        let text = serde_json::to_vec(&release.values).expect("JSON values serialize");
        h.update(b"\0inline\0");
        h.update(&text);
        let path = dir.join("values-inline.json");
        write_private(&path, &text)?;
        files.push(path);
    }
    if !secrets.is_empty() {
        let doc = nest(&release.name, &secrets)?;
        let text = serde_json::to_vec(&doc).expect("JSON values serialize");
        h.update(b"\0secret\0");
        h.update(&text);
        let path = dir.join("values-secret.json");
        write_private(&path, &text)?;
        files.push(path);
    }
    let digest = hex::encode(&h.finalize()[..16]);
    Ok(Values {
        files,
        digest,
        redactor: Redactor::new(secrets.into_iter().map(|(_, v)| v)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_keys_nest_and_overlaps_are_refused() {
        let pairs = vec![
            ("auth.password".to_string(), "p".to_string()),
            ("auth.user".to_string(), "u".to_string()),
            ("token".to_string(), "t".to_string()),
        ];
        assert_eq!(
            nest("r", &pairs).unwrap(),
            json!({"auth": {"password": "p", "user": "u"}, "token": "t"})
        );
        let clash = vec![
            ("a".to_string(), "1".to_string()),
            ("a.b".to_string(), "2".to_string()),
        ];
        assert!(nest("r", &clash).unwrap_err().message.contains("a.b"));
    }

    #[test]
    fn private_files_are_owner_only_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret.json");
        write_private(&path, b"{}").unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(
            write_private(&path, b"{}").is_err(),
            "an existing file is not reused"
        );
    }

    #[test]
    fn the_redactor_hides_every_secret_and_the_longest_first() {
        let r = Redactor::new([
            "hunter2".to_string(),
            "hunter2-extra".to_string(),
            String::new(),
        ]);
        assert_eq!(
            r.apply("pw=hunter2-extra and hunter2"),
            "pw=<redacted> and <redacted>"
        );
        assert_eq!(r.apply("nothing here"), "nothing here");
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
