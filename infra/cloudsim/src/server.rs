//! The cloudsim server: one HTTP/1 listener serving the EKS REST API (what `AWS_ENDPOINT_URL_EKS`
//! points at), the `/_cloudsim/` control API and Prometheus metrics (`GET /metrics`), plus start-up
//! (state restore) and shutdown.
//!
//! Library entry point for tests: `Server::start(Config) -> RunningServer`. The binary is a thin
//! clap wrapper around it.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::control;
use crate::eks::api::{Op, Query};
use crate::eks::backend::ClusterBackend;
use crate::eks::errors::{EksError, ErrorKind};
use crate::eks::{DEFAULT_ACCOUNT_ID, Eks, lifecycle, new_id};
use crate::env::{Credentials, Env, SimEnv};
use crate::events::EventLog;
use crate::faults::Faults;
use crate::persist::{FAULTS_FILE, StateDir};
use crate::profile::Profile;
use crate::throttle::Throttle;

/// Requests larger than this are refused (EKS request bodies are a few KB).
const MAX_BODY: usize = 1 << 20;

/// The access key cloudsim expects when `AWS_ACCESS_KEY_ID` is not set (test-only value).
pub const DEFAULT_ACCESS_KEY_ID: &str = "AKIACLOUDSIMEXAMPLE0";
/// The secret key cloudsim expects when `AWS_SECRET_ACCESS_KEY` is not set (test-only value).
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "cloudsim-example-secret-key";

pub struct Config {
    /// Where to listen; port 0 picks a free one (see [`RunningServer::addr`]).
    pub listen: SocketAddr,
    /// Simulated seconds per real second (1 = real time).
    pub time_scale: f64,
    pub profile: Profile,
    /// Persist here and restore from here; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    pub region: String,
    pub account_id: String,
    pub credentials: Credentials,
    /// Starts each cluster's Kubernetes API.
    pub backend: Arc<dyn ClusterBackend>,
    /// EC2 endpoint (moto) for volumes and subnets' zones: `AWS_ENDPOINT_URL_EC2` by default.
    pub ec2_endpoint: Option<String>,
}

impl Config {
    /// Loopback on a free port, real time, default profile, in memory, us-east-1, example credentials.
    pub fn new(backend: Arc<dyn ClusterBackend>) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            time_scale: 1.0,
            profile: Profile::default(),
            state_dir: None,
            region: "us-east-1".into(),
            account_id: DEFAULT_ACCOUNT_ID.into(),
            credentials: Credentials {
                access_key_id: DEFAULT_ACCESS_KEY_ID.into(),
                secret_access_key: DEFAULT_SECRET_ACCESS_KEY.into(),
            },
            backend,
            ec2_endpoint: std::env::var("AWS_ENDPOINT_URL_EC2").ok().filter(|v| !v.is_empty()),
        }
    }
}

/// What the request handlers share.
pub(crate) struct Shared {
    pub env: Env,
    pub eks: Arc<Eks>,
    pub store: Option<Arc<StateDir>>,
    /// The profile's faults: what `POST /_cloudsim/reset` goes back to.
    pub profile_faults: Faults,
    throttle: Throttle,
    /// Unix seconds at start-up (`cloudsim_start_time_seconds`).
    started_secs: f64,
}

pub struct Server;

