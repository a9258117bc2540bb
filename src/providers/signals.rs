//! One attempt of the checks that read signals teams already trust:
//! - a confirm webhook (as Flagger's): POST the run's context, 2xx passes;
//! - a Prometheus instant query (`/api/v1/query`): exactly one sample, within bounds (an empty
//!   result or several series is a failed attempt that says so, never a pass; NaN is out of bounds);
//! - Alertmanager's alerts (`/api/v2/alerts`): fails while one matching every matcher is active,
//!   not silenced and not inhibited.
//!
//! `{green}` and `{blue}` in queries and matchers expand to the clusters' names. URLs are shown
//! without their query string or credentials (they may carry tokens).

use std::time::Duration;

use serde_json::{Value, json};

use super::{CheckOutcome, CheckTarget, ErrorKind, ProviderError};
use crate::plan::PrometheusCheck;

/// How long a Prometheus or Alertmanager request may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);

fn expand(text: &str, target: &CheckTarget) -> String {
    text.replace("{green}", &target.green_cluster).replace("{blue}", target.blue_cluster.as_deref().unwrap_or(""))
}

/// Percent-encodes a query-string value (RFC 3986 unreserved characters kept).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The URL as people may see it: scheme, host and path only.
fn shown(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or(url);
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let host_path = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
            format!("{scheme}://{host_path}")
        }
        None => no_query.to_string(),
    }
}

fn client(timeout: Duration) -> Result<reqwest::Client, ProviderError> {
    super::probe::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .map_err(|e| ProviderError::new(ErrorKind::Other, format!("cannot build the HTTP client: {}", e.without_url())))
}

fn attempt_failed(what: &str, e: reqwest::Error) -> CheckOutcome {
    let e = e.without_url();
    let why = if e.is_timeout() { "no answer in time".to_string() } else { e.to_string() };
    CheckOutcome { passed: false, detail: format!("{what}: {why}") }
}

/// POSTs `{plan, run, step, weight, green, blue}`; 2xx passes.
pub async fn webhook(url: &str, timeout: Duration, target: &CheckTarget) -> Result<CheckOutcome, ProviderError> {
    let body = json!({
        "plan": target.plan,
        "run": target.run_id,
        "step": target.step,
        "weight": target.weight,
        "green": target.green_cluster,
        "blue": target.blue_cluster,
    });
    let what = format!("webhook {}", shown(url));
    let sent = client(timeout)?.post(url).header("content-type", "application/json").body(body.to_string()).send().await;
    Ok(match sent {
        Ok(r) if r.status().is_success() => CheckOutcome { passed: true, detail: format!("{what} answered {}", r.status()) },
        Ok(r) => {
            let status = r.status();
            let text: String = r.text().await.unwrap_or_default().chars().take(200).collect();
            CheckOutcome { passed: false, detail: format!("{what} answered {status}: {text}") }
        }
        Err(e) => attempt_failed(&what, e),
    })
}

/// The one sample of a query answer, or why there is not exactly one.
fn one_sample(answer: &Value) -> Result<f64, String> {
    if answer["status"] != "success" {
        return Err(format!("Prometheus refused the query: {}", answer["error"].as_str().unwrap_or("no reason given")));
    }
    let data = &answer["data"];
    let value = match data["resultType"].as_str() {
        Some("scalar") => &data["result"][1],
        Some("vector") => {
            let series = data["result"].as_array().map(Vec::len).unwrap_or(0);
            match series {
                0 => return Err("the query returned no series, so there is nothing to judge: check the query and that Prometheus scrapes what it names".into()),
                1 => &data["result"][0]["value"][1],
                n => return Err(format!("the query returned {n} series; aggregate it to one (e.g. sum(...) or max(...))")),
            }
        }
        other => return Err(format!("the query returned a {} result; it must return one sample", other.unwrap_or("missing"))),
    };
    value.as_str().and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| format!("the sample {value} is not a number"))
}

