//! The S3 state backend: locks and journals in a bucket, with the local backend's semantics made
//! from S3's conditional writes.
//!
//! Layout under `s3://<bucket>/<prefix>/`:
//! ```text
//! <env>/lock                          JSON LockInfo; exists only while a run holds the environment
//! <env>/current                       the latest run id
//! <env>/runs/<run-id>/<seq:010>.json  journal record `seq`, one JSON line per object
//! ```
//! - Acquire = `PutObject If-None-Match: *`: exactly one of two racing writers gets 200, the other
//!   412 (or 409 while the first write is in flight) and is told who holds the lock.
//! - Release and break = `DeleteObject If-Match: <ETag of the holder the caller saw>`, so a lock
//!   that changed hands between the read and the delete is never removed. (moto 5 and S3 both
//!   honour `If-Match` on DeleteObject; no tombstone objects are needed.)
//! - Append = `PutObject If-None-Match: *` on the record's own key: a second writer of the same
//!   sequence number loses (`Conflict`) instead of overwriting.
//!
//! The SDK retries requests whose answer was lost, so a conditional write may find its own earlier
//! attempt in place: an acquire that meets exactly its own lock, or an append that meets exactly
//! its own line, succeeded. Every successful S3 write is durable when acknowledged.
//!
//! Objects in a run's directory that are not journal records (`0000000001.json`) are ignored, like
//! the local backend ignores files that are not `.jsonl`. A record object that does not end in a
//! newline is returned as stored; the engine treats it as a torn tail and truncates it.

use std::error::Error as StdError;
use std::sync::Arc;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::Client;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::errors::sdk_error;
use crate::providers::state::{LockInfo, StateBackend, StateError};
use crate::providers::state_local::state_key;

/// How many journal records are fetched at once when a journal is read.
const READ_CONCURRENCY: usize = 16;
/// Width of the zero-padded sequence number in record keys, so key order is sequence order.
const SEQ_WIDTH: usize = 10;

/// Locks and journals under one bucket and prefix.
#[derive(Debug, Clone)]
pub struct S3State {
    client: Client,
    bucket: String,
    /// Empty, or ends with `/`.
    prefix: String,
}

impl S3State {
    /// A backend in `bucket` under `prefix` (leading and trailing slashes are ignored). The bucket
    /// must exist; it is not created.
    pub fn new(config: &SdkConfig, bucket: impl Into<String>, prefix: &str) -> Self {
        S3State::with_client(super::calls::s3_client(config), bucket, prefix)
    }

    /// A backend using an existing S3 `client`, in `bucket` under `prefix`.
    pub fn with_client(client: Client, bucket: impl Into<String>, prefix: &str) -> Self {
        let trimmed = prefix.trim_matches('/');
        let prefix = if trimmed.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        S3State {
            client,
            bucket: bucket.into(),
            prefix,
        }
    }

    /// The plan's S3 backend (`spec.state`), with the SDK configured for its region (the state's
    /// own, else the plan's); `None` when the plan keeps its state elsewhere.
    pub async fn for_plan(plan: &crate::plan::Plan) -> Option<Self> {
        match &plan.state {
            crate::plan::StateBackend::S3 {
                bucket,
                prefix,
                region,
            } => {
                let config = super::sdk_config(region.as_deref().unwrap_or(&plan.aws.region)).await;
                Some(S3State::new(&config, bucket.clone(), prefix))
            }
            crate::plan::StateBackend::Local { .. } => None,
        }
    }

    fn env_key(&self, env: &str, rest: &str) -> Result<String, StateError> {
        state_key(env)?;
        Ok(format!("{}{env}/{rest}", self.prefix))
    }

    fn lock_key(&self, env: &str) -> Result<String, StateError> {
        self.env_key(env, "lock")
    }

