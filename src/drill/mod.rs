//! Disaster-recovery drills: rebuild the environment from nothing with the engine (cluster,
//! releases, checks), measure every phase and the recovery time against the plan's `rtoTarget`,
//! then make sure nothing is left behind — also when the drill fails — unless asked to keep it
//! (`--keep`: the environment becomes a dev cluster with a TTL, see [`crate::dev`]).
//!
//! Teardown after a failure is the engine's own rollback to the start (releases, node groups,
//! add-ons, then the cluster after its load balancers are released). Should that not finish, the
//! drill deletes the cluster directly, in the same order, but only if the drill's environment
//! made it (its `cutover.dev/plan` tag). Success is judged by looking: the cluster must be gone.

pub mod report;

use std::sync::Arc;

use jiff::Timestamp;

use crate::engine::{Engine, EngineError, EngineOptions, RunOutcome, START};
use crate::plan::Plan;
use crate::providers::{
    ClusterProvider, Ownership, ProviderError, Providers, StateBackend, WorkloadProvider,
};

pub use report::{Aftermath, DrillReport, Phase, Verdict};

/// One drill, wired.
pub struct Drill {
    plan: Arc<Plan>,
    engine: Engine,
    state: Arc<dyn StateBackend>,
    clusters: Arc<dyn ClusterProvider>,
    workloads: Arc<dyn WorkloadProvider>,
    storage: Arc<dyn crate::providers::BlockStorage>,
    keep_until: Option<Timestamp>,
    /// What the report says about the helm that ran, and the emulator's speed.
    pub helm_version: Option<String>,
    /// `CUTOVER_TIME_SCALE`, when the cloud is an emulator running faster.
    pub time_scale: Option<f64>,
}

impl Drill {
    /// `keep_until`: keep the rebuilt environment (the plan must already carry the dev tags:
    /// [`crate::dev::prepare`]); `None` tears it down.
    pub fn new(
        plan: Plan,
        providers: Providers,
        state: Arc<dyn StateBackend>,
        opts: EngineOptions,
        keep_until: Option<Timestamp>,
    ) -> Self {
        let plan = Arc::new(plan);
        let (clusters, workloads, storage) = (providers.clusters.clone(), providers.workloads.clone(), providers.storage.clone());
        Drill {
            engine: Engine::new(plan.clone(), providers, state.clone(), opts),
            plan,
            state,
            clusters,
            workloads,
            storage,
            keep_until,
            helm_version: None,
            time_scale: None,
        }
    }

    /// Runs the drill to its report. An error means the drill never started (lock held, an
    /// unfinished earlier run): nothing was built.
    pub async fn run(&self) -> Result<DrillReport, EngineError> {
        let env = self.plan.metadata.name.clone();
        let outcome = self.engine.apply().await?;
        let run_id = self
            .state
            .current_run(&env)
            .await
            .map_err(EngineError::from)?
            .unwrap_or_default();
        let own = Ownership {
            run_id: run_id.clone(),
            plan: env.clone(),
        };
        let failure = failure(&outcome);
        let mut extra_phases = Vec::new();
        let aftermath = match self.keep_until {
            Some(until) => Aftermath {
                torn_down: false,
                kept_until: Some(until),
                detail: format!(
                    "Kept for inspection as dev cluster {} until {until} (`cutover dev list`, `cutover dev down {}`).",
                    self.plan.green.name, self.plan.green.name
                ),
            },
            None => self.tear_down(&outcome, &own, &mut extra_phases).await,
        };
        let records = crate::engine::history(self.state.as_ref(), &env, Some(&run_id)).await?;
        Ok(report::build(
            &records,
            report::Context {
                plan: &self.plan,
                compiled: self.engine.compiled(),
                helm_version: self.helm_version.clone(),
                failure,
                aftermath,
                extra_phases,
                time_scale: self.time_scale,
            },
        ))
    }

