//! Reachable load balancers: each LoadBalancer Service of a cluster gets its own loopback address
//! (127.a.b.c, random, retried when taken: several cloudsims may run at once) listening on every
//! Service port. HTTP requests are answered like a load balancer in front of the Service's pods:
//! 200 with a small JSON body naming the cluster, Service and pod when a selected pod is Ready,
//! 503 when none is, and the injected faults (`lb_latency_ms`, `lb_error_rate`) on top.
//! A client can thus probe green at `ip:port` with the production Host header before DNS moves.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::task::{JoinHandle, JoinSet};

use crate::kube::controller::{gr, pod_ready};
use crate::kube::selectors::LabelSelector;
use crate::kube::{ClusterState, LoadBalancerInfo, obj};
use crate::metrics::RequestCounts;

/// Attempts at finding a free loopback address before giving up for this pass.
const ADDRESS_ATTEMPTS: usize = 32;

struct Balancer {
    info: LoadBalancerInfo,
    accept_loops: Vec<JoinHandle<()>>,
}

impl Drop for Balancer {
    fn drop(&mut self) {
        for t in &self.accept_loops {
            t.abort();
        }
    }
}

/// The load balancers of one cluster, by Service.
#[derive(Default)]
pub struct Balancers {
    cluster: OnceLock<Weak<ClusterState>>,
    by_service: Mutex<HashMap<(String, String), Balancer>>,
    /// Every answer given, for `/metrics`; kept when a Service's load balancer is released.
    requests: Arc<RequestCounts>,
}

impl std::fmt::Debug for Balancers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Balancers")
            .field("count", &self.infos().len())
            .finish()
    }
}

impl Balancers {
    /// Lets responders find the cluster (set once, right after the cluster state is created).
    pub fn attach(&self, cs: &Arc<ClusterState>) {
        let _ = self.cluster.set(Arc::downgrade(cs));
    }

    /// Answers given so far, by Service (`ns/name`) and HTTP status.
    pub fn requests(&self) -> Vec<((String, u16), u64)> {
        self.requests.snapshot()
    }

    pub fn infos(&self) -> Vec<LoadBalancerInfo> {
        let mut v: Vec<LoadBalancerInfo> = self
            .by_service
            .lock()
            .expect("lb lock")
            .values()
            .map(|b| b.info.clone())
            .collect();
        v.sort_by(|a, b| (&a.namespace, &a.service).cmp(&(&b.namespace, &b.service)));
        v
    }

