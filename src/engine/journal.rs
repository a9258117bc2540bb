//! The run journal: one JSON record per line, append-only, fsynced; the source of truth.
//!
//! Every transition of a run is a [`JournalRecord`] with `seq` (1, 2, 3, ...), `ts` (RFC 3339)
//! and `run`. A step counts as done only if its `step-done` record is present.
//!
//! Reading ([`parse`]) never guesses:
//! - A last line without its `\n`, or a last line that does not parse, is a TORN write (a crash
//!   mid-append). It is ignored: whatever it recorded is treated as not having happened, which is
//!   safe because every step is idempotent and is simply run again.
//! - An unparseable line that is NOT the last one, a sequence gap or a record of another run is
//!   corruption: [`JournalError::Corrupt`], and the engine refuses to act on the run.
//!
//! Repair: before the first append of a resumed run, [`JournalWriter::open`] truncates a torn tail
//! and appends a `journal-repaired` record saying how many bytes were dropped, so the file is again
//! a sequence of whole lines and the history shows that a crash happened there.

use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::providers::StateBackend;

use super::error::{EngineError, JournalError};
use super::options::Clock;

/// Where a run's spans go: its trace id and, when a caller's trace (`TRACEPARENT`) started it, the
/// span it hangs under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraceRef {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits: the caller's span, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
}

impl TraceRef {
    /// From a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`); `None` if it is not one.
    pub fn from_traceparent(value: &str) -> Option<TraceRef> {
        let parts: Vec<&str> = value.trim().split('-').collect();
        let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0');
        match parts.as_slice() {
            [version, trace, span, flags] if version.len() == 2 && flags.len() == 2 && hex(trace, 32) && hex(span, 16) => {
                Some(TraceRef { trace_id: trace.to_ascii_lowercase(), parent_span_id: Some(span.to_ascii_lowercase()) })
            }
            _ => None,
        }
    }

    /// A new trace of its own.
    pub fn fresh() -> TraceRef {
        TraceRef { trace_id: format!("{:016x}{:016x}", fastrand::u64(1..), fastrand::u64(..)), parent_span_id: None }
    }
}

/// One line of the journal: a numbered, timestamped transition of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Position in the journal, from 1 with no gaps.
    pub seq: u64,
    /// When the transition was recorded.
    pub ts: Timestamp,
    /// The run id the record belongs to.
    pub run: String,
    /// What happened.
    #[serde(flatten)]
    pub event: JournalEvent,
}

