//! Decoding of the Kubernetes protobuf encoding for the objects clients send that way: helm writes
//! its release Secrets (or ConfigMaps) and DeleteOptions as protobuf. A request body is the magic
//! `k8s\0` followed by a `runtime.Unknown` whose `raw` field holds the object message; the decoded
//! object becomes the same JSON a JSON client would have sent. A small hand-written wire-format
//! reader is enough for these few messages.

use base64::Engine as _;
use serde_json::{Map, Value, json};

pub const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    #[error("protobuf body does not start with the `k8s\\0` envelope")]
    NoEnvelope,
    #[error("truncated or malformed protobuf message")]
    Malformed,
    #[error(
        "protobuf bodies of kind `{0}` are not supported: send JSON (Content-Type: application/json)"
    )]
    Unsupported(String),
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self.buf.split_first().ok_or(ProtoError::Malformed)?;
            self.buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(out);
            }
        }
        Err(ProtoError::Malformed)
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ProtoError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.skip(8)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| ProtoError::Malformed)?;
                if len > self.buf.len() {
                    return Err(ProtoError::Malformed);
                }
                let (b, rest) = self.buf.split_at(len);
                self.buf = rest;
                Field::Bytes(b)
            }
            5 => {
                self.skip(4)?;
                Field::Fixed
            }
            _ => return Err(ProtoError::Malformed),
        };
        Ok(Some((key >> 3, field)))
    }

    fn skip(&mut self, n: usize) -> Result<(), ProtoError> {
        if n > self.buf.len() {
            return Err(ProtoError::Malformed);
        }
        self.buf = &self.buf[n..];
        Ok(())
    }
}

/// Calls `f(field_number, field)` for every field of `msg`.
fn each<'a>(
    msg: &'a [u8],
    mut f: impl FnMut(u64, Field<'a>) -> Result<(), ProtoError>,
) -> Result<(), ProtoError> {
    let mut r = Reader { buf: msg };
    while let Some((n, field)) = r.next()? {
        f(n, field)?;
    }
    Ok(())
}

fn string(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError::Malformed)
}

/// A map entry (`1: key`, `2: value`), the value kept as raw bytes.
fn entry(b: &[u8]) -> Result<(String, Vec<u8>), ProtoError> {
    let (mut k, mut v) = (String::new(), Vec::new());
    each(b, |n, f| {
        match (n, f) {
            (1, Field::Bytes(x)) => k = string(x)?,
            (2, Field::Bytes(x)) => v = x.to_vec(),
            _ => {}
        }
        Ok(())
    })?;
    Ok((k, v))
}

fn time(b: &[u8]) -> Result<Value, ProtoError> {
    let mut secs = 0i64;
    each(b, |n, f| {
        if let (1, Field::Varint(v)) = (n, f) {
            secs = v as i64;
        }
        Ok(())
    })?;
    let ts = jiff::Timestamp::from_second(secs).map_err(|_| ProtoError::Malformed)?;
    Ok(Value::String(ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()))
}

fn owner_reference(b: &[u8]) -> Result<Value, ProtoError> {
    let mut o = Map::new();
    each(b, |n, f| {
        match (n, f) {
            (1, Field::Bytes(x)) => drop(o.insert("kind".into(), string(x)?.into())),
            (3, Field::Bytes(x)) => drop(o.insert("name".into(), string(x)?.into())),
            (4, Field::Bytes(x)) => drop(o.insert("uid".into(), string(x)?.into())),
            (5, Field::Bytes(x)) => drop(o.insert("apiVersion".into(), string(x)?.into())),
            (6, Field::Varint(v)) => drop(o.insert("controller".into(), (v != 0).into())),
            (7, Field::Varint(v)) => drop(o.insert("blockOwnerDeletion".into(), (v != 0).into())),
            _ => {}
        }
        Ok(())
    })?;
    Ok(Value::Object(o))
}

