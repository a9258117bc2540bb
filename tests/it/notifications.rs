//! Notifications through the engine against the fake world: the events of a whole upgrade in
//! order, each delivery journaled, a failed gate's notification carrying its runbook, and a paused
//! run resumed without anything sent twice. (Real receivers, retries and signatures are in
//! `e2e_notify`.)

use std::collections::HashSet;

use cutover::engine::{self, JournalEvent, RunOutcome};
use cutover::plan::{FailurePolicy, NotifyEvent, NotifyFormat, NotifySink, NotifyUrl};

use crate::support::fakes::Mode;
use crate::support::{Harness, plans};

fn sink(name: &str, events: Vec<NotifyEvent>) -> NotifySink {
    NotifySink {
        name: name.into(),
        url: NotifyUrl::Inline("https://hooks.example.com/x".into()),
        format: NotifyFormat::Json,
        events,
        secret_from_env: None,
    }
}

fn events(h: &Harness, sink: &str) -> Vec<String> {
    h.world.notifications().into_iter().filter(|(s, _)| s == sink).map(|(_, n)| n.event.name().to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_whole_upgrade_is_told_in_order_and_every_delivery_is_journaled() {
    let mut plan = plans::upgrade().build();
    plan.notify = vec![sink("all", vec![]), sink("stops", vec![NotifyEvent::Completed, NotifyEvent::RolledBack])];
    let h = Harness::new(plan);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    let all = events(&h, "all");
    assert_eq!(all.first().map(String::as_str), Some("run-started"));
    assert_eq!(all.last().map(String::as_str), Some("completed"));
    let traffic: Vec<&str> = all.iter().map(String::as_str).filter(|e| e.starts_with("traffic")).collect();
    assert_eq!(traffic, ["traffic-step-started", "traffic-step-finished"].repeat(3), "{all:?}");
    assert_eq!(events(&h, "stops"), ["completed"]);
    let shifts: Vec<Option<u8>> = h
        .world
        .notifications()
        .into_iter()
        .filter(|(s, n)| s == "all" && n.event == NotifyEvent::TrafficStepFinished)
        .map(|(_, n)| n.weights[0].green)
        .collect();
    assert_eq!(shifts, [Some(10), Some(50), Some(100)], "each carries the weights when it happened");

    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    let sent: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| match &r.event {
            JournalEvent::NotificationSent { sink, id, .. } => Some((sink.clone(), id.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), all.len() + 1, "one journaled delivery per notification");
    assert_eq!(sent.iter().collect::<HashSet<_>>().len(), sent.len(), "no key twice");
}

#[tokio::test(start_paused = true)]
async fn a_paused_run_is_told_with_its_runbook_and_resuming_sends_nothing_twice() {
    let mut plan = plans::upgrade().policy(FailurePolicy::Pause).build();
    plan.notify = vec![sink("all", vec![])];
    let h = Harness::new(plan);
    h.world.fail("install", "api", Mode::Once);
    assert!(matches!(h.engine().apply().await.unwrap(), RunOutcome::Paused { .. }));
    let paused = h.world.notifications().into_iter().map(|(_, n)| n).find(|n| n.event == NotifyEvent::Paused).expect("paused");
    assert_eq!(paused.step.as_deref(), Some("releases.install.api"));
    assert_eq!(paused.next_command.as_deref(), Some("cutover resume plans/payments-prod.yaml"), "{paused:?}");
    assert!(paused.runbook.is_some() && paused.code.is_some(), "{paused:?}");

    assert_eq!(h.engine().resume().await.unwrap(), RunOutcome::Completed);
    let ids: Vec<String> = h.world.notifications().into_iter().map(|(_, n)| n.id).collect();
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "nothing sent twice: {ids:?}");
    assert_eq!(events(&h, "all").last().map(String::as_str), Some("completed"));
}

#[tokio::test(start_paused = true)]
async fn a_sink_that_keeps_failing_is_journaled_as_failed_and_the_run_completes() {
    let mut plan = plans::upgrade().build();
    plan.notify = vec![sink("down", vec![NotifyEvent::RunStarted])];
    let h = Harness::new(plan);
    // Throttled (429) every time: retryable, so every attempt is used.
    h.world.throttle("notify", "down", 100);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    let failed = records.iter().find_map(|r| match &r.event {
        JournalEvent::NotificationFailed { attempts, .. } => Some(*attempts),
        _ => None,
    });
    assert_eq!(failed, Some(cutover::engine::notify::ATTEMPTS));
}
