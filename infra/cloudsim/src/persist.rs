//! Persistence of cloudsim's own state under `--state-dir`, so a kill -9 and restart loses nothing
//! that was acknowledged:
//!
//! - `eks.json`: every EKS resource with its in-flight deadlines (rewritten atomically on each change),
//! - `faults.json`: the faults in force (rewritten atomically on each change),
//! - `events.jsonl`: the event log, appended and fsynced (a torn last line is ignored on restore),
//! - `clusters/<name>/`: handed to each cluster's Kubernetes half, which persists there itself.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::events::{Event, EventLog};

#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("cannot use state directory {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("state file {path} is not valid ({source}); move it away to start from empty state")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// The state directory and the bookkeeping of what has been written to it.
#[derive(Debug)]
pub struct StateDir {
    root: PathBuf,
    /// Highest event sequence number already appended to `events.jsonl`.
    events_flushed: Mutex<u64>,
}

pub const EKS_FILE: &str = "eks.json";
pub const FAULTS_FILE: &str = "faults.json";
pub const EVENTS_FILE: &str = "events.jsonl";

impl StateDir {
    /// Opens (creating if needed) the directory.
    pub fn open(root: &Path) -> Result<Self, PersistError> {
        fs::create_dir_all(root.join("clusters")).map_err(|source| PersistError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        Ok(StateDir {
            root: root.to_path_buf(),
            events_flushed: Mutex::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where one cluster's Kubernetes half keeps its state.
    pub fn cluster_dir(&self, cluster: &str) -> PathBuf {
        self.root.join("clusters").join(cluster)
    }

    /// Reads a JSON file written by [`StateDir::save_json`]; `None` if it does not exist.
    pub fn load_json<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, PersistError> {
        let path = self.root.join(name);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| PersistError::Corrupt { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(PersistError::Io { path, source }),
        }
    }

    pub fn save_json<T: Serialize>(&self, name: &str, value: &T) -> Result<(), PersistError> {
        self.save_bytes(
            name,
            &serde_json::to_vec_pretty(value).expect("state serializes to JSON"),
        )
    }

    /// Atomically replaces the file `name` with already-serialised JSON.
    pub fn save_bytes(&self, name: &str, bytes: &[u8]) -> Result<(), PersistError> {
        let path = self.root.join(name);
        write_atomic(&path, bytes).map_err(|source| PersistError::Io { path, source })
    }

    /// Restores the event log; remembers how far it is already on disk.
    pub fn load_events(&self) -> Result<Vec<Event>, PersistError> {
        let path = self.root.join(EVENTS_FILE);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(PersistError::Io { path, source }),
        };
        let mut events: Vec<Event> = Vec::new();
        let mut torn = false;
        for line in io::BufReader::new(file).lines() {
            let line = line.map_err(|source| PersistError::Io {
                path: path.clone(),
                source,
            })?;
            // A kill during an append can leave a torn last line: everything before it is intact.
            match serde_json::from_str::<Event>(&line) {
                Ok(e) if e.seq == events.len() as u64 + 1 => events.push(e),
                _ => {
                    torn = true;
                    break;
                }
            }
        }
        if torn {
            // Cut the torn tail off now, or later appends would sit behind it and be lost on the next restore.
            write_atomic(&path, &encode_events(&events))
                .map_err(|source| PersistError::Io { path, source })?;
        }
        *self.events_flushed.lock().expect("events lock poisoned") = events.len() as u64;
        Ok(events)
    }

    /// Appends the events not yet on disk and fsyncs. Cheap when there are none.
    pub fn flush_events(&self, log: &EventLog) -> Result<(), PersistError> {
        let mut flushed = self.events_flushed.lock().expect("events lock poisoned");
        let new = log.since(*flushed);
        let Some(last) = new.last() else {
            return Ok(());
        };
        let last_seq = last.seq;
        let path = self.root.join(EVENTS_FILE);
        let io_err = |source| PersistError::Io {
            path: path.clone(),
            source,
        };
        let buf = encode_events(&new);
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err)?;
        file.write_all(&buf).map_err(io_err)?;
        file.sync_data().map_err(io_err)?;
        *flushed = last_seq;
        Ok(())
    }

    /// Removes a deleted cluster's Kubernetes state, so a new cluster of the same name starts empty.
    pub fn remove_cluster_dir(&self, cluster: &str) -> Result<(), PersistError> {
        let path = self.cluster_dir(cluster);
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(PersistError::Io { path, source }),
        }
    }
}

fn encode_events(events: &[Event]) -> Vec<u8> {
    let mut buf = Vec::new();
    for e in events {
        serde_json::to_writer(&mut buf, e).expect("event serializes");
        buf.push(b'\n');
    }
    buf
}

/// Writes `bytes` to `path` so that after a crash the file holds either the old or the new content:
/// write a temporary file beside it, fsync it, rename it over, fsync the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.tmp", fastrand::u64(..)));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_survive_and_a_torn_last_line_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let log = EventLog::default();
        log.record("a", None, serde_json::json!({}));
        log.record("b", Some("c1"), serde_json::json!({"x": 1}));
        state.flush_events(&log).unwrap();
        log.record("c", None, serde_json::json!({}));
        state.flush_events(&log).unwrap();
        // Simulate a kill in the middle of an append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(EVENTS_FILE))
            .unwrap();
        f.write_all(b"{\"seq\":4,\"at\":\"2").unwrap();

        let again = StateDir::open(dir.path()).unwrap();
        let events = again.load_events().unwrap();
        assert_eq!(
            events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );

        // Events recorded after the restart land behind the intact prefix and survive the next one.
        let log = EventLog::restore(events);
        log.record("d", None, serde_json::json!({}));
        again.flush_events(&log).unwrap();
        let third = StateDir::open(dir.path()).unwrap().load_events().unwrap();
        assert_eq!(
            third.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
    }

    #[test]
    fn json_round_trips_and_missing_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        assert_eq!(state.load_json::<Vec<u32>>("x.json").unwrap(), None);
        state.save_json("x.json", &vec![1u32, 2]).unwrap();
        assert_eq!(
            state.load_json::<Vec<u32>>("x.json").unwrap(),
            Some(vec![1, 2])
        );
        fs::write(dir.path().join("x.json"), b"{not json").unwrap();
        let err = state
            .load_json::<Vec<u32>>("x.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("move it away"), "{err}");
    }
}
