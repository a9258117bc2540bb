//! The local state backend: locks and journals in a directory on this machine.
//!
//! Layout under the state directory:
//! ```text
//! <env>/lock                  JSON LockInfo; exists only while a run holds the environment
//! <env>/current               the latest run id (written by temp file + rename)
//! <env>/runs/<run-id>.jsonl   the run's journal, one JSON record per line
//! ```
//! The lock is taken by writing the holder to a private temporary file, fsyncing it, then
//! hard-linking it to `lock`: `link(2)` fails if `lock` exists, exactly like `O_CREAT|O_EXCL`, but
//! a loser never sees a half-written lock file. Every write is fsynced, and so is the directory
//! whenever an entry is created, renamed or removed, so a crash never loses an acknowledged write.
//!
//! File operations are synchronous inside the async functions on purpose: they are small, and a
//! dropped future must not leave a write still running in a background thread that could land
//! after a later append.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind as IoKind, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::state::{LockInfo, StateBackend, StateError};

/// Locks and journals under one directory.
#[derive(Debug, Clone)]
pub struct LocalState {
    root: PathBuf,
}

impl LocalState {
    /// The directory need not exist yet; it is created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalState { root: root.into() }
    }

    /// The plan's local state directory (`spec.state.path`, relative to the plan file's
    /// directory); `None` when the plan keeps its state elsewhere.
    pub fn for_plan(plan: &crate::plan::Plan) -> Option<Self> {
        match &plan.state {
            crate::plan::StateBackend::Local { path } => {
                let base = plan.source.parent().unwrap_or(Path::new(""));
                Some(LocalState::new(base.join(path)))
            }
            crate::plan::StateBackend::S3 { .. } => None,
        }
    }

    /// The directory holding the locks and journals.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn env_dir(&self, env: &str) -> Result<PathBuf, StateError> {
        state_key(env)?;
        Ok(self.root.join(env))
    }

    fn lock_path(&self, env: &str) -> Result<PathBuf, StateError> {
        Ok(self.env_dir(env)?.join("lock"))
    }

    fn journal_path(&self, env: &str, run_id: &str) -> Result<PathBuf, StateError> {
        state_key(run_id)?;
        Ok(self
            .env_dir(env)?
            .join("runs")
            .join(format!("{run_id}.jsonl")))
    }
}

/// Names become path components: refuse anything that could escape the directory.
pub(crate) fn state_key(name: &str) -> Result<(), StateError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(StateError::InvalidName(name.to_string()))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Creates `dir` (and parents) and makes the new entries durable.
fn ensure_dir(dir: &Path) -> Result<(), StateError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent()
        && !parent.as_os_str().is_empty()
    {
        ensure_dir(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == IoKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(io(dir)(e)),
    }
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), StateError> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir).and_then(|f| f.sync_all()).map_err(io(dir))
}

fn read_lock_file(path: &Path) -> Result<Option<LockInfo>, StateError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| StateError::Corrupt {
            what: path.display().to_string(),
            detail: format!(
                "{e}; if no cutover run is active for this environment, delete the file by hand"
            ),
        })
}

fn remove_durably(path: &Path) -> Result<(), StateError> {
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == IoKind::NotFound => return Ok(()),
        Err(e) => return Err(io(path)(e)),
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Writes `bytes` to a fresh temporary file beside `path`, durably, and returns its path.
fn write_temp(dir: &Path, stem: &str, bytes: &[u8]) -> Result<PathBuf, StateError> {
    let tmp = dir.join(format!(
        ".{stem}.{}.{:016x}.tmp",
        std::process::id(),
        fastrand::u64(..)
    ));
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io(&tmp))?;
    Ok(tmp)
}

#[async_trait]
impl StateBackend for LocalState {
    fn journal_location(&self, env: &str, run_id: &str) -> String {
        match self.journal_path(env, run_id) {
            Ok(path) => path.display().to_string(),
            Err(_) => format!("{}/{env}/runs/{run_id}.jsonl", self.root().display()),
        }
    }

