//! HTTP probes: one request, judged on status, an optional body match and a latency budget.
//!
//! A probe can be pinned to addresses (green's load balancer before DNS points there): the URL's
//! host still goes in the Host header and the TLS SNI, and only the connection is steered, the
//! way `curl --resolve` does it. Consecutive successes are counted by the engine, not here.
//!
//! TLS is rustls with ring, installed as the process default provider (the workspace's one crypto
//! provider), verifying with the platform's roots.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::plan::HttpCheck;
use crate::providers::{CheckOutcome, ErrorKind, ProviderError};

/// How long a probe without a latency budget waits for its answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Only this much of a body is searched for `bodyContains`.
const BODY_LIMIT: usize = 256 * 1024;

/// Makes ring the process-wide rustls provider (a no-op when one is already installed).
pub fn ensure_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Where a pinned probe connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Addresses the probe connects to instead of resolving the URL's host.
    pub addrs: Vec<IpAddr>,
    /// Said in outcomes, e.g. `green load balancer k8s-…elb.amazonaws.com`.
    pub via: String,
}

/// One attempt of `check`: `route` pins the connection, `None` resolves the URL's host by DNS.
pub async fn probe(
    check: &HttpCheck,
    route: Option<&Route>,
) -> Result<CheckOutcome, ProviderError> {
    ensure_crypto_provider();
    let url = reqwest::Url::parse(&check.url).map_err(|e| {
        ProviderError::new(
            ErrorKind::Invalid,
            format!("{:?} is not a URL: {e}", check.url),
        )
    })?;
    let host = url.host_str().unwrap_or_default().to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let limit = check.latency_budget.unwrap_or(DEFAULT_TIMEOUT);
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(limit)
        .connect_timeout(limit);
    let via = match route {
        Some(r) => {
            let addrs: Vec<SocketAddr> = r
                .addrs
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect();
            // A proxy would ignore the pinned addresses.
            builder = builder.no_proxy().resolve_to_addrs(&host, &addrs);
            r.via.clone()
        }
        None => format!("{host} by DNS"),
    };
    let client = builder.build().map_err(|e| {
        ProviderError::new(
            ErrorKind::Other,
            format!("cannot build the HTTP client: {}", chain(&e)),
        )
    })?;
    let started = Instant::now();
    let sent = client.get(url.clone()).send().await;
    let fail = |detail: String| {
        Ok(CheckOutcome {
            passed: false,
            detail,
        })
    };
    let mut response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return fail(format!(
                "GET {url} via {via}: no answer within {}",
                ms(limit)
            ));
        }
        Err(e) => return fail(format!("GET {url} via {via} failed: {}", chain(&e))),
    };
    let status = response.status().as_u16();
    let mut body = Vec::new();
    if check.body_contains.is_some() {
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    body.extend_from_slice(&chunk);
                    if body.len() >= BODY_LIMIT {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => {
                    return fail(format!(
                        "GET {url} via {via}: the body did not arrive within {}",
                        ms(limit)
                    ));
                }
                Err(e) => {
                    return fail(format!(
                        "GET {url} via {via}: reading the body failed: {}",
                        chain(&e)
                    ));
                }
            }
        }
    }
    let took = started.elapsed();
    if status != check.expect_status {
        return fail(format!(
            "GET {url} via {via}: {status} (expected {}) in {}",
            check.expect_status,
            ms(took)
        ));
    }
    if let Some(needle) = &check.body_contains
        && !String::from_utf8_lossy(&body).contains(needle.as_str())
    {
        return fail(format!(
            "GET {url} via {via}: {status}, but the body does not contain {needle:?}"
        ));
    }
    if let Some(budget) = check.latency_budget
        && took > budget
    {
        return fail(format!(
            "GET {url} via {via}: {status} in {}, over the {} budget",
            ms(took),
            ms(budget)
        ));
    }
    Ok(CheckOutcome {
        passed: true,
        detail: format!("GET {url} via {via}: {status} in {}", ms(took)),
    })
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

/// An error and its causes, outermost first ("error sending request: … : Connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}
