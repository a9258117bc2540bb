//! The HTTPS front of a cluster's API: TLS (HTTP/2 and HTTP/1.1 by ALPN), EKS token
//! authentication on every request, the injected `kube_latency_ms`, body limits, and turning
//! handler replies into HTTP responses (watches as streamed bodies).

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Frame;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::ClusterState;
use super::api::{ApiError, ApiRequest, Reply, parse_query};
use crate::auth::{AuthError, verify_token};

/// Helm release Secrets hold whole charts; real API servers take up to 3 MiB objects. Leave room.
const MAX_BODY: usize = 16 * 1024 * 1024;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A response body fed by a channel (watch streams).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }
}

pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    cs: Arc<ClusterState>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, _) = match accepted {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(cluster = %cs.name, error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let acceptor = acceptor.clone();
                let cs = cs.clone();
                conns.spawn(async move {
                    let Ok(stream) = acceptor.accept(tcp).await else { return };
                    let svc = service_fn(move |req| {
                        let cs = cs.clone();
                        async move { Ok::<_, Infallible>(handle(cs, req).await) }
                    });
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    // client-go multiplexes every watch of a process over one HTTP/2 connection.
                    builder.http2().max_concurrent_streams(4096);
                    let _ = builder.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn handle(cs: Arc<ClusterState>, req: Request<Incoming>) -> Response<Body> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let auth = match token {
        None => Err(AuthError::Missing),
        Some(t) => verify_token(t, &cs.name, &cs.env.credentials, jiff::Timestamp::now()),
    };
    if let Err(e) = auth {
        tracing::debug!(cluster = %cs.name, path = %req.uri().path(), reason = %e, "unauthorized");
        return respond(Err(ApiError::unauthorized(format!("Unauthorized: {e}"))));
    }
    let latency = cs.env.faults().kube_latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return respond(Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "the request body is larger than 16 MiB",
            )));
        }
    };
    let header = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let api_req = ApiRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_string(),
        query: parse_query(parts.uri.query()),
        content_type: header(header::CONTENT_TYPE),
        accept: header(header::ACCEPT),
        body,
    };
    let reply = super::router::route(&cs, &api_req);
    match &reply {
        Ok(_) => {
            tracing::debug!(cluster = %cs.name, method = %api_req.method, path = %api_req.path, "ok")
        }
        Err(e) => {
            tracing::debug!(cluster = %cs.name, method = %api_req.method, path = %api_req.path, code = e.code.as_u16(), message = %e.message, "error")
        }
    }
    respond(reply)
}

fn respond(reply: Result<Reply, ApiError>) -> Response<Body> {
    let (code, content_type, body): (StatusCode, &str, Body) = match reply {
        Ok(Reply::Json(code, v)) => (
            code,
            "application/json",
            full(serde_json::to_vec(&v).expect("serialisable")),
        ),
        Ok(Reply::Raw(code, ct, bytes)) => (code, ct, full(bytes)),
        Ok(Reply::Stream(rx)) => (
            StatusCode::OK,
            "application/json",
            BodyExt::boxed_unsync(ChannelBody(rx)),
        ),
        Err(e) => (
            e.code,
            "application/json",
            full(serde_json::to_vec(&e.status()).expect("serialisable")),
        ),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("static content type"),
    );
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, private"),
    );
    resp
}

fn full(bytes: Vec<u8>) -> Body {
    Full::new(Bytes::from(bytes)).boxed_unsync()
}