/// One evaluation of a Prometheus check.
pub async fn prometheus(check: &PrometheusCheck, target: &CheckTarget) -> Result<CheckOutcome, ProviderError> {
    let query = expand(&check.query, target);
    let url = format!("{}/api/v1/query?query={}", check.url.trim_end_matches('/'), encode(&query));
    let what = format!("prometheus {}", shown(&check.url));
    let answer: Value = match client(QUERY_TIMEOUT)?.get(&url).send().await {
        Ok(r) => match r.text().await {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => return Ok(CheckOutcome { passed: false, detail: format!("{what} answered something that is not JSON: {e}") }),
            },
            Err(e) => return Ok(attempt_failed(&what, e)),
        },
        Err(e) => return Ok(attempt_failed(&what, e)),
    };
    let value = match one_sample(&answer) {
        Ok(v) => v,
        Err(why) => return Ok(CheckOutcome { passed: false, detail: format!("{query}: {why}") }),
    };
    let within = !value.is_nan() && check.min.is_none_or(|m| value >= m) && check.max.is_none_or(|m| value <= m);
    let bounds = match (check.min, check.max) {
        (Some(a), Some(b)) => format!("between {a} and {b}"),
        (Some(a), None) => format!("at least {a}"),
        (None, Some(b)) => format!("at most {b}"),
        (None, None) => "anything".into(),
    };
    Ok(CheckOutcome {
        passed: within,
        detail: format!("{query} = {value} ({} {bounds})", if within { "within" } else { "not" }),
    })
}

/// One evaluation of an Alertmanager check.
pub async fn alertmanager(url: &str, matchers: &[String], target: &CheckTarget) -> Result<CheckOutcome, ProviderError> {
    let expanded: Vec<String> = matchers.iter().map(|m| expand(m, target)).collect();
    let filters: String = expanded.iter().map(|m| format!("&filter={}", encode(m))).collect();
    let full = format!("{}/api/v2/alerts?active=true&silenced=false&inhibited=false{filters}", url.trim_end_matches('/'));
    let what = format!("alertmanager {}", shown(url));
    let alerts = match client(QUERY_TIMEOUT)?.get(&full).send().await {
        Ok(r) if r.status().is_success() => match r.text().await {
            Ok(text) => match serde_json::from_str::<Vec<Value>>(&text) {
                Ok(a) => a,
                Err(e) => return Ok(CheckOutcome { passed: false, detail: format!("{what} answered something that is not a list of alerts: {e}") }),
            },
            Err(e) => return Ok(attempt_failed(&what, e)),
        },
        Ok(r) => return Ok(CheckOutcome { passed: false, detail: format!("{what} answered {}", r.status()) }),
        Err(e) => return Ok(attempt_failed(&what, e)),
    };
    let matching = expanded.join(", ");
    Ok(match alerts.first() {
        None => CheckOutcome { passed: true, detail: format!("no active alert matches {matching}") },
        Some(first) => CheckOutcome {
            passed: false,
            detail: format!(
                "{} alert(s) firing that match {matching}, first {}",
                alerts.len(),
                first["labels"]["alertname"].as_str().unwrap_or("(no alertname)")
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_or_a_reason() {
        let vector = |n: usize| json!({"status": "success", "data": {"resultType": "vector", "result": vec![json!({"metric": {}, "value": [1, "0.5"]}); n]}});
        assert_eq!(one_sample(&vector(1)), Ok(0.5));
        assert!(one_sample(&vector(0)).unwrap_err().contains("no series"));
        assert!(one_sample(&vector(3)).unwrap_err().contains("3 series"));
        let scalar = json!({"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}});
        assert!(one_sample(&scalar).unwrap().is_nan());
        assert!(one_sample(&json!({"status": "error", "error": "parse error"})).unwrap_err().contains("parse error"));
    }

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(shown("https://user:tok@prom.example.com/x?token=1"), "https://prom.example.com/x");
        assert_eq!(encode("a b{c=\"d\"}"), "a%20b%7Bc%3D%22d%22%7D");
    }
}
