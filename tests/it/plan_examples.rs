//! The example plans in plans/ load clean and mean what their comments say.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover::plan::{
    self, ChartSource, CheckKind, HostedZone, PlanKind, ProbeTarget, RecordTarget, StateBackend,
};

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("plans")
        .join(name)
}

fn load(name: &str) -> plan::Plan {
    plan::load(&example(name)).unwrap_or_else(|e| panic!("{name} should be valid:\n{e}"))
}

#[test]
fn quarterly_upgrade_is_valid_and_fully_read() {
    let p = load("quarterly-upgrade.yaml");
    assert_eq!(p.kind, PlanKind::Upgrade);
    assert_eq!(p.metadata.name, "payments-prod");
    assert_eq!(p.blue.as_ref().unwrap().cluster, "payments-1-31");
    assert_eq!(p.green.version.to_string(), "1.32");
    assert!(
        matches!(&p.state, StateBackend::Local { path } if path.ends_with("plans/.cutover")),
        "local state resolves against the plan's directory: {:?}",
        p.state
    );
    let names: Vec<&str> = p.releases.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["ingress", "api", "worker"]);
    let ingress = &p.releases[0];
    assert_eq!(
        ingress.chart,
        ChartSource::Repo {
            url: "http://127.0.0.1:18879".into(),
            name: "ingress".into()
        }
    );
    assert_eq!(ingress.version, "4.11.3");
    assert_eq!(
        ingress.digest.as_deref().map(str::len),
        Some(64),
        "digest is stored as bare hex"
    );
    assert_eq!(ingress.timeout, Duration::from_secs(300));
    assert_eq!(ingress.values["controller"]["replicaCount"], 2);
    assert!(ingress.values_files[0].ends_with("plans/values/ingress.yaml"));
    // Defaults.
    assert_eq!(p.releases[2].timeout, Duration::from_secs(300));
    assert!(matches!(&p.releases[2].chart, ChartSource::Path { path } if path.ends_with("infra/charts/worker")));
    assert!(p.releases[1].create_namespace);
    let traffic = p.traffic.as_ref().unwrap();
    let weights: Vec<u8> = traffic.steps.iter().map(|s| s.weight).collect();
    assert_eq!(weights, [10, 50, 100]);
    assert_eq!(
        traffic.records[0].green,
        RecordTarget::Service {
            namespace: "ingress".into(),
            name: "ingress-nginx-controller".into()
        }
    );
    // SetIdentifiers default to the clusters' names, so next quarter finds green's record as blue's.
    assert_eq!(traffic.records[0].blue_set_id, "payments-1-31");
    assert_eq!(traffic.records[0].green_set_id, "payments-1-32");
    assert_eq!(traffic.zone, HostedZone::Name("example.com.".into()));
    assert_eq!(p.teardown.retain_blue_for, Duration::ZERO, "the demo retires blue at once");
    let smoke = p.checks.iter().find(|c| c.name == "smoke").unwrap();
    let CheckKind::Http(h) = &smoke.kind else {
        panic!("smoke is an http check")
    };
    assert_eq!(
        (h.successes, h.via, h.latency_budget),
        (3, ProbeTarget::Green, Some(Duration::from_millis(500)))
    );
    assert_eq!(
        p.timeouts.addon_active,
        Duration::from_secs(600),
        "unset timeouts keep their defaults"
    );
    assert_eq!(p.digest.len(), 64);
    assert_eq!(p.source, example("quarterly-upgrade.yaml"));
}

#[test]
fn dev_cluster_is_valid() {
    let p = load("dev-cluster.yaml");
    assert_eq!(p.kind, PlanKind::DevCluster);
    assert_eq!(p.ttl, Some(Duration::from_secs(8 * 3600)));
    assert!(p.blue.is_none() && p.traffic.is_none());
    assert!(matches!(&p.state, StateBackend::Local { path } if path.ends_with("plans/.cutover")));
}

#[test]
fn dr_drill_is_valid() {
    let p = load("dr-drill.yaml");
    assert_eq!(p.kind, PlanKind::Drill);
    assert_eq!(p.rto_target, Some(Duration::from_secs(45 * 60)));
    let record = &p.traffic.as_ref().unwrap().records[0];
    assert_eq!(
        record.blue,
        RecordTarget::Hostname("maintenance.example.net".into())
    );
    assert_eq!(record.green_set_id, "drill-recovered");
}

#[test]
fn digest_is_of_the_file_bytes() {
    use sha2::Digest;
    let bytes = std::fs::read(example("dev-cluster.yaml")).unwrap();
    assert_eq!(
        load("dev-cluster.yaml").digest,
        hex::encode(sha2::Sha256::digest(&bytes))
    );
}
