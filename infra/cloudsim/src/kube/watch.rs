//! Watches: newline-delimited JSON events streamed to the client.
//!
//! - `resourceVersion` unset or `0`: synthetic ADDED events for what exists, then changes.
//! - `resourceVersion=N`: the retained changes after N, then live ones; too old → an ERROR event
//!   carrying a 410 Expired Status (clients re-list).
//! - `sendInitialEvents=true`: the current objects, then a BOOKMARK annotated
//!   `k8s.io/initial-events-end: "true"` (the streaming-list protocol helm 4's waiter uses).
//! - `allowWatchBookmarks=true`: a BOOKMARK with the current resourceVersion every minute.
//!
//! Selectors are re-evaluated on every change: an object that stops matching is reported DELETED,
//! one that starts matching ADDED, as the real API server does.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::ClusterState;
use super::api::{ApiError, ApiRequest, ApiResult, Reply};
use super::crud::{Target, selectors};
use super::discovery::{GroupResource, ResourceType};
use super::render::at_version;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{EventType, StoreError, WatchEvent};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    ty: &'a str,
    object: &'a Value,
}

fn line(ty: &str, object: &Value) -> Bytes {
    let mut buf = serde_json::to_vec(&Line { ty, object }).expect("serialisable");
    buf.push(b'\n');
    Bytes::from(buf)
}

struct Filter {
    rt: Arc<ResourceType>,
    gr: GroupResource,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, o: &Value) -> bool {
        self.labels.matches(o) && self.fields.matches(o)
    }

    /// The line a watcher with this filter sees for `ev`, if any.
    fn translate(&self, ev: &WatchEvent) -> Option<Bytes> {
        if ev.gr != self.gr
            || self
                .namespace
                .as_deref()
                .is_some_and(|ns| ns != ev.namespace)
        {
            return None;
        }
        let now = self.matches(&ev.object);
        let before = ev.prev.as_ref().is_some_and(|p| self.matches(p));
        let ty = match ev.kind {
            EventType::Added if now => EventType::Added,
            EventType::Modified if now && before => EventType::Modified,
            EventType::Modified if now => EventType::Added,
            EventType::Modified if before => EventType::Deleted,
            EventType::Deleted if before || now => EventType::Deleted,
            _ => return None,
        };
        Some(line(ty.as_str(), at_version(&self.rt, &ev.object).as_ref()))
    }

    fn bookmark(&self, rv: u64, initial_end: bool) -> Bytes {
        let mut meta = json!({"resourceVersion": rv.to_string()});
        if initial_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        line(
            "BOOKMARK",
            &json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": meta}),
        )
    }
}

pub fn start(cs: &ClusterState, t: &Target, req: &ApiRequest) -> ApiResult {
    let (labels, fields) = selectors(req)?;
    let filter = Filter {
        rt: t.rt.clone(),
        gr: t.rt.group_resource(),
        namespace: if t.rt.namespaced {
            t.namespace.clone()
        } else {
            None
        },
        labels,
        fields,
    };
    let send_initial = req.q("sendInitialEvents") == Some("true");
    let bookmarks = req.flag("allowWatchBookmarks");
    let timeout = req
        .q("timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let rv_param = req.q("resourceVersion");

    let mut first: Vec<Bytes> = Vec::new();
    let (start_rv, rx) = if send_initial || rv_param.is_none() || rv_param == Some("0") {
        let (items, rv, rx) = cs
            .store
            .list_and_watch(&filter.gr, filter.namespace.as_deref());
        first.extend(
            items
                .iter()
                .filter(|o| filter.matches(o))
                .map(|o| line("ADDED", at_version(&filter.rt, o).as_ref())),
        );
        if send_initial {
            first.push(filter.bookmark(rv, true));
        }
        (rv, rx)
    } else {
        let since: u64 = rv_param.unwrap_or_default().parse().map_err(|_| {
            ApiError::bad_request(format!(
                "resourceVersion `{}` is not a number",
                rv_param.unwrap_or_default()
            ))
        })?;
        match cs.store.watch_from(since) {
            Ok((backlog, rx)) => {
                first.extend(backlog.iter().filter_map(|ev| filter.translate(ev)));
                (backlog.last().map_or(since, |e| e.rv), rx)
            }
            Err(e @ StoreError::Gone { .. }) => {
                let status = ApiError::from(e).status();
                let (tx, rx) = mpsc::channel(1);
                let _ = tx.try_send(line("ERROR", &status));
                return Ok(Reply::Stream(rx));
            }
            Err(e) => return Err(e.into()),
        }
    };

    let (tx, body) = mpsc::channel(64);
    let shutdown = cs.shutdown.clone();
    tokio::spawn(stream(
        filter, first, start_rv, rx, tx, timeout, bookmarks, shutdown,
    ));
    Ok(Reply::Stream(body))
}

#[allow(clippy::too_many_arguments)]
async fn stream(
    filter: Filter,
    first: Vec<Bytes>,
    mut last_rv: u64,
    mut rx: broadcast::Receiver<Arc<WatchEvent>>,
    tx: mpsc::Sender<Bytes>,
    timeout: Duration,
    bookmarks: bool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    for l in first {
        if tx.send(l).await.is_err() {
            return;
        }
    }
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(BOOKMARK_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if ev.rv <= last_rv {
                        continue;
                    }
                    last_rv = ev.rv;
                    if let Some(l) = filter.translate(&ev)
                        && tx.send(l).await.is_err() {
                            return;
                        }
                }
                // Fell too far behind or the cluster stopped: end the stream; clients re-watch.
                Err(_) => return,
            },
            _ = tick.tick(), if bookmarks => {
                // Only what this stream has passed on: a later rv could skip events still queued.
                if tx.send(filter.bookmark(last_rv, false)).await.is_err() {
                    return;
                }
            }
            _ = &mut deadline => return,
            _ = shutdown.changed() => return,
            () = tx.closed() => return,
        }
    }
}
