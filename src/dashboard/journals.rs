//! The latest runs' journals the dashboard has read, kept so that re-reading every environment
//! (the overview and its stream) fetches only what was appended since: on S3 one listing of the
//! newer record objects instead of every record again. What is kept stays true because journals
//! are append-only: the engine only ever cuts a torn last line, which a reader never keeps (it
//! reads it once it is whole). Should the rest not continue what is kept (a journal edited by
//! hand), the journal is read again from the start.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::engine::JournalRecord;
use crate::ops::{OpsError, inspect};
use crate::providers::StateBackend;

/// How many runs' records are kept; beyond it the cache starts again (the overview keeps one
/// run per environment, so this is far more environments than a page shows).
const MAX_RUNS: usize = 2_000;

/// Records of runs by (source id, environment, run id).
#[derive(Default)]
pub struct Journals {
    runs: Mutex<HashMap<(String, String, String), Vec<JournalRecord>>>,
}

impl Journals {
    /// Every record of `run`, reading only what follows the records already kept.
    pub async fn records(
        &self,
        source: &str,
        state: &dyn StateBackend,
        env: &str,
        run: &str,
    ) -> Result<Vec<JournalRecord>, OpsError> {
        let key = (source.to_string(), env.to_string(), run.to_string());
        let kept = self.runs.lock().expect("never poisoned").get(&key).cloned().unwrap_or_default();
        let records = match kept.last().map(|r| r.seq) {
            None => inspect::history_in(state, env, Some(run)).await?,
            Some(seq) => match inspect::history_after(state, env, run, seq).await {
                Ok(new) => [kept, new].concat(),
                // It does not continue what we have: read it whole, as a first reader would.
                Err(_) => inspect::history_in(state, env, Some(run)).await?,
            },
        };
        let mut runs = self.runs.lock().expect("never poisoned");
        if runs.len() >= MAX_RUNS && !runs.contains_key(&key) {
            runs.clear();
        }
        runs.insert(key, records.clone());
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::state_local::LocalState;

    fn line(seq: u64) -> Vec<u8> {
        let r = JournalRecord {
            seq,
            ts: jiff::Timestamp::UNIX_EPOCH,
            run: "r".into(),
            event: crate::engine::JournalEvent::Checkpoint { name: format!("c{seq}") },
        };
        let mut bytes = serde_json::to_vec(&r).unwrap();
        bytes.push(b'\n');
        bytes
    }

    #[tokio::test]
    async fn a_journal_being_written_is_read_on_from_what_is_kept() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let state = LocalState::new(dir.path());
        let journals = Journals::default();
        let seqs = |records: Vec<JournalRecord>| records.iter().map(|r| r.seq).collect::<Vec<_>>();
        state.append("e", "r", 1, &line(1)).await.unwrap();
        assert_eq!(seqs(journals.records("s", &state, "e", "r").await.unwrap()), [1]);
        state.append("e", "r", 2, &line(2)).await.unwrap();
        // Half of record 3 is written: it is not kept until it is whole.
        let third = line(3);
        let path = dir.path().join("e/runs/r.jsonl");
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&third[..10]).unwrap();
        assert_eq!(seqs(journals.records("s", &state, "e", "r").await.unwrap()), [1, 2]);
        f.write_all(&third[10..]).unwrap();
        assert_eq!(seqs(journals.records("s", &state, "e", "r").await.unwrap()), [1, 2, 3]);
        // A tail that does not continue what is kept (edited by hand): read again whole.
        std::fs::write(&path, [line(1), line(2), line(3), line(9)].concat()).unwrap();
        assert!(journals.records("s", &state, "e", "r").await.is_err(), "the whole journal has a gap: refused, not patched");
    }
}
