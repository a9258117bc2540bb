//! The shape of an API request and answer: the parsed request, the `Status` errors Kubernetes
//! clients understand (reason + code + message), and replies (a JSON document or a watch stream).

use std::collections::HashMap;

use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::discovery::ResourceType;
use super::store::StoreError;

/// A Kubernetes API error, rendered as a `Status` object.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(code: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn invalid(rt: &ResourceType, name: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid",
            format!("{} \"{name}\" is invalid: {message}", qualified(rt)),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.kind}));
        e
    }

    pub fn not_found(rt: &ResourceType, name: &str) -> Self {
        let mut e = Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(rt)),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.resource}));
        e
    }

    pub fn already_exists(rt: &ResourceType, name: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(rt)),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.resource}));
        e
    }

    pub fn conflict(rt: &ResourceType, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(rt)
            ),
        );
        e.details = Some(json!({"name": name, "group": rt.group, "kind": rt.resource}));
        e
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", message)
    }

    pub fn unsupported_media(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    pub fn path_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn status(&self) -> Value {
        let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": self.message, "reason": self.reason, "code": self.code.as_u16()});
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Gone { .. } => ApiError::new(StatusCode::GONE, "Expired", e.to_string()),
            StoreError::Persist(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                e.to_string(),
            ),
        }
    }
}

/// `deployments.apps`, or `pods` for the core group: how Kubernetes names a resource in messages.
pub fn qualified(rt: &ResourceType) -> String {
    if rt.group.is_empty() {
        rt.resource.clone()
    } else {
        format!("{}.{}", rt.resource, rt.group)
    }
}

/// A request after HTTP: what the handlers need, nothing more.
#[derive(Debug)]
pub struct ApiRequest {
    pub method: http::Method,
    pub path: String,
    pub query: HashMap<String, String>,
    pub content_type: String,
    pub accept: String,
    pub body: Bytes,
}

impl ApiRequest {
    pub fn q(&self, key: &str) -> Option<&str> {
        self.query
            .get(key)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    pub fn flag(&self, key: &str) -> bool {
        matches!(self.q(key), Some("true" | "1"))
    }

    pub fn dry_run(&self) -> bool {
        self.q("dryRun").is_some()
    }
}

pub enum Reply {
    Json(StatusCode, Value),
    /// Pre-serialised JSON (lists: built without cloning the objects).
    Raw(StatusCode, &'static str, Vec<u8>),
    /// A watch: newline-delimited JSON events until the channel closes.
    Stream(mpsc::Receiver<Bytes>),
}

pub type ApiResult = Result<Reply, ApiError>;

pub fn parse_query(q: Option<&str>) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for pair in q.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.insert(url_decode(k), url_decode(v));
    }
    out
}

fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .is_some() =>
            {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("checked above"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_url_decoded() {
        let q = parse_query(Some("labelSelector=name%3Dweb%2Cowner%3Dhelm&watch=true&x"));
        assert_eq!(q["labelSelector"], "name=web,owner=helm");
        assert_eq!(q["watch"], "true");
        assert_eq!(q["x"], "");
    }
}
