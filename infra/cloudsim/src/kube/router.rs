//! Maps a request path to what answers it: version and health, discovery, OpenAPI, or a resource
//! (`/api/v1[/namespaces/<ns>]/<resource>[/<name>[/<subresource>]]` and the `/apis/<group>/<version>/…` form).

use http::{Method, StatusCode};
use serde_json::json;

use super::ClusterState;
use super::api::{ApiError, ApiRequest, ApiResult, Reply};
use super::crud::{self, Target};

pub fn route(cs: &ClusterState, req: &ApiRequest) -> ApiResult {
    let path = req.path.trim_end_matches('/');
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let read_only = req.method == Method::GET || req.method == Method::HEAD;
    match segs.as_slice() {
        ["version"] if read_only => Ok(Reply::Json(StatusCode::OK, cs.version_doc())),
        ["healthz" | "livez" | "readyz", ..] if read_only => {
            Ok(Reply::Raw(StatusCode::OK, "text/plain", b"ok".to_vec()))
        }
        ["openapi", "v2"] | ["swagger.json"] if read_only => Ok(openapi_v2(&req.accept)),
        ["openapi", "v3"] if read_only => Ok(Reply::Json(StatusCode::OK, json!({"paths": {}}))),
        ["openapi", "v3", ..] if read_only => Err(ApiError::path_not_found(&req.path)),
        ["api"] if read_only => Ok(Reply::Json(StatusCode::OK, cs.registry.api_versions())),
        ["apis"] if read_only => Ok(Reply::Json(StatusCode::OK, cs.registry.api_group_list())),
        ["api", "v1"] if read_only => discovery(cs.registry.resource_list("", "v1"), req),
        ["apis", group] if read_only => discovery(cs.registry.api_group(group), req),
        ["apis", group, version] if read_only => {
            discovery(cs.registry.resource_list(group, version), req)
        }
        ["api", "v1", rest @ ..] => resource(cs, "", "v1", rest, req),
        ["apis", group, version, rest @ ..] => resource(cs, group, version, rest, req),
        _ => Err(ApiError::path_not_found(&req.path)),
    }
}

fn discovery(doc: Option<serde_json::Value>, req: &ApiRequest) -> ApiResult {
    doc.map(|d| Reply::Json(StatusCode::OK, d))
        .ok_or_else(|| ApiError::path_not_found(&req.path))
}

/// An empty OpenAPI v2 document: client-side schema validation finds nothing to check, so it
/// passes (the server does not validate against schemas either).
fn openapi_v2(accept: &str) -> Reply {
    if accept.contains("protobuf") {
        Reply::Raw(
            StatusCode::OK,
            "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            Vec::new(),
        )
    } else {
        Reply::Json(
            StatusCode::OK,
            json!({"swagger": "2.0", "info": {"title": "Kubernetes (cloudsim)", "version": "v1"}, "paths": {}, "definitions": {}}),
        )
    }
}

fn resource(
    cs: &ClusterState,
    group: &str,
    version: &str,
    rest: &[&str],
    req: &ApiRequest,
) -> ApiResult {
    let not_found = || ApiError::path_not_found(&req.path);
    // `namespaces/<ns>/<resource>/…` addresses namespaced objects; `namespaces/<name>[/status|/finalize]`
    // is the Namespace object itself.
    let namespace_object_sub =
        group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize");
    let (namespace, rest): (Option<String>, Vec<&str>) =
        if rest.len() >= 3 && rest[0] == "namespaces" && !namespace_object_sub {
            (Some(rest[1].to_string()), rest[2..].to_vec())
        } else {
            (None, rest.to_vec())
        };
    let (resource, name, sub) = match rest.as_slice() {
        [r] => (*r, None, None),
        [r, n] => (*r, Some(n.to_string()), None),
        [r, n, s] => (
            *r,
            Some(n.to_string()),
            Some(if *s == "finalize" {
                "status".to_string()
            } else {
                s.to_string()
            }),
        ),
        _ => return Err(not_found()),
    };
    let rt = cs
        .registry
        .lookup(group, version, resource)
        .ok_or_else(not_found)?;
    if namespace.is_some() && !rt.namespaced {
        return Err(not_found());
    }
    crud::handle(
        cs,
        &Target {
            rt,
            namespace,
            name,
            sub,
        },
        req,
    )
}