    async fn acquire_lock(&self, env: &str, lock: &LockInfo) -> Result<(), StateError> {
        let dir = self.env_dir(env)?;
        ensure_dir(&dir)?;
        let path = self.lock_path(env)?;
        let body = serde_json::to_vec_pretty(lock).expect("LockInfo serialises");
        let tmp = write_temp(&dir, "lock", &body)?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => sync_dir(&dir),
            Err(e) if e.kind() == IoKind::AlreadyExists => match read_lock_file(&path)? {
                Some(holder) => Err(StateError::LockHeld(holder)),
                // Released between our link and our read: report it as held by nobody known
                // rather than retrying here; the caller may simply try again.
                None => Err(StateError::LockChanged(
                    "the lock was released while we tried to take it; try again".into(),
                )),
            },
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn read_lock(&self, env: &str) -> Result<Option<LockInfo>, StateError> {
        read_lock_file(&self.lock_path(env)?)
    }

    async fn release_lock(&self, env: &str, run_id: &str) -> Result<(), StateError> {
        let path = self.lock_path(env)?;
        match read_lock_file(&path)? {
            None => Ok(()),
            Some(holder) if holder.run_id == run_id => remove_durably(&path),
            Some(holder) => Err(StateError::LockChanged(format!(
                "run {run_id} does not hold the lock; {holder} does"
            ))),
        }
    }

    async fn break_lock(&self, env: &str, holder: &LockInfo) -> Result<(), StateError> {
        let path = self.lock_path(env)?;
        match read_lock_file(&path)? {
            None => Ok(()),
            Some(current) if &current == holder => remove_durably(&path),
            Some(current) => Err(StateError::LockChanged(format!(
                "the lock is now held by {current}, not the holder you confirmed"
            ))),
        }
    }

    async fn append(
        &self,
        env: &str,
        run_id: &str,
        _seq: u64,
        line: &[u8],
    ) -> Result<(), StateError> {
        // The environment lock makes this process the only writer, so the sequence number needs
        // no check here; the engine verifies the sequence when it reads the journal back.
        debug_assert!(line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'));
        let path = self.journal_path(env, run_id)?;
        let dir = path.parent().expect("journal path has a parent");
        ensure_dir(dir)?;
        let existed = path.exists();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        // One write of the whole line: a crash leaves a prefix of it at worst (a torn line).
        f.write_all(line)
            .and_then(|()| f.sync_data())
            .map_err(io(&path))?;
        if !existed {
            sync_dir(dir)?;
        }
        Ok(())
    }

    async fn read_journal(&self, env: &str, run_id: &str) -> Result<Vec<u8>, StateError> {
        let path = self.journal_path(env, run_id)?;
        match fs::read(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == IoKind::NotFound => Err(StateError::NotFound {
                what: format!("journal of run {run_id}"),
            }),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn truncate_journal(&self, env: &str, run_id: &str, len: u64) -> Result<(), StateError> {
        let path = self.journal_path(env, run_id)?;
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(io(&path))?;
        f.set_len(len)
            .and_then(|()| f.sync_all())
            .map_err(io(&path))
    }

    async fn list_runs(&self, env: &str) -> Result<Vec<String>, StateError> {
        let dir = self.env_dir(env)?.join("runs");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir)(e)),
        };
        let mut runs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&dir))?;
            if let Some(run) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".jsonl"))
            {
                runs.push(run.to_string());
            }
        }
        // Run ids start with their UTC start time, so name order is start order.
        runs.sort();
        Ok(runs)
    }

    async fn list_envs(&self) -> Result<Vec<String>, StateError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.root)(e)),
        };
        let mut envs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io(&self.root))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            // Only directories that hold cutover state: the state directory may sit beside
            // other files (a plan's `.cutover` next to its values), which are not environments.
            let dir = entry.path();
            let holds_state = ["lock", "current", "runs"].iter().any(|f| dir.join(f).exists());
            if state_key(&name).is_ok() && !name.starts_with('.') && dir.is_dir() && holds_state {
                envs.push(name);
            }
        }
        envs.sort();
        Ok(envs)
    }

    async fn current_run(&self, env: &str) -> Result<Option<String>, StateError> {
        let path = self.env_dir(env)?.join("current");
        match fs::read_to_string(&path) {
            Ok(s) if s.trim().is_empty() => Ok(None),
            Ok(s) => Ok(Some(s.trim().to_string())),
            Err(e) if e.kind() == IoKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    async fn set_current_run(&self, env: &str, run_id: &str) -> Result<(), StateError> {
        state_key(run_id)?;
        let dir = self.env_dir(env)?;
        ensure_dir(&dir)?;
        let path = dir.join("current");
        let tmp = write_temp(&dir, "current", format!("{run_id}\n").as_bytes())?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        sync_dir(&dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn environments_are_the_directories_holding_state() {
        let dir = tempfile::tempdir().unwrap();
        let state = LocalState::new(dir.path().join("state"));
        assert!(state.list_envs().await.unwrap().is_empty(), "no directory yet: no environments");
        state.set_current_run("b-env", "r1").await.unwrap();
        state.append("a-env", "r1", 1, b"{}\n").await.unwrap();
        fs::create_dir_all(dir.path().join("state/not-an-env")).unwrap();
        fs::write(dir.path().join("state/notes.txt"), "x").unwrap();
        assert_eq!(state.list_envs().await.unwrap(), ["a-env", "b-env"]);
        state.append("a-env", "r1", 2, b"{\"x\":1}\n").await.unwrap();
        assert_eq!(state.read_journal_after("a-env", "r1", 1).await.unwrap(), b"{\"x\":1}\n");
    }

    #[test]
    fn names_that_could_escape_the_directory_are_refused() {
        for bad in ["", ".", "..", "a/b", "../x", "a b"] {
            assert!(state_key(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["payments-prod", "run_1.2", "20260101T000000Z-ab12"] {
            assert!(state_key(good).is_ok(), "{good:?} refused");
        }
    }
}
