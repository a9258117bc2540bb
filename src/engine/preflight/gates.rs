//! The pre-flight gates: checks that refuse a doomed upgrade before anything is created. Each
//! reads only (providers' describe/list/render calls) and returns findings — a stable code, what
//! was found, where, and the fix. An `error` finding refuses the run (exit 3, like an invalid
//! plan); warnings and notes are shown and journaled. The engine runs them as `preflight.*` steps;
//! `cutover preflight` runs them alone.
//!
//! - `apis`: every release rendered as it will be installed on green (`helm template
//!   --kube-version`), and blue's deployed release manifests, scanned for APIs removed at or
//!   before green's version ([`super::removed_apis`]).
//! - `insights`: EKS upgrade insights of blue for green's version: ERROR refuses, WARNING shows,
//!   and the clients still calling deprecated APIs are named.
//! - `addons`: a pinned add-on version green's version does not support refuses; an unpinned one
//!   says which default it will get.
//! - `subnets`: green's subnets exist, lie in two zones or more, and have the free addresses green
//!   needs beside what blue uses already ([`crate::providers::network::subnet_capacity`]).
//! - `irsa`: IRSA roles the releases and add-ons use, which trust blue's OIDC issuer, must be
//!   allowed to trust green's ([`super::irsa`]).
//! - `data`: the claims `spec.data` carries are bound to EBS volumes in zones green has (a drill's
//!   have a completed snapshot), decided once and journaled ([`super::data`]).

use serde::Serialize;

use super::removed_apis::{RemovedUse, removed_uses};
use crate::plan::{KubeVersion, Plan, PlanKind, PreflightGate};
use crate::providers::release_record;
use crate::providers::network::{self, SubnetInfo};
use crate::providers::{ErrorKind, InsightStatus, ProviderError, Providers};

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Refuses the run.
    Error,
    /// Shown and journaled; the run goes on.
    Warning,
    /// Worth knowing (what EKS will pick); nothing to fix.
    Note,
}

/// One thing a gate found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    /// Stable, documented in the README (`PRE-API-001`).
    pub code: String,
    /// Whether it refuses the run.
    pub severity: Severity,
    /// What was found, in one sentence.
    pub what: String,
    /// Where (release, object, cluster, subnet).
    #[serde(rename = "where")]
    pub at: String,
    /// What to do about it.
    pub fix: String,
}

impl Finding {
    pub(super) fn new(code: &str, severity: Severity, what: String, at: String, fix: String) -> Finding {
        Finding { code: code.into(), severity, what, at, fix }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{level} {}: {} ({}). Fix: {}", self.code, self.what, self.at, self.fix)
    }
}

/// What one gate did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GateReport {
    /// Which gate.
    pub gate: PreflightGate,
    /// Who skipped it (`spec.preflight.skip`), when it was skipped.
    pub skipped_by: Option<String>,
    /// What it found (empty: nothing to say).
    pub findings: Vec<Finding>,
    /// The `irsa` gate: blue's issuer and the roles' trust policies as read (the trust step edits
    /// only documents that still say this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irsa: Option<super::irsa::IrsaReading>,
    /// The `data` gate: the claims that travel and where each lands (the data steps act on these).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<super::data::DataReading>,
}

