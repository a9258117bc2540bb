//! Notifications: which journal records people hear about, what each says (a snapshot taken when
//! it happened: weights, the cause, the runbook and next command on stops), and delivery that never
//! blocks or fails the run.
//!
//! Each sink has its own queue and task, so a sink that never answers delays no other. A delivery
//! is tried up to [`ATTEMPTS`] times with backoff on 429/5xx/timeouts, honouring `Retry-After`
//! (capped), and its result is journaled (`notification-sent` / `notification-failed`) with the
//! idempotency key `<run>-<seq of what happened>`. A resumed run sends what the journal shows as
//! happened but not delivered, and nothing twice. When the run stops, delivery gets
//! [`FLUSH_BOUND`] more; what is left is logged and dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::codes;
use super::ids;
use super::journal::{JournalEvent, JournalRecord};
use super::runbook;
use super::status::RunStatus;
use crate::plan::{NotifyEvent, NotifySink, Plan};
use crate::providers::notify::{Notification, NotificationSender, SCHEMA, WeightSnapshot};

/// Tries per delivery.
pub const ATTEMPTS: u32 = 4;
/// The longest a receiver's `Retry-After` is honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long delivery may go on after the run stopped.
pub const FLUSH_BOUND: Duration = Duration::from_secs(10);
/// Queued notifications per sink; beyond it new ones are dropped (and logged), never awaited.
const QUEUE: usize = 256;

/// Appends a delivery's outcome to the journal (the run's journal writer).
pub(crate) type Journal = Arc<dyn Fn(JournalEvent) -> futures_lite::BoxedJournal + Send + Sync>;

/// What happened, for the records people hear about.
fn event_of(r: &JournalRecord) -> Option<NotifyEvent> {
    Some(match &r.event {
        JournalEvent::RunStarted { .. } => NotifyEvent::RunStarted,
        JournalEvent::Checkpoint { .. } => NotifyEvent::Checkpoint,
        JournalEvent::StepStarted { step, .. } if ids::shift_weight(step).is_some() => NotifyEvent::TrafficStepStarted,
        JournalEvent::StepDone { step, .. } if ids::shift_weight(step).is_some() => NotifyEvent::TrafficStepFinished,
        JournalEvent::StepFailed { code: Some(code), .. }
            if code == codes::CHECK_FAILED.code || code == codes::GATE_FAILED.code =>
        {
            NotifyEvent::GateFailed
        }
        JournalEvent::RunRolledBack { .. } => NotifyEvent::RolledBack,
        JournalEvent::RunPaused { .. } => NotifyEvent::Paused,
        JournalEvent::RunWaiting { .. } => NotifyEvent::Waiting,
        JournalEvent::RunFailed { .. } => NotifyEvent::NeedsAttention,
        JournalEvent::RunRefused { .. } => NotifyEvent::Refused,
        JournalEvent::RunCompleted => NotifyEvent::Completed,
        _ => return None,
    })
}

/// The notification for record `r`, with the run as it stood right after it.
pub fn notification(plan: &Plan, status: &RunStatus, r: &JournalRecord) -> Option<Notification> {
    let event = event_of(r)?;
    let weights: Vec<WeightSnapshot> = runbook::weights_from_status(status)
        .into_iter()
        .map(|w| WeightSnapshot { record: w.record, blue: w.blue, green: w.green })
        .collect();
    let mut n = Notification {
        schema: SCHEMA.into(),
        id: format!("{}-{}", r.run, r.seq),
        event,
        environment: plan.metadata.name.clone(),
        plan_file: plan.source.display().to_string(),
        run_id: r.run.clone(),
        at: r.ts,
        summary: String::new(),
        step: None,
        checkpoint: None,
        weight: None,
        weights,
        cause: None,
        until: None,
        next_command: None,
        code: None,
        runbook: None,
    };
    n.summary = match &r.event {
        JournalEvent::RunStarted { who, .. } => format!("run {} of {} started by {who}", r.run, plan.metadata.name),
        JournalEvent::Checkpoint { name } => {
            n.checkpoint = Some(name.clone());
            format!("reached checkpoint {name}")
        }
        JournalEvent::StepStarted { step, .. } => {
            n.step = Some(step.clone());
            n.weight = ids::shift_weight(step);
            format!("shifting {}% of traffic to green", n.weight.unwrap_or_default())
        }
        JournalEvent::StepDone { step, .. } => {
            n.step = Some(step.clone());
            n.weight = ids::shift_weight(step);
            format!("green carries {}% of traffic; its bake passed", n.weight.unwrap_or_default())
        }
        JournalEvent::StepFailed { step, error, .. } => {
            n.step = Some(step.clone());
            n.cause = Some(error.clone());
            format!("{step} failed its check")
        }
        JournalEvent::RunWaiting { step, until } => {
            n.step = Some(step.clone());
            n.until = Some(*until);
            format!("waiting until {until} (blue's retention)")
        }
        JournalEvent::RunCompleted if plan.traffic.is_some() => {
            format!("run completed: green {} carries all traffic", plan.green.name)
        }
        _ => status.phase.describe(),
    };
    if matches!(
        event,
        NotifyEvent::RolledBack | NotifyEvent::Paused | NotifyEvent::Waiting | NotifyEvent::NeedsAttention | NotifyEvent::Refused
    ) && let Some(rb) = runbook::for_run(plan, &plan.source, status, &[])
    {
        n.code = Some(rb.code.clone());
        n.cause = n.cause.or_else(|| Some(rb.cause.clone()));
        n.step = n.step.or_else(|| rb.step.clone());
        n.next_command =
            rb.next.iter().map(|c| c.command.clone()).find(|c| c.starts_with("cutover ") && !c.starts_with("cutover kubeconfig"));
        n.runbook = serde_json::to_value(&rb).ok();
    }
    Some(n)
}

