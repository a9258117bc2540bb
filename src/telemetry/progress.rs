//! The progress display: renders engine events on stderr. On a terminal, a spinner per running
//! step (several while releases install in parallel) under a scrolling list of finished steps;
//! elsewhere (CI logs, pipes), one plain timestamped line per event. The only module that touches
//! indicatif.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::{EngineEvent, ProgressSink};
use crate::plan::format_duration;

/// The active multi-bar, if any, so log lines can be printed above the bars instead of through them.
static ACTIVE: OnceLock<Mutex<Option<MultiProgress>>> = OnceLock::new();

/// Writes `bytes` to stderr without tearing the progress bars.
pub(crate) fn write_stderr(bytes: &[u8]) -> std::io::Result<()> {
    let active = ACTIVE.get_or_init(|| Mutex::new(None)).lock().map(|g| g.clone()).unwrap_or(None);
    match active {
        Some(multi) => multi.suspend(|| std::io::stderr().write_all(bytes)),
        None => std::io::stderr().write_all(bytes),
    }
}

/// The progress display: a [`crate::engine::ProgressSink`] drawing on stderr.
pub struct Progress {
    mode: Mode,
    started: Instant,
}

enum Mode {
    Bars { multi: MultiProgress, bars: Mutex<HashMap<String, (ProgressBar, Instant)>> },
    Lines { steps: Mutex<HashMap<String, Instant>> },
}

impl Progress {
    /// Bars on a terminal, plain lines otherwise (or when `plain` is forced).
    pub fn new(plain: bool) -> Self {
        let mode = if !plain && std::io::stderr().is_terminal() {
            let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
            *ACTIVE.get_or_init(|| Mutex::new(None)).lock().expect("progress lock") = Some(multi.clone());
            Mode::Bars { multi, bars: Mutex::new(HashMap::new()) }
        } else {
            Mode::Lines { steps: Mutex::new(HashMap::new()) }
        };
        Progress { mode, started: Instant::now() }
    }

    fn line(&self, text: &str) {
        match &self.mode {
            Mode::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            Mode::Lines { .. } => {
                let now = jiff::Zoned::now().strftime("%H:%M:%S");
                let _ = write_stderr(format!("{now} {text}\n").as_bytes());
            }
        }
    }

    fn step_started(&self, step: &str, title: &str) {
        match &self.mode {
            Mode::Bars { multi, bars } => {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("  {spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:>6}")
                        .expect("valid template"),
                );
                bar.set_prefix(step.to_string());
                bar.set_message(title.to_string());
                bar.enable_steady_tick(Duration::from_millis(120));
                bars.lock().expect("bars").insert(step.to_string(), (bar, Instant::now()));
            }
            Mode::Lines { steps } => {
                steps.lock().expect("steps").insert(step.to_string(), Instant::now());
                self.line(&format!("▸ {step}: {title}"));
            }
        }
    }

    fn step_ended(&self, step: &str, mark: &str, detail: &str) {
        let elapsed = match &self.mode {
            Mode::Bars { bars, .. } => bars.lock().expect("bars").remove(step).map(|(bar, t)| {
                bar.finish_and_clear();
                t.elapsed()
            }),
            Mode::Lines { steps } => steps.lock().expect("steps").remove(step).map(|t| t.elapsed()),
        };
        let took = elapsed.map(|d| format!(" ({})", short(d))).unwrap_or_default();
        let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
        self.line(&format!("{mark} {step}{took}{detail}"));
    }

    fn step_message(&self, step: &str, message: String) {
        match &self.mode {
            Mode::Bars { bars, .. } => {
                if let Some((bar, _)) = bars.lock().expect("bars").get(step) {
                    bar.set_message(message);
                }
            }
            Mode::Lines { .. } => self.line(&format!("  {step}: {message}")),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Mode::Bars { multi, bars } = &self.mode {
            for (_, (bar, _)) in bars.lock().expect("bars").drain() {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
            *ACTIVE.get_or_init(|| Mutex::new(None)).lock().expect("progress lock") = None;
        }
    }
}

impl ProgressSink for Progress {
    fn event(&self, event: &EngineEvent) {
        match event {
            EngineEvent::RunStarted { run_id, resumed } => {
                self.line(&format!("{} run {run_id}", if *resumed { "resuming" } else { "starting" }))
            }
            EngineEvent::StageStarted { title, .. } => self.line(&format!("== {title}")),
            EngineEvent::StepStarted { step, title } => self.step_started(step, title),
            EngineEvent::StepDone { step } => self.step_ended(step, "✓", ""),
            EngineEvent::StepFailed { step, error } => self.step_ended(step, "✗", error),
            EngineEvent::StepRetrying { step, error, attempt, delay_ms } => self.step_message(
                step,
                format!("retry {attempt} in {}: {error}", short(Duration::from_millis(*delay_ms))),
            ),
            EngineEvent::Waiting { step, what, timeout_ms } => self.step_message(
                step,
                format!("waiting for {what} (timeout {})", short(Duration::from_millis(*timeout_ms))),
            ),
            EngineEvent::Baking { step, remaining_ms } => self.step_message(
                step,
                format!("baking, gates passing, {} left", short(Duration::from_millis(*remaining_ms))),
            ),
            EngineEvent::WaitingUntil { step, until } => {
                self.step_ended(step, "⏸", &format!("waiting until {until}"))
            }
            EngineEvent::Checkpoint { name } => self.line(&format!("◆ checkpoint {name}")),
            EngineEvent::Compensating { step } => self.step_started(step, "compensating"),
            EngineEvent::Compensated { step } => self.step_ended(step, "↶", "undone"),
            EngineEvent::RunFinished { outcome } => {
                let took = short(self.started.elapsed());
                self.line(&format!("{} after {took}", outcome.describe()))
            }
        }
    }
}

fn short(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format_duration(Duration::from_secs(d.as_secs()))
    }
}
