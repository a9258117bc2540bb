//! The quarterly upgrade the end-to-end tests run: a live blue (`shop-1-31`) serving
//! `shop.example.com` through its ingress load balancer, and a plan (YAML, like
//! plans/quarterly-upgrade.yaml) that builds green (`shop-1-32`), replays three releases linked
//! by `needs` from the stack's chart repository, checks green, shifts traffic in three steps and
//! retires blue. Waits are short so a whole run takes seconds against a time-scaled cloudsim.

use std::path::PathBuf;

use super::Stack;
use super::proxy::Change;

pub const ENV: &str = "shop-prod";
pub const BLUE: &str = "shop-1-31";
pub const GREEN: &str = "shop-1-32";
pub const ZONE: &str = "example.com";
pub const RECORD: &str = "shop.example.com";
/// The live record blue serves through, made by hand before cutover (found by the traffic it
/// carries: the plan writes no SetIdentifiers).
pub const BLUE_SET: &str = "shop-prod-blue";
/// Green's record: the default SetIdentifier is green's cluster name.
pub const GREEN_SET: &str = GREEN;
/// A secret value passed to the api release; it must never show up in output or the journal.
pub const SECRET_ENV: &str = "SHOP_DB_PASSWORD";
pub const SECRET: &str = "e2e-only-s3cr3t-value";

/// The Route53 batches of a whole upgrade, each sent once: green's record at 0, the three
/// shifts (each moving both weights in one atomic batch), blue's record deleted.
pub fn full_run_batches() -> Vec<Vec<Change>> {
    vec![
        vec![Change::upsert(GREEN_SET, 0)],
        vec![Change::upsert(BLUE_SET, 90), Change::upsert(GREEN_SET, 10)],
        vec![Change::upsert(BLUE_SET, 50), Change::upsert(GREEN_SET, 50)],
        vec![Change::upsert(BLUE_SET, 0), Change::upsert(GREEN_SET, 100)],
        vec![Change::delete(BLUE_SET, 0)],
    ]
}

/// The knobs the scenarios turn; everything else is fixed.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    /// Digest pinned for the ingress chart; `None` pins the package's real digest.
    pub ingress_digest: Option<String>,
    /// Bake of each traffic step (10, 50, 100).
    pub bakes: [&'static str; 3],
    /// More releases, as YAML list items (indented like the others), appended to the plan's.
    pub extra_releases: String,
    /// Green's add-ons (a YAML flow list).
    pub addons: &'static str,
    /// More fields of `green`, as YAML lines indented 4 (workload identity).
    pub green_extra: String,
    /// The api release's inline values (a YAML flow mapping).
    pub api_values: String,
    /// `teardown.retainBlueFor`.
    pub retain_blue_for: &'static str,
    /// More fields of `spec`, as YAML lines indented 2 (e.g. `notify:`).
    pub spec_extra: String,
    /// More checks, as YAML list items indented 4.
    pub extra_checks: String,
    /// `traffic.gates` (a YAML flow list).
    pub gates: &'static str,
    /// `onFailure`.
    pub on_failure: &'static str,
    /// `traffic.steps` as a YAML flow list; empty: 10/50/100 with `bakes`.
    pub steps: String,
}

impl Default for PlanSpec {
    fn default() -> Self {
        PlanSpec {
            ingress_digest: None,
            bakes: ["1s", "2s", "1s"],
            extra_releases: String::new(),
            addons: "[{name: vpc-cni}, {name: kube-proxy}, {name: coredns}]",
            green_extra: String::new(),
            api_values: "{}".into(),
            retain_blue_for: "0s",
            spec_extra: String::new(),
            extra_checks: String::new(),
            gates: "[smoke]",
            on_failure: "rollback",
            steps: String::new(),
        }
    }
}

/// A prepared upgrade: blue live at weight 100, the plan written.
pub struct Upgrade {
    pub plan: PathBuf,
    pub state: PathBuf,
    pub zone_id: String,
    pub blue_lb: String,
}

impl Upgrade {
    /// The plan file as a `cutover` argument.
    pub fn plan_arg(&self) -> &str {
        self.plan.to_str().unwrap()
    }

    /// Where the environment's run journals are.
    pub fn runs_dir(&self) -> PathBuf {
        self.state.join(ENV).join("runs")
    }
}

