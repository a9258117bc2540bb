//! Which captured values are secret, and taking them out of the lock file.
//!
//! The rule: a value is secret when any key on its path names a secret — contains `password`,
//! `passwd`, `secret`, `token`, `credential`, `apikey`/`api_key`/`api-key`, `privatekey`/`private_key`,
//! `accesskey`/`access_key` (case-insensitive) — or when its dotted path is listed with
//! `--secret-key`; `--plain-key` exempts a path the rule flags wrongly (e.g. `existingSecret`,
//! which names a Secret rather than holding one). Secret strings leave the lock file as
//! `secretValues` entries (`{key, fromEnv}`), which the plan resolves at install time, exactly like
//! a plan's own `secretValues`. Empty strings are not secrets and stay in clear.
//!
//! A secret that is not a string, or sits inside a list, cannot be supplied through
//! `secretValues` (dotted paths into mappings, string values). It is replaced by a marker and the
//! release is flagged, so a replay refuses it instead of installing a blank.

use serde_json::{Map, Value};

/// Put in place of a secret the lock file cannot carry.
pub const REDACTED: &str = "<redacted by cutover capture>";

const WORDS: [&str; 11] = [
    "password", "passwd", "secret", "token", "credential", "apikey", "api_key", "api-key", "privatekey",
    "private_key", "accesskey",
];

/// How secrets are recognised.
#[derive(Debug, Clone, Default)]
pub struct SecretRule {
    /// Dotted paths that are secret whatever their name.
    pub extra: Vec<String>,
    /// Dotted paths that are not secret even though their name says so.
    pub plain: Vec<String>,
}

/// A secret taken out of the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// Dotted path, e.g. `auth.password`.
    pub key: String,
    /// The environment variable the replay reads it from.
    pub env: String,
}

/// The result of splitting one release's values.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// Values safe to write.
    pub values: Value,
    /// Secret values taken out, with the environment variables a replay reads them from.
    pub secrets: Vec<Extracted>,
    /// Secret values the lock cannot carry (path and why), replaced by [`REDACTED`].
    pub unsupported: Vec<String>,
}

impl SecretRule {
    fn named_secret(key: &str) -> bool {
        let k = key.to_ascii_lowercase();
        WORDS.iter().any(|w| k.contains(w)) || k == "access_key"
    }

    /// Whether the value at `path` is treated as a secret.
    pub fn is_secret(&self, path: &[String]) -> bool {
        let dotted = path.join(".");
        if self.plain.iter().any(|p| dotted == *p || dotted.starts_with(&format!("{p}."))) {
            return false;
        }
        self.extra.iter().any(|p| dotted == *p || dotted.starts_with(&format!("{p}.")))
            || path.iter().any(|k| Self::named_secret(k))
    }

    /// Takes the secrets out of `values` of release `release`.
    pub fn split(&self, release: &str, values: &Value) -> Split {
        let mut out = Split { values: Value::Null, secrets: Vec::new(), unsupported: Vec::new() };
        let mut path = Vec::new();
        out.values = self.walk(release, values, &mut path, false, &mut out.secrets, &mut out.unsupported);
        out
    }

    fn walk(
        &self,
        release: &str,
        v: &Value,
        path: &mut Vec<String>,
        in_list: bool,
        secrets: &mut Vec<Extracted>,
        unsupported: &mut Vec<String>,
    ) -> Value {
        match v {
            Value::Object(m) => {
                let mut kept = Map::new();
                for (k, child) in m {
                    path.push(k.clone());
                    let c = self.walk(release, child, path, in_list, secrets, unsupported);
                    path.pop();
                    if !c.is_null() || child.is_null() {
                        kept.insert(k.clone(), c);
                    }
                }
                Value::Object(kept)
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        path.push(format!("[{i}]"));
                        let c = self.walk(release, item, path, true, secrets, unsupported);
                        path.pop();
                        if c.is_null() && !item.is_null() { Value::String(REDACTED.into()) } else { c }
                    })
                    .collect(),
            ),
            Value::Null => Value::Null,
            leaf if self.is_secret(path) => {
                let dotted = path.join(".").replace(".[", "[");
                match leaf {
                    Value::String(s) if s.is_empty() => leaf.clone(),
                    Value::String(_) if !in_list => {
                        let env = env_name(release, &dotted, secrets);
                        secrets.push(Extracted { key: dotted, env });
                        // Dropped from the values; the secret file supplies it at install.
                        Value::Null
                    }
                    _ => {
                        let why = if in_list { "is inside a list" } else { "is not a string" };
                        unsupported.push(format!("{dotted} looks secret but {why}"));
                        Value::String(REDACTED.into())
                    }
                }
            }
            leaf => leaf.clone(),
        }
    }
}

/// `CUTOVER_SECRET_<RELEASE>_<PATH>`, upper case, other characters as `_`, unique per release.
fn env_name(release: &str, key: &str, taken: &[Extracted]) -> String {
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
    };
    let base = format!("CUTOVER_SECRET_{}_{}", clean(release), clean(key));
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|e| e.env == name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_and_listed_secrets_leave_the_values() {
        let rule = SecretRule { extra: vec!["db.dsn".into()], plain: vec!["existingSecret".into()] };
        let split = rule.split(
            "api",
            &json!({"auth": {"password": "hunter2", "user": "bob"}, "db": {"dsn": "pg://x"},
                    "existingSecret": "api-creds", "apiToken": "", "replicas": 2}),
        );
        assert_eq!(
            split.values,
            json!({"auth": {"user": "bob"}, "db": {}, "existingSecret": "api-creds", "apiToken": "", "replicas": 2})
        );
        let keys: Vec<_> = split.secrets.iter().map(|e| (e.key.as_str(), e.env.as_str())).collect();
        assert_eq!(
            keys,
            [("auth.password", "CUTOVER_SECRET_API_AUTH_PASSWORD"), ("db.dsn", "CUTOVER_SECRET_API_DB_DSN")]
        );
        assert!(!serde_json::to_string(&split.values).unwrap().contains("hunter2"));
    }

    #[test]
    fn secrets_the_lock_cannot_carry_are_redacted_and_reported() {
        let split = SecretRule::default().split("w", &json!({"users": [{"password": "p"}], "pin": {"token": 1234}}));
        assert_eq!(split.values, json!({"users": [{"password": REDACTED}], "pin": {"token": REDACTED}}));
        assert_eq!(split.unsupported, ["pin.token looks secret but is not a string", "users[0].password looks secret but is inside a list"]);
    }
}
