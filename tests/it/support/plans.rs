//! Plans built in Rust (not YAML): a realistic Upgrade and its DevCluster and Drill variants,
//! plus the matching starting world.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cutover::plan::*;

use super::fakes::World;

pub const ENV: &str = "payments-prod";
pub const BLUE: &str = "payments-1-31";
pub const GREEN: &str = "payments-1-32";
pub const RECORD: &str = "api.example.com";
pub const BLUE_SET: &str = "api-blue";
pub const GREEN_SET: &str = "api-green";
pub const BLUE_LB: &str = "blue-lb.example.net";

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

pub struct PlanBuilder {
    plan: Plan,
}

impl PlanBuilder {
    pub fn kind(mut self, kind: PlanKind) -> Self {
        self.plan.kind = kind;
        if kind != PlanKind::Upgrade {
            self.plan.blue = None;
            self.plan.traffic = None;
        }
        self
    }

    pub fn policy(mut self, policy: FailurePolicy) -> Self {
        self.plan.on_failure = policy;
        self
    }

    pub fn retain_blue_for(mut self, d: Duration) -> Self {
        self.plan.teardown.retain_blue_for = d;
        self
    }

    pub fn digest(mut self, digest: &str) -> Self {
        self.plan.digest = digest.into();
        self
    }

    /// Releases with no `needs` between them, to exercise the DAG's concurrency.
    pub fn independent_releases(mut self, n: usize) -> Self {
        let template = self.plan.releases[0].clone();
        self.plan.releases = (0..n)
            .map(|i| Release {
                name: format!("svc{i}"),
                needs: vec![],
                ..template.clone()
            })
            .collect();
        self
    }

    /// Carries the claims `selector` picks in `namespace` (snapshot mode).
    pub fn data(mut self, namespace: &str, selector: &[(&str, &str)], quiesce: bool) -> Self {
        self.plan.data = Some(DataSpec {
            mode: DataMode::Snapshot,
            claims: vec![ClaimSelector {
                namespace: namespace.into(),
                name: None,
                labels: selector.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }],
            quiesce,
            storage_class_map: BTreeMap::new(),
            retain: Duration::from_secs(7 * 24 * 3600),
            snapshot_timeout: Duration::from_secs(30 * 60),
            move_zones: false,
            from: ENV.into(),
        });
        self.plan.green.addons.push(Addon { name: "aws-ebs-csi-driver".into(), version: None, ..Addon::default() });
        if quiesce && let Some(t) = self.plan.traffic.as_mut() {
            t.steps.retain(|s| s.weight == 100);
        }
        self
    }

    pub fn build(self) -> Plan {
        self.plan
    }
}

fn release(name: &str, namespace: &str, needs: &[&str]) -> Release {
    Release {
        name: name.into(),
        namespace: namespace.into(),
        chart: ChartSource::Repo {
            url: "https://charts.example.com".into(),
            name: name.into(),
        },
        version: "1.2.3".into(),
        digest: Some("0".repeat(64)),
        values_files: vec![],
        values: serde_json::json!({}),
        secret_values: vec![],
        needs: needs.iter().map(|s| s.to_string()).collect(),
        timeout: mins(5),
        create_namespace: true,
    }
}

