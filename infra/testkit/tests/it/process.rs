//! The Process guard: output captured, child killed on drop, log kept when a test fails.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::{Process, free_port, wait_for_port};

fn shell(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: u32) -> bool {
    // A reaped child has no /proc entry; a zombie would still have one, which is why Drop waits.
    PathBuf::from(format!("/proc/{pid}")).exists()
}

#[test]
fn output_goes_to_the_log_and_drop_kills_and_reaps_the_child() {
    let process = Process::spawn(
        "sleeper",
        shell("echo started; echo to-stderr >&2; exec sleep 300"),
    );
    let pid = process.pid();
    let log_path = process.log_path().to_path_buf();
    wait_until("both lines in the log", || {
        let log = process.log();
        log.contains("started") && log.contains("to-stderr")
    });
    assert!(pid_alive(pid));

    drop(process);

    assert!(
        !pid_alive(pid),
        "the child must be killed and reaped on drop"
    );
    assert!(!log_path.exists(), "a passing test's log is deleted");
}

#[test]
fn drop_also_kills_what_the_child_started() {
    // A server that launches helpers (chromedriver starts Chromium) must not leave them behind.
    let process = Process::spawn("parent", shell("sleep 300 & echo helper=$!; wait"));
    let mut helper = None;
    wait_until("the helper's pid in the log", || {
        helper = process
            .log()
            .trim()
            .strip_prefix("helper=")
            .and_then(|p| p.parse().ok());
        helper.is_some()
    });
    let helper: u32 = helper.unwrap();
    assert!(pid_alive(helper));

    drop(process);

    // Re-parented to init, which reaps it a moment after the kill.
    wait_until("the helper to be gone", || !pid_alive(helper));
}

#[test]
fn a_failing_test_keeps_the_log() {
    let log_path = std::sync::Mutex::new(None);
    let result = std::panic::catch_unwind(|| {
        let process = Process::spawn("doomed", shell("echo evidence; exec sleep 300"));
        *log_path.lock().unwrap() = Some(process.log_path().to_path_buf());
        wait_until("the evidence line", || process.log().contains("evidence"));
        panic!("the test fails while the process runs");
    });
    assert!(result.is_err());
    let log_path = log_path
        .into_inner()
        .unwrap()
        .expect("the process was started");
    let kept = std::fs::read_to_string(&log_path).expect("the log survives a failed test");
    assert!(kept.contains("evidence"));
    std::fs::remove_file(log_path).unwrap();
}

#[test]
fn wait_for_port_reports_a_process_that_exits_instead_of_listening() {
    let mut process = Process::spawn("quitter", shell("echo cannot bind; exit 3"));
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let failure = process
        .try_wait_for_port(addr, Duration::from_secs(10))
        .unwrap_err();
    assert!(failure.contains("quitter exited"), "{failure}");
    assert!(
        failure.contains("cannot bind"),
        "the report carries the log: {failure}"
    );
}

#[test]
fn wait_for_port_times_out_when_nothing_listens() {
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let started = Instant::now();
    let error = wait_for_port(addr, Duration::from_millis(300)).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(5));

    let listener = TcpListener::bind(addr).unwrap();
    wait_for_port(addr, Duration::from_secs(5)).expect("a bound listener accepts connections");
    drop(listener);
}

#[test]
fn spawn_listening_retries_on_a_new_port_when_the_first_attempt_exits() {
    let mut attempts = Vec::new();
    let (mut process, port) = Process::spawn_listening("flaky", Duration::from_secs(10), |port| {
        attempts.push(port);
        if attempts.len() == 1 {
            shell("echo address in use; exit 1")
        } else {
            let mut command = Command::new(testkit::tools::python());
            command.args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ]);
            command
        }
    });
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[1], port);
    assert!(process.is_running());
}
