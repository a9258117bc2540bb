//! [`Receiver`]: a recording HTTP server for notification and webhook tests. It keeps every
//! request (method, path, headers, body, arrival time) and answers from a [`Script`]: always
//! the same, failing a few times first, rate-limited with `Retry-After`, or never at all, so a
//! test can prove what a sender does with each.
//!
//! Plain std threads: HTTP/1.1 with keep-alive, `Content-Length` or chunked request bodies;
//! enough for hyper/reqwest, Go's client (Alertmanager's webhooks) and `net::http`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::net::find_header as header;

mod script;
mod wire;

use script::Answer;
pub use script::Script;
use wire::{parse, reason};

/// How often an idle or holding connection looks at whether the receiver was dropped.
const POLL: Duration = Duration::from_millis(100);

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path with its query string, as sent.
    pub path: String,
    /// In the order sent, names as sent.
    pub headers: Vec<(String, String)>,
    /// De-chunked when sent chunked.
    pub body: Vec<u8>,
    /// When the whole request had arrived, for gaps between retries.
    pub at: Instant,
    /// The same moment on the wall clock.
    pub received: SystemTime,
}

impl Request {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics showing the body if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the body of {} {} is not JSON ({e}): {}",
                self.method,
                self.path,
                self.text()
            )
        })
    }
}

/// State shared with the connection threads.
struct Shared {
    requests: Mutex<Vec<Request>>,
    arrived: Condvar,
    default: Mutex<Script>,
    routes: Mutex<HashMap<String, Script>>,
    stop: AtomicBool,
}

/// A running receiver. Dropping it stops accepting and closes every connection, held ones too.
pub struct Receiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Listens on a free loopback port and answers every path from `script`.
    pub fn start(script: Script) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .unwrap_or_else(|e| panic!("cannot bind a loopback port for the receiver: {e}"));
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            arrived: Condvar::new(),
            default: Mutex::new(script),
            routes: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || serve(stream, &shared));
                }
            })
        };
        Receiver {
            shared,
            addr,
            acceptor: Some(acceptor),
        }
    }

    /// Answers requests for `path` (exact, query string ignored) from `script` instead, with its
    /// own count. Takes effect for the next request.
    pub fn route(&self, path: &str, script: Script) {
        lock(&self.shared.routes).insert(path.to_owned(), script);
    }

    /// Replaces the script for every path without a route, e.g. to make a healthy receiver fail
    /// halfway through a test.
    pub fn set_script(&self, script: Script) {
        *lock(&self.shared.default) = script;
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.shared.requests).clone()
    }

    /// Waits until at least `n` requests have arrived and returns them all; panics after
    /// `timeout` listing those that did.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let mut requests = lock(&self.shared.requests);
        while requests.len() < n {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let seen: Vec<String> = requests
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.path))
                    .collect();
                let got = requests.len();
                // Released first: a poisoned lock would fail the connection threads too.
                drop(requests);
                panic!("the receiver got {got} of {n} requests within {timeout:?}: {seen:?}");
            }
            requests = self
                .shared
                .arrived
                .wait_timeout(requests, remaining)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        requests.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the acceptor, blocked in accept(), so it sees the flag and ends.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Reads requests off one connection and answers each, until the client closes, asks to close,
/// or the receiver is dropped.
fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(POLL));
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match parse(&buffer) {
            Ok(Some((request, used, keep_alive))) => {
                buffer.drain(..used);
                let answer = script_for(shared, &request.path);
                {
                    let mut requests = lock(&shared.requests);
                    requests.push(request);
                    shared.arrived.notify_all();
                }
                match answer {
                    Answer::Hold => {
                        while !shared.stop.load(Ordering::SeqCst) {
                            std::thread::sleep(POLL);
                        }
                        return;
                    }
                    Answer::Reply {
                        status,
                        headers,
                        mut body,
                    } => {
                        // These statuses have no body by definition; a client would misread one.
                        if matches!(status, 204 | 304) {
                            body.clear();
                        }
                        let mut head = format!(
                            "HTTP/1.1 {status} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
                            reason(status),
                            body.len()
                        );
                        for (name, value) in &headers {
                            head.push_str(&format!("{name}: {value}\r\n"));
                        }
                        if !keep_alive {
                            head.push_str("Connection: close\r\n");
                        }
                        head.push_str("\r\n");
                        if stream
                            .write_all(head.as_bytes())
                            .and_then(|()| stream.write_all(body.as_bytes()))
                            .is_err()
                            || !keep_alive
                        {
                            return;
                        }
                    }
                }
                continue;
            }
            Ok(None) => {}
            Err(()) => {
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Locks `mutex` even if a panicking test poisoned it: the recorded data stays valid.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn script_for(shared: &Shared, path: &str) -> Answer {
    let bare = path.split('?').next().unwrap_or(path);
    if let Some(script) = lock(&shared.routes).get_mut(bare) {
        return script.next_answer();
    }
    lock(&shared.default).next_answer()
}
