//! The two pictures of a run, drawn on the server as inline SVG (no chart library, no script):
//! the weights over time and the timeline of steps. Every text in them goes through maud's
//! escaping like the rest of the page; coordinates are numbers we compute.

use jiff::Timestamp;
use maud::{Markup, html};

use super::run::{RunView, SpanEnd, SpanKind, StepRow, secs};
use super::weights::WeightPoint;

const WIDTH: f64 = 960.0;
/// Left margin of the weights chart (axis labels).
const CHART_LEFT: f64 = 48.0;
const CHART_HEIGHT: f64 = 220.0;
/// Width of the step-name column of the timeline.
const LABEL_WIDTH: f64 = 250.0;
const ROW: f64 = 20.0;

/// A tick step that gives at most eight ticks over `total` seconds.
fn tick_step(total: f64) -> f64 {
    const STEPS: [f64; 14] = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0];
    STEPS.iter().copied().find(|s| total / s <= 8.0).unwrap_or(total / 8.0)
}

fn tick_label(s: f64) -> String {
    if s >= 3600.0 {
        format!("{:.0}h{:02.0}m", (s / 3600.0).floor(), (s % 3600.0) / 60.0)
    } else if s >= 60.0 {
        format!("{:.0}m{:02.0}s", (s / 60.0).floor(), s % 60.0)
    } else {
        format!("{s:.0}s")
    }
}

/// Maps times of the run onto x coordinates between `left` and `right`.
struct TimeAxis {
    start: Timestamp,
    total: f64,
    left: f64,
    right: f64,
}

impl TimeAxis {
    fn new(start: Timestamp, end: Timestamp, left: f64, right: f64) -> TimeAxis {
        TimeAxis { start, total: secs(start, end).max(1.0), left, right }
    }

    fn x(&self, t: Timestamp) -> f64 {
        let f = (secs(self.start, t) / self.total).clamp(0.0, 1.0);
        self.left + f * (self.right - self.left)
    }

    fn ticks(&self) -> Vec<(f64, String)> {
        let step = tick_step(self.total);
        let mut out = Vec::new();
        let mut s = 0.0;
        while s <= self.total + 1e-9 {
            out.push((self.left + s / self.total * (self.right - self.left), tick_label(s)));
            s += step;
        }
        out
    }
}

/// The weights chart: green's weight of each record over the run as a step line (solid while
/// journaled, dashed to a shift the journal does not confirm yet), blue's as a dashed line,
/// and the weight at each change written beside its point.
pub fn weights_chart(view: &RunView) -> Markup {
    let points = &view.weights;
    if points.is_empty() {
        return html! { p.muted { "No weight changes are journaled for this run." } };
    }
    let end = view.now.max(points.iter().map(|p| p.at).max().unwrap_or(view.now));
    let axis = TimeAxis::new(view.status.started_at, end, CHART_LEFT, WIDTH - 16.0);
    // The legend takes the top 24 units; the plot runs from there to the time axis.
    let y = |w: u8| 34.0 + (100.0 - f64::from(w)) / 100.0 * (CHART_HEIGHT - 58.0);
    let mut records: Vec<&str> = points.iter().map(|p| p.record.as_str()).collect();
    records.dedup();
    records.sort_unstable();
    records.dedup();
    html! {
        svg #weights-chart .chart viewBox={ "0 0 " (WIDTH) " " (CHART_HEIGHT) } role="img"
            aria-labelledby="weights-title" {
            title #weights-title { "Weights of blue's and green's records over the run" }
            @for w in [0u8, 50, 100] {
                line .grid x1=(CHART_LEFT) x2=(WIDTH - 16.0) y1=(y(w)) y2=(y(w)) {}
                text .axis x=(CHART_LEFT - 6.0) y=(y(w) + 4.0) text-anchor="end" { (w) }
            }
            @for (x, label) in axis.ticks() {
                text .axis x=(x) y=(CHART_HEIGHT - 6.0) text-anchor="middle" { (label) }
            }
            g .legend {
                path .line-green d={ "M" (CHART_LEFT + 8.0) ",12h24" } {}
                text .axis x=(CHART_LEFT + 38.0) y="16" { "green" }
                path .line-blue d={ "M" (CHART_LEFT + 88.0) ",12h24" } {}
                text .axis x=(CHART_LEFT + 118.0) y="16" { "blue" }
                circle .point.unconfirmed cx=(CHART_LEFT + 163.0) cy="12" r="4" {}
                text .axis x=(CHART_LEFT + 172.0) y="16" { "not journaled yet" }
            }
            @for record in &records {
                @let mine: Vec<&WeightPoint> = points.iter().filter(|p| p.record == *record).collect();
                path .line-blue d=(step_path(&mine, &axis, &y, end, |p| p.blue)) {}
                path .line-green d=(step_path(&mine, &axis, &y, end, |p| p.green)) {}
                @for (p, label) in green_labels(&mine) {
                    circle .(if p.journaled { "point" } else { "point unconfirmed" })
                        cx=(axis.x(p.at)) cy=(y(p.green.unwrap_or(0))) r="4" {
                        title { (p.record) ": green " (label) " after " (p.step)
                            @if !p.journaled { " (not confirmed by the journal yet)" } }
                    }
                    text .point-label x=(axis.x(p.at) + 5.0) y=(y(p.green.unwrap_or(0)) - 7.0) { (label) }
                }
            }
        }
    }
}