/// One transition. Outputs and error texts are never secret (providers and steps guarantee it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum JournalEvent {
    /// A new run of a plan began.
    RunStarted {
        /// The plan's `metadata.name`.
        plan: String,
        /// sha256 of the plan file; `resume` refuses a plan edited since.
        digest: String,
        /// The plan's kind (`Upgrade`, `DevCluster`, `Drill`).
        kind: String,
        /// The caller's identity.
        who: String,
        /// Host the run started on.
        host: String,
        /// Process id of the run.
        pid: u32,
        /// cutover version that started the run.
        version: String,
        /// The run's trace: every process of the run exports its spans into it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<TraceRef>,
    },
    /// A later process picked the run up again (`resume`, `rollback`).
    RunResumed {
        /// The caller's identity.
        who: String,
        /// Host of the resuming process.
        host: String,
        /// Process id of the resuming process.
        pid: u32,
        /// cutover version of the resuming process.
        version: String,
    },
    /// A step's `apply` began.
    StepStarted {
        /// Step id.
        step: String,
        /// Set on a point-of-no-return step: from here on the run can no longer roll back.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        irreversible: bool,
    },
    /// A step's `apply` finished; only this record makes a step done.
    StepDone {
        /// Step id.
        step: String,
        /// What the step produced (ids, addresses), read back by later steps and by `resume`.
        output: serde_json::Value,
    },
    /// A step's `apply` failed.
    StepFailed {
        /// Step id.
        step: String,
        /// The error, for people.
        error: String,
        /// Whether the error was transient (throttling, 5xx, timeout).
        retryable: bool,
        /// Its stop code ([`super::codes`]); absent in journals written before codes existed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// A step's `compensate` began during a rollback.
    CompensationStarted {
        /// Step id.
        step: String,
    },
    /// A step's `compensate` finished: its effect is undone.
    CompensationDone {
        /// Step id.
        step: String,
    },
    /// A step's `compensate` failed; the run needs a human.
    CompensationFailed {
        /// Step id.
        step: String,
        /// The error, for people.
        error: String,
    },
    /// The run reached a named checkpoint (`green-ready`, `traffic-50`, ...).
    Checkpoint {
        /// Checkpoint name.
        name: String,
    },
    /// A rollback began; until `run-rolled-back`, `resume` continues the rollback.
    RollbackStarted {
        /// Checkpoint rolled back to; `None` means the start of the run.
        to: Option<String>,
        /// Why the rollback began (the failure, or a human's request).
        cause: String,
        /// Who asked for it (`cutover rollback`); absent for the automatic rollback after a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// The run stopped at a failed step under `onFailure: pause`, waiting for `resume` or `rollback`.
    RunPaused {
        /// The step that failed.
        step: String,
        /// Why it failed.
        cause: String,
    },
    /// The run stopped until a point in time (e.g. blue's retention before teardown); `resume` after it.
    RunWaiting {
        /// The step that waits.
        step: String,
        /// When the step may run.
        until: Timestamp,
    },
    /// The run stopped and needs a human (interlock, failed compensation, failed irreversible step).
    RunFailed {
        /// The step that stopped the run, if a step did.
        step: Option<String>,
        /// Why the run stopped.
        cause: String,
    },
    /// A rollback finished: everything after the checkpoint is undone.
    RunRolledBack {
        /// Checkpoint rolled back to; `None` means the start of the run.
        to: Option<String>,
        /// Why the rollback happened.
        cause: String,
        /// Who asked for it (`cutover rollback`); absent for the automatic rollback after a failure.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        requested_by: Option<String>,
    },
    /// Every step is done.
    RunCompleted,
    /// A pre-flight gate refused the run before anything was created.
    RunRefused {
        /// The pre-flight gate's step id.
        step: String,
        /// What the gate found.
        cause: String,
    },
    /// A notification reached its sink.
    NotificationSent {
        /// The sink's name.
        sink: String,
        /// The notification's idempotency key.
        id: String,
        /// What it was about.
        event: String,
        /// Tries it took.
        attempts: u32,
    },
    /// A notification could not be delivered (after its retries); the run went on.
    NotificationFailed {
        /// The sink's name.
        sink: String,
        /// The notification's idempotency key.
        id: String,
        /// What it was about.
        event: String,
        /// Tries made.
        attempts: u32,
        /// Why the last try failed (never the URL).
        error: String,
    },
    /// The AWS requests this session of the run sent, by `Service.Operation` (retries count),
    /// journaled when the session ends so the dashboard and history show what a run cost.
    AwsRequests {
        /// Requests by operation (`EKS.DescribeCluster`).
        by_operation: std::collections::BTreeMap<String, u64>,
    },
    /// A torn last line left by a crash was cut off before this run appended again.
    JournalRepaired {
        /// Bytes of the torn line that were dropped.
        discarded_bytes: u64,
    },
}

/// A journal as read back.
#[derive(Debug, Clone)]
pub struct ParsedJournal {
    /// The whole records, in `seq` order.
    pub records: Vec<JournalRecord>,
    /// Bytes of whole, valid lines: where the next append must start.
    pub valid_len: u64,
    /// Bytes of a torn last line that were ignored (0 when none).
    pub torn_bytes: u64,
}

/// Parses a stored journal (see the module docs for what counts as torn and what as corrupt).
pub fn parse(run_id: &str, bytes: &[u8]) -> Result<ParsedJournal, JournalError> {
    parse_from(run_id, 1, bytes)
}

/// Parses the part of a journal that starts at record `first_seq` (what
/// [`StateBackend::read_journal_after`] returns), by the same rules as [`parse`]: a reader
/// following a growing journal sees a half-written last line as torn and reads it next time.
pub fn parse_from(run_id: &str, first_seq: u64, bytes: &[u8]) -> Result<ParsedJournal, JournalError> {
    let corrupt = |line: usize, detail: String| JournalError::Corrupt {
        run_id: run_id.to_string(),
        line,
        detail,
    };
    let mut records: Vec<JournalRecord> = Vec::new();
    let mut offset = 0usize;
    let mut line_no = 0usize;
    while offset < bytes.len() {
        line_no += 1;
        let rest = &bytes[offset..];
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            // No newline: the append never finished.
            return Ok(torn(records, offset, bytes.len()));
        };
        let line = &rest[..nl];
        let is_last = offset + nl + 1 == bytes.len();
        let record: JournalRecord = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(_) if is_last => return Ok(torn(records, offset, bytes.len())),
            Err(e) => {
                return Err(corrupt(
                    line_no,
                    format!("line is not a journal record ({e})"),
                ));
            }
        };
        let expected = first_seq + records.len() as u64;
        if record.seq != expected {
            return Err(corrupt(
                line_no,
                format!("expected seq {expected}, found {}", record.seq),
            ));
        }
        if record.run != run_id {
            return Err(corrupt(
                line_no,
                format!("record belongs to run {}", record.run),
            ));
        }
        records.push(record);
        offset += nl + 1;
    }
    Ok(ParsedJournal {
        records,
        valid_len: bytes.len() as u64,
        torn_bytes: 0,
    })
}

fn torn(records: Vec<JournalRecord>, valid: usize, total: usize) -> ParsedJournal {
    ParsedJournal {
        records,
        valid_len: valid as u64,
        torn_bytes: (total - valid) as u64,
    }
}

