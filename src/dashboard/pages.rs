//! The HTML of the overview and environment pages, and the pieces every page shares (layout,
//! links, times). maud escapes every value spliced into the markup, text and attributes alike;
//! nothing here bypasses it (no `PreEscaped`), so a journal string is always shown as text.

use jiff::Timestamp;
use maud::{DOCTYPE, Markup, html};

use crate::engine::{RunPhase, RunStatus};

use super::overview::{EnvRow, Overview, is_dev};

/// Query-string encoding of one value (everything but unreserved characters escaped).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The environment page's path.
pub fn env_link(source: &str, env: &str) -> String {
    format!("/s/{}/{}", encode(source), encode(env))
}

/// A run page's path.
pub fn run_link(source: &str, env: &str, run: &str) -> String {
    format!("{}/runs/{}", env_link(source, env), encode(run))
}

/// A time for people, to the second, UTC.
pub fn when(t: Timestamp) -> String {
    t.round(jiff::Unit::Second).unwrap_or(t).strftime("%Y-%m-%d %H:%M:%SZ").to_string()
}

/// How long ago `t` was at `now` (`<1m`, `5m`, `3h`, `2d`): minutes at finest, so a page
/// that only ages changes once a minute.
pub fn ago(t: Timestamp, now: Timestamp) -> String {
    let s = (now.as_second() - t.as_second()).max(0);
    match s {
        0..60 => "<1m".to_string(),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A page: `live` is the URL of its event stream, which the embedded script follows.
pub fn layout(title: &str, live: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · cutover" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body data-live=[live] {
                header.top {
                    a.brand href="/" { "cutover" }
                    span.muted { " dashboard · read-only" }
                    span #live-state .live-state aria-live="polite" {}
                }
                main { (body) }
            }
        }
    }
}

/// Where a run stands in a few words, knowing the lock: a run whose journal says "running" is
/// running while a process holds the lock for it, and was interrupted otherwise.
pub fn phase_label(status: &RunStatus) -> String {
    match (&status.phase, &status.lock) {
        (RunPhase::Running, Some(l)) if l.run_id == status.run_id => "running".into(),
        (RunPhase::RollingBack { .. }, Some(l)) if l.run_id == status.run_id => status.phase.describe(),
        (RunPhase::Running | RunPhase::RollingBack { .. }, _) => {
            format!("{}, interrupted: no process holds the lock", status.phase.describe().trim_end_matches(", or stopped by a crash"))
        }
        _ => status.phase.describe(),
    }
}

/// A run's state as a short badge.
pub fn phase_badge(status: &RunStatus) -> Markup {
    let class = match &status.phase {
        RunPhase::Running | RunPhase::RollingBack { .. } if status.lock.is_none() => "warn",
        RunPhase::Running | RunPhase::RollingBack { .. } => "running",
        RunPhase::Completed => "ok",
        RunPhase::Waiting { .. } => "waiting",
        RunPhase::RolledBack { requested_by: Some(_), .. } => "ok",
        RunPhase::Paused { .. } | RunPhase::RolledBack { .. } | RunPhase::Refused { .. } => "warn",
        RunPhase::NeedsAttention { .. } => "bad",
    };
    html! { span.badge.(class) { (phase_label(status)) } }
}

/// The overview page. Its stream is told what the page shows (`?v=`), so it sends the parts
/// only once they differ from it.
pub fn overview_page(ov: &Overview) -> Markup {
    let live = format!("/events?v={}", super::live::fingerprint(&overview_fragments(ov)));
    layout(
        "Environments",
        Some(&live),
        html! {
            section #attention { (attention(ov)) }
            section #environments { (environments(ov)) }
        },
    )
}

/// The overview's live parts, by element id.
pub fn overview_fragments(ov: &Overview) -> Vec<(&'static str, Markup)> {
    vec![("attention", attention(ov)), ("environments", environments(ov))]
}

fn attention(ov: &Overview) -> Markup {
    html! {
        h2 { "Needs attention" }
        @if ov.attention.is_empty() {
            p.muted #attention-empty { "Nothing needs a person right now." }
        } @else {
            ol.attention {
                @for item in &ov.attention {
                    li.(format!("u-{:?}", item.urgency).to_lowercase()) {
                        span.badge.warn { (item.urgency.label()) }
                        " "
                        @match &item.link {
                            Some(link) => a href=(link) { (item.env) },
                            None => strong { (item.env) },
                        }
                        " — " (item.text)
                    }
                }
            }
        }
        @for problem in &ov.plan_problems {
            p.warn { "Plan not loaded: " (problem) }
        }
        @for problem in &ov.dev.problems {
            p.warn { "Dev clusters not listed: " (problem) }
        }
    }
}

fn environments(ov: &Overview) -> Markup {
    let several_sources = ov.rows.iter().any(|r| r.source != ov.rows[0].source);
    html! {
        h2 { "Environments" }
        table.envs {
            thead { tr {
                th { "environment" } th { "kind" } th { "latest run" } th { "outcome" } th { "checkpoint" }
                th { "weights (blue/green)" } th { "lock" } th { "age" } th { "owner" }
                @if several_sources { th { "state" } }
            } }
            tbody {
                @for row in &ov.rows {
                    (env_row(row, ov.now, several_sources))
                }
            }
        }
        @if ov.rows.is_empty() { p.muted { "No environment has state in these backends yet." } }
        @if !ov.dev.clusters.is_empty() {
            h2 { "Dev clusters" }
            table.dev #dev-clusters {
                thead { tr { th { "cluster" } th { "region" } th { "environment" } th { "owner" } th { "status" } th { "nodes" } th { "expires" } } }
                tbody {
                    @for (region, c) in &ov.dev.clusters {
                        tr data-cluster=(c.name) {
                            td { (c.name) } td { (region) } td { (c.plan) } td { (c.owner) } td { (format!("{:?}", c.status)) }
                            td { (c.nodes) } td.bad[c.expired] { (when(c.expires_at)) " (" (c.expires_in()) ")" }
                        }
                    }
                }
            }
        }
    }
}

