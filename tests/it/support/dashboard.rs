//! Dashboard test support: journals written straight into a local state directory (a run the
//! test shapes record by record, including an XSS probe), the dashboard started in process over
//! it, and a raw HTTP/1.1 client that can send any Host header and read a stream as it arrives.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover::dashboard::{self, Access, Config, Running, StateArg};
use cutover::engine::{JournalEvent, JournalRecord};
use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The markup every probe carries; it must come back as text, never as a script.
pub const PROBE: &str = "<script>window.__pwned = 1; alert('pwned')</script><img src=x onerror=\"window.__pwned=2\">";

/// Writes one run's journal under `state/env/runs/RUN.jsonl` (one record per second from
/// 09:00:00) and makes it the environment's latest run.
pub struct JournalWriter {
    path: PathBuf,
    run: String,
    seq: u64,
}

impl JournalWriter {
    pub fn new(state: &Path, env: &str, run: &str) -> JournalWriter {
        let dir = state.join(env).join("runs");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(state.join(env).join("current"), format!("{run}\n")).unwrap();
        JournalWriter { path: dir.join(format!("{run}.jsonl")), run: run.to_string(), seq: 0 }
    }

    /// Appends one record, as the engine does (a whole line, flushed).
    pub fn append(&mut self, event: JournalEvent) -> &mut Self {
        use std::io::Write as _;
        self.seq += 1;
        let ts: Timestamp = "2026-03-01T09:00:00Z".parse::<Timestamp>().unwrap() + jiff::SignedDuration::from_secs(self.seq as i64);
        let record = JournalRecord { seq: self.seq, ts, run: self.run.clone(), event };
        let mut line = serde_json::to_vec(&record).unwrap();
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.path).unwrap();
        f.write_all(&line).unwrap();
        self
    }

    pub fn started(&mut self, plan: &str, who: &str) -> &mut Self {
        self.append(JournalEvent::RunStarted {
            plan: plan.into(),
            digest: "sha256:test".into(),
            kind: "Upgrade".into(),
            who: who.into(),
            host: "test-host".into(),
            pid: 1,
            version: "0.1.0".into(),
            trace: None,
        })
    }

    pub fn step(&mut self, step: &str, output: serde_json::Value) -> &mut Self {
        self.append(JournalEvent::StepStarted { step: step.into(), irreversible: false });
        self.append(JournalEvent::StepDone { step: step.into(), output })
    }
}

/// A run whose every free-text field carries [`PROBE`]: who started it, a step's output, the
/// error of a failed step and the cause it paused with.
pub fn xss_run(state: &Path, env: &str) {
    let mut j = JournalWriter::new(state, env, "20260301T090000Z-0bad");
    j.started(PROBE, PROBE)
        .step("preflight.charts", serde_json::json!({ "note": PROBE }))
        .append(JournalEvent::StepStarted { step: "releases.install.api".into(), irreversible: false })
        .append(JournalEvent::StepFailed { step: "releases.install.api".into(), error: PROBE.into(), retryable: false, code: None })
        .append(JournalEvent::RunPaused { step: "releases.install.api".into(), cause: PROBE.into() });
}

/// The dashboard over `state`, on a free loopback port, with a 100 ms journal poll.
pub async fn serve(state: &Path, access: Option<Access>) -> Running {
    let cx = std::sync::Arc::new(cutover::compose::Context::from_env().unwrap());
    let arg: StateArg = format!("local:{}", state.display()).parse().unwrap();
    let catalog = dashboard::catalog(cx, &[arg], None, "us-east-1").await.unwrap();
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = Config::new(listen, access.unwrap_or(Access::LoopbackOnly));
    config.poll = Duration::from_millis(100);
    config.overview_poll = Duration::from_millis(200);
    dashboard::start(catalog, config).await.unwrap()
}

/// A response as read: status, head (lower-cased header lines) and body.
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// One GET over HTTP/1.1 with `Connection: close`, any `Host`, extra header lines.
pub async fn get(addr: SocketAddr, path: &str, host: &str, extra: &[(&str, &str)]) -> Reply {
    request(addr, "GET", path, host, extra).await
}

pub async fn request(addr: SocketAddr, method: &str, path: &str, host: &str, extra: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut bytes)).await.expect("a bounded response").unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Reply { status, head: head.to_lowercase(), body: body.to_string() }
}

/// An open event stream: what has arrived so far.
pub struct EventStream {
    stream: TcpStream,
    pub received: String,
}

impl EventStream {
    pub async fn open(addr: SocketAddr, path: &str) -> EventStream {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        EventStream { stream, received: String::new() }
    }

    /// Reads until `needle` has arrived; `None` if it has not within `within`.
    pub async fn wait_for(&mut self, needle: &str, within: Duration) -> Option<Duration> {
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 16 * 1024];
        while !self.received.contains(needle) {
            let left = within.checked_sub(start.elapsed())?;
            match tokio::time::timeout(left, self.stream.read(&mut buf)).await {
                Ok(Ok(0)) | Err(_) => return None,
                Ok(Ok(n)) => self.received.push_str(&String::from_utf8_lossy(&buf[..n])),
                Ok(Err(e)) => panic!("reading the event stream: {e}"),
            }
        }
        Some(start.elapsed())
    }
}

/// `cutover dashboard …` started from `cmd` (stdout piped, stderr piped when `keep_stderr`),
/// killed when dropped; with the port it printed, reached on 127.0.0.1.
pub async fn spawn_binary(cmd: std::process::Command, keep_stderr: bool) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::AsyncBufReadExt as _;
    let mut cmd = tokio::process::Command::from(cmd);
    cmd.stdout(std::process::Stdio::piped()).kill_on_drop(true);
    if keep_stderr {
        cmd.stderr(std::process::Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), stdout.next_line()).await.expect("the dashboard's URL in time").unwrap();
    let url = url.unwrap_or_else(|| panic!("the dashboard printed no URL"));
    let port: u16 = url.trim_end_matches('/').rsplit(':').next().unwrap().parse().unwrap();
    (child, ([127, 0, 0, 1], port).into())
}
