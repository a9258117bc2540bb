//! The HTTP side: routes (GET only: the dashboard never writes), the access check and the
//! security headers on every response, and the server's lifetime ([`start`], [`Running`]).
//!
//! | path | what |
//! | --- | --- |
//! | `/` | needs-attention queue and every environment; `/events` streams its changes |
//! | `/s/{source}/{env}` | the environment's runs |
//! | `/s/{source}/{env}/runs/{run}?step=ID` | a run, with a step selected; `…/events` streams it |
//! | `/assets/app.js`, `/assets/style.css` | the embedded script and style |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use jiff::Timestamp;
use maud::html;
use serde::Deserialize;
use tokio::sync::watch;

use crate::engine::EngineError;
use crate::ops::OpsError;

use super::auth::Access;
use super::live::{self, Follow, RunFollow, StreamGuard};
use super::run_page::{self, RunAddress};
use super::sources::Catalog;
use super::{DashboardError, overview, pages, run};

const APP_JS: &str = include_str!("assets/app.js");
/// Live pages open at once; each polls the backend, so their number is bounded.
const MAX_STREAMS: usize = 100;
const STYLE_CSS: &str = include_str!("assets/style.css");

/// No script, style or connection from anywhere but this server; no framing; no referrer.
/// Together with escaping, a string that slipped through as markup could still not run.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// How the server runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Who may read.
    pub access: Access,
    /// Time between polls of a followed journal (at most 1 s: an append shows within 2 s).
    pub poll: Duration,
    /// Time between re-reads of every environment for the overview's stream.
    pub overview_poll: Duration,
    /// Bound on each backend read.
    pub read_timeout: Duration,
}

