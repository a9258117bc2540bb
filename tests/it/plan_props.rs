//! Property tests for plan validation: each rule is checked against a small reference predicate
//! over generated plans, and no input, however broken, makes loading panic.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use cutover::plan::{self, format_duration, parse_duration};
use proptest::prelude::*;

/// Everything a generated plan varies; the rest is a fixed valid Upgrade.
struct Knobs<'a> {
    green: &'a str,
    chart_version: &'a str,
    kube_version: &'a str,
    weights: &'a [u16],
    /// Release i needs the releases at these indices.
    needs: &'a [Vec<usize>],
}

impl Default for Knobs<'_> {
    fn default() -> Self {
        Knobs {
            green: "shop-1-32",
            chart_version: "1.0.0",
            kube_version: "1.32",
            weights: &[50, 100],
            needs: &[],
        }
    }
}

fn render(k: &Knobs) -> String {
    let mut s = String::new();
    write!(
        s,
        r#"apiVersion: cutover.dev/v1
kind: Upgrade
metadata: {{name: shop, owner: team@example.com}}
spec:
  aws: {{region: us-east-1}}
  state: {{backend: local}}
  blue: {{cluster: shop-1-31}}
  green:
    cluster: "{green}"
    version: "{kube}"
    roleArn: arn:aws:iam::111122223333:role/eks
    subnets: [subnet-0a, subnet-0b]
    nodegroups:
      - {{name: general, instanceTypes: [m6i.large], scaling: {{min: 1, desired: 1, max: 2}}, nodeRoleArn: arn:aws:iam::111122223333:role/node}}
  helm: {{version: "3.19.0"}}
  releases:
    - {{name: base, namespace: shop, chart: {{oci: oci://r.example.com/charts/base, version: "{chart}"}}}}
"#,
        green = k.green,
        kube = k.kube_version,
        chart = k.chart_version
    )
    .unwrap();
    for (i, needs) in k.needs.iter().enumerate() {
        let names: Vec<String> = needs.iter().map(|n| format!("r{n}")).collect();
        writeln!(s, "    - {{name: r{i}, namespace: shop, chart: {{oci: oci://r.example.com/charts/x, version: 1.0.0}}, needs: [{}]}}", names.join(", ")).unwrap();
    }
    s.push_str("  checks:\n    - {name: smoke, http: {url: https://shop.example.com/healthz}}\n");
    s.push_str("  traffic:\n    zoneId: Z0123456789\n    records:\n      - {name: shop.example.com, blue: blue.example.net, green: {service: ingress/nginx}}\n    steps:\n");
    for w in k.weights {
        writeln!(s, "      - {{weight: {w}, bake: 1m}}").unwrap();
    }
    s.push_str("    gates: [smoke]\n");
    s
}

fn load(text: &str) -> Result<plan::Plan, plan::PlanErrors> {
    plan::load_str(Path::new("gen/plan.yaml"), text)
}

#[test]
fn the_default_generated_plan_is_valid() {
    load(&render(&Knobs::default())).unwrap_or_else(|e| panic!("{e}"));
}

fn weights_ok(w: &[u16]) -> bool {
    !w.is_empty()
        && w.windows(2).all(|p| p[0] < p[1])
        && w.iter().all(|x| *x <= 100)
        && *w.last().unwrap() == 100
}

fn cluster_name_ok(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn traffic_steps_are_accepted_exactly_when_increasing_to_100(
        weights in prop::collection::vec(prop_oneof![0u16..=100, Just(100), 101u16..=300], 1..6)
    ) {
        let text = render(&Knobs { weights: &weights, ..Knobs::default() });
        let result = load(&text);
        prop_assert_eq!(result.is_ok(), weights_ok(&weights), "{:?}: {:?}", weights, result.err().map(|e| e.to_string()));
        if let Err(e) = result {
            let out = e.to_string();
            prop_assert!(out.contains("spec.traffic.steps["), "{}", out);
            if weights.iter().any(|w| *w > 255) {
                prop_assert!(out.contains("is out of range; use a whole number from 0 to 255"), "{}", out);
            }
        }
    }

    #[test]
    fn acyclic_needs_are_accepted_and_a_back_edge_is_named_as_a_cycle(
        n in 2usize..10,
        seed_edges in prop::collection::vec((0usize..10, 0usize..10), 0..20),
        back in (0usize..10, 0usize..10),
    ) {
        // Forward edges only (i needs j < i): a DAG.
        let mut needs: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (a, b) in seed_edges {
            let (i, j) = (a % n, b % n);
            if j < i && !needs[i].contains(&j) {
                needs[i].push(j);
            }
        }
        let dag = load(&render(&Knobs { needs: &needs, ..Knobs::default() }));
        prop_assert!(dag.is_ok(), "{}", dag.unwrap_err());

        // Close a cycle: make the lower of two releases need the higher, plus a path back.
        let (lo, hi) = { let (a, b) = (back.0 % n, back.1 % n); if a == b { (0, n - 1) } else { (a.min(b), a.max(b)) } };
        if !needs[hi].contains(&lo) {
            needs[hi].push(lo);
        }
        needs[lo].push(hi);
        let errors = load(&render(&Knobs { needs: &needs, ..Knobs::default() })).unwrap_err();
        let cycle_msgs: Vec<&str> = errors.diagnostics.iter().map(|d| d.message.as_str()).filter(|m| m.contains("form a cycle")).collect();
        prop_assert!(!cycle_msgs.is_empty(), "{}", errors);
        for m in cycle_msgs {
            let chain = m.split("cycle: ").nth(1).unwrap().split(';').next().unwrap();
            let names: Vec<usize> = chain.split(" -> ").map(|r| r[1..].parse().unwrap()).collect();
            prop_assert_eq!(names.first(), names.last(), "a cycle ends where it starts: {}", chain);
            for pair in names.windows(2) {
                prop_assert!(needs[pair[0]].contains(&pair[1]), "{} -> {} is not a needs edge in {}", pair[0], pair[1], chain);
            }
        }
    }

    #[test]
    fn cluster_names_follow_the_eks_rule(name in "[A-Za-z0-9_.-]{0,4}|[A-Za-z0-9_-]{95,105}") {
        let text = render(&Knobs { green: &name, ..Knobs::default() });
        let result = load(&text);
        prop_assert_eq!(result.is_ok(), cluster_name_ok(&name), "{:?}: {:?}", name, result.err().map(|e| e.to_string()));
    }

    #[test]
    fn exact_chart_versions_pass_and_ranges_are_refused(
        (a, b, c) in (0u32..40, 0u32..40, 0u32..40),
        op in prop::sample::select(vec!["^", "~", ">=", "<", ">", "=", "~>"]),
        wildcard in 0usize..3,
    ) {
        let exact = format!("{a}.{b}.{c}");
        let pinned = load(&render(&Knobs { chart_version: &exact, ..Knobs::default() }));
        prop_assert!(pinned.is_ok(), "{}", pinned.unwrap_err());
        let ranged = format!("{op}{exact}");
        let out = load(&render(&Knobs { chart_version: &ranged, ..Knobs::default() })).unwrap_err().to_string();
        prop_assert!(out.contains("spec.releases[0].chart.version") && out.contains("is a range; pin an exact version"), "{}", out);
        let mut parts = [a.to_string(), b.to_string(), c.to_string()];
        parts[wildcard] = "x".into();
        let x = parts.join(".");
        let out = load(&render(&Knobs { chart_version: &x, ..Knobs::default() })).unwrap_err().to_string();
        prop_assert!(out.contains("is a range"), "{}", out);
    }

    #[test]
    fn kubernetes_versions_are_major_dot_minor(major in 1u32..3, minor in 0u32..60, patch in prop::option::of(0u32..9)) {
        let v = match patch { Some(p) => format!("{major}.{minor}.{p}"), None => format!("{major}.{minor}") };
        let result = load(&render(&Knobs { kube_version: &v, ..Knobs::default() }));
        prop_assert_eq!(result.is_ok(), patch.is_none());
        if let Ok(p) = result {
            prop_assert_eq!(p.green.version.to_string(), v);
        }
    }

    #[test]
    fn durations_round_trip(ms in 0u64..(400 * 86_400_000)) {
        let d = Duration::from_millis(ms);
        prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
    }

    #[test]
    fn durations_need_units_and_whole_numbers(n in 0u64..100_000, unit in prop::sample::select(vec!["ms", "s", "m", "h", "d"])) {
        let scale = match unit { "ms" => 1, "s" => 1_000, "m" => 60_000, "h" => 3_600_000, _ => 86_400_000 };
        prop_assert_eq!(parse_duration(&format!("{n}{unit}")), Ok(Duration::from_millis(n * scale)));
        let (bare, negative, fraction) = (n.to_string(), format!("-{n}{unit}"), format!("{n}.5{unit}"));
        prop_assert!(parse_duration(&bare).is_err());
        prop_assert!(parse_duration(&negative).is_err());
        prop_assert!(parse_duration(&fraction).is_err());
    }

    #[test]
    fn arbitrary_text_never_panics_and_errors_are_located(text in "\\PC{0,200}") {
        if let Err(e) = load(&text) {
            prop_assert!(e.diagnostics.iter().all(|d| d.line >= 1 && d.column >= 1), "{}", e);
        }
    }

    #[test]
    fn a_plan_with_a_line_removed_never_panics(line in 0usize..40) {
        let text = render(&Knobs::default());
        let mangled: String = text.lines().enumerate().filter(|(i, _)| *i != line).map(|(_, l)| format!("{l}\n")).collect();
        if let Err(e) = load(&mangled) {
            prop_assert!(!e.diagnostics.is_empty());
            prop_assert!(e.diagnostics.iter().all(|d| d.line >= 1 && d.column >= 1), "{}", e);
        }
    }
}

/// Independent mistakes, each with the message it must produce.
const MISTAKES: [(&str, &str, &str); 7] = [
    (
        "region: us-east-1",
        "region: us_east_1",
        "spec.aws.region: \"us_east_1\" is not an AWS region",
    ),
    (
        "owner: team@example.com",
        "owner: \"\"",
        "metadata.owner: the owner is empty",
    ),
    (
        "instanceTypes: [m6i.large]",
        "instanceTypes: [large]",
        "\"large\" is not an EC2 instance type",
    ),
    (
        "{min: 1, desired: 1, max: 2}",
        "{min: 2, desired: 1, max: 2}",
        "need min ≤ desired ≤ max",
    ),
    (
        "version: \"3.19.0\"",
        "version: \"3.19\"",
        "spec.helm.version: \"3.19\" is a range",
    ),
    (
        "zoneId: Z0123456789",
        "zoneId: /hostedzone/Z0123456789",
        "write the bare zone id",
    ),
    (
        "gates: [smoke]",
        "gates: [smoke, smoke]",
        "gate \"smoke\" is listed twice",
    ),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_mistake_in_a_plan_is_reported_at_once(chosen in prop::sample::subsequence((0..MISTAKES.len()).collect::<Vec<_>>(), 1..=MISTAKES.len())) {
        let mut text = render(&Knobs::default());
        for &i in &chosen {
            let (from, to, _) = MISTAKES[i];
            prop_assert!(text.contains(from), "{}", from);
            text = text.replacen(from, to, 1);
        }
        let out = load(&text).unwrap_err().to_string();
        for &i in &chosen {
            prop_assert!(out.contains(MISTAKES[i].2), "missing {:?} in:\n{}", MISTAKES[i].2, out);
        }
        prop_assert_eq!(out.lines().count(), chosen.len(), "one message per mistake:\n{}", out);
    }
}

/// YAML punctuation and values that break structure in interesting ways.
const PIECES: [&str; 24] = [
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    "&a",
    "*a",
    "\"",
    "'",
    "\n",
    "  ",
    "!!int ",
    "---\n",
    "|\n",
    "? ",
    "#",
    ",",
    "1.5",
    "null",
    "~",
    "\t",
    "%YAML 1.2\n",
    "<<: *a\n",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Mangled real plans (inserted punctuation, deleted spans) are always answered with located
    /// diagnostics, never a panic.
    #[test]
    fn a_mangled_example_plan_never_panics(ops in prop::collection::vec((any::<usize>(), 0usize..PIECES.len(), 0u8..3, 0usize..40), 1..5)) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans/quarterly-upgrade.yaml");
        let mut text: Vec<char> = std::fs::read_to_string(&path).unwrap().chars().collect();
        for (at, piece, op, len) in ops {
            let pos = at % text.len();
            match op {
                0 => { text.remove(pos); }
                1 => { text.splice(pos..pos, PIECES[piece].chars()); }
                _ => { let end = (pos + len).min(text.len()); text.drain(pos..end); }
            }
        }
        let text: String = text.into_iter().collect();
        if let Err(e) = plan::load_str(&path, &text) {
            prop_assert!(!e.diagnostics.is_empty());
            prop_assert!(e.diagnostics.iter().all(|d| d.line >= 1 && d.column >= 1), "{}", e);
        }
    }
}
