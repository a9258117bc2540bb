//! Generic object storage for one cluster: every resource, namespaced or not, as JSON, keyed by
//! group + resource + namespace + name, with one resourceVersion counter for the whole cluster.
//!
//! Writes go through [`Store::write`], a closure run under the write lock: it sees its own changes,
//! is undone as a whole when it fails (or is a dry run), and on success is journaled (see
//! [`super::persist`]), appended to the bounded watch history and broadcast to watchers in
//! resourceVersion order. Objects are shared as `Arc<Value>` so lists and watch fan-out never
//! deep-copy the store.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, RwLock};

use serde_json::Value;
use tokio::sync::broadcast;

use super::discovery::GroupResource;
use super::obj;
use super::persist::Journal;

/// How many events watchers can resume from (older resourceVersions get 410 Gone).
const HISTORY: usize = 4096;
/// How far a watcher may fall behind before it is cut off (it then re-lists, as clients do on 410).
const BROADCAST_CAPACITY: usize = 16384;

pub type ObjKey = (String, String);

/// Retained events to replay, and the receiver of the live ones after them.
pub type Subscription = (Vec<Arc<WatchEvent>>, broadcast::Receiver<Arc<WatchEvent>>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

#[derive(Debug)]
pub struct WatchEvent {
    pub rv: u64,
    pub gr: GroupResource,
    pub namespace: String,
    pub name: String,
    pub kind: EventType,
    pub object: Arc<Value>,
    /// The object before this change (for selector transitions: a watcher whose selector stops
    /// matching sees DELETED, one it starts matching sees ADDED).
    pub prev: Option<Arc<Value>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("too old resource version: {requested} (oldest retained: {oldest})")]
    Gone { requested: u64, oldest: u64 },
    #[error("could not persist the write: {0}")]
    Persist(String),
}

pub(crate) struct Inner {
    pub(crate) rv: u64,
    pub(crate) objects: HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>,
    history: VecDeque<Arc<WatchEvent>>,
    /// History holds every event with rv > history_floor.
    history_floor: u64,
    journal: Option<Journal>,
}

pub struct Store {
    inner: RwLock<Inner>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("rv", &self.current_rv())
            .finish_non_exhaustive()
    }
}

/// A write in progress: changes apply at once and are undone if the closure fails.
pub struct Tx<'a> {
    inner: &'a mut Inner,
    undo: Vec<(GroupResource, ObjKey, Option<Arc<Value>>)>,
    events: Vec<Arc<WatchEvent>>,
    start_rv: u64,
}

impl Tx<'_> {
    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.inner
            .objects
            .get(gr)?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// Objects of a resource, in one namespace or (None) all.
    pub fn list(&self, gr: &GroupResource, namespace: Option<&str>) -> Vec<Arc<Value>> {
        list_in(&self.inner.objects, gr, namespace)
    }

    /// Every object of every resource.
    pub fn all(&self) -> Vec<(GroupResource, Arc<Value>)> {
        self.inner
            .objects
            .iter()
            .flat_map(|(gr, m)| m.values().map(move |o| (gr.clone(), o.clone())))
            .collect()
    }

    /// Stores `object` (its metadata.namespace/name say where), giving it the next resourceVersion.
    pub fn put(&mut self, gr: &GroupResource, mut object: Value) -> Arc<Value> {
        let key = (
            obj::namespace(&object).to_string(),
            obj::name(&object).to_string(),
        );
        self.inner.rv += 1;
        let rv = self.inner.rv;
        obj::set_resource_version(&mut object, rv);
        let object = Arc::new(object);
        let prev = self
            .inner
            .objects
            .entry(gr.clone())
            .or_default()
            .insert(key.clone(), object.clone());
        self.undo.push((gr.clone(), key.clone(), prev.clone()));
        let kind = if prev.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.events.push(Arc::new(WatchEvent {
            rv,
            gr: gr.clone(),
            namespace: key.0,
            name: key.1,
            kind,
            object: object.clone(),
            prev,
        }));
        object
    }

    /// Removes an object; the returned copy (and the DELETED event) carry a fresh resourceVersion.
    pub fn remove(
        &mut self,
        gr: &GroupResource,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Value>> {
        let key = (namespace.to_string(), name.to_string());
        let prev = self.inner.objects.get_mut(gr)?.remove(&key)?;
        self.undo
            .push((gr.clone(), key.clone(), Some(prev.clone())));
        self.inner.rv += 1;
        let rv = self.inner.rv;
        let mut gone = (*prev).clone();
        obj::set_resource_version(&mut gone, rv);
        let gone = Arc::new(gone);
        self.events.push(Arc::new(WatchEvent {
            rv,
            gr: gr.clone(),
            namespace: key.0,
            name: key.1,
            kind: EventType::Deleted,
            object: gone.clone(),
            prev: Some(prev),
        }));
        Some(gone)
    }

    fn rollback(&mut self) {
        for (gr, key, prev) in self.undo.drain(..).rev() {
            let map = self.inner.objects.entry(gr).or_default();
            match prev {
                Some(p) => {
                    map.insert(key, p);
                }
                None => {
                    map.remove(&key);
                }
            }
        }
        self.inner.rv = self.start_rv;
        self.events.clear();
    }
}

