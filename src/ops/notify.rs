//! `cutover notify test`: a test notification to each of the plan's sinks (or one), so people
//! know a webhook works before a run relies on it. One delivery with the run's retry policy per
//! sink; nothing is journaled (there is no run).

use std::time::Duration;

use crate::engine::notify::ATTEMPTS;
use crate::plan::{NotifyEvent, Plan};
use crate::compose::Context;
use crate::providers::notify::{Notification, NotificationSender, SCHEMA};

use super::OpsError;

/// What happened at one sink: `Ok(attempts)` or why it failed.
pub type SinkResult = (String, Result<u32, String>);

/// A notification of `event` for the plan, with nothing filled in beyond who and when.
pub fn blank(plan: &Plan, event: NotifyEvent, run_id: &str, id: String, summary: String) -> Notification {
    Notification {
        schema: SCHEMA.into(),
        id,
        event,
        environment: plan.metadata.name.clone(),
        plan_file: plan.source.display().to_string(),
        run_id: run_id.into(),
        at: jiff::Timestamp::now(),
        summary,
        step: None,
        checkpoint: None,
        weight: None,
        weights: Vec::new(),
        cause: None,
        until: None,
        next_command: None,
        code: None,
        runbook: None,
    }
}

/// Delivers `n` to each of the plan's sinks that wants it (or only `only`), with the run's retry
/// policy; says per sink how it went.
pub async fn deliver(cx: &Context, plan: &Plan, only: Option<&str>, n: &Notification) -> Vec<SinkResult> {
    let sender = cx.aws(&plan.aws.region).await.notifications();
    let mut out = Vec::new();
    for sink in plan.notify.iter().filter(|s| only.is_none_or(|o| o == s.name)) {
        if n.event != NotifyEvent::Test && !sink.wants(n.event) {
            continue;
        }
        let mut attempts = 0;
        let result = loop {
            attempts += 1;
            match sender.send(sink, n).await {
                Ok(()) => break Ok(attempts),
                Err(f) if f.retry && attempts < ATTEMPTS => {
                    tokio::time::sleep(f.retry_after.unwrap_or(Duration::from_millis(500)).min(Duration::from_secs(10))).await;
                }
                Err(f) => break Err(f.message),
            }
        };
        out.push((sink.name.clone(), result));
    }
    out
}

/// Sends a test notification to every sink of the plan, or to `only`.
pub async fn test(cx: &Context, plan: &Plan, only: Option<&str>) -> Result<Vec<SinkResult>, OpsError> {
    if !plan.notify.iter().any(|s| only.is_none_or(|o| o == s.name)) {
        return Err(OpsError::Usage(match only {
            Some(name) => format!("the plan has no notification sink called {name:?}"),
            None => "the plan has no notification sinks (spec.notify)".into(),
        }));
    }
    let now = jiff::Timestamp::now();
    let summary = format!("test notification from cutover for {}", plan.metadata.name);
    let n = blank(plan, NotifyEvent::Test, "test", format!("test-{}", now.as_millisecond()), summary);
    Ok(deliver(cx, plan, only, &n).await)
}