fn object_meta(b: &[u8]) -> Result<Value, ProtoError> {
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    let mut owners = Vec::new();
    let mut finalizers = Vec::new();
    each(b, |n, f| {
        match (n, f) {
            (1, Field::Bytes(x)) => drop(m.insert("name".into(), string(x)?.into())),
            (2, Field::Bytes(x)) => drop(m.insert("generateName".into(), string(x)?.into())),
            (3, Field::Bytes(x)) => drop(m.insert("namespace".into(), string(x)?.into())),
            (5, Field::Bytes(x)) => drop(m.insert("uid".into(), string(x)?.into())),
            (6, Field::Bytes(x)) => drop(m.insert("resourceVersion".into(), string(x)?.into())),
            (7, Field::Varint(v)) => drop(m.insert("generation".into(), (v as i64).into())),
            (8, Field::Bytes(x)) => drop(m.insert("creationTimestamp".into(), time(x)?)),
            (11, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                labels.insert(k, string(&v)?.into());
            }
            (12, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                annotations.insert(k, string(&v)?.into());
            }
            (13, Field::Bytes(x)) => owners.push(owner_reference(x)?),
            (14, Field::Bytes(x)) => finalizers.push(Value::String(string(x)?)),
            _ => {}
        }
        Ok(())
    })?;
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    if !owners.is_empty() {
        m.insert("ownerReferences".into(), Value::Array(owners));
    }
    if !finalizers.is_empty() {
        m.insert("finalizers".into(), Value::Array(finalizers));
    }
    Ok(Value::Object(m))
}

fn secret(b: &[u8]) -> Result<Value, ProtoError> {
    let mut o = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {}});
    let mut data = Map::new();
    let mut string_data = Map::new();
    each(b, |n, f| {
        match (n, f) {
            (1, Field::Bytes(x)) => o["metadata"] = object_meta(x)?,
            (2, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(
                    k,
                    base64::engine::general_purpose::STANDARD.encode(v).into(),
                );
            }
            (3, Field::Bytes(x)) => o["type"] = string(x)?.into(),
            (4, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                string_data.insert(k, string(&v)?.into());
            }
            (5, Field::Varint(v)) => o["immutable"] = (v != 0).into(),
            _ => {}
        }
        Ok(())
    })?;
    if !data.is_empty() {
        o["data"] = Value::Object(data);
    }
    if !string_data.is_empty() {
        o["stringData"] = Value::Object(string_data);
    }
    Ok(o)
}

fn config_map(b: &[u8]) -> Result<Value, ProtoError> {
    let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}});
    let mut data = Map::new();
    let mut binary = Map::new();
    each(b, |n, f| {
        match (n, f) {
            (1, Field::Bytes(x)) => o["metadata"] = object_meta(x)?,
            (2, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(k, string(&v)?.into());
            }
            (3, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                binary.insert(
                    k,
                    base64::engine::general_purpose::STANDARD.encode(v).into(),
                );
            }
            (4, Field::Varint(v)) => o["immutable"] = (v != 0).into(),
            _ => {}
        }
        Ok(())
    })?;
    if !data.is_empty() {
        o["data"] = Value::Object(data);
    }
    if !binary.is_empty() {
        o["binaryData"] = Value::Object(binary);
    }
    Ok(o)
}

fn namespace(b: &[u8]) -> Result<Value, ProtoError> {
    let mut o = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {}});
    each(b, |n, f| {
        if let (1, Field::Bytes(x)) = (n, f) {
            o["metadata"] = object_meta(x)?;
        }
        Ok(())
    })?;
    Ok(o)
}

fn delete_options(b: &[u8]) -> Result<Value, ProtoError> {
    let mut o = json!({"kind": "DeleteOptions", "apiVersion": "v1"});
    let mut dry_run = Vec::new();
    each(b, |n, f| {
        match (n, f) {
            (1, Field::Varint(v)) => o["gracePeriodSeconds"] = (v as i64).into(),
            (2, Field::Bytes(x)) => {
                let mut pre = Map::new();
                each(x, |n, f| {
                    match (n, f) {
                        (1, Field::Bytes(y)) => drop(pre.insert("uid".into(), string(y)?.into())),
                        (2, Field::Bytes(y)) => {
                            drop(pre.insert("resourceVersion".into(), string(y)?.into()))
                        }
                        _ => {}
                    }
                    Ok(())
                })?;
                o["preconditions"] = Value::Object(pre);
            }
            (3, Field::Varint(v)) => o["orphanDependents"] = (v != 0).into(),
            (4, Field::Bytes(x)) => o["propagationPolicy"] = string(x)?.into(),
            (5, Field::Bytes(x)) => dry_run.push(Value::String(string(x)?)),
            _ => {}
        }
        Ok(())
    })?;
    if !dry_run.is_empty() {
        o["dryRun"] = Value::Array(dry_run);
    }
    Ok(o)
}

