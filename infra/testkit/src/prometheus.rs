//! [`Prometheus`]: the real Prometheus server (Debian's package) scraping given loopback targets
//! at a short interval, for metric gates: a test serves metrics, waits until Prometheus has them,
//! and points the code under test at [`Prometheus::url`].

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempfile::TempDir;

use crate::net::{http_json, percent_encode};
use crate::process::{Process, scratch_dir};
use crate::tools;

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// One scrape job: Prometheus fetches `http://ADDRESS/METRICS_PATH` every scrape interval and
/// labels the series `job="JOB"`, `instance="ADDRESS"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeTarget {
    pub job: String,
    /// `host:port`, e.g. `127.0.0.1:8080`.
    pub address: String,
    /// Defaults to `/metrics`.
    pub metrics_path: String,
}

impl ScrapeTarget {
    /// A job scraping `address` at `/metrics`.
    pub fn new(job: &str, address: impl Into<String>) -> ScrapeTarget {
        ScrapeTarget {
            job: job.to_owned(),
            address: address.into(),
            metrics_path: "/metrics".to_owned(),
        }
    }

    /// The same job at another path.
    pub fn metrics_path(mut self, path: &str) -> ScrapeTarget {
        self.metrics_path = path.to_owned();
        self
    }
}

/// What [`PrometheusBuilder::start`] configures beyond the targets.
#[derive(Debug, Clone)]
pub struct PrometheusBuilder {
    targets: Vec<ScrapeTarget>,
    interval: Duration,
    rules: Option<String>,
    alertmanager: Option<String>,
}

impl PrometheusBuilder {
    /// A rule file (Prometheus's YAML: `groups:` of recording and alerting rules), evaluated
    /// every scrape interval.
    pub fn rules(mut self, yaml: &str) -> PrometheusBuilder {
        self.rules = Some(yaml.to_owned());
        self
    }

    /// Where firing alerting rules go: an Alertmanager's `host:port` (see
    /// [`crate::alertmanager::Alertmanager::addr`]).
    pub fn alertmanager(mut self, addr: &str) -> PrometheusBuilder {
        self.alertmanager = Some(addr.to_owned());
        self
    }

    /// Starts the server and waits until it is ready (`/-/ready` answers 200).
    pub fn start(self) -> Prometheus {
        let dir = scratch_dir("prometheus");
        let rule_file = dir.path().join("rules.yml");
        if let Some(rules) = &self.rules {
            write(&rule_file, rules);
        }
        let config = self.config(rule_file).to_string();
        let resend = format!(
            "--rules.alert.resend-delay={}ms",
            self.interval.as_millis().max(1)
        );
        // Alertmanagers are discovered up to 5 s after start, so the first send of a firing
        // alert can find none; resending at the rule interval instead of every minute gets it
        // there within seconds.
        let (process, port) = start_server(
            "prometheus",
            &tools::prometheus(),
            dir.path(),
            &config,
            "--storage.tsdb.path",
            &[&resend],
        );
        Prometheus {
            process,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }

    /// The configuration as JSON, which Prometheus reads as YAML (JSON is a subset), so no
    /// value needs YAML quoting.
    fn config(&self, rule_file: PathBuf) -> Value {
        // Go durations; the scrape timeout may not exceed the interval (its default, 10s, would).
        let interval = format!("{}ms", self.interval.as_millis().max(1));
        let scrape_configs: Vec<Value> = self
            .targets
            .iter()
            .map(|target| {
                json!({
                    "job_name": target.job,
                    "metrics_path": target.metrics_path,
                    "static_configs": [{"targets": [target.address]}],
                })
            })
            .collect();
        let mut config = json!({
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "scrape_configs": scrape_configs,
        });
        if self.rules.is_some() {
            config["rule_files"] = json!([rule_file]);
        }
        if let Some(addr) = &self.alertmanager {
            config["alerting"] =
                json!({"alertmanagers": [{"static_configs": [{"targets": [addr]}]}]});
        }
        config
    }
}

/// A running Prometheus. Dropping it kills the server and deletes its storage.
pub struct Prometheus {
    process: Process,
    url: String,
    _dir: TempDir,
}

impl Prometheus {
    /// Scrapes `targets` every `scrape_interval` (e.g. one second) and waits until ready.
    pub fn start(targets: &[ScrapeTarget], scrape_interval: Duration) -> Prometheus {
        Prometheus::builder(targets, scrape_interval).start()
    }

    /// Like [`Prometheus::start`], with rule files or an Alertmanager configured first.
    pub fn builder(targets: &[ScrapeTarget], scrape_interval: Duration) -> PrometheusBuilder {
        PrometheusBuilder {
            targets: targets.to_vec(),
            interval: scrape_interval,
            rules: None,
            alertmanager: None,
        }
    }

    /// `http://127.0.0.1:PORT`, the base of the HTTP API.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An instant query's `data.result`: for a vector, an array of
    /// `{"metric": {labels}, "value": [unix_time, "number"]}`. Panics on a query error.
    pub fn query(&self, promql: &str) -> Value {
        let url = format!("{}/api/v1/query?query={}", self.url, percent_encode(promql));
        let mut answer = http_json("GET", &url, None)
            .unwrap_or_else(|e| panic!("query `{promql}`: {e}\n{}", self.process.log_report()));
        answer["data"]["result"].take()
    }

    /// The first sample's value of an instant query, `None` when the result is empty.
    pub fn value(&self, promql: &str) -> Option<f64> {
        sample_value(&self.query(promql))
    }

    /// Re-runs `promql` until `predicate` holds for its result (as [`Prometheus::query`] returns
    /// it) and returns that result; panics with the last result after `timeout`.
    pub fn wait_for(
        &self,
        promql: &str,
        predicate: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let result = self.query(promql);
            if predicate(&result) {
                return result;
            }
            if Instant::now() >= deadline {
                panic!(
                    "`{promql}` did not reach the expected result within {timeout:?}; last: {result}\n{}",
                    self.process.log_report()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The scrape targets' health (`/api/v1/targets` `data.activeTargets`): `labels`,
    /// `health` ("up", "down", "unknown"), `lastError`.
    pub fn targets(&self) -> Value {
        let url = format!("{}/api/v1/targets", self.url);
        let mut answer = http_json("GET", &url, None)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.process.log_report()));
        answer["data"]["activeTargets"].take()
    }

    /// The guarded server process (log, pid, liveness).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// Starts a server of the Prometheus project (Prometheus, Alertmanager: the same flag
/// conventions) on a free loopback port with `config` written into `dir` and a fresh data
/// directory per attempt (a killed attempt may leave its lock behind), and waits until
/// `/-/ready` answers 200.
pub(crate) fn start_server(
    name: &str,
    binary: &Path,
    dir: &Path,
    config: &str,
    data_flag: &str,
    extra_args: &[&str],
) -> (Process, u16) {
    let config_path = dir.join(format!("{name}.yml"));
    write(&config_path, config);
    let (mut process, port) = Process::spawn_listening(name, START_TIMEOUT, |port| {
        let mut command = std::process::Command::new(binary);
        command
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "{data_flag}={}",
                dir.join(format!("data-{port}")).display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .args(extra_args);
        command
    });
    process.wait_for_http_ok(&format!("http://127.0.0.1:{port}/-/ready"), START_TIMEOUT);
    (process, port)
}

/// The number in the first sample of a query result (`[{"value": [time, "42"]}]`).
pub fn sample_value(result: &Value) -> Option<f64> {
    result.get(0)?.get("value")?.get(1)?.as_str()?.parse().ok()
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