struct Job {
    n: Notification,
}

/// The run's notifier: one queue and task per sink.
pub(crate) struct Notifier {
    plan: Arc<Plan>,
    queues: std::sync::Mutex<Vec<(NotifySink, Option<mpsc::Sender<Job>>)>>,
    tasks: std::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl Notifier {
    /// Starts a task per sink. `delivered` holds the `(sink, id)` pairs the journal already has.
    pub fn start(plan: Arc<Plan>, sender: Arc<dyn NotificationSender>, journal: Journal) -> Notifier {
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for sink in plan.notify.clone() {
            let (tx, rx) = mpsc::channel(QUEUE);
            tasks.push(tokio::spawn(deliver_all(sink.clone(), rx, sender.clone(), journal.clone())));
            queues.push((sink, Some(tx)));
        }
        Notifier { plan, queues: std::sync::Mutex::new(queues), tasks: std::sync::Mutex::new(tasks) }
    }

    /// Queues the notification of `r` (if it is one) for every sink that wants it; never waits.
    pub fn observe(&self, r: &JournalRecord, status: &RunStatus) {
        self.queue(r, status, &|_, _| false);
    }

    fn queue(&self, r: &JournalRecord, status: &RunStatus, delivered: &dyn Fn(&str, &str) -> bool) {
        let Some(n) = notification(&self.plan, status, r) else { return };
        let queues = self.queues.lock().expect("notifier lock");
        for (sink, tx) in queues.iter() {
            let Some(tx) = tx else { continue };
            if !sink.wants(n.event) || delivered(&sink.name, &n.id) {
                continue;
            }
            if tx.try_send(Job { n: n.clone() }).is_err() {
                tracing::warn!(sink = %sink.name, id = %n.id, "notification queue full; dropped");
            }
        }
    }

    /// A resumed run: queues what its journal shows happened but was never delivered.
    pub fn catch_up(&self, records: &[JournalRecord]) {
        let delivered: std::collections::HashSet<(String, String)> = records
            .iter()
            .filter_map(|r| match &r.event {
                JournalEvent::NotificationSent { sink, id, .. } | JournalEvent::NotificationFailed { sink, id, .. } => {
                    Some((sink.clone(), id.clone()))
                }
                _ => None,
            })
            .collect();
        let Some(mut status) = records.first().and_then(|r| RunStatus::replay(std::slice::from_ref(r))) else { return };
        for (i, r) in records.iter().enumerate() {
            if i > 0 {
                status.apply(r);
            }
            self.queue(r, &status, &|sink, id| delivered.contains(&(sink.to_string(), id.to_string())));
        }
    }

    /// Lets queued deliveries finish within [`FLUSH_BOUND`], then drops the rest.
    pub async fn flush(&self) {
        for (_, tx) in self.queues.lock().expect("notifier lock").iter_mut() {
            tx.take();
        }
        let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *self.tasks.lock().expect("notifier lock"));
        let deadline = tokio::time::Instant::now() + FLUSH_BOUND;
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                abort.abort();
                tracing::warn!("notifications still undelivered when the run stopped were dropped (see the journal)");
            }
        }
    }
}

impl Drop for Notifier {
    /// A run that ends without [`Notifier::flush`] (refused early, dropped) leaves no task behind.
    fn drop(&mut self) {
        for task in self.tasks.lock().map(|mut t| std::mem::take(&mut *t)).unwrap_or_default() {
            task.abort();
        }
    }
}

async fn deliver_all(sink: NotifySink, mut rx: mpsc::Receiver<Job>, sender: Arc<dyn NotificationSender>, journal: Journal) {
    while let Some(job) = rx.recv().await {
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let sent = tokio::time::timeout(Duration::from_secs(6), sender.send(&sink, &job.n)).await;
            let failure = match sent {
                Ok(Ok(())) => break Ok(()),
                Ok(Err(f)) => f,
                Err(_) => crate::providers::notify::SendFailure {
                    message: format!("sink {}: no answer within 6s", sink.name),
                    retry: true,
                    retry_after: None,
                },
            };
            if !failure.retry || attempts >= ATTEMPTS {
                break Err(failure.message);
            }
            let backoff = Duration::from_millis(500 * 2u64.pow(attempts - 1));
            tokio::time::sleep(failure.retry_after.map(|d| d.min(MAX_RETRY_AFTER)).unwrap_or(backoff)).await;
        };
        let (event, id) = (job.n.event.name().to_string(), job.n.id.clone());
        let record = match outcome {
            Ok(()) => JournalEvent::NotificationSent { sink: sink.name.clone(), id, event, attempts },
            Err(error) => {
                tracing::warn!(sink = %sink.name, %error, "notification not delivered");
                JournalEvent::NotificationFailed { sink: sink.name.clone(), id, event, attempts, error }
            }
        };
        if let Err(e) = journal(record).await {
            tracing::warn!(error = %e, "a notification's delivery could not be journaled");
        }
    }
}

/// The boxed future a [`Journal`] returns.
pub(crate) mod futures_lite {
    /// Appending one record.
    pub type BoxedJournal =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::engine::error::EngineError>> + Send>>;
}