fn env_row(row: &EnvRow, now: Timestamp, several_sources: bool) -> Markup {
    html! {
        tr data-env=(row.env) {
            td {
                @if row.env == super::overview::SOURCE_ROW { (row.source_label) }
                @else { a href=(env_link(&row.source, &row.env)) { (row.env) } }
            }
            td {
                (row.kind())
                @if let Some(d) = &row.dev {
                    br; span.(if d.expired { "bad" } else { "muted" }) title=(format!("expires at {}", when(d.expires_at))) {
                        @if d.expired { (d.expires_in()) } @else { "expires in " (d.expires_in()) }
                    }
                } @else if is_dev(row) { " (dev)" }
            }
            @match (&row.status, &row.error) {
                (_, Some(error)) => td colspan="4" .bad { (error) },
                (None, None) => td colspan="4" .muted { "no run yet" },
                (Some(s), None) => {
                    td { a href=(run_link(&row.source, &row.env, &s.run_id)) { (s.run_id) } }
                    td {
                        (phase_badge(s))
                        @if let Some(d) = &row.drill {
                            " " span.badge.(if d.verdict == crate::drill::Verdict::Pass { "ok" } else { "bad" }) {
                                "drill " (d.verdict.label())
                            }
                            " " span.muted.drill-objectives {
                                "RTO " (secs_text(d.recovery_secs)) " / " (secs_text(Some(d.rto_target_secs)))
                                @if d.rpo_secs.is_some() || d.rpo_target_secs.is_some() {
                                    ", RPO " (secs_text(d.rpo_secs)) " / " (secs_text(d.rpo_target_secs))
                                }
                            }
                        }
                    }
                    td { (s.checkpoints.last().map(String::as_str).unwrap_or("-")) }
                    td.weights {
                        @for (w, moving) in &row.weights {
                            div {
                                (w.record) ": " (opt(w.blue)) "/" (opt(w.green))
                                @if let Some(to) = moving { span.muted { " → " (to) "?" } }
                            }
                        }
                    }
                }
            }
            td { @if let Some(l) = &row.lock { span title=(format!("{} on {} pid {} since {}", l.user, l.host, l.pid, when(l.started_at))) { "held by " (l.user) } } @else { "-" } }
            td { @if let Some(s) = &row.status { (ago(s.updated_at, now)) } @else { "-" } }
            td { (row.owner()) }
            @if several_sources { td.muted { (row.source_label) } }
        }
    }
}

fn opt(w: Option<u8>) -> String {
    w.map_or_else(|| "–".to_string(), |w| w.to_string())
}

/// The environment page: its runs, newest first, each with how it ended.
pub fn env_page(
    source: &str,
    label: &str,
    env: &str,
    runs: &[(String, Result<crate::engine::RunStatus, String>)],
    lock: Option<&crate::providers::LockInfo>,
    has_plan: bool,
) -> Markup {
    layout(
        env,
        None,
        html! {
            h1 { (env) }
            p.muted { "State: " (label) }
            @if let Some(l) = lock { p { "Lock held by " (l.to_string()) } }
            @if has_plan { p { a #route53-link href=(format!("/s/{}/{}/route53", encode(source), encode(env))) { "Weights in Route53 now" } " (read on demand; the run pages show the journal's)" } }
            table.runs {
                thead { tr { th { "run" } th { "started" } th { "by" } th { "outcome" } } }
                tbody {
                    @for (run, status) in runs.iter().rev() {
                        tr {
                            td { a href=(run_link(source, env, run)) { (run) } }
                            @match status {
                                Ok(s) => { td { (when(s.started_at)) } td { (s.started_by) } td { (phase_badge(s)) } }
                                Err(e) => td colspan="3" .bad { (e) },
                            }
                        }
                    }
                }
            }
            @if runs.is_empty() { p.muted { "No run has journaled anything in this environment." } }
        },
    )
}

/// The plan's records as Route53 served them at `at`: every set identifier, green's and blue's
/// marked.
pub fn route53_page(source: &str, env: &str, plan: &crate::plan::Plan, records: &[crate::providers::WeightedRecord], at: Timestamp) -> Markup {
    let green = &plan.green.name;
    let blue = plan.blue.as_ref().map(|b| b.cluster.as_str());
    layout(
        &format!("{env}: Route53"),
        None,
        html! {
            h1 { (env) ": weights in Route53" }
            p.muted { "Read from Route53 " (when(at)) " through plan " code { (plan.source.display().to_string()) } "; "
                a href=(format!("/s/{}/{}", encode(source), encode(env))) { "back to the runs" } }
            @if records.is_empty() { p.muted { "The plan's records have no weighted record in the zone." } }
            table #route53 {
                thead { tr { th { "record" } th { "set identifier" } th { "weight" } th { "target" } } }
                tbody {
                    @for r in records {
                        @let role = if r.set_id == *green { "green" } else if Some(r.set_id.as_str()) == blue { "blue" } else { "" };
                        tr data-role=(role) { td { (r.name) } td { (r.set_id) " " span.muted { (role) } } td.num { (r.weight) } td { (r.target) } }
                    }
                }
            }
        },
    )
}

/// A duration measured by a drill, as its report writes it (`-` when there is none).
fn secs_text(secs: Option<f64>) -> String {
    secs.map(crate::plan::format_elapsed).unwrap_or_else(|| "-".into())
}