/// Decodes a `k8s\0`-framed body into the JSON object it carries.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let unknown = body.strip_prefix(MAGIC).ok_or(ProtoError::NoEnvelope)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    each(unknown, |n, f| {
        match (n, f) {
            (1, Field::Bytes(tm)) => each(tm, |n, f| {
                match (n, f) {
                    (1, Field::Bytes(x)) => api_version = string(x)?,
                    (2, Field::Bytes(x)) => kind = string(x)?,
                    _ => {}
                }
                Ok(())
            })?,
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
        Ok(())
    })?;
    let mut obj = match kind.as_str() {
        "Secret" => secret(raw)?,
        "ConfigMap" => config_map(raw)?,
        "Namespace" => namespace(raw)?,
        "DeleteOptions" => delete_options(raw)?,
        other => return Err(ProtoError::Unsupported(other.to_string())),
    };
    if !api_version.is_empty() && kind != "DeleteOptions" {
        obj["apiVersion"] = Value::String(api_version);
    }
    Ok(obj)
}

#[cfg(test)]
pub(crate) mod encode {
    //! A minimal encoder for tests (the server never answers in protobuf).
    pub fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    pub fn bytes(field: u64, b: &[u8], out: &mut Vec<u8>) {
        varint(field << 3 | 2, out);
        varint(b.len() as u64, out);
        out.extend_from_slice(b);
    }
    pub fn map_entry(field: u64, k: &str, v: &[u8], out: &mut Vec<u8>) {
        let mut e = Vec::new();
        bytes(1, k.as_bytes(), &mut e);
        bytes(2, v, &mut e);
        bytes(field, &e, out);
    }
}

#[cfg(test)]
mod tests {
    use super::encode::*;
    use super::*;

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        bytes(1, api_version.as_bytes(), &mut tm);
        bytes(2, kind.as_bytes(), &mut tm);
        let mut unknown = Vec::new();
        bytes(1, &tm, &mut unknown);
        bytes(2, raw, &mut unknown);
        bytes(4, b"application/vnd.kubernetes.protobuf", &mut unknown);
        [MAGIC, &unknown].concat()
    }

    #[test]
    fn decodes_a_helm_release_secret() {
        let mut meta = Vec::new();
        bytes(1, b"sh.helm.release.v1.web.v1", &mut meta);
        bytes(3, b"apps", &mut meta);
        map_entry(11, "owner", b"helm", &mut meta);
        map_entry(11, "status", b"deployed", &mut meta);
        let mut secret = Vec::new();
        bytes(1, &meta, &mut secret);
        map_entry(2, "release", b"H4sI\x00\xff", &mut secret);
        bytes(3, b"helm.sh/release.v1", &mut secret);
        let obj = decode(&envelope("v1", "Secret", &secret)).unwrap();
        assert_eq!(obj["metadata"]["name"], "sh.helm.release.v1.web.v1");
        assert_eq!(obj["metadata"]["namespace"], "apps");
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"owner": "helm", "status": "deployed"})
        );
        assert_eq!(obj["type"], "helm.sh/release.v1");
        assert_eq!(
            obj["data"]["release"],
            base64::engine::general_purpose::STANDARD.encode(b"H4sI\x00\xff")
        );
    }

    #[test]
    fn decodes_delete_options() {
        let mut opts = Vec::new();
        bytes(4, b"Background", &mut opts);
        let obj = decode(&envelope("v1", "DeleteOptions", &opts)).unwrap();
        assert_eq!(obj["propagationPolicy"], "Background");
    }

    #[test]
    fn rejects_unknown_kinds_and_garbage() {
        assert_eq!(decode(b"{}"), Err(ProtoError::NoEnvelope));
        assert!(matches!(
            decode(&envelope("apps/v1", "Deployment", &[])),
            Err(ProtoError::Unsupported(_))
        ));
        assert_eq!(decode(b"k8s\0\x0a\xff"), Err(ProtoError::Malformed));
    }
}