impl GateReport {
    /// Whether any finding refuses the run.
    pub fn refuses(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Whether `gate` has anything to check in this plan.
pub fn applies(gate: PreflightGate, plan: &Plan) -> bool {
    match gate {
        PreflightGate::Apis => !plan.releases.is_empty(),
        PreflightGate::Insights => plan.kind == PlanKind::Upgrade && plan.blue.is_some(),
        PreflightGate::Addons => !plan.green.addons.is_empty(),
        PreflightGate::Subnets => !plan.green.subnets.is_empty(),
        PreflightGate::Data => plan.data.as_ref().is_some_and(|d| d.carries()),
        PreflightGate::Irsa => {
            plan.kind == PlanKind::Upgrade
                && plan.blue.is_some()
                && (!plan.releases.is_empty() || plan.green.addons.iter().any(|a| a.service_account_role_arn.is_some()))
        }
    }
}

/// Runs one gate (or records who skipped it).
pub async fn run(gate: PreflightGate, plan: &Plan, p: &Providers, who: &str) -> Result<GateReport, ProviderError> {
    if plan.preflight.skip.contains(&gate) {
        return Ok(GateReport { gate, skipped_by: Some(who.to_string()), findings: Vec::new(), irsa: None, data: None });
    }
    let (mut irsa, mut data) = (None, None);
    let findings = match gate {
        PreflightGate::Apis => apis(plan, p).await?,
        PreflightGate::Insights => insights(plan, p).await?,
        PreflightGate::Addons => addons(plan, p).await?,
        PreflightGate::Subnets => subnets(plan, p).await?,
        PreflightGate::Irsa => {
            let (findings, reading) = super::irsa::gate(plan, p).await?;
            irsa = reading;
            findings
        }
        PreflightGate::Data => {
            let (findings, reading) = super::data::gate(plan, p).await?;
            data = reading;
            findings
        }
    };
    Ok(GateReport { gate, skipped_by: None, findings, irsa, data })
}

fn removed(code: &str, use_: &RemovedUse, release: &str, source: &str, target: KubeVersion) -> Finding {
    let object = match &use_.namespace {
        Some(ns) => format!("{}/{ns}/{}", use_.kind, use_.name),
        None => format!("{}/{}", use_.kind, use_.name),
    };
    let instead = match (&use_.replacement, &use_.note) {
        (Some(r), Some(n)) => format!("use {r} instead ({n})"),
        (Some(r), None) => format!("use {r} instead"),
        (None, Some(n)) => n.clone(),
        (None, None) => "remove it".into(),
    };
    Finding::new(
        code,
        Severity::Error,
        format!(
            "{} uses {} {}, removed in Kubernetes {}; green runs {target}",
            object, use_.api_version, use_.kind, use_.removed_in
        ),
        format!("release {release} ({source})"),
        format!("{instead}, in the chart or its values, before upgrading"),
    )
}

async fn apis(plan: &Plan, p: &Providers) -> Result<Vec<Finding>, ProviderError> {
    let target = plan.green.version;
    let version = target.to_string();
    let mut out = Vec::new();
    for r in &plan.releases {
        let manifests = p.releases.render(r, &version).await?;
        let uses = removed_uses(&manifests, target).map_err(|e| {
            ProviderError::new(crate::providers::ErrorKind::Invalid, format!("release {}: {e}", r.name))
        })?;
        out.extend(uses.iter().map(|u| removed("PRE-API-001", u, &r.name, "as rendered for green", target)));
        // A release that makes claims starts empty on green unless the plan says what to do.
        if plan.data.is_none() && makes_claims(&manifests) {
            out.push(Finding::new(
                "PRE-DATA-010",
                Severity::Warning,
                "the release makes persistent volume claims, and the plan does not say what happens to their data: green's start empty".into(),
                format!("release {}", r.name),
                "add spec.data: `mode: snapshot` with the claims to carry, or `mode: none` to start empty on purpose".into(),
            ));
        }
    }
    if let (PlanKind::Upgrade, Some(blue)) = (plan.kind, &plan.blue) {
        for (release, manifest) in deployed_manifests(p, &blue.cluster).await? {
            let uses = removed_uses(&manifest, target).map_err(|e| {
                ProviderError::new(crate::providers::ErrorKind::Invalid, format!("release {release} on {}: {e}", blue.cluster))
            })?;
            let source = format!("running on blue {}", blue.cluster);
            out.extend(uses.iter().map(|u| removed("PRE-API-002", u, &release, &source, target)));
        }
    }
    Ok(out)
}

/// Whether rendered manifests create claims (a PersistentVolumeClaim, or a StatefulSet's claim
/// templates).
fn makes_claims(manifests: &str) -> bool {
    manifests.lines().any(|l| {
        let l = l.trim();
        l == "kind: PersistentVolumeClaim" || l.starts_with("volumeClaimTemplates:")
    })
}

/// The manifest of each release's latest deployed revision on `cluster`, from helm's records.
async fn deployed_manifests(p: &Providers, cluster: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let mut latest: std::collections::BTreeMap<(String, String), (u32, Vec<u8>)> = Default::default();
    for s in p.records.release_secrets(cluster).await? {
        let deployed = s.labels.get("status").map(String::as_str) == Some("deployed");
        let (Some(name), Some(revision), Some(bytes)) =
            (s.labels.get("name"), s.labels.get("version").and_then(|v| v.parse::<u32>().ok()), s.release)
        else {
            continue;
        };
        if !deployed {
            continue;
        }
        let key = (s.namespace.clone(), name.clone());
        if latest.get(&key).is_none_or(|(r, _)| *r < revision) {
            latest.insert(key, (revision, bytes));
        }
    }
    let mut out = Vec::new();
    for ((ns, name), (_, bytes)) in latest {
        let record = release_record::decode(&bytes).map_err(|e| {
            ProviderError::new(crate::providers::ErrorKind::Invalid, format!("release {ns}/{name} on {cluster}: {e}"))
        })?;
        out.push((format!("{ns}/{name}"), record.manifest));
    }
    Ok(out)
}

async fn insights(plan: &Plan, p: &Providers) -> Result<Vec<Finding>, ProviderError> {
    let Some(blue) = &plan.blue else { return Ok(Vec::new()) };
    let version = plan.green.version.to_string();
    let mut out = Vec::new();
    for i in p.insights.upgrade_insights(&blue.cluster, &version).await? {
        let (code, severity) = match i.status {
            InsightStatus::Error => ("PRE-INS-001", Severity::Error),
            InsightStatus::Warning => ("PRE-INS-002", Severity::Warning),
            InsightStatus::Passing | InsightStatus::Unknown => continue,
        };
        let mut what = format!("EKS insight \"{}\": {}", i.name, i.reason);
        if !i.resources.is_empty() {
            what.push_str(&format!("; affects {}", i.resources.join(", ")));
        }
        out.push(Finding::new(code, severity, what, format!("blue {} for {version}", blue.cluster), i.recommendation.clone()));
        for d in &i.deprecations {
            for c in &d.clients {
                out.push(Finding::new(
                    "PRE-INS-003",
                    severity,
                    format!(
                        "client {:?} called deprecated {} {} times in the last 30 days{}",
                        c.user_agent,
                        d.usage,
                        c.requests_last_30_days,
                        d.stop_serving_version.as_ref().map(|v| format!(" (no longer served from {v})")).unwrap_or_default()
                    ),
                    format!("blue {}", blue.cluster),
                    match &d.replaced_with {
                        Some(r) => format!("move that client to {r}; no manifest scan can see it"),
                        None => "move that client off the deprecated API; no manifest scan can see it".into(),
                    },
                ));
            }
        }
    }
    Ok(out)
}

async fn addons(plan: &Plan, p: &Providers) -> Result<Vec<Finding>, ProviderError> {
    let version = plan.green.version.to_string();
    let mut out = Vec::new();
    for (i, a) in plan.green.addons.iter().enumerate() {
        let versions = p.catalog.addon_versions(&a.name, &version).await?;
        match &a.version {
            Some(pinned) if !versions.compatible.contains(pinned) => out.push(Finding::new(
                "PRE-ADD-001",
                Severity::Error,
                format!("add-on {} {pinned} does not support Kubernetes {version}", a.name),
                format!("spec.green.addons[{i}].version"),
                match &versions.default {
                    Some(d) => format!("pin a compatible version (EKS's default for {version} is {d}) or remove the pin"),
                    None => format!("pin a version EKS lists for {version} (`aws eks describe-addon-versions`)"),
                },
            )),
            Some(_) => {}
            None => out.push(Finding::new(
                "PRE-ADD-002",
                Severity::Note,
                format!(
                    "add-on {} is not pinned; EKS will install {}",
                    a.name,
                    versions.default.as_deref().unwrap_or("its default (none listed for this version)")
                ),
                format!("spec.green.addons[{i}]"),
                "nothing, unless you want to pin it".into(),
            )),
        }
    }
    Ok(out)
}

async fn subnets(plan: &Plan, p: &Providers) -> Result<Vec<Finding>, ProviderError> {
    let ids = network::subnet_ids(&plan.green);
    let found: Vec<SubnetInfo> = match p.network.subnets(&ids).await {
        Ok(found) => found,
        // Some do not exist: keep the ones that do, and let the rule name the others.
        Err(e) if e.kind == ErrorKind::NotFound => {
            let mut found = Vec::new();
            for id in &ids {
                match p.network.subnets(std::slice::from_ref(id)).await {
                    Ok(mut one) => found.append(&mut one),
                    Err(e) if e.kind == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            found
        }
        Err(e) => return Err(e),
    };
    Ok(network::subnet_capacity(&plan.green, &found)
        .into_iter()
        .map(|f| {
            let severity = if f.refuses() { Severity::Error } else { Severity::Warning };
            Finding::new(f.code, severity, f.problem, format!("subnets {}", f.subnets.join(", ")), f.fix)
        })
        .collect())
}