    /// Makes sure the Service's load balancer listens on `info.ports`, at `ip` when given (restore,
    /// port changes) or at a fresh random loopback address. Returns what it listens on, or None
    /// when no address could be bound this time.
    pub fn ensure(
        &self,
        cs: &ClusterState,
        info: LoadBalancerInfo,
        ip: Option<&str>,
    ) -> Option<LoadBalancerInfo> {
        let key = (info.namespace.clone(), info.service.clone());
        let mut map = self.by_service.lock().expect("lb lock");
        if let Some(b) = map.get(&key)
            && b.info.ports == info.ports
            && ip.is_none_or(|ip| ip == b.info.ip)
        {
            return Some(b.info.clone());
        }
        let previous_ip = map.remove(&key).map(|b| b.info.ip.clone());
        let ip = ip.map(str::to_string).or(previous_ip);
        let (addr, listeners) = match ip.as_deref().and_then(|s| s.parse::<Ipv4Addr>().ok()) {
            Some(addr) => match bind_all(addr, &info.ports) {
                Ok(l) => (addr, l),
                Err(e) => {
                    tracing::warn!(cluster = %cs.name, service = %info.service, %addr, error = %e, "cannot listen on the load balancer's address");
                    return None;
                }
            },
            None => {
                let mut found = None;
                for _ in 0..ADDRESS_ATTEMPTS {
                    let addr = Ipv4Addr::new(
                        127,
                        fastrand::u8(1..=254),
                        fastrand::u8(0..=255),
                        fastrand::u8(1..=254),
                    );
                    match bind_all(addr, &info.ports) {
                        Ok(l) => {
                            found = Some((addr, l));
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                        Err(e) => {
                            tracing::warn!(cluster = %cs.name, service = %info.service, error = %e, "cannot open a load balancer listener");
                            return None;
                        }
                    }
                }
                found?
            }
        };
        let info = LoadBalancerInfo {
            ip: addr.to_string(),
            ..info
        };
        let target = Arc::new(Target {
            cluster: self.cluster.get().cloned().unwrap_or_default(),
            namespace: info.namespace.clone(),
            service: info.service.clone(),
            round_robin: AtomicUsize::new(0),
            requests: self.requests.clone(),
        });
        let accept_loops = listeners
            .into_iter()
            .map(|l| tokio::spawn(accept_loop(l, target.clone())))
            .collect();
        map.insert(
            key,
            Balancer {
                info: info.clone(),
                accept_loops,
            },
        );
        Some(info)
    }

    pub fn release(&self, namespace: &str, service: &str) {
        self.by_service
            .lock()
            .expect("lb lock")
            .remove(&(namespace.to_string(), service.to_string()));
    }

    pub fn retain(&self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.by_service
            .lock()
            .expect("lb lock")
            .retain(|(ns, name), _| keep(ns, name));
    }

    pub fn stop_all(&self) {
        self.by_service.lock().expect("lb lock").clear();
    }
}

fn bind_all(addr: Ipv4Addr, ports: &[u16]) -> std::io::Result<Vec<tokio::net::TcpListener>> {
    ports
        .iter()
        .map(|p| {
            let l = std::net::TcpListener::bind(SocketAddr::from((addr, *p)))?;
            l.set_nonblocking(true)?;
            tokio::net::TcpListener::from_std(l)
        })
        .collect()
}

/// What one load balancer forwards to, shared by its listeners (one per Service port).
struct Target {
    cluster: Weak<ClusterState>,
    namespace: String,
    service: String,
    /// Picks the next Ready pod.
    round_robin: AtomicUsize,
    requests: Arc<RequestCounts>,
}

async fn accept_loop(listener: tokio::net::TcpListener, target: Arc<Target>) {
    let mut conns = JoinSet::new();
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let target = target.clone();
        conns.spawn(async move {
            let svc = service_fn(move |req| {
                let target = target.clone();
                async move {
                    let response = answer(&target, req).await;
                    let service = format!("{}/{}", target.namespace, target.service);
                    target.requests.count(&service, response.status().as_u16());
                    Ok::<_, Infallible>(response)
                }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

fn reply(code: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).expect("serialisable"),
    )));
    *r.status_mut() = code;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn answer(target: &Target, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let (namespace, service) = (target.namespace.as_str(), target.service.as_str());
    let Some(cs) = target.cluster.upgrade() else {
        return reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"error": "the cluster is gone"}),
        );
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let base = json!({"cluster": cs.name, "namespace": namespace, "service": service, "host": host, "path": req.uri().path()});
    let faults = cs.env.faults();
    if faults.lb_latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.lb_latency_ms)).await;
    }
    let rate = faults.lb_error_rate(&cs.name, namespace, service);
    if rate > 0.0 && fastrand::f64() < rate {
        let mut body = base;
        body["error"] = json!("injected fault (lb_error_rate)");
        return reply(StatusCode::BAD_GATEWAY, body);
    }
    let Some(svc) = cs.store.get(&gr("", "services"), namespace, service) else {
        let mut body = base;
        body["error"] = json!("the service no longer exists");
        return reply(StatusCode::SERVICE_UNAVAILABLE, body);
    };
    let selector = svc["spec"]["selector"]
        .as_object()
        .map(LabelSelector::from_map);
    let (pods, _) = cs.store.list(&gr("", "pods"), Some(namespace));
    let ready: Vec<_> = match &selector {
        Some(sel) if !sel.is_empty() => pods
            .iter()
            .filter(|p| sel.matches(p) && pod_ready(p) && !obj::is_deleting(p))
            .collect(),
        _ => Vec::new(),
    };
    if ready.is_empty() {
        let mut body = base;
        body["error"] = json!("no ready endpoints");
        return reply(StatusCode::SERVICE_UNAVAILABLE, body);
    }
    let pod = ready[target.round_robin.fetch_add(1, Ordering::Relaxed) % ready.len()];
    let mut body = base;
    body["pod"] = json!(obj::name(pod));
    body["node"] = pod["spec"]["nodeName"].clone();
    reply(StatusCode::OK, body)
}
