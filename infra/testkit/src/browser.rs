//! [`ChromeDriver`]: Debian's chromedriver on a loopback port, and the capabilities that make it
//! start Debian's Chromium headless the way this machine needs, for dashboard tests through a
//! WebDriver client (cutover's tests use `fantoccini` with no TLS feature: the driver is plain
//! HTTP on loopback).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tempfile::TempDir;

use crate::process::{Process, scratch_dir};
use crate::tools;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The window every session gets, so screenshots and layout-dependent assertions are stable.
pub const WINDOW_SIZE: (u32, u32) = (1280, 900);

/// Chromium's flags. As root it needs `--no-sandbox`; `--disable-gpu` because there is no GPU;
/// the rest stop it reaching for Google's services, which this machine's closed network refuses
/// many times a second and which would only slow every page down.
const CHROMIUM_ARGS: [&str; 8] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A running chromedriver. Dropping it kills the driver and every browser it started, and
/// deletes their profiles.
pub struct ChromeDriver {
    // Declared (so dropped) before `dir`: the browsers die before their profiles are deleted.
    process: Process,
    url: String,
    dir: TempDir,
    profiles: AtomicUsize,
}

impl ChromeDriver {
    /// Starts chromedriver on a free loopback port and waits until it listens.
    pub fn start() -> ChromeDriver {
        let binary = tools::chromedriver();
        // Checked here so a missing browser fails at start, not inside the first session.
        tools::chromium();
        let (process, port) = Process::spawn_listening("chromedriver", START_TIMEOUT, |port| {
            let mut command = std::process::Command::new(&binary);
            // chromedriver accepts only local clients unless told otherwise (--allowed-ips).
            command.arg(format!("--port={port}"));
            command
        });
        // Listening is ready: chromedriver binds only after it has set up. (Its /status would say
        // so too, but it refuses HTTP/1.0, which is all `net::http` speaks.)
        ChromeDriver {
            process,
            url: format!("http://127.0.0.1:{port}"),
            dir: scratch_dir("chromedriver"),
            profiles: AtomicUsize::new(0),
        }
    }

    /// The WebDriver endpoint, `http://127.0.0.1:PORT`, for the client's `connect`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The capabilities a new session must send: Debian's Chromium, headless with the flags
    /// above, a window of [`WINDOW_SIZE`], and a profile directory of its own (each call makes a
    /// fresh one, since two browsers cannot share a profile). The map is fantoccini's
    /// `Capabilities` type as it stands.
    pub fn capabilities(&self) -> Map<String, Value> {
        let n = self.profiles.fetch_add(1, Ordering::Relaxed);
        let profile = self.dir.path().join(format!("profile-{n}"));
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--window-size={},{}", WINDOW_SIZE.0, WINDOW_SIZE.1));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": tools::chromium(),
                "args": args,
            },
        });
        match capabilities {
            Value::Object(map) => map,
            _ => unreachable!("a JSON object literal"),
        }
    }

    /// The guarded driver process (log, pid, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Where tests put screenshots and other things to look at after a run:
/// `<target dir>/testkit-artifacts/`, created if need be. The target directory is the one the
/// running test binary was built into (`<target>/<profile>/deps/<binary>`).
pub fn artifacts_dir() -> PathBuf {
    let exe = std::env::current_exe()
        .unwrap_or_else(|e| panic!("cannot tell where the test binary is: {e}"));
    let target = exe
        .ancestors()
        .nth(3)
        .unwrap_or_else(|| panic!("{} is not inside a cargo target directory", exe.display()));
    let dir = target.join("testkit-artifacts");
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}
