//! Validation speed: load a generated Upgrade plan with 500 releases (each with values, a
//! `needs` edge, a digest and a timeout) and print the median of repeated runs. The budget is
//! 100 ms; the bench exits non-zero above it so a regression is loud.
//!
//! Run: `cargo bench -p cutover --bench validate` (add `-- --runs 50` for more samples).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

const RELEASES: usize = 500;
const BUDGET: Duration = Duration::from_millis(100);

fn plan_text() -> String {
    let mut s = String::from(
        r#"apiVersion: cutover.dev/v1
kind: Upgrade
metadata: {name: big, owner: platform@example.com}
spec:
  aws: {region: us-east-1}
  state: {backend: local}
  blue: {cluster: big-1-31}
  green:
    cluster: big-1-32
    version: "1.32"
    roleArn: arn:aws:iam::111122223333:role/eks
    subnets: [subnet-0a, subnet-0b]
    nodegroups:
      - {name: general, instanceTypes: [m6i.large], scaling: {min: 3, desired: 3, max: 6}, nodeRoleArn: arn:aws:iam::111122223333:role/node}
  helm: {version: "3.19.0"}
  releases:
"#,
    );
    for i in 0..RELEASES {
        writeln!(s, "    - name: release-{i}").unwrap();
        writeln!(s, "      namespace: ns-{}", i % 20).unwrap();
        writeln!(s, "      chart:").unwrap();
        writeln!(
            s,
            "        oci: oci://registry.example.com/charts/chart-{i}"
        )
        .unwrap();
        writeln!(s, "        version: {}.{}.{}", i % 7, i % 13, i % 31).unwrap();
        writeln!(s, "        digest: \"sha256:{:064x}\"", i).unwrap();
        writeln!(
            s,
            "      values: {{replicaCount: {}, image: {{tag: \"v{i}\"}}, labels: {{team: t{}}}}}",
            i % 5 + 1,
            i % 9
        )
        .unwrap();
        if i > 0 {
            writeln!(s, "      needs: [release-{}]", i / 2).unwrap();
        }
        writeln!(s, "      timeout: 10m").unwrap();
    }
    s.push_str(
        r#"  checks:
    - {name: nodes, nodesReady: {min: 3}}
    - {name: smoke, http: {url: https://big.example.com/healthz}}
  traffic:
    zoneId: Z0123456789
    records:
      - {name: big.example.com, blue: blue.example.net, green: {service: ingress/nginx}}
    steps: [{weight: 10, bake: 10m}, {weight: 50, bake: 10m}, {weight: 100, bake: 30m}]
    gates: [smoke]
"#,
    );
    s
}

fn main() {
    let runs: usize = std::env::args()
        .skip_while(|a| a != "--runs")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    let text = plan_text();
    let file = Path::new("bench/plan.yaml");
    // Warm up (first-use work such as generating the schema is not per-plan cost).
    let plan = cutover::plan::load_str(file, &text)
        .unwrap_or_else(|e| panic!("the generated plan must be valid:\n{e}"));
    assert_eq!(plan.releases.len(), RELEASES);

    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let plan = cutover::plan::load_str(file, &text).expect("valid");
            let elapsed = start.elapsed();
            std::hint::black_box(plan);
            elapsed
        })
        .collect();
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "validate: {RELEASES} releases, {} lines, {} KiB: median {:.2} ms over {runs} runs (min {:.2} ms, max {:.2} ms; budget {} ms)",
        text.lines().count(),
        text.len() / 1024,
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        BUDGET.as_millis()
    );
    if median > BUDGET {
        eprintln!("validate: median {median:?} is over the {BUDGET:?} budget");
        std::process::exit(1);
    }
}
