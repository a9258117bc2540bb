//! Loopback networking for tests: free ports, waiting for a listener, and a minimal HTTP/1.0
//! client for the stand-ins' control endpoints (so testkit needs no HTTP library).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// A TCP port on 127.0.0.1 that was free a moment ago. Another process can still take it before
/// the caller binds it, so starters retry when their server fails to bind.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .unwrap_or_else(|e| panic!("cannot bind an ephemeral port on 127.0.0.1: {e}"))
}

/// Waits until `addr` accepts a TCP connection, or fails with `TimedOut` after `timeout`.
pub fn wait_for_port(addr: SocketAddr, timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(
            &addr,
            remaining.clamp(Duration::from_millis(1), Duration::from_millis(200)),
        ) {
            Ok(_) => return Ok(()),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(25)),
            Err(e) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("nothing listened on {addr} within {timeout:?} (last error: {e})"),
                ));
            }
        }
    }
}

/// A response from [`http`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// In the order received, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.0 request to a plain `http://host:port/path` URL and reads the whole response.
/// HTTP/1.0 keeps servers from chunking the body, which keeps this reader trivial.
pub fn http(method: &str, url: &str, body: &[u8]) -> io::Result<HttpResponse> {
    http_with_headers(method, url, &[], body)
}

/// [`http`] with extra request headers (e.g. `Content-Type`).
pub fn http_with_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<HttpResponse> {
    const TIMEOUT: Duration = Duration::from_secs(30);
    let invalid =
        |what: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{what}: {url}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = authority
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid("the host does not resolve"))?;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;

    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{what} from {url}"));
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers in the response"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| bad("no status code in the response"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(HttpResponse {
        status,
        headers,
        body: response[split + 4..].to_vec(),
    })
}

/// Sends a request (with a JSON body if given) and parses the JSON answer (`Null` when the body is
/// empty). A status outside 2xx,
/// or a body that is not JSON, is an `Err` carrying the status and the body, for the caller's
/// panic message (which adds the server's log).
pub fn http_json(
    method: &str,
    url: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, String> {
    let (headers, bytes): (&[(&str, &str)], Vec<u8>) = match body {
        Some(value) => (
            &[("Content-Type", "application/json")],
            value.to_string().into_bytes(),
        ),
        None => (&[], Vec::new()),
    };
    let response = http_with_headers(method, url, headers, &bytes)
        .map_err(|e| format!("{method} {url} failed: {e}"))?;
    if !(200..300).contains(&response.status) {
        return Err(format!(
            "{method} {url} answered {}: {}",
            response.status,
            response.text()
        ));
    }
    // Some APIs answer a write with an empty body (Alertmanager's POST /api/v2/alerts).
    if response.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&response.body).map_err(|e| {
        format!(
            "{method} {url} answered {} with a body that is not JSON ({e}): {}",
            response.status,
            response.text()
        )
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for query strings and form
/// bodies (a PromQL expression, a policy document).
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first header called `name` (case-insensitive) in a list of `(name, value)`.
pub(crate) fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}