impl Stack {
    /// Pre-creates blue (cluster, node group, ingress with its load balancer), the zone with
    /// blue's weighted record at 100, and writes the plan.
    pub async fn prepare_upgrade(&self, spec: PlanSpec) -> Upgrade {
        let blue_lb = self.create_blue(BLUE, "1.31").await;
        let zone_id = self
            .create_zone_with_blue_record(ZONE, RECORD, BLUE_SET, &blue_lb)
            .await;
        let state = self.dir.path().join("state");
        let plan = self.dir.path().join("upgrade.yaml");
        std::fs::write(&plan, self.upgrade_plan(&spec, &state)).unwrap();
        let out = self.run_cutover(&["validate", plan.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "the e2e plan must be valid: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Upgrade {
            plan,
            state,
            zone_id,
            blue_lb,
        }
    }

    fn upgrade_plan(&self, spec: &PlanSpec, state: &std::path::Path) -> String {
        let repo = self.charts.url();
        let digest = |name: &str, version: &str| self.charts.package(name, version).digest.clone();
        let ingress_digest = spec
            .ingress_digest
            .clone()
            .unwrap_or_else(|| digest("ingress", "4.11.3"));
        let (api_digest, worker_digest) = (digest("api", "2.4.1"), digest("worker", "0.3.0"));
        let [bake10, bake50, bake100] = spec.bakes;
        let state = state.display();
        format!(
            r#"apiVersion: cutover.dev/v1
kind: Upgrade
metadata: {{name: {ENV}, owner: platform@example.com}}
spec:
  aws: {{region: {region}}}
  state: {{backend: local, path: "{state}"}}
  blue: {{cluster: {BLUE}}}
  green:
    cluster: {GREEN}
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks-cluster
    subnets: [subnet-d6289388dc55347e2, subnet-b94dd1f189237c89c]
    addons: {addons}
    nodegroups:
      - name: general
        instanceTypes: [m6i.large]
        scaling: {{min: 3, desired: 3, max: 4}}
        nodeRoleArn: arn:aws:iam::111122223333:role/eks-node
{green_extra}
  helm: {{version: "3.19.0"}}
  releases:
    - name: ingress
      namespace: ingress
      chart: {{repo: "{repo}", name: ingress, version: 4.11.3, digest: "{ingress_digest}"}}
      timeout: 2m
    - name: api
      namespace: payments
      chart: {{repo: "{repo}", name: api, version: 2.4.1, digest: "{api_digest}"}}
      secretValues: [{{key: config.database, fromEnv: {SECRET_ENV}}}]
      values: {api_values}
      needs: [ingress]
      timeout: 2m
    - name: worker
      namespace: payments
      chart: {{repo: "{repo}", name: worker, version: 0.3.0, digest: "{worker_digest}"}}
      needs: [api]
      timeout: 2m
{extra}
  checks:
    - {{name: nodes, nodesReady: {{min: 3}}, timeout: 1m}}
    - {{name: workloads, workloadsReady: {{namespaces: [payments, ingress]}}, timeout: 1m}}
    - {{name: releases, releasesDeployed: {{}}, timeout: 1m}}
    - name: smoke
      timeout: 30s
      http: {{url: "http://{RECORD}:8080/healthz", via: green, expectStatus: 200, successes: 2, interval: 200ms}}
{extra_checks}
  traffic:
    zone: {ZONE}
    records:
      - {{name: {RECORD}, type: CNAME, ttl: 1, blue: {{service: ingress/ingress-nginx-controller}}, green: {{service: ingress/ingress-nginx-controller}}}}
    steps: {steps}
    gates: {gates}
  teardown: {{retainBlueFor: {retain}}}
  onFailure: {on_failure}
{spec_extra}
"#,
            region = super::REGION,
            extra = spec.extra_releases.trim_end(),
            addons = spec.addons,
            green_extra = spec.green_extra.trim_end(),
            api_values = spec.api_values,
            retain = spec.retain_blue_for,
            spec_extra = spec.spec_extra.trim_end(),
            extra_checks = spec.extra_checks.trim_end(),
            gates = spec.gates,
            on_failure = spec.on_failure,
            steps = if spec.steps.is_empty() {
                format!("[{{weight: 10, bake: {bake10}}}, {{weight: 50, bake: {bake50}}}, {{weight: 100, bake: {bake100}}}]")
            } else {
                spec.steps.clone()
            },
        )
    }
}