    /// Leaves nothing behind: the rollback to the start when the run failed, then a direct
    /// deletion if the cluster is somehow still there, then a look to prove it is gone.
    async fn tear_down(&self, outcome: &RunOutcome, own: &Ownership, extra: &mut Vec<Phase>) -> Aftermath {
        let mut notes = Vec::new();
        let rolled_back_fully = matches!(outcome, RunOutcome::RolledBack { to: None, .. });
        if !matches!(outcome, RunOutcome::Completed) && !rolled_back_fully {
            match self.engine.rollback(START).await {
                Ok(RunOutcome::RolledBack { .. }) => {
                    notes.push("The failed rebuild was rolled back to the start.".to_string())
                }
                Ok(other) => notes.push(format!("The rollback did not finish: {}.", other.describe())),
                Err(e) => notes.push(format!("The rollback was refused: {e}.")),
            }
        }
        let name = &self.plan.green.name;
        if let Ok(Some(info)) = self.clusters.describe_cluster(name).await
            && own.owns(&info.tags)
        {
            let started = Timestamp::now();
            let result = self.force_delete(name, own).await;
            let ended = Timestamp::now();
            extra.push(Phase {
                name: "forced-teardown".into(),
                title: format!("Delete what is left of {name}"),
                started_at: started,
                ended_at: Some(ended),
                secs: Some(report::secs(started, ended)),
                result: if result.is_ok() { "done" } else { "failed" }.into(),
            });
            if let Err(e) = result {
                notes.push(format!("Deleting cluster {name} failed: {e}."));
            }
        }
        if let Err(e) = self.delete_restored_volumes(own, &mut notes).await {
            notes.push(format!("Deleting the drill's restored volumes failed: {e}; they carry the tags {}={} (delete them by hand).", crate::providers::TAG_RUN_ID, own.run_id));
            return Aftermath { torn_down: false, kept_until: None, detail: notes.join(" ") };
        }
        match self.clusters.describe_cluster(name).await {
            Ok(None) => {
                notes.push(format!("Cluster {name} is gone; nothing of the drill is left."));
                Aftermath {
                    torn_down: true,
                    kept_until: None,
                    detail: notes.join(" "),
                }
            }
            // Someone else's cluster of that name (a kept earlier drill, a leftover): the drill
            // could not build its own, and leaves that one alone.
            Ok(Some(c)) if !own.owns(&c.tags) => {
                notes.push(format!(
                    "Cluster {name} exists but was not made by this drill; it was left alone. Nothing of this drill is left."
                ));
                Aftermath {
                    torn_down: true,
                    kept_until: None,
                    detail: notes.join(" "),
                }
            }
            Ok(Some(c)) => {
                notes.push(format!(
                    "Cluster {name} still exists (status {:?}): delete it with `cutover rollback --to start` on this plan, or by hand.",
                    c.status
                ));
                Aftermath {
                    torn_down: false,
                    kept_until: None,
                    detail: notes.join(" "),
                }
            }
            Err(e) => {
                notes.push(format!("Could not confirm that cluster {name} is gone: {e}."));
                Aftermath {
                    torn_down: false,
                    kept_until: None,
                    detail: notes.join(" "),
                }
            }
        }
    }

    /// The EBS volumes a drill restored outlive its cluster (their PersistentVolumes keep them):
    /// delete those this run made, and only those.
    async fn delete_restored_volumes(&self, own: &Ownership, notes: &mut Vec<String>) -> Result<(), ProviderError> {
        if !self.plan.data.as_ref().is_some_and(|d| d.carries()) {
            return Ok(());
        }
        let mut deleted = 0;
        for v in self.storage.volumes_tagged(&own.tags()).await? {
            if own.owns(&v.tags) {
                self.storage.delete_volume(&v.id).await?;
                deleted += 1;
            }
        }
        notes.push(format!("Deleted the {deleted} volume(s) the drill restored; the snapshots are kept."));
        Ok(())
    }

    /// Release load balancers, then node groups, add-ons and the cluster, only for a cluster
    /// this drill run made (both ownership tags: a kept environment of an earlier drill carries
    /// the same plan tag and must survive).
    async fn force_delete(&self, name: &str, own: &Ownership) -> Result<(), ProviderError> {
        let Some(info) = self.clusters.describe_cluster(name).await? else {
            return Ok(());
        };
        if !own.owns(&info.tags) {
            return Err(ProviderError::new(
                crate::providers::ErrorKind::Conflict,
                format!(
                    "cluster {name} was not made by drill run {}; refusing to delete it",
                    own.run_id
                ),
            ));
        }
        crate::engine::teardown::tear_down(
            self.clusters.as_ref(),
            self.workloads.as_ref(),
            name,
            info.status,
            &self.plan.timeouts,
        )
        .await
    }
}

/// Why the rebuild failed, in a drill's words: the drill tears down itself, so the engine's advice
/// to resume or roll back does not apply.
fn failure(outcome: &RunOutcome) -> Option<String> {
    match outcome {
        RunOutcome::Completed => None,
        RunOutcome::Paused { cause, .. } | RunOutcome::RolledBack { cause, .. } => Some(cause.clone()),
        RunOutcome::NeedsAttention { step, cause } => Some(match step {
            Some(s) => format!("{s}: {cause}"),
            None => cause.clone(),
        }),
        other => Some(other.describe()),
    }
}