/// The reference Upgrade: payments 1.31 → 1.32, two releases, two checks, 10/50/100 shifts.
pub fn upgrade() -> PlanBuilder {
    let plan = Plan {
        kind: PlanKind::Upgrade,
        metadata: Metadata {
            name: ENV.into(),
            owner: "platform@example.com".into(),
            labels: BTreeMap::new(),
        },
        aws: Aws {
            region: "us-east-1".into(),
        },
        state: StateBackend::Local {
            path: ".cutover".into(),
        },
        blue: Some(BlueRef {
            cluster: BLUE.into(),
        }),
        green: ClusterSpec {
            name: GREEN.into(),
            version: KubeVersion {
                major: 1,
                minor: 32,
            },
            role_arn: "arn:aws:iam::111122223333:role/eks-cluster".into(),
            subnets: vec!["subnet-aaa".into(), "subnet-bbb".into()],
            security_groups: vec![],
            endpoint: EndpointAccess {
                public: true,
                private: true,
                public_cidrs: vec![],
            },
            authentication_mode: AuthenticationMode::Api,
            addons: vec![
                Addon {
                    name: "vpc-cni".into(),
                    version: None,
                    ..Addon::default()
                },
                Addon {
                    name: "coredns".into(),
                    version: None,
                    ..Addon::default()
                },
            ],
            nodegroups: vec![NodeGroup {
                name: "general".into(),
                instance_types: vec!["m6i.large".into()],
                scaling: Scaling {
                    min: 3,
                    desired: 3,
                    max: 6,
                },
                labels: BTreeMap::new(),
                taints: vec![],
                node_role_arn: "arn:aws:iam::111122223333:role/eks-node".into(),
                subnets: vec![],
                capacity_type: CapacityType::OnDemand,
                disk_size_gib: None,
            }],
            access: vec![AccessEntry {
                principal_arn: "arn:aws:iam::111122223333:role/platform-admin".into(),
                kubernetes_groups: vec![],
                username: None,
                policies: vec![],
            }],
            tags: BTreeMap::from([("team".to_string(), "platform".to_string())]),
            identity: Default::default(),
        },
        helm: HelmPin {
            version: "3.19.0".into(),
        },
        releases: vec![
            release("ingress", "ingress", &[]),
            release("api", "payments", &["ingress"]),
        ],
        checks: vec![
            Check {
                name: "nodes".into(),
                kind: CheckKind::NodesReady { min: 3 },
                timeout: mins(2),
            },
            Check {
                name: "smoke".into(),
                kind: CheckKind::Http(HttpCheck {
                    url: "https://api.example.com/healthz".into(),
                    via: ProbeTarget::Green,
                    expect_status: 200,
                    body_contains: None,
                    successes: 2,
                    interval: Duration::from_secs(5),
                    latency_budget: None,
                }),
                timeout: mins(2),
            },
        ],
        traffic: Some(Traffic {
            zone: HostedZone::Id("Z0123456789".into()),
            records: vec![TrafficRecord {
                name: RECORD.into(),
                record_type: RecordType::Cname,
                ttl: 60,
                blue: RecordTarget::Hostname(BLUE_LB.into()),
                green: RecordTarget::Service {
                    namespace: "ingress".into(),
                    name: "ingress-nginx-controller".into(),
                },
                blue_set_id: BLUE_SET.into(),
                green_set_id: GREEN_SET.into(),
                explicit: SetIdsGiven { blue: true, green: true },
                legacy: SetIds { blue: BLUE_SET.into(), green: GREEN_SET.into() },
            }],
            steps: vec![
                TrafficStep {
                    weight: 10,
                    bake: mins(10),
                },
                TrafficStep {
                    weight: 50,
                    bake: mins(10),
                },
                TrafficStep {
                    weight: 100,
                    bake: mins(30),
                },
            ],
            gates: vec!["smoke".into()],
        }),
        teardown: Teardown {
            retain_blue_for: Duration::ZERO,
        },
        on_failure: FailurePolicy::Rollback,
        ttl: None,
        rto_target: None,
        data: None,
        rpo_target: None,
        timeouts: Timeouts::default(),
        preflight: Preflight::default(),
        notify: Vec::new(),
        digest: "sha256:plan-v1".into(),
        source: PathBuf::from("plans/payments-prod.yaml"),
    };
    PlanBuilder { plan }
}

/// The world an Upgrade starts from: blue live with all traffic, green absent.
pub fn world() -> World {
    let world = World::new();
    world.add_cluster(BLUE, &[], &["ingress/ingress-nginx-controller"]);
    world.set_record(RECORD, BLUE_SET, BLUE_LB, 100);
    world.lb_service_for("ingress", "ingress/ingress-nginx-controller");
    world
}