    fn run_prefix(&self, env: &str, run_id: &str) -> Result<String, StateError> {
        state_key(run_id)?;
        self.env_key(env, &format!("runs/{run_id}/"))
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn io<E>(&self, key: &str, what: &str, err: &SdkError<E, HttpResponse>) -> StateError
    where
        E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
    {
        let mut message = sdk_error(&format!("{what} {}", self.url(key)), err).message;
        if err.code() == Some("NoSuchBucket") {
            message.push_str(&format!(
                "; create bucket {} (see infra/iam/README.md) or fix spec.state.bucket",
                self.bucket
            ));
        }
        StateError::Io {
            path: self.url(key),
            source: std::io::Error::other(message),
        }
    }

    /// Checks the bucket before a run trusts it with a journal: it must exist and be reachable
    /// (an error otherwise), and should have versioning on (a warning otherwise, returned for the
    /// CLI to show: without versions an overwritten or deleted journal cannot be recovered).
    pub async fn preflight(&self) -> Result<Vec<String>, StateError> {
        let url = format!("s3://{}", self.bucket);
        let enable = format!(
            "enable it with `aws s3api put-bucket-versioning --bucket {} --versioning-configuration Status=Enabled`",
            self.bucket
        );
        let out = match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out,
            // Answered but not understood (an S3-compatible store, or moto): say so, go on.
            Err(e) if status(&e) == Some(200) => {
                return Ok(vec![format!(
                    "could not read the versioning status of {url} (the answer was not understood); \
                     make sure versioning is on so a damaged journal can be recovered: {enable}"
                )]);
            }
            Err(e) => return Err(self.io("", "check versioning of", &e)),
        };
        let enabled = out.status().map(|s| s.as_str()) == Some("Enabled");
        Ok(if enabled {
            Vec::new()
        } else {
            vec![format!(
                "versioning is not enabled on {url}: an overwritten or deleted journal could not be \
                 recovered; {enable}"
            )]
        })
    }

    /// The object's bytes and ETag, `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StateError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing(&e) => return Ok(None),
            Err(e) => return Err(self.io(key, "read", &e)),
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let bytes = out.body.collect().await.map_err(|e| StateError::Io {
            path: self.url(key),
            source: std::io::Error::other(format!("reading {}: {e}", self.url(key))),
        })?;
        Ok(Some((bytes.into_bytes().to_vec(), etag)))
    }

    /// Creates the object only if absent; `Ok(false)` when it already exists.
    async fn put_new(&self, key: &str, body: &[u8]) -> Result<bool, StateError> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) if is_precondition_lost(&e) => Ok(false),
            Err(e) => Err(self.io(key, "write", &e)),
        }
    }

    async fn read_lock_with_etag(
        &self,
        env: &str,
    ) -> Result<Option<(LockInfo, String)>, StateError> {
        let key = self.lock_key(env)?;
        let Some((bytes, etag)) = self.get(&key).await? else {
            return Ok(None);
        };
        let lock = serde_json::from_slice(&bytes).map_err(|e| StateError::Corrupt {
            what: self.url(&key),
            detail: format!(
                "{e}; if no cutover run is active for this environment, delete that object by hand"
            ),
        })?;
        Ok(Some((lock, etag)))
    }

    /// Deletes the lock only if its ETag is still `etag`.
    async fn delete_lock_if(
        &self,
        env: &str,
        etag: &str,
        changed: impl FnOnce() -> String,
    ) -> Result<(), StateError> {
        let key = self.lock_key(env)?;
        let sent = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .if_match(etag)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(()),
            // Gone already: what a retried delete whose first answer was lost finds.
            Err(e) if is_missing(&e) => Ok(()),
            Err(e) if is_precondition_lost(&e) => Err(StateError::LockChanged(changed())),
            Err(e) => Err(self.io(&key, "delete", &e)),
        }
    }

    /// The run's record objects (key, size) in sequence order.
    async fn records(&self, env: &str, run_id: &str) -> Result<Vec<(String, u64)>, StateError> {
        self.records_after(env, run_id, 0).await
    }

    /// The run's record objects after record `after_seq` (key, size), in sequence order. Keys
    /// sort as sequence numbers, so S3 lists only the newer ones (`StartAfter`).
    async fn records_after(
        &self,
        env: &str,
        run_id: &str,
        after_seq: u64,
    ) -> Result<Vec<(String, u64)>, StateError> {
        let prefix = self.run_prefix(env, run_id)?;
        let mut list = self.client.list_objects_v2().bucket(&self.bucket).prefix(&prefix);
        if after_seq > 0 {
            list = list.start_after(format!("{prefix}{after_seq:0SEQ_WIDTH$}.json"));
        }
        let mut pages = list.into_paginator().send();
        let mut records = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.io(&prefix, "list", &e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                if is_record_name(&key[prefix.len()..]) {
                    records.push((key.to_string(), object.size().unwrap_or(0).max(0) as u64));
                } else {
                    tracing::debug!(key, "ignoring an object that is not a journal record");
                }
            }
        }
        records.sort();
        Ok(records)
    }

    /// The bodies of `records`, concatenated in order, fetched a few at a time.
    async fn fetch(&self, records: &[(String, u64)]) -> Result<Vec<u8>, StateError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let limit = Arc::new(Semaphore::new(READ_CONCURRENCY));
        let mut tasks = JoinSet::new();
        for (i, (key, _)) in records.iter().enumerate() {
            let (this, key, limit) = (self.clone(), key.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                (i, this.get(&key).await.map(|got| (key, got)))
            });
        }
        let mut parts: Vec<Option<Vec<u8>>> = vec![None; records.len()];
        while let Some(done) = tasks.join_next().await {
            let (i, got) = done.map_err(|e| StateError::Io {
                path: self.url(&records[0].0),
                source: std::io::Error::other(format!("reading the journal failed: {e}")),
            })?;
            match got? {
                (_, Some((bytes, _))) => parts[i] = Some(bytes),
                // Listed but gone: only another writer deleting records can do that.
                (key, None) => {
                    return Err(StateError::Corrupt {
                        what: self.url(&key),
                        detail: "the record vanished while the journal was read; is another cutover process truncating it?"
                            .into(),
                    });
                }
            }
        }
        Ok(parts.into_iter().flatten().flatten().collect())
    }
}