impl Server {
    /// Restores state (if `state_dir` has any), binds the listener and starts serving.
    pub async fn start(cfg: Config) -> anyhow::Result<RunningServer> {
        if !(cfg.time_scale.is_finite() && cfg.time_scale > 0.0) {
            anyhow::bail!(
                "--time-scale must be a positive number, got {}",
                cfg.time_scale
            );
        }
        control::check_faults(&cfg.profile.faults)
            .map_err(anyhow::Error::msg)
            .context("the profile's faults are invalid")?;
        let store = match &cfg.state_dir {
            Some(dir) => Some(Arc::new(StateDir::open(dir)?)),
            None => None,
        };
        let (faults, events, restored) = match &store {
            Some(s) => {
                let saved = s.load_json::<Faults>(FAULTS_FILE)?;
                let restored = saved.is_some();
                (
                    saved.unwrap_or_else(|| cfg.profile.faults.clone()),
                    s.load_events()?,
                    restored,
                )
            }
            None => (cfg.profile.faults.clone(), Vec::new(), false),
        };
        let ec2 = cfg.ec2_endpoint.as_deref().map(|url| {
            crate::ec2::Ec2Link::new(url, &cfg.region, &cfg.credentials.access_key_id, &cfg.credentials.secret_access_key)
        });
        let env: Env = Arc::new(SimEnv {
            clock: Clock::new(cfg.time_scale),
            latencies: cfg.profile.latencies.clone(),
            faults: RwLock::new(faults),
            events: EventLog::restore(events),
            credentials: cfg.credentials,
            ec2,
            region: cfg.region,
            state_dir: cfg.state_dir.clone(),
        });
        if let Some(s) = &store {
            s.save_json(FAULTS_FILE, &env.faults())?;
        }
        let listener = TcpListener::bind(cfg.listen)
            .await
            .with_context(|| format!("cannot listen on {}", cfg.listen))?;
        let addr = listener.local_addr()?;
        let eks = Eks::open(env.clone(), cfg.backend, store.clone(), cfg.account_id).await?;
        // Complete what fell due while cloudsim was down before answering anyone: a client may have
        // seen a transition complete just before a kill that came before its write.
        lifecycle::run_due(&eks).await;
        env.events.record(
            "cloudsim-started",
            None,
            json!({"restored": restored, "clusters": eks.cluster_statuses().len()}),
        );
        eks.persist().await.map_err(anyhow::Error::msg)?;

        let shared = Arc::new(Shared {
            env: env.clone(),
            eks: eks.clone(),
            store: store.clone(),
            profile_faults: cfg.profile.faults,
            throttle: Throttle::new(),
            started_secs: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = vec![lifecycle::spawn(eks.clone())];
        if let Some(s) = store {
            tasks.push(spawn_event_flusher(s, env.clone(), eks.clone()));
        }
        let accept = tokio::spawn(accept_loop(listener, shared, stop_rx));
        tracing::info!(%addr, "cloudsim serving");
        Ok(RunningServer {
            addr,
            env,
            eks,
            accept,
            tasks,
            stop: stop_tx,
        })
    }
}

/// A started server. Dropping it without [`RunningServer::shutdown`] leaves its tasks running until
/// the runtime ends (like a kill: state on disk is what was acknowledged).
pub struct RunningServer {
    addr: SocketAddr,
    env: Env,
    eks: Arc<Eks>,
    accept: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the value for `AWS_ENDPOINT_URL_EKS`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn eks(&self) -> &Arc<Eks> {
        &self.eks
    }

    /// Stops accepting, finishes in-flight requests, stops every cluster's Kubernetes API and
    /// flushes state. Transitions in flight stay on disk and resume on the next start.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.accept.await;
        for t in &self.tasks {
            t.abort();
        }
        self.eks.stop_clusters().await;
        if let Err(e) = self.eks.persist().await {
            tracing::error!(error = %e, "final state write failed");
        }
    }
}

/// Kubernetes-side events are recorded without a write; put them on disk within a fraction of a second.
/// It reads through the EKS gate so an EKS event never reaches disk ahead of the state it reports.
fn spawn_event_flusher(store: Arc<StateDir>, env: Env, eks: Arc<Eks>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tick.tick().await;
            let _gate = eks.gate.read().await;
            let (s, e) = (store.clone(), env.clone());
            if let Ok(Err(err)) =
                tokio::task::spawn_blocking(move || s.flush_events(&e.events)).await
            {
                tracing::warn!(error = %err, "could not persist events");
            }
        }
    })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let mut stop = stop.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    while conns.join_next().await.is_some() {}
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().map(str::to_string);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error_response(&EksError::invalid(format!(
                "could not read the request body (limit {MAX_BODY} bytes): {e}"
            )));
        }
    };
    if method == "GET" && path == "/metrics" {
        let text = crate::metrics::render(&shared.eks.lb_requests(), shared.started_secs);
        return Response::builder()
            .header("content-type", crate::metrics::CONTENT_TYPE)
            .body(Full::new(Bytes::from(text)))
            .expect("valid response");
    }
    if let Some(rest) = path.strip_prefix("/_cloudsim/") {
        let (status, value) =
            control::handle(shared, &method, rest, raw_query.as_deref(), &body).await;
        return json_response(status, &value, None);
    }
    let result = async {
        let op = Op::route(&method, &path)?;
        let faults = shared.env.faults();
        if !shared.throttle.admit(faults.eks_throttle_rps) {
            shared
                .env
                .events
                .record("eks-throttled", None, json!({"operation": op.name()}));
            return Err(EksError::new(ErrorKind::Throttling, "Rate exceeded"));
        }
        if faults.eks_latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(faults.eks_latency_ms)).await;
        }
        let query = Query::parse(raw_query.as_deref())?;
        tracing::debug!(operation = op.name(), "EKS call");
        crate::eks::api::call(&shared.eks, op, query, body).await
    }
    .await;
    match result {
        Ok(v) => json_response(200, &v, None),
        Err(e) => error_response(&e),
    }
}

fn error_response(e: &EksError) -> Response<Full<Bytes>> {
    json_response(e.kind.status(), &e.body(), Some(e.kind.code()))
}

fn json_response(
    status: u16,
    body: &serde_json::Value,
    error_type: Option<&str>,
) -> Response<Full<Bytes>> {
    let mut resp = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("x-amzn-requestid", new_id());
    if let Some(t) = error_type {
        resp = resp.header("x-amzn-errortype", t);
    }
    resp.body(Full::new(Bytes::from(
        serde_json::to_vec(body).expect("JSON serializes"),
    )))
    .expect("valid response")
}