impl Config {
    /// Defaults for `listen` under `access`: a 500 ms journal poll, a 2 s overview poll, 10 s reads.
    pub fn new(listen: SocketAddr, access: Access) -> Config {
        Config {
            listen,
            access,
            poll: Duration::from_millis(500),
            overview_poll: Duration::from_secs(2),
            read_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
struct App {
    catalog: Arc<Catalog>,
    config: Arc<Config>,
    streams: Arc<AtomicUsize>,
    shutdown: watch::Receiver<bool>,
}

impl App {
    fn follow(&self) -> Follow {
        Follow {
            catalog: self.catalog.clone(),
            poll: self.config.poll.min(Duration::from_secs(1)),
            timeout: self.config.read_timeout,
            shutdown: self.shutdown.clone(),
        }
    }
}

/// A running dashboard.
pub struct Running {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    streams: Arc<AtomicUsize>,
}

impl Running {
    /// The address it listens on (the port chosen when `listen` said 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Event streams open now.
    pub fn live_streams(&self) -> usize {
        self.streams.load(Ordering::SeqCst)
    }

    /// Stops accepting, ends every stream and waits (at most 10 s) for open requests to finish.
    pub async fn stop(self) -> Result<(), DashboardError> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(DashboardError::Serve(e)),
            Ok(Err(e)) => Err(DashboardError::Serve(std::io::Error::other(e))),
            Err(_) => Err(DashboardError::Serve(std::io::Error::other("requests still open 10 s after stop"))),
        }
    }
}

/// Binds `config.listen` and serves `catalog` until [`Running::stop`].
pub async fn start(catalog: Catalog, config: Config) -> Result<Running, DashboardError> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| DashboardError::Bind { addr: config.listen, source })?;
    let addr = listener.local_addr().map_err(|source| DashboardError::Bind { addr: config.listen, source })?;
    let (stop, shutdown) = watch::channel(false);
    let streams = Arc::new(AtomicUsize::new(0));
    let app = App { catalog: Arc::new(catalog), config: Arc::new(config), streams: streams.clone(), shutdown: shutdown.clone() };
    let router = router(app);
    let mut until = shutdown;
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = until.wait_for(|stopped| *stopped).await;
            })
            .await
    });
    Ok(Running { addr, stop, task, streams })
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(overview_page))
        .route("/events", get(overview_events))
        .route("/s/{source}/{env}", get(env_page))
        .route("/s/{source}/{env}/route53", get(route53_page))
        .route("/s/{source}/{env}/runs/{run}", get(run_page))
        .route("/s/{source}/{env}/runs/{run}/events", get(run_events))
        .route("/assets/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/assets/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        .fallback(|| async { not_found("No such page.") })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The access check, then the security headers on whatever is answered.
async fn guard(State(app): State<App>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let text = |name| headers.get(name).and_then(|v: &HeaderValue| v.to_str().ok());
    let mut response = if app.config.access.allows(text(header::HOST), text(header::AUTHORIZATION)) {
        tracing::debug!(path = request.uri().path(), "dashboard request");
        next.run(request).await
    } else {
        // Neither the token nor what was presented is logged.
        tracing::info!(path = request.uri().path(), "dashboard request refused: no valid token or not a loopback host");
        let mut refused = (StatusCode::UNAUTHORIZED, "401 Unauthorized: send Authorization: Bearer <token>\n").into_response();
        refused.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        refused
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn not_found(what: &str) -> Response {
    let page = pages::layout("Not found", None, html! { h1 { "Not found" } p { (what) } p { a href="/" { "All environments" } } });
    (StatusCode::NOT_FOUND, Html(page.into_string())).into_response()
}

fn unavailable(what: String) -> Response {
    let page = pages::layout("Unavailable", None, html! { h1 { "Cannot read the state" } p { (what) } });
    (StatusCode::BAD_GATEWAY, Html(page.into_string())).into_response()
}

async fn overview_page(State(app): State<App>) -> Response {
    let ov = overview::overview(&app.catalog, app.config.read_timeout).await;
    Html(pages::overview_page(&ov).into_string()).into_response()
}

#[derive(Deserialize)]
struct OverviewQuery {
    v: Option<u64>,
}

fn too_many_streams() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, [(header::RETRY_AFTER, "30")], "too many live pages are open; try again later\n").into_response()
}

async fn overview_events(State(app): State<App>, Query(q): Query<OverviewQuery>) -> Response {
    if app.streams.load(Ordering::SeqCst) >= MAX_STREAMS {
        return too_many_streams();
    }
    let guard = StreamGuard::new(&app.streams);
    let stream = live::follow_overview(app.follow(), app.config.overview_poll, q.v, guard);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

async fn env_page(State(app): State<App>, Path((source, env)): Path<(String, String)>) -> Response {
    let Some(src) = app.catalog.source(&source) else { return not_found("No such state backend.") };
    let state = src.state.as_ref();
    let timeout = app.config.read_timeout;
    let read = async {
        let lock = crate::ops::inspect::lock_in(state, &env).await?;
        let mut runs = Vec::new();
        for run in crate::ops::inspect::runs_in(state, &env).await? {
            let mut status = crate::ops::inspect::run_status_in(state, &env, &run).await.map_err(|e| e.to_string());
            if let (Ok(s), Some(l)) = (&mut status, &lock)
                && l.run_id == run
            {
                s.lock = Some(l.clone());
            }
            runs.push((run, status));
        }
        Ok::<_, crate::ops::OpsError>((runs, lock))
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok((runs, lock))) => {
            let has_plan = app.catalog.plan(&source, &env).is_some();
            Html(pages::env_page(&src.id, &src.label, &env, &runs, lock.as_ref(), has_plan).into_string()).into_response()
        }
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable(format!("reading {env} took over {timeout:?}")),
    }
}

/// The plan's records as Route53 serves them now: read on demand (never polled), bounded.
async fn route53_page(State(app): State<App>, Path((source, env)): Path<(String, String)>) -> Response {
    let Some(src) = app.catalog.source(&source) else { return not_found("No such state backend.") };
    let Some(plan) = app.catalog.plan(&source, &env) else {
        return not_found("The weights in Route53 are read through the environment's plan: give its directory with --plans.");
    };
    let timeout = app.config.read_timeout;
    match tokio::time::timeout(timeout, crate::ops::inspect::live_weights(&app.catalog.cx, plan)).await {
        Ok(Ok(records)) => Html(pages::route53_page(&src.id, &env, plan, &records, jiff::Timestamp::now()).into_string()).into_response(),
        Ok(Err(e)) => unavailable(e.to_string()),
        Err(_) => unavailable(format!("Route53 did not answer within {timeout:?}")),
    }
}

#[derive(Deserialize)]
struct RunQuery {
    step: Option<String>,
    after: Option<u64>,
}

async fn run_page(State(app): State<App>, Path((source, env, run_id)): Path<(String, String, String)>, Query(q): Query<RunQuery>) -> Response {
    let Some(src) = app.catalog.source(&source) else { return not_found("No such state backend.") };
    let state = src.state.as_ref();
    let timeout = app.config.read_timeout;
    let read = async {
        let records = crate::ops::inspect::history_in(state, &env, Some(&run_id)).await?;
        let lock = crate::ops::inspect::lock_in(state, &env).await?;
        Ok::<_, crate::ops::OpsError>((records, lock))
    };
    let (records, lock) = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(read)) => read,
        Ok(Err(e @ OpsError::Engine(EngineError::UnknownRun { .. } | EngineError::NoRunToResume { .. }))) => {
            return not_found(&e.to_string());
        }
        Ok(Err(e)) => return unavailable(e.to_string()),
        Err(_) => return unavailable(format!("reading run {run_id} took over {timeout:?}")),
    };
    let plan = app.catalog.plan(&src.id, &env).cloned();
    let Some(view) = run::view(&records, lock, plan.as_deref(), Timestamp::now()) else {
        return not_found("This run's journal does not start with run-started.");
    };
    let at = RunAddress { source: &src.id, env: &env, step: q.step.as_deref() };
    Html(run_page::run_page(&at, &view).into_string()).into_response()
}

async fn run_events(
    State(app): State<App>,
    Path((source, env, run)): Path<(String, String, String)>,
    Query(q): Query<RunQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(index) = app.catalog.sources.iter().position(|s| s.id == source) else {
        return not_found("No such state backend.");
    };
    if app.streams.load(Ordering::SeqCst) >= MAX_STREAMS {
        return too_many_streams();
    }
    // A reconnecting browser says what it has; that wins over the page's own `after`.
    let last_event = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let f = RunFollow {
        follow: app.follow(),
        source: index,
        env,
        run,
        step: q.step,
        after: last_event.or(q.after).unwrap_or(0),
        guard: StreamGuard::new(&app.streams),
    };
    Sse::new(live::follow_run(f)).keep_alive(KeepAlive::default()).into_response()
}