/// `0000000001.json`: a journal record's object name.
fn is_record_name(name: &str) -> bool {
    name.strip_suffix(".json")
        .is_some_and(|seq| seq.len() == SEQ_WIDTH && seq.bytes().all(|b| b.is_ascii_digit()))
}

fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    err.raw_response().map(|r| r.status().as_u16())
}

/// The key does not exist. A missing bucket also answers 404 but is an error, not "absent".
fn is_missing<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    match err.code() {
        Some("NoSuchKey") => true,
        Some("NotFound") | None => status(err) == Some(404),
        Some(_) => false,
    }
}

/// A conditional write lost: 412, or 409 when S3 saw a concurrent conditional write to the key.
fn is_precondition_lost<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(
        err.code(),
        Some("PreconditionFailed" | "ConditionalRequestConflict")
    ) || matches!(status(err), Some(412 | 409))
}

#[async_trait]
impl StateBackend for S3State {
    fn journal_location(&self, env: &str, run_id: &str) -> String {
        format!("s3://{}/{}{env}/runs/{run_id}/", self.bucket, self.prefix)
    }

    async fn acquire_lock(&self, env: &str, lock: &LockInfo) -> Result<(), StateError> {
        let key = self.lock_key(env)?;
        let body = serde_json::to_vec_pretty(lock).expect("LockInfo serialises");
        if self.put_new(&key, &body).await? {
            return Ok(());
        }
        match self.read_lock_with_etag(env).await? {
            // Our own earlier attempt landed and only its answer was lost.
            Some((holder, _)) if &holder == lock => Ok(()),
            Some((holder, _)) => Err(StateError::LockHeld(holder)),
            None => Err(StateError::LockChanged(
                "the lock was released while we tried to take it; try again".into(),
            )),
        }
    }

    async fn read_lock(&self, env: &str) -> Result<Option<LockInfo>, StateError> {
        Ok(self.read_lock_with_etag(env).await?.map(|(lock, _)| lock))
    }

    async fn release_lock(&self, env: &str, run_id: &str) -> Result<(), StateError> {
        match self.read_lock_with_etag(env).await? {
            None => Ok(()),
            Some((holder, etag)) if holder.run_id == run_id => {
                self.delete_lock_if(env, &etag, || {
                    format!(
                        "run {run_id} no longer holds the lock; it changed while being released"
                    )
                })
                .await
            }
            Some((holder, _)) => Err(StateError::LockChanged(format!(
                "run {run_id} does not hold the lock; {holder} does"
            ))),
        }
    }

    async fn break_lock(&self, env: &str, holder: &LockInfo) -> Result<(), StateError> {
        match self.read_lock_with_etag(env).await? {
            None => Ok(()),
            Some((current, etag)) if &current == holder => {
                self.delete_lock_if(env, &etag, || {
                    "the lock changed hands while it was being broken; look at it again".into()
                })
                .await
            }
            Some((current, _)) => Err(StateError::LockChanged(format!(
                "the lock is now held by {current}, not the holder you confirmed"
            ))),
        }
    }