fn list_in(
    objects: &HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>,
    gr: &GroupResource,
    namespace: Option<&str>,
) -> Vec<Arc<Value>> {
    let Some(map) = objects.get(gr) else {
        return Vec::new();
    };
    match namespace {
        Some(ns) => map
            .range((ns.to_string(), String::new())..)
            .take_while(|((n, _), _)| n == ns)
            .map(|(_, v)| v.clone())
            .collect(),
        None => map.values().cloned().collect(),
    }
}

/// What a write closure decides about its changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// Keep, journal without waiting for the disk (controller bookkeeping).
    Lazy,
    /// Keep and fsync before returning (writes acknowledged to API clients).
    Durable,
    /// Undo (dry run): the closure's result is returned but nothing is kept.
    DryRun,
}

impl Store {
    pub(crate) fn new(
        rv: u64,
        objects: HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>,
        journal: Option<Journal>,
    ) -> Self {
        let (tx, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            inner: RwLock::new(Inner {
                rv,
                objects,
                history: VecDeque::new(),
                history_floor: rv,
                journal,
            }),
            tx,
        }
    }

    pub fn current_rv(&self) -> u64 {
        self.inner.read().expect("store lock").rv
    }

    pub fn get(&self, gr: &GroupResource, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.inner
            .read()
            .expect("store lock")
            .objects
            .get(gr)?
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// A consistent list and the resourceVersion it was taken at.
    pub fn list(&self, gr: &GroupResource, namespace: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let inner = self.inner.read().expect("store lock");
        (list_in(&inner.objects, gr, namespace), inner.rv)
    }

    /// Every object of every resource (for the controller's and GC's scans).
    pub fn read<R>(
        &self,
        f: impl FnOnce(&HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>, u64) -> R,
    ) -> R {
        let inner = self.inner.read().expect("store lock");
        f(&inner.objects, inner.rv)
    }

    /// Runs `f` as one atomic write. `commit` is decided up front; a failing `f` is always undone.
    pub fn write<R, E: From<StoreError>>(
        &self,
        commit: Commit,
        f: impl FnOnce(&mut Tx) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut inner = self.inner.write().expect("store lock");
        let start_rv = inner.rv;
        let mut tx = Tx {
            inner: &mut inner,
            undo: Vec::new(),
            events: Vec::new(),
            start_rv,
        };
        let result = f(&mut tx);
        if result.is_err() || commit == Commit::DryRun {
            tx.rollback();
            return result;
        }
        let events = std::mem::take(&mut tx.events);
        if events.is_empty() {
            return result;
        }
        let inner_ref = &mut *inner;
        if let Some(journal) = inner_ref.journal.as_mut() {
            let written = journal.append(&events).and_then(|()| {
                if commit == Commit::Durable {
                    journal.sync()
                } else {
                    Ok(())
                }
            });
            if let Err(e) = written {
                // Undo in memory so what clients were told matches what is on disk.
                for ev in events.iter().rev() {
                    let map = inner_ref.objects.entry(ev.gr.clone()).or_default();
                    let key = (ev.namespace.clone(), ev.name.clone());
                    match &ev.prev {
                        Some(p) => {
                            map.insert(key, p.clone());
                        }
                        None => {
                            map.remove(&key);
                        }
                    }
                }
                inner_ref.rv = start_rv;
                return Err(StoreError::Persist(e.to_string()).into());
            }
            if journal.wants_compaction()
                && let Err(e) = journal.compact(inner_ref.rv, &inner_ref.objects)
            {
                tracing::warn!(error = %e, "could not compact the object journal; it keeps growing");
            }
        }
        for ev in events {
            inner.history.push_back(ev.clone());
            // No receivers is fine: nobody is watching.
            let _ = self.tx.send(ev);
        }
        while inner.history.len() > HISTORY {
            if let Some(old) = inner.history.pop_front() {
                inner.history_floor = old.rv;
            }
        }
        result
    }

    /// Subscribes to changes after `since`: the retained events with rv > since, then live ones.
    pub fn watch_from(&self, since: u64) -> Result<Subscription, StoreError> {
        let inner = self.inner.read().expect("store lock");
        if since < inner.history_floor {
            return Err(StoreError::Gone {
                requested: since,
                oldest: inner.history_floor,
            });
        }
        let backlog = inner
            .history
            .iter()
            .filter(|e| e.rv > since)
            .cloned()
            .collect();
        Ok((backlog, self.tx.subscribe()))
    }

    /// Subscribes and lists in one step: the current objects (at the returned rv) and live changes after them.
    pub fn list_and_watch(
        &self,
        gr: &GroupResource,
        namespace: Option<&str>,
    ) -> (Vec<Arc<Value>>, u64, broadcast::Receiver<Arc<WatchEvent>>) {
        let inner = self.inner.read().expect("store lock");
        (
            list_in(&inner.objects, gr, namespace),
            inner.rv,
            self.tx.subscribe(),
        )
    }

    /// A receiver of every change from now on (controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// Flushes and closes the journal (shutdown).
    pub fn close(&self) {
        let mut inner = self.inner.write().expect("store lock");
        if let Some(j) = inner.journal.as_mut() {
            let _ = j.sync();
        }
        inner.journal = None;
    }
}
