//! [`Alertmanager`]: the real Alertmanager (Debian's `prometheus-alertmanager`) on a loopback
//! port, clustering off, for alert gates: a test posts or silences alerts through the v2 API the
//! way an operator or Prometheus would, and the code under test reads them back.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::net::http_json;
use crate::process::{Process, scratch_dir};
use crate::prometheus::start_server;
use crate::tools;

/// How long [`Alertmanager::silence`] silences for: longer than any test.
const SILENCE_FOR: Duration = Duration::from_secs(3600);

/// A running Alertmanager. Dropping it kills the server and deletes its storage.
pub struct Alertmanager {
    process: Process,
    addr: String,
    url: String,
    _dir: TempDir,
}

impl Alertmanager {
    /// Starts with one receiver that sends nothing, and waits until ready.
    pub fn start() -> Alertmanager {
        Alertmanager::start_with_config(json!({
            "route": {"receiver": "null"},
            "receivers": [{"name": "null"}],
        }))
    }

    /// Starts with every alert routed to a webhook at `url` (e.g. a
    /// [`crate::receiver::Receiver`]), sent at once and again on resolution, and waits until ready.
    pub fn start_with_webhook(url: &str) -> Alertmanager {
        Alertmanager::start_with_config(json!({
            "route": {
                "receiver": "webhook",
                "group_by": ["alertname"],
                // Short waits so a test sees a notification within a second or two.
                "group_wait": "100ms",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [{
                "name": "webhook",
                "webhook_configs": [{"url": url, "send_resolved": true}],
            }],
        }))
    }

    /// Starts with `config` (Alertmanager's configuration, as JSON: YAML's subset, so no value
    /// needs YAML quoting) and waits until ready.
    pub fn start_with_config(config: Value) -> Alertmanager {
        let dir = scratch_dir("alertmanager");
        let (process, port) = start_server(
            "alertmanager",
            &tools::alertmanager(),
            dir.path(),
            &config.to_string(),
            "--storage.path",
            // Empty: no gossip listener, so nothing binds a second, fixed port (9094).
            &["--cluster.listen-address="],
        );
        let addr = format!("127.0.0.1:{port}");
        Alertmanager {
            process,
            url: format!("http://{addr}"),
            addr,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:PORT`, as Prometheus's alerting configuration names it.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Posts one alert (`POST /api/v2/alerts`). `None` times take the server's defaults: starts
    /// now, ends after its resolve timeout; an `ends_at` in the past posts a resolved alert.
    pub fn post_alert(
        &self,
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        starts_at: Option<SystemTime>,
        ends_at: Option<SystemTime>,
    ) {
        let mut alert = json!({"labels": object(labels), "annotations": object(annotations)});
        if let Some(time) = starts_at {
            alert["startsAt"] = json!(rfc3339(time));
        }
        if let Some(time) = ends_at {
            alert["endsAt"] = json!(rfc3339(time));
        }
        self.api("POST", "/api/v2/alerts", Some(&json!([alert])));
    }

    /// Silences alerts whose labels equal every `(name, value)` for an hour
    /// (`POST /api/v2/silences`); returns the silence id.
    pub fn silence(&self, matchers: &[(&str, &str)]) -> String {
        let now = SystemTime::now();
        let matchers: Vec<Value> = matchers
            .iter()
            .map(|(name, value)| {
                json!({"name": name, "value": value, "isRegex": false, "isEqual": true})
            })
            .collect();
        let body = json!({
            "matchers": matchers,
            "startsAt": rfc3339(now),
            "endsAt": rfc3339(now + SILENCE_FOR),
            "createdBy": "testkit",
            "comment": "silenced by a test",
        });
        let answer = self.api("POST", "/api/v2/silences", Some(&body));
        answer["silenceID"]
            .as_str()
            .unwrap_or_else(|| panic!("no silenceID in {answer}"))
            .to_owned()
    }

    /// The alerts not yet resolved (`GET /api/v2/alerts`): each with `labels`, `annotations`,
    /// `startsAt`, `endsAt` and `status` (`state` "active" or "suppressed", `silencedBy`).
    pub fn alerts(&self) -> Value {
        self.api("GET", "/api/v2/alerts", None)
    }

    /// Every silence (`GET /api/v2/silences`), with its `id`, `matchers` and `status.state`.
    pub fn silences(&self) -> Value {
        self.api("GET", "/api/v2/silences", None)
    }

    /// The guarded server process (log, pid, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        http_json(method, &format!("{}{path}", self.url), body)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.process.log_report()))
    }
}

fn object(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect(),
    )
}

fn rfc3339(time: SystemTime) -> String {
    jiff::Timestamp::try_from(time)
        .unwrap_or_else(|e| panic!("{time:?} is not a representable timestamp: {e}"))
        .to_string()
}
