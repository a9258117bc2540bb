//! Live updates as server-sent events. A stream polls the state backend itself (no background
//! task): the run page's stream reads only the records appended since the last poll and, when
//! there are new ones or the lock changed, sends the page's parts rendered again; the overview's
//! stream re-reads every environment and sends its parts when they changed. Each backend read is
//! bounded by a timeout, a stream lives at most [`MAX_LIFE`] (the browser reconnects, resuming
//! from the `Last-Event-ID` it was sent) and ends with the server. When a client goes away the
//! response body is dropped, and with it the stream and its poll: nothing is left running.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::Stream;
use jiff::Timestamp;
use maud::Markup;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::engine::JournalRecord;
use crate::ops::inspect;
use crate::providers::LockInfo;

use super::overview;
use super::run::{self, RunView};
use super::run_page::{self, RunAddress};
use super::sources::Catalog;

/// How long one stream lives before the server ends it (the browser then reconnects).
pub const MAX_LIFE: Duration = Duration::from_secs(30 * 60);
/// How often a running run's page is sent again without new records (its open bars grow).
const REFRESH: Duration = Duration::from_secs(5);

/// Counts the streams alive, for tests and logs; a stream holds one while it exists.
pub struct StreamGuard(Arc<AtomicUsize>);

impl StreamGuard {
    /// Counts one more stream in `count`.
    pub fn new(count: &Arc<AtomicUsize>) -> StreamGuard {
        count.fetch_add(1, Ordering::SeqCst);
        StreamGuard(count.clone())
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every stream needs.
#[derive(Clone)]
pub struct Follow {
    /// The sources and plans.
    pub catalog: Arc<Catalog>,
    /// Time between polls of the backend.
    pub poll: Duration,
    /// Bound on each backend read.
    pub timeout: Duration,
    /// Becomes true when the server stops.
    pub shutdown: watch::Receiver<bool>,
}

impl Follow {
    /// Waits one poll interval; false when the server stops or the stream has lived long enough.
    async fn tick(&mut self, born: Instant) -> bool {
        if born.elapsed() >= MAX_LIFE || *self.shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(self.poll) => true,
            _ = self.shutdown.changed() => false,
        }
    }
}

/// The event carrying a page's parts: `{"seq": N, "fragments": {"id": "<html>", ...}}`.
fn update(seq: u64, parts: Vec<(&'static str, Markup)>) -> Event {
    let fragments: serde_json::Map<String, serde_json::Value> =
        parts.into_iter().map(|(id, m)| (id.to_string(), m.into_string().into())).collect();
    let data = serde_json::json!({ "seq": seq, "fragments": fragments });
    Event::default().event("update").id(seq.to_string()).data(data.to_string())
}

fn problem(text: String) -> Event {
    Event::default().event("problem").data(text)
}

/// A run being followed.
pub struct RunFollow {
    /// Polling and shutdown.
    pub follow: Follow,
    /// Index of the source in the catalog.
    pub source: usize,
    /// Environment.
    pub env: String,
    /// Run id.
    pub run: String,
    /// The selected step, rendered as the page did.
    pub step: Option<String>,
    /// The seq the client has already (its page, or `Last-Event-ID`).
    pub after: u64,
    /// Held while the stream lives.
    pub guard: StreamGuard,
}

struct RunState {
    f: RunFollow,
    records: Vec<JournalRecord>,
    lock: Option<LockInfo>,
    born: Instant,
    sent_at: Instant,
    loaded: bool,
}

/// The run page's stream: an `update` whenever the journal grows or the lock changes.
pub fn follow_run(f: RunFollow) -> impl Stream<Item = Result<Event, Infallible>> {
    let now = Instant::now();
    let state = RunState { f, records: Vec::new(), lock: None, born: now, sent_at: now, loaded: false };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if s.loaded && !s.f.follow.tick(s.born).await {
                return None;
            }
            match poll_run(&mut s).await {
                Ok(Some(event)) => return Some((Ok(event), s)),
                Ok(None) => {}
                Err(text) => {
                    s.loaded = true;
                    return Some((Ok(problem(text)), s));
                }
            }
        }
    })
}

/// One poll: the new records and the lock; an event when the client should redraw.
async fn poll_run(s: &mut RunState) -> Result<Option<Event>, String> {
    let f = &s.f;
    let state = f.follow.catalog.sources[f.source].state.clone();
    let timeout = f.follow.timeout;
    let have = s.records.last().map_or(0, |r| r.seq);
    let read = async {
        let new = inspect::history_after(state.as_ref(), &f.env, &f.run, have).await?;
        let lock = inspect::lock_in(state.as_ref(), &f.env).await?;
        Ok::<_, crate::ops::OpsError>((new, lock))
    };
    let (new, lock) = match tokio::time::timeout(timeout, read).await {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => return Err(format!("reading the journal failed: {e}")),
        Err(_) => return Err(format!("reading the journal took over {timeout:?}")),
    };
    let first = !s.loaded;
    s.loaded = true;
    let grew = !new.is_empty();
    let lock_changed = lock != s.lock;
    s.records.extend(new);
    s.lock = lock;
    let seq = s.records.last().map_or(0, |r| r.seq);
    let changed = if first { seq > f.after } else { grew || lock_changed };
    if !changed && s.sent_at.elapsed() < REFRESH {
        return Ok(None);
    }
    let Some(view) = run::view(&s.records, s.lock.clone(), plan(f).as_deref(), Timestamp::now()) else {
        return Ok(None);
    };
    // Without news, only a running run is sent again (its open bars and ages grow).
    if !changed && view.status.phase.outcome().is_some() {
        return Ok(None);
    }
    s.sent_at = Instant::now();
    Ok(Some(update(seq, fragments(f, &view))))
}

fn plan(f: &RunFollow) -> Option<Arc<crate::plan::Plan>> {
    let source = &f.follow.catalog.sources[f.source];
    f.follow.catalog.plan(&source.id, &f.env).cloned()
}

fn fragments(f: &RunFollow, view: &RunView) -> Vec<(&'static str, Markup)> {
    let source = &f.follow.catalog.sources[f.source];
    let at = RunAddress { source: &source.id, env: &f.env, step: f.step.as_deref() };
    run_page::fragments(&at, view)
}

/// The overview's stream: its parts again whenever they change (checked every `every`, since it
/// reads every environment). `shown` is the fingerprint of what the page already shows.
pub fn follow_overview(
    mut follow: Follow,
    every: Duration,
    shown: Option<u64>,
    guard: StreamGuard,
) -> impl Stream<Item = Result<Event, Infallible>> {
    follow.poll = every;
    let born = Instant::now();
    futures_util::stream::unfold((follow, guard, shown, 0u64), move |(mut follow, guard, mut last, mut n)| async move {
        loop {
            if !follow.tick(born).await {
                return None;
            }
            let ov = overview::overview(&follow.catalog, follow.timeout).await;
            let parts = super::pages::overview_fragments(&ov);
            let digest = fingerprint(&parts);
            if last != Some(digest) {
                last = Some(digest);
                n += 1;
                return Some((Ok(update(n, parts)), (follow, guard, last, n)));
            }
        }
    })
}

/// A hash of the rendered parts. They change on their own at most once a minute (the overview
/// shows ages in minutes), so an unchanged fleet sends nothing.
pub fn fingerprint(parts: &[(&'static str, Markup)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (id, m) in parts {
        id.hash(&mut h);
        m.0.hash(&mut h);
    }
    h.finish()
}
