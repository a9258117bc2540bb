//! A runbook as people read it in a terminal (and in a notification's text): the code first, then
//! what happened, the world as last seen, what is safe, and the commands, each under a `#` line
//! saying why, so the block can be pasted as is.

use std::fmt::Write as _;

use crate::engine::runbook::Runbook;

/// The runbook as text.
pub fn render_text(rb: &Runbook) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}  {}", rb.code, rb.title);
    let mut at = format!("  environment {}", rb.environment);
    if let Some(run) = &rb.run_id {
        let _ = write!(at, ", run {run}");
    }
    if let Some(step) = &rb.step {
        let _ = write!(at, ", step {step}");
    }
    let _ = writeln!(out, "{at}");
    let _ = writeln!(out, "  what happened: {}", rb.cause);
    let w = &rb.world;
    if !w.weights.is_empty() || !w.clusters.is_empty() {
        let _ = writeln!(out, "  as last seen:");
        for r in &w.weights {
            let side = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_else(|| "no record".into());
            let _ = writeln!(out, "    {}: blue {} / green {}", r.record, side(r.blue), side(r.green));
        }
        let clusters: Vec<String> = w
            .clusters
            .iter()
            .map(|c| format!("{} {} ({})", c.role, c.name, if c.exists { "exists" } else { "gone" }))
            .collect();
        if !clusters.is_empty() {
            let _ = writeln!(out, "    clusters: {}", clusters.join(", "));
        }
        let _ = writeln!(
            out,
            "    last checkpoint: {}; point of no return {}",
            w.last_checkpoint.as_deref().unwrap_or("none"),
            if w.point_of_no_return_passed { "passed" } else { "not passed" }
        );
    }
    if !rb.safe_now.is_empty() {
        let _ = writeln!(out, "  safe now:");
        for s in &rb.safe_now {
            let _ = writeln!(out, "    - {s}");
        }
    }
    let _ = writeln!(out, "  next:");
    for c in &rb.next {
        let _ = writeln!(out, "    # {}", c.why);
        let _ = writeln!(out, "    {}", c.command);
    }
    let _ = write!(out, "  (codes are explained in the README's troubleshooting table)");
    out
}
