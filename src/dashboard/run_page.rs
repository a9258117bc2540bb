//! The run page: what the run is, what it means and what to run next, its timeline, weights,
//! bakes, checkpoints and the selected step's journal records. Its parts are rendered one by one
//! so the live stream can send each again as the journal grows.

use maud::{Markup, html};

use crate::engine::{JournalEvent, RunPhase};

use super::pages::{ago, encode, layout, phase_badge, run_link, when};
use super::run::RunView;
use super::svg;

/// Where the run is, for links and the live stream.
pub struct RunAddress<'a> {
    /// Source id.
    pub source: &'a str,
    /// Environment.
    pub env: &'a str,
    /// The step selected in the URL (`?step=`), if any.
    pub step: Option<&'a str>,
}

impl RunAddress<'_> {
    fn run(&self, view: &RunView) -> String {
        run_link(self.source, self.env, &view.status.run_id)
    }

    fn step_link(&self, view: &RunView, step: &str) -> String {
        format!("{}?step={}", self.run(view), encode(step))
    }

    fn events(&self, view: &RunView) -> String {
        let mut url = format!("{}/events?after={}", self.run(view), view.last_seq);
        if let Some(step) = self.step {
            url.push_str(&format!("&step={}", encode(step)));
        }
        url
    }
}

/// The whole run page.
pub fn run_page(at: &RunAddress<'_>, view: &RunView) -> Markup {
    let title = format!("{} · {}", view.status.plan, view.status.run_id);
    let live = at.events(view);
    let body = html! {
        nav.crumbs { a href="/" { "environments" } " / " a href=(super::pages::env_link(at.source, at.env)) { (at.env) } " / " (view.status.run_id) }
        @for (id, part) in fragments(at, view) {
            section id=(id) { (part) }
        }
    };
    layout(&title, Some(&live), body)
}

/// The page's live parts, by element id, in page order.
pub fn fragments(at: &RunAddress<'_>, view: &RunView) -> Vec<(&'static str, Markup)> {
    vec![
        ("run-header", header(view)),
        ("next-steps", next_steps(view)),
        ("timeline", html! { h2 { "Timeline" } (svg::timeline(view, at.step, &|s| at.step_link(view, s))) }),
        ("step-detail", step_detail(at, view)),
        ("weights", html! { h2 { "Weights" } (svg::weights_chart(view)) (weights_table(view)) }),
        ("bakes", bakes(view)),
        ("checkpoints", checkpoints(view)),
        ("commands-run", commands_run(view)),
        ("aws-requests", aws_requests(view)),
    ]
}

fn header(view: &RunView) -> Markup {
    let s = &view.status;
    html! {
        h1 { (s.plan) " " span.muted { (s.kind) } }
        p {
            (phase_badge(s))
            " run " code { (s.run_id) } " started " (when(s.started_at)) " by " (s.started_by)
            "; last journal record " (when(s.updated_at)) " (" (ago(s.updated_at, view.now)) " ago, seq " span #last-seq { (view.last_seq) } ")"
        }
        @if let Some(l) = &s.lock { p { "Lock held by " (l.to_string()) } }
        @if let Some(step) = &s.point_of_no_return { p.warn { "Past the point of no return (" (step) "): this run can no longer be rolled back." } }
        @if s.torn_bytes > 0 { p.warn { "The journal ends in a torn line of " (s.torn_bytes) " bytes (a crash mid-write); resume drops it." } }
    }
}

