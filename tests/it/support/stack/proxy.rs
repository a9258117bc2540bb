//! [`Recorder`]: a loopback TCP proxy in front of moto's Route53 that keeps every HTTP request
//! cutover sends through it, so a test can count change batches and read what each one changed
//! (moto answers `GetChange` with a constant id and keeps no history of batches).
//!
//! Bytes are forwarded untouched in both directions; only the client-to-server stream is parsed
//! (HTTP/1.1 requests framed by `Content-Length`, which is how the AWS SDK sends Route53 bodies).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// One request as sent.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// One change of a `ChangeResourceRecordSets` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub action: String,
    pub set_id: String,
    pub weight: Option<u8>,
}

impl Change {
    pub fn upsert(set_id: &str, weight: u8) -> Change {
        Change {
            action: "UPSERT".into(),
            set_id: set_id.into(),
            weight: Some(weight),
        }
    }

    pub fn delete(set_id: &str, weight: u8) -> Change {
        Change {
            action: "DELETE".into(),
            set_id: set_id.into(),
            weight: Some(weight),
        }
    }
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.weight {
            Some(w) => write!(f, "{} {}={w}", self.action, self.set_id),
            None => write!(f, "{} {}", self.action, self.set_id),
        }
    }
}

pub struct Recorder {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Recorder {
    /// Listens on a free loopback port and forwards every connection to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the recording proxy");
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let log = requests.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    forward(client, server, log).await;
                });
            }
        });
        Recorder {
            addr,
            requests,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_ROUTE_53`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Every `ChangeResourceRecordSets` batch sent so far, oldest first.
    pub fn change_batches(&self) -> Vec<Vec<Change>> {
        self.requests()
            .iter()
            .filter(|r| {
                r.method == "POST"
                    && r.path.contains("/hostedzone/")
                    && r.path.trim_end_matches('/').ends_with("/rrset")
            })
            .map(|r| parse_changes(&r.body))
            .collect()
    }
}

async fn forward(client: TcpStream, server: TcpStream, log: Arc<Mutex<Vec<Request>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&buf[..n]);
            while let Some((request, used)) = parse_request(&pending) {
                log.lock().unwrap().push(request);
                pending.drain(..used);
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}

/// A complete request at the start of `bytes`, and how many bytes it took; `None` until whole.
fn parse_request(bytes: &[u8]) -> Option<(Request, usize)> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let total = end + 4 + length;
    if bytes.len() < total {
        return None;
    }
    let body = String::from_utf8_lossy(&bytes[end + 4..total]).into_owned();
    Some((Request { method, path, body }, total))
}

/// The changes of a `ChangeBatch` XML body, in order.
fn parse_changes(xml: &str) -> Vec<Change> {
    let tag = |block: &str, name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = block.find(&open)? + open.len();
        let len = block[start..].find(&format!("</{name}>"))?;
        Some(block[start..start + len].to_string())
    };
    xml.split("<Change>")
        .skip(1)
        .map(|block| Change {
            action: tag(block, "Action").unwrap_or_default(),
            set_id: tag(block, "SetIdentifier").unwrap_or_default(),
            weight: tag(block, "Weight").and_then(|w| w.parse().ok()),
        })
        .collect()
}