/// Points where green's weight changes, with the label drawn beside each (`50`, or `50?` while
/// unconfirmed). Only journaled points count as the weight a later point changes from.
fn green_labels<'a>(points: &[&'a WeightPoint]) -> Vec<(&'a WeightPoint, String)> {
    let mut out = Vec::new();
    let mut last: Option<u8> = None;
    for p in points {
        let Some(g) = p.green else { continue };
        if last != Some(g) || !p.journaled {
            out.push((*p, if p.journaled { g.to_string() } else { format!("{g}?") }));
        }
        if p.journaled {
            last = Some(g);
        }
    }
    out
}

/// A step line through the journaled points of one side (blue or green), ending at `end`.
fn step_path(
    points: &[&WeightPoint],
    axis: &TimeAxis,
    y: &impl Fn(u8) -> f64,
    end: Timestamp,
    side: impl Fn(&WeightPoint) -> Option<u8>,
) -> String {
    let mut d = String::new();
    let mut last: Option<(f64, f64)> = None;
    for p in points.iter().filter(|p| p.journaled) {
        let x = axis.x(p.at);
        match (side(p), last) {
            (Some(w), None) => d.push_str(&format!("M{x:.1},{:.1}", y(w))),
            (Some(w), Some(_)) => d.push_str(&format!("H{x:.1}V{:.1}", y(w))),
            // The record went away: the line stops here.
            (None, Some(_)) => d.push_str(&format!("H{x:.1}")),
            (None, None) => {}
        }
        last = side(p).map(|w| (x, y(w)));
    }
    if last.is_some() {
        d.push_str(&format!("H{:.1}", axis.x(end)));
    }
    d
}

/// The timeline: one row per step, a bar per apply (and per compensation, hatched), retries
/// marked `×N`, groups of steps that ran side by side boxed together. A step's name links to
/// the run page with that step selected.
pub fn timeline(view: &RunView, selected: Option<&str>, link: &dyn Fn(&str) -> String) -> Markup {
    let rows: usize = view.groups.iter().map(Vec::len).sum();
    if rows == 0 {
        return html! { p.muted { "No step has started yet." } };
    }
    let end = view.groups.iter().flatten().map(|r| r.extent(view.now).1).max().unwrap_or(view.now);
    let axis = TimeAxis::new(view.status.started_at, end, LABEL_WIDTH, WIDTH - 60.0);
    let height = 24.0 + rows as f64 * ROW + view.groups.len() as f64 * 6.0;
    // Each group's top, and each row's, laid out before drawing.
    let mut top = 22.0;
    let mut layout = Vec::new();
    for group in &view.groups {
        let group_top = top;
        let tops: Vec<f64> = (0..group.len()).map(|i| group_top + i as f64 * ROW).collect();
        top += group.len() as f64 * ROW + 6.0;
        layout.push((group, group_top, tops));
    }
    html! {
        svg #timeline-chart .chart viewBox={ "0 0 " (WIDTH) " " (height) } role="img" aria-labelledby="timeline-title" {
            title #timeline-title { "Steps of the run over time" }
            @for (x, label) in axis.ticks() {
                line .grid x1=(x) x2=(x) y1="16" y2=(height) {}
                text .axis x=(x) y="12" text-anchor="middle" { (label) }
            }
            @for (group, group_top, tops) in &layout {
                @if group.len() > 1 {
                    rect .parallel x="2" y=(group_top - 2.0) width=(WIDTH - 4.0) height=(group.len() as f64 * ROW + 2.0) {
                        title { (group.len()) " steps ran side by side" }
                    }
                }
                @for (row, top) in group.iter().zip(tops) {
                    (step_row(row, *top, &axis, view.now, selected == Some(row.id.as_str()), link))
                }
            }
        }
    }
}

fn step_row(row: &StepRow, top: f64, axis: &TimeAxis, now: Timestamp, selected: bool, link: &dyn Fn(&str) -> String) -> Markup {
    let (_, to) = row.extent(now);
    html! {
        g .step .selected[selected] data-step=(row.id) data-state=(row.state) {
            a href=(link(&row.id)) {
                text .step-name x="8" y=(top + 14.0) { (row.id) }
            }
            @for span in &row.spans {
                @let x = axis.x(span.from);
                @let w = (axis.x(span.to.unwrap_or(now)) - x).max(2.0);
                rect .bar .comp[span.kind == SpanKind::Compensate] .failed[span.end == SpanEnd::Failed]
                    .open[span.end == SpanEnd::Open] x=(x) y=(top + 3.0) width=(w) height=(ROW - 6.0) {
                    title {
                        (row.id) ": " (if span.kind == SpanKind::Apply { "apply" } else { "compensate" }) " "
                        (match span.end { SpanEnd::Done => "done", SpanEnd::Failed => "failed", SpanEnd::Open => "running" })
                        " after " (format!("{:.1}", secs(span.from, span.to.unwrap_or(now)))) " s"
                    }
                }
            }
            text .duration x=(axis.x(to) + 4.0) y=(top + 14.0) {
                (format!("{:.1}s", row.apply_secs(now)))
                @if row.attempts > 1 { " ×" (row.attempts) }
                @if row.compensated() { " ↩" }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_few_and_labelled_in_human_units() {
        assert_eq!(tick_step(7.0), 1.0);
        assert_eq!(tick_step(100.0), 15.0);
        assert_eq!(tick_step(3000.0), 600.0);
        assert_eq!(tick_label(90.0), "1m30s");
        assert_eq!(tick_label(3900.0), "1h05m");
    }
}