/// Appends records of one run. Only the lock holder writes, so `seq` is tracked here.
pub(crate) struct JournalWriter {
    state: Arc<dyn StateBackend>,
    clock: Arc<dyn Clock>,
    env: String,
    run_id: String,
    next_seq: u64,
    /// Set when an append failed: whether the line landed is unknown, so nothing more is written
    /// by this process; a later `resume` reads back what did land.
    poisoned: bool,
}

impl JournalWriter {
    /// A writer for a brand-new run (no journal yet).
    pub fn create(
        state: Arc<dyn StateBackend>,
        clock: Arc<dyn Clock>,
        env: &str,
        run_id: &str,
    ) -> Self {
        JournalWriter {
            state,
            clock,
            env: env.to_string(),
            run_id: run_id.to_string(),
            next_seq: 1,
            poisoned: false,
        }
    }

    /// Reads an existing run's journal, repairs a torn tail, and returns the writer and records.
    pub async fn open(
        state: Arc<dyn StateBackend>,
        clock: Arc<dyn Clock>,
        env: &str,
        run_id: &str,
    ) -> Result<(Self, Vec<JournalRecord>), EngineError> {
        let bytes = state.read_journal(env, run_id).await?;
        let parsed = parse(run_id, &bytes)?;
        if parsed.records.is_empty() {
            return Err(JournalError::Empty {
                run_id: run_id.to_string(),
            }
            .into());
        }
        let mut records = parsed.records;
        let mut writer = JournalWriter::create(state.clone(), clock, env, run_id);
        writer.next_seq = records.len() as u64 + 1;
        if parsed.torn_bytes > 0 {
            tracing::warn!(
                run = run_id,
                bytes = parsed.torn_bytes,
                "dropping a torn last journal line"
            );
            state
                .truncate_journal(env, run_id, parsed.valid_len)
                .await?;
            let repaired = writer
                .append(JournalEvent::JournalRepaired {
                    discarded_bytes: parsed.torn_bytes,
                })
                .await?;
            records.push(repaired);
        }
        Ok((writer, records))
    }

    /// Writes one record durably and returns it.
    pub async fn append(&mut self, event: JournalEvent) -> Result<JournalRecord, EngineError> {
        if self.poisoned {
            return Err(self.write_failed("an earlier append failed"));
        }
        let record = JournalRecord {
            seq: self.next_seq,
            ts: self.clock.now(),
            run: self.run_id.clone(),
            event,
        };
        let mut line = serde_json::to_vec(&record).expect("journal records serialise");
        line.push(b'\n');
        if let Err(e) = self
            .state
            .append(&self.env, &self.run_id, record.seq, &line)
            .await
        {
            self.poisoned = true;
            return Err(self.write_failed(&e.to_string()));
        }
        self.next_seq += 1;
        Ok(record)
    }

    fn write_failed(&self, detail: &str) -> EngineError {
        JournalError::WriteFailed {
            run_id: self.run_id.clone(),
            detail: detail.to_string(),
        }
        .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, run: &str) -> String {
        let r = JournalRecord {
            seq,
            ts: Timestamp::UNIX_EPOCH,
            run: run.into(),
            event: JournalEvent::Checkpoint {
                name: format!("c{seq}"),
            },
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    #[test]
    fn records_round_trip_with_a_type_tag() {
        let text = line(1, "r");
        assert!(text.contains(r#""type":"checkpoint""#), "{text}");
        let p = parse("r", text.as_bytes()).unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.torn_bytes, 0);
    }

    #[test]
    fn a_last_line_without_newline_is_torn_even_if_it_parses() {
        let whole = line(1, "r");
        let mut text = whole.clone() + &line(2, "r");
        text.pop();
        let p = parse("r", text.as_bytes()).unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(p.valid_len, whole.len() as u64);
        assert!(p.torn_bytes > 0);
    }

    #[test]
    fn an_unparseable_middle_line_is_corruption() {
        let text = line(1, "r") + "{garbage\n" + &line(2, "r");
        let err = parse("r", text.as_bytes()).unwrap_err();
        assert!(
            matches!(err, JournalError::Corrupt { line: 2, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_tail_parses_from_its_first_sequence_number() {
        let text = line(3, "r") + &line(4, "r");
        let p = parse_from("r", 3, text.as_bytes()).unwrap();
        assert_eq!(p.records.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
        assert!(matches!(parse_from("r", 2, text.as_bytes()), Err(JournalError::Corrupt { line: 1, .. })));
    }

    #[test]
    fn a_sequence_gap_is_corruption() {
        let text = line(1, "r") + &line(3, "r");
        assert!(matches!(
            parse("r", text.as_bytes()),
            Err(JournalError::Corrupt { line: 2, .. })
        ));
    }
}