    async fn append(
        &self,
        env: &str,
        run_id: &str,
        seq: u64,
        line: &[u8],
    ) -> Result<(), StateError> {
        debug_assert!(line.ends_with(b"\n") && !line[..line.len() - 1].contains(&b'\n'));
        let key = format!(
            "{}{seq:0width$}.json",
            self.run_prefix(env, run_id)?,
            width = SEQ_WIDTH
        );
        if self.put_new(&key, line).await? {
            return Ok(());
        }
        match self.get(&key).await? {
            Some((existing, _)) if existing == line => Ok(()),
            _ => Err(StateError::Conflict(format!(
                "record {seq} of run {run_id} already exists in {}: another cutover process is writing this run's \
                 journal; stop it (it should hold the environment's lock) before resuming",
                self.url(&key)
            ))),
        }
    }

    async fn read_journal(&self, env: &str, run_id: &str) -> Result<Vec<u8>, StateError> {
        let records = self.records(env, run_id).await?;
        if records.is_empty() {
            return Err(StateError::NotFound {
                what: format!("journal of run {run_id}"),
            });
        }
        self.fetch(&records).await
    }

    async fn read_journal_after(&self, env: &str, run_id: &str, after_seq: u64) -> Result<Vec<u8>, StateError> {
        let records = self.records_after(env, run_id, after_seq).await?;
        self.fetch(&records).await
    }

    async fn truncate_journal(&self, env: &str, run_id: &str, len: u64) -> Result<(), StateError> {
        let mut offset = 0u64;
        for (key, size) in self.records(env, run_id).await? {
            let keep = len.saturating_sub(offset).min(size);
            offset += size;
            if keep == size {
                continue;
            }
            if keep > 0 {
                // Only a record torn by hand can straddle the cut: keep its head.
                let (bytes, etag) = self.get(&key).await?.unwrap_or_default();
                let head = bytes[..(keep as usize).min(bytes.len())].to_vec();
                let sent = self
                    .client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .if_match(etag)
                    .body(ByteStream::from(head))
                    .send()
                    .await;
                sent.map_err(|e| self.io(&key, "rewrite", &e))?;
            } else {
                let sent = self
                    .client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send()
                    .await;
                match sent {
                    Ok(_) => {}
                    Err(e) if is_missing(&e) => {}
                    Err(e) => return Err(self.io(&key, "delete", &e)),
                }
            }
        }
        Ok(())
    }

    async fn list_runs(&self, env: &str) -> Result<Vec<String>, StateError> {
        let prefix = self.env_key(env, "runs/")?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut runs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.io(&prefix, "list", &e))?;
            for p in page.common_prefixes() {
                let run = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(prefix.as_str()))
                    .and_then(|r| r.strip_suffix('/'));
                if let Some(run) = run.filter(|r| state_key(r).is_ok()) {
                    runs.push(run.to_string());
                }
            }
        }
        // Run ids start with their UTC start time, so name order is start order.
        runs.sort();
        Ok(runs)
    }

    async fn list_envs(&self) -> Result<Vec<String>, StateError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&self.prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut envs = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.io(&self.prefix, "list", &e))?;
            for p in page.common_prefixes() {
                let env = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(self.prefix.as_str()))
                    .and_then(|e| e.strip_suffix('/'));
                if let Some(env) = env.filter(|e| state_key(e).is_ok()) {
                    envs.push(env.to_string());
                }
            }
        }
        envs.sort();
        Ok(envs)
    }

    async fn current_run(&self, env: &str) -> Result<Option<String>, StateError> {
        let key = self.env_key(env, "current")?;
        Ok(self.get(&key).await?.and_then(|(bytes, _)| {
            let run = String::from_utf8_lossy(&bytes).trim().to_string();
            (!run.is_empty()).then_some(run)
        }))
    }

    async fn set_current_run(&self, env: &str, run_id: &str) -> Result<(), StateError> {
        state_key(run_id)?;
        let key = self.env_key(env, "current")?;
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(ByteStream::from(format!("{run_id}\n").into_bytes()))
            .send()
            .await;
        sent.map(|_| ()).map_err(|e| self.io(&key, "write", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_zero_padded_sequence_objects_are_records() {
        assert!(is_record_name("0000000001.json"));
        assert!(is_record_name("0000012345.json"));
        for foreign in [
            "1.json",
            "0000000001.json.bak",
            "notes.txt",
            "000000000a.json",
            ".0000000001.json",
        ] {
            assert!(!is_record_name(foreign), "{foreign}");
        }
    }
}
