//! [`Process`]: a child process owned by a test — killed and reaped when dropped, with its output
//! in a log file that is kept (and its tail printed) when the test fails.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::{TempDir, TempPath};

/// How much of the log a failure report shows.
const TAIL_BYTES: u64 = 4096;

/// A running child process. Dropping it sends SIGKILL and waits, so no test leaves a server
/// behind; if the drop happens while the test is panicking, the log is kept and its path printed.
pub struct Process {
    name: String,
    child: Child,
    log_path: PathBuf,
    /// Deletes the log on drop; taken (and the file kept) when a test fails.
    log_guard: Option<TempPath>,
    reaped: bool,
}

impl Process {
    /// Starts `command` with stdin closed and stdout and stderr captured to a temporary log file.
    /// `name` labels diagnostics ("moto", "chart-repo", ...).
    pub fn spawn(name: &str, mut command: Command) -> Process {
        let log = tempfile::Builder::new()
            .prefix(&format!("testkit-{name}-"))
            .suffix(".log")
            .tempfile()
            .unwrap_or_else(|e| panic!("cannot create a log file for {name}: {e}"));
        let (file, log_guard) = log.into_parts();
        let stdout = file
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share the log file of {name}: {e}"));
        command.stdin(Stdio::null()).stdout(stdout).stderr(file);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {name} ({:?}): {e}; if a tool is missing, run scripts/install-tools.sh",
                command.get_program()
            )
        });
        Process {
            name: name.to_owned(),
            child,
            log_path: log_guard.to_path_buf(),
            log_guard: Some(log_guard),
            reaped: false,
        }
    }

    /// Starts a server on a free 127.0.0.1 port and waits until it listens. `command_for(port)`
    /// builds the command; if the process exits before listening (typically because another
    /// process took the port first), it is retried on a new port, up to three attempts in all.
    pub fn spawn_listening(
        name: &str,
        timeout: Duration,
        mut command_for: impl FnMut(u16) -> Command,
    ) -> (Process, u16) {
        let mut failures = Vec::new();
        for _ in 0..3 {
            let port = crate::net::free_port();
            let mut process = Process::spawn(name, command_for(port));
            match process.try_wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), timeout) {
                Ok(()) => return (process, port),
                // Still running but not listening: retrying would only wait again.
                Err(failure) if process.is_running() => panic!("{failure}"),
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "{name} failed to start three times:\n{}",
            failures.join("\n")
        )
    }

    /// The label given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The operating system's id of the child.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process printed so far (lossy UTF-8).
    pub fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The exit status if the process has ended, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("cannot query {} (pid {}): {e}", self.name, self.pid()))
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Waits until `addr` accepts connections. Panics, showing the log, if the process exits first
    /// or `timeout` passes.
    pub fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) {
        if let Err(failure) = self.try_wait_for_port(addr, timeout) {
            panic!("{failure}");
        }
    }

    /// Like [`Process::wait_for_port`] but returns the failure report instead of panicking, so a
    /// caller can retry on another port when the process exited (e.g. the port was taken).
    pub fn try_wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(format!(
                    "{} exited ({status}) before listening on {addr}\n{}",
                    self.name,
                    self.log_report()
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not listen on {addr} within {timeout:?}\n{}",
                    self.name,
                    self.log_report()
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until `GET url` answers 200 (e.g. a server's `/-/ready`, which Prometheus and
    /// Alertmanager answer 503 to while starting). Panics, showing the log, if the process exits
    /// first or `timeout` passes.
    pub fn wait_for_http_ok(&mut self, url: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exit_status() {
                panic!(
                    "{} exited ({status}) before {url} answered 200\n{}",
                    self.name,
                    self.log_report()
                );
            }
            let last = match crate::net::http("GET", url, b"") {
                Ok(response) if response.status == 200 => return,
                Ok(response) => format!("{} {}", response.status, response.text()),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "{}: {url} did not answer 200 within {timeout:?} (last: {last})\n{}",
                    self.name,
                    self.log_report()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGKILL to the child and every process it started, and reaps the child. Safe to
    /// call more than once.
    ///
    /// Descendants matter for servers that launch others: chromedriver starts Chromium, which
    /// starts a dozen helpers, and none of them would notice their parent's death.
    pub fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // Listed before the child dies: once it is gone its children are re-parented and can
        // no longer be told from anyone else's.
        let mut targets = descendants(self.pid());
        // An error here means it already exited; wait() below reaps it either way.
        let _ = self.child.kill();
        // SIGKILL takes effect asynchronously, and a helper forked between the listing and the
        // kill is not in the list: kill again, add what the targets started meanwhile, and wait
        // (bounded) until none is left running.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            for &pid in &targets {
                if let Some(pid) = rustix::process::Pid::from_raw(pid) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
            let newer: Vec<i32> = targets
                .iter()
                .flat_map(|&p| descendants(p as u32))
                .filter(|p| !targets.contains(p))
                .collect();
            let running = targets.iter().any(|&p| running(p));
            targets.extend(newer.iter().copied());
            if (!running && newer.is_empty()) || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
        self.reaped = true;
    }

    /// The log's path and its last few kilobytes, for failure messages.
    pub fn log_report(&self) -> String {
        format!(
            "--- {} log ({}), last lines:\n{}",
            self.name,
            self.log_path.display(),
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let Ok(mut file) = File::open(&self.log_path) else {
            return String::from("(log unreadable)");
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Every process below `root` in the process tree, parents before children, from `/proc`.
/// Whether `pid` exists and is not a zombie (a killed process not yet reaped by its new parent).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| stat.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

fn descendants(root: u32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after
            // the last ')'.
            let ppid = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![root as i32];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}

/// A fresh temporary directory `testkit-NAME-*` for a stand-in's configuration and storage,
/// deleted when the returned guard drops.
pub(crate) fn scratch_dir(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("testkit-{name}-"))
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temporary directory for {name}: {e}"))
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            // The test failed: keep the log for whoever investigates.
            if let Some(guard) = self.log_guard.take() {
                match guard.keep() {
                    Ok(path) => eprintln!(
                        "testkit: {} (pid {}) log kept at {}",
                        self.name,
                        self.pid(),
                        path.display()
                    ),
                    Err(e) => eprintln!("testkit: could not keep the log of {}: {e}", self.name),
                }
            }
            eprintln!("{}", self.log_report());
        }
    }
}