fn next_steps(view: &RunView) -> Markup {
    let cause = match &view.status.phase {
        RunPhase::Paused { cause, .. } | RunPhase::NeedsAttention { cause, .. } | RunPhase::Refused { cause, .. } => Some(cause),
        RunPhase::RolledBack { cause, .. } => Some(cause),
        _ => None,
    };
    html! {
        h2 { "What this means" }
        p #outcome .outcome { (view.next.summary) }
        @if let Some((code, title)) = &view.next.code { p #stop-code { code { (code) } " " (title) } }
        @if !view.next.safe_now.is_empty() {
            ul #safe-now { @for line in &view.next.safe_now { li { (line) } } }
        }
        @if let Some(cause) = cause { details { summary { "The stop cause as journaled" } pre #cause { (cause) } } }
        h3 { "Commands" }
        ul.commands {
            @for c in &view.next.commands {
                li { code.cmd { (c.command) } " — " (c.why) }
            }
        }
    }
}

fn step_detail(at: &RunAddress<'_>, view: &RunView) -> Markup {
    let Some(step) = at.step else {
        return html! { p.muted { "Select a step in the timeline to see its journal records." } };
    };
    let records: Vec<_> = view.records.iter().filter(|r| event_step(&r.event) == Some(step)).collect();
    html! {
        h2 { "Step " code { (step) } }
        @if records.is_empty() { p.muted { "No journal record names this step." } }
        table.records {
            thead { tr { th { "seq" } th { "time" } th { "event" } th { "detail" } } }
            tbody {
                @for r in records {
                    @let v = serde_json::to_value(&r.event).unwrap_or_default();
                    tr {
                        td { (r.seq) } td { (when(r.ts)) } td { (v["type"].as_str().unwrap_or("?")) }
                        td { pre { (detail(&v)) } }
                    }
                }
            }
        }
    }
}

/// A record's fields other than its type and step, as indented JSON.
fn detail(v: &serde_json::Value) -> String {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("type");
        map.remove("step");
    }
    if v.as_object().is_some_and(|m| m.is_empty()) {
        return String::new();
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}

fn event_step(event: &JournalEvent) -> Option<&str> {
    match event {
        JournalEvent::StepStarted { step, .. }
        | JournalEvent::StepDone { step, .. }
        | JournalEvent::StepFailed { step, .. }
        | JournalEvent::CompensationStarted { step }
        | JournalEvent::CompensationDone { step }
        | JournalEvent::CompensationFailed { step, .. }
        | JournalEvent::RunPaused { step, .. }
        | JournalEvent::RunWaiting { step, .. }
        | JournalEvent::RunRefused { step, .. } => Some(step),
        JournalEvent::RunFailed { step, .. } => step.as_deref(),
        _ => None,
    }
}

fn weights_table(view: &RunView) -> Markup {
    html! {
        @if !view.weights.is_empty() {
            details {
                summary { "Weight changes as journaled" }
                table.weights-table {
                    thead { tr { th { "time" } th { "record" } th { "blue" } th { "green" } th { "step" } } }
                    tbody {
                        @for p in &view.weights {
                            tr.unconfirmed[!p.journaled] {
                                td { (when(p.at)) } td { (p.record) }
                                td { (p.blue.map_or("absent".into(), |w| w.to_string())) }
                                td { (p.green.map_or("absent".into(), |w| w.to_string())) @if !p.journaled { " (not confirmed yet)" } }
                                td { (p.step) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn bakes(view: &RunView) -> Markup {
    html! {
        h2 { "Bakes" }
        @if view.bakes.is_empty() { p.muted { "No traffic step has started." } }
        @else {
            table.bakes {
                thead { tr { th { "step" } th { "green weight" } th { "gates" } th { "checks" } th { "result" } } }
                tbody {
                    @for b in &view.bakes {
                        tr data-result=(b.result) {
                            td { (b.step) } td { (b.weight) }
                            td { @if b.gates.is_empty() { span.muted { "(plan not loaded)" } } @else { (b.gates.join(", ")) } }
                            td.tallies {
                                @for t in &b.tallies {
                                    span.tally title=(t.last) { (t.gate) " " (t.passed) "/" (t.checks) } " "
                                }
                            }
                            td { span.badge.(match b.result { "passed" => "ok", "baking" => "running", _ => "bad" }) { (b.result) }
                                 @if let Some(d) = &b.detail { " " (d) } }
                        }
                    }
                }
            }
            p.muted { "A bake re-checks every gate until it ends: checks shows each gate's passed/run (hover for what the last check saw); a failed bake's error says how many passed before it." }
        }
    }
}

fn checkpoints(view: &RunView) -> Markup {
    html! {
        h2 { "Checkpoints" }
        @if view.checkpoints.is_empty() { p.muted { "No checkpoint reached yet." } }
        ol.checkpoints {
            @for (name, at) in &view.checkpoints {
                @let kept = view.status.checkpoints.contains(name);
                li.rolled-back[!kept] { code { (name) } " " (when(*at)) @if !kept { " (rolled back)" } }
            }
        }
    }
}

fn commands_run(view: &RunView) -> Markup {
    html! {
        h2 { "Commands run" }
        ul {
            @for c in &view.ran { li { (when(c.at)) " " code { (c.command) } " by " (c.who) } }
        }
    }
}

fn aws_requests(view: &RunView) -> Markup {
    let mut by_count: Vec<(&String, &u64)> = view.requests.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let total: u64 = view.requests.values().sum();
    html! {
        h2 { "AWS requests" }
        @if by_count.is_empty() { p.muted { "No session of this run has ended yet (each journals its requests when it stops)." } }
        @else {
            table #requests {
                thead { tr { th { "operation" } th { "requests" } } }
                tbody {
                    @for (op, n) in by_count { tr { td { code { (op) } } td.num { (n) } } }
                    tr.total { td { "total" } td.num { (total) } }
                }
            }
            p.muted { "Retries count; summed over every session of the run (apply, resume, rollback)." }
        }
    }
}
