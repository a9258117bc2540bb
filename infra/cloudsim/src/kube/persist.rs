//! Durable state of one cluster under `<state_dir>/clusters/<name>/`:
//! - `ca.key`, `ca.crt`: the cluster CA (clients keep trusting the endpoint across restarts);
//! - `meta.json`: the bound port and version;
//! - `objects.snapshot.json` + `objects.journal`: every object. Writes append one JSON line per
//!   change to the journal (fsynced before an API client is answered); when the journal grows, a
//!   snapshot is written atomically (temp + fsync + rename) and the journal starts again.
//!
//! A torn last journal line (kill -9 mid-write of an unacknowledged change) is ignored on load.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::discovery::GroupResource;
use super::store::{EventType, ObjKey, WatchEvent};

/// Journal lines before a snapshot replaces them.
const COMPACT_AFTER: usize = 20_000;

type Objects = HashMap<GroupResource, BTreeMap<ObjKey, Arc<Value>>>;

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    rv: u64,
    group: String,
    resource: String,
    namespace: String,
    name: String,
    /// None = deleted.
    object: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Snapshot {
    rv: u64,
    objects: Vec<Line>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    pub port: u16,
    pub version: String,
}

pub struct Journal {
    dir: PathBuf,
    file: File,
    lines: usize,
}

impl Journal {
    fn journal_path(dir: &Path) -> PathBuf {
        dir.join("objects.journal")
    }

    fn snapshot_path(dir: &Path) -> PathBuf {
        dir.join("objects.snapshot.json")
    }

    /// Loads what `dir` holds (nothing on first start) and opens the journal for appending.
    pub fn open(dir: &Path) -> std::io::Result<(Journal, u64, Objects)> {
        fs::create_dir_all(dir)?;
        let mut rv = 0;
        let mut objects: Objects = HashMap::new();
        let snap = Self::snapshot_path(dir);
        if snap.exists() {
            let s: Snapshot = serde_json::from_slice(&fs::read(&snap)?).map_err(|e| {
                std::io::Error::other(format!("{} is corrupt: {e}", snap.display()))
            })?;
            rv = s.rv;
            for l in s.objects {
                if let Some(o) = l.object {
                    objects
                        .entry(GroupResource {
                            group: l.group,
                            resource: l.resource,
                        })
                        .or_default()
                        .insert((l.namespace, l.name), Arc::new(o));
                }
            }
        }
        let path = Self::journal_path(dir);
        let mut lines = 0;
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            for line in reader.lines() {
                let line = line?;
                // A torn final line was never acknowledged; everything before it was.
                let Ok(l) = serde_json::from_str::<Line>(&line) else {
                    break;
                };
                lines += 1;
                if l.rv <= rv {
                    continue;
                }
                rv = l.rv;
                let map = objects
                    .entry(GroupResource {
                        group: l.group,
                        resource: l.resource,
                    })
                    .or_default();
                match l.object {
                    Some(o) => {
                        map.insert((l.namespace, l.name), Arc::new(o));
                    }
                    None => {
                        map.remove(&(l.namespace, l.name));
                    }
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        Ok((
            Journal {
                dir: dir.to_path_buf(),
                file,
                lines,
            },
            rv,
            objects,
        ))
    }

    pub fn append(&mut self, events: &[Arc<WatchEvent>]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for ev in events {
            let line = Line {
                rv: ev.rv,
                group: ev.gr.group.clone(),
                resource: ev.gr.resource.clone(),
                namespace: ev.namespace.clone(),
                name: ev.name.clone(),
                object: if ev.kind == EventType::Deleted {
                    None
                } else {
                    Some((*ev.object).clone())
                },
            };
            serde_json::to_writer(&mut buf, &line).map_err(std::io::Error::other)?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf)?;
        self.lines += events.len();
        Ok(())
    }

    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub fn wants_compaction(&self) -> bool {
        self.lines >= COMPACT_AFTER
    }

    /// Writes a snapshot of everything and truncates the journal.
    pub fn compact(&mut self, rv: u64, objects: &Objects) -> std::io::Result<()> {
        let mut lines = Vec::new();
        for (gr, map) in objects {
            for ((ns, name), o) in map {
                lines.push(Line {
                    rv,
                    group: gr.group.clone(),
                    resource: gr.resource.clone(),
                    namespace: ns.clone(),
                    name: name.clone(),
                    object: Some((**o).clone()),
                });
            }
        }
        let bytes =
            serde_json::to_vec(&Snapshot { rv, objects: lines }).map_err(std::io::Error::other)?;
        write_atomic(&Self::snapshot_path(&self.dir), &bytes)?;
        // Entries up to rv are in the snapshot; loading skips them, so truncation can lag safely.
        let path = Self::journal_path(&self.dir);
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path)?;
        file.sync_all()?;
        self.file = OpenOptions::new().append(true).open(&path)?;
        self.lines = 0;
        Ok(())
    }
}

/// Writes `bytes` to `path` so that a crash leaves either the old or the new content.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(parent) = path.parent()
        && let Ok(d) = File::open(parent)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn load_meta(dir: &Path) -> std::io::Result<Option<Meta>> {
    let path = dir.join("meta.json");
    if !path.exists() {
        return Ok(None);
    }
    serde_json::from_slice(&fs::read(&path)?)
        .map(Some)
        .map_err(|e| std::io::Error::other(format!("{} is corrupt: {e}", path.display())))
}

pub fn save_meta(dir: &Path, meta: &Meta) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    write_atomic(
        &dir.join("meta.json"),
        &serde_json::to_vec_pretty(meta).map_err(std::io::Error::other)?,
    )
}
