//! Shared test support: fakes behind the provider traits, plans built in Rust, crash-injecting
//! state, and a harness wiring them to an `Engine`.


pub mod dashboard;
pub mod fakes;
pub mod plans;
pub mod stack;
pub mod state;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use cutover::engine::{Engine, EngineEvent, EngineOptions, ProgressSink, RetryPolicy};
use cutover::plan::Plan;
use cutover::providers::StateBackend;
use cutover::providers::state_local::LocalState;

use fakes::{World, WorldState};
use state::ManualClock;

type Hook = Box<dyn Fn(&EngineEvent, &World) + Send + Sync>;

/// Records events, and a snapshot of the world at every checkpoint (the latest one wins).
/// A hook can act on the world when an event arrives: a human changing things mid-run.
pub struct SnapshotSink {
    world: World,
    pub events: Mutex<Vec<EngineEvent>>,
    pub snapshots: Mutex<BTreeMap<String, WorldState>>,
    hook: Mutex<Option<Hook>>,
}

impl ProgressSink for SnapshotSink {
    fn event(&self, e: &EngineEvent) {
        if let EngineEvent::Checkpoint { name } = e {
            self.snapshots
                .lock()
                .unwrap()
                .insert(name.clone(), self.world.state());
        }
        self.events.lock().unwrap().push(e.clone());
        if let Some(hook) = self.hook.lock().unwrap().as_ref() {
            hook(e, &self.world);
        }
    }
}

impl SnapshotSink {
    pub fn on_event(&self, hook: impl Fn(&EngineEvent, &World) + Send + Sync + 'static) {
        *self.hook.lock().unwrap() = Some(Box::new(hook));
    }

    pub fn clear_hook(&self) {
        *self.hook.lock().unwrap() = None;
    }

    pub fn snapshot(&self, checkpoint: &str) -> WorldState {
        self.snapshots
            .lock()
            .unwrap()
            .get(checkpoint)
            .cloned()
            .unwrap_or_else(|| panic!("no snapshot at {checkpoint}"))
    }

    pub fn checkpoints(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                EngineEvent::Checkpoint { name } => Some(name.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A temporary state directory, on tmpfs where the machine has one: these tests exercise the
/// engine's logic through the real local backend, and thousands of fsyncs to a shared disk
/// would only make them slow.
pub fn state_dir() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new()
            .prefix("cutover-test-")
            .tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().unwrap()
}

/// A plan, a fresh world, a temporary state directory, a manual clock.
pub struct Harness {
    pub plan: Arc<Plan>,
    pub world: World,
    pub dir: tempfile::TempDir,
    pub local: Arc<LocalState>,
    pub clock: Arc<ManualClock>,
    pub sink: Arc<SnapshotSink>,
    /// The world before the run: the rollback target "start".
    pub initial: WorldState,
}

impl Harness {
    pub fn new(plan: Plan) -> Self {
        Self::with_world(plan, plans::world())
    }

    pub fn with_world(plan: Plan, world: World) -> Self {
        let dir = state_dir();
        let local = Arc::new(LocalState::new(dir.path().join("state")));
        let sink = Arc::new(SnapshotSink {
            world: world.clone(),
            events: Mutex::default(),
            snapshots: Mutex::default(),
            hook: Mutex::default(),
        });
        let initial = world.state();
        Harness {
            plan: Arc::new(plan),
            world,
            dir,
            local,
            clock: ManualClock::new(),
            sink,
            initial,
        }
    }

    pub fn options(&self) -> EngineOptions {
        EngineOptions {
            who: "tester".into(),
            progress: self.sink.clone(),
            clock: self.clock.clone(),
            retry: RetryPolicy {
                max_retries: 4,
                ..RetryPolicy::default()
            },
            ..EngineOptions::default()
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine_on(self.local.clone())
    }

    pub fn engine_on(&self, state: Arc<dyn StateBackend>) -> Engine {
        Engine::new(
            self.plan.clone(),
            self.world.providers(),
            state,
            self.options(),
        )
    }

    pub fn engine_for(&self, plan: Plan) -> Engine {
        Engine::new(
            Arc::new(plan),
            self.world.providers(),
            self.local.clone(),
            self.options(),
        )
    }

    /// The world at a checkpoint of an earlier run, or before anything ran (`None`).
    pub fn world_at(&self, checkpoint: Option<&str>) -> WorldState {
        match checkpoint {
            Some(c) => self.sink.snapshot(c),
            None => self.initial.clone(),
        }
    }

    pub fn journal_path(&self, run_id: &str) -> std::path::PathBuf {
        self.dir
            .path()
            .join("state")
            .join(plans::ENV)
            .join("runs")
            .join(format!("{run_id}.jsonl"))
    }
}
