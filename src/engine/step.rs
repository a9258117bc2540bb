//! What a compiled step is: its stable id, what it changes, how it is undone, and where the
//! checkpoints fall. Produced by `compile`, executed by `executor`, undone by `rollback`.

use serde::Serialize;

use crate::plan::PlanKind;

/// A plan compiled into stages of steps, with named checkpoints between them.
#[derive(Debug, Clone, Serialize)]
pub struct CompiledPlan {
    /// The plan's `metadata.name`.
    pub plan: String,
    /// The plan's kind.
    pub kind: PlanKind,
    /// The stages, in execution order.
    pub stages: Vec<Stage>,
    /// In order. Each sits after one step of the flat step order.
    pub checkpoints: Vec<CheckpointDef>,
}

/// A group of steps shown together (e.g. "Build green"), run in order.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// Stage name, the first part of its steps' ids.
    pub name: String,
    /// What the stage does, for people.
    pub title: String,
    /// Whether independent steps of this stage run concurrently (the releases DAG).
    pub parallel: bool,
    /// The stage's steps, in plan order.
    pub steps: Vec<StepDef>,
}

/// One compiled step: what it changes, how it is undone, and what it waits for.
#[derive(Debug, Clone, Serialize)]
pub struct StepDef {
    /// Stable, derived from the plan: resume matches journal records to steps by it.
    pub id: String,
    /// What the step does, for people.
    pub title: String,
    /// What applying the step changes in the world ("nothing" for read-only steps).
    pub changes: String,
    /// How the step is undone, `None` when there is nothing to undo.
    pub compensation: Option<String>,
    /// Steps of the same stage that must be done before this one starts.
    pub needs: Vec<String>,
    /// Checkpoints reached once this step (and everything before it) is done.
    pub checkpoints_after: Vec<String>,
    /// Starting this step makes rollback impossible from then on.
    pub point_of_no_return: bool,
    #[serde(skip)]
    pub(crate) kind: StepKind,
}

impl StepDef {
    /// Whether applying it changes the world (read-only steps change "nothing").
    pub fn changes_world(&self) -> bool {
        self.changes != "nothing"
    }
}

/// A named point of the run that `rollback --to` can return to.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointDef {
    /// Checkpoint name, e.g. `green-ready`.
    pub name: String,
    /// The step after which the checkpoint is reached.
    pub after_step: String,
    /// Whether a failure rolls back to this checkpoint automatically. Partial traffic shifts are
    /// not: a failing gate puts all traffic back on blue.
    pub automatic_target: bool,
}

/// What a step does; the data needed is looked up in the plan by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepKind {
    VerifyCharts,
    CheckBlue,
    /// A pre-flight gate (reads only; refuses a doomed run before anything is created).
    Preflight(crate::plan::PreflightGate),
    Cluster,
    Addon(String),
    Nodegroup(String),
    Access(usize),
    /// Pod Identity association `i` of `green.podIdentities`.
    PodIdentity(usize),
    /// Green's IAM OIDC provider.
    OidcProvider,
    /// IRSA roles: green's issuer added to their trust policies.
    IrsaTrust,
    /// IRSA roles: blue's issuer removed from their trust policies, after blue is gone.
    IrsaRetire,
    /// `spec.data`: blue's volumes kept, writers read, stopped, snapshots, green's volumes and claims.
    DataRetain,
    DataWriters,
    DataQuiesce,
    DataSnapshot,
    DataVolumes,
    DataClaims,
    Release(String),
    Check(String),
    TrafficPrepare,
    TrafficShift { index: usize, weight: u8 },
    WaitRetention,
    BlueRecords,
    BlueCluster,
    TeardownGreen,
    /// A drill's test traffic ends: the drill record back on its standby, green's record gone.
    DrillTrafficRestore,
}

impl CompiledPlan {
    /// Every step in execution order (stage by stage, plan order within a stage).
    pub fn steps(&self) -> impl Iterator<Item = &StepDef> {
        self.stages.iter().flat_map(|s| s.steps.iter())
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&StepDef> {
        self.steps().find(|s| s.id == id)
    }

    /// Position of a step in [`steps`](Self::steps).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.steps().position(|s| s.id == id)
    }

    /// The checkpoint with this name.
    pub fn checkpoint(&self, name: &str) -> Option<&CheckpointDef> {
        self.checkpoints.iter().find(|c| c.name == name)
    }

    /// Position of the step after which the checkpoint is reached.
    pub fn checkpoint_position(&self, name: &str) -> Option<usize> {
        self.checkpoint(name)
            .and_then(|c| self.position(&c.after_step))
    }

    /// Position of the first point-of-no-return step, if the plan has one.
    pub fn point_of_no_return(&self) -> Option<usize> {
        self.steps().position(|s| s.point_of_no_return)
    }
}
