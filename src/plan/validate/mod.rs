//! The semantic pass: `raw::RawPlan` → `model::Plan`, collecting every problem as a YAML path and a
//! sentence that says what to do. Positions are attached later from the located tree.
//!
//! Defaults live here (not in `raw`), so the schema shows optional fields as optional and the
//! model always holds concrete values. Submodules own one part of the spec each.

mod checks;
mod cluster;
mod data;
mod notify;
mod releases;
mod signals;
mod traffic;

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::duration::parse_duration;
use super::model::*;
use super::raw::*;
use super::rules;

/// One semantic problem: where (a YAML path) and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub path: String,
    pub message: String,
    /// A problem in another file the plan reads (a release lock file), located there.
    pub elsewhere: Option<super::Diagnostic>,
}

/// Collects findings while the model is built.
pub(crate) struct Ctx<'a> {
    /// Directory the plan file is in: relative paths in the plan are resolved against it.
    pub base: &'a Path,
    pub findings: Vec<Finding>,
    /// sha256 of the other files whose content is part of the plan (a release lock file).
    pub inputs: Vec<String>,
}

impl Ctx<'_> {
    pub fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.findings.push(Finding {
            path: path.into(),
            message: message.into(),
            elsewhere: None,
        });
    }

    /// Records `result`'s message at `path` when it is an error.
    pub fn check<T>(&mut self, path: impl Into<String>, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(m) => {
                self.err(path, m);
                None
            }
        }
    }

    /// Parses an optional duration, falling back to `default`; `positive` refuses `0s`.
    pub fn duration(
        &mut self,
        path: &str,
        raw: Option<&RawDuration>,
        default: Duration,
        positive: bool,
    ) -> Duration {
        match raw {
            None => default,
            Some(d) => match parse_duration(&d.0) {
                Ok(v) if positive && v.is_zero() => {
                    self.err(path, format!("{:?} is zero; give a positive duration", d.0));
                    default
                }
                Ok(v) => v,
                Err(m) => {
                    self.err(path, m);
                    default
                }
            },
        }
    }

    /// Resolves a plan-relative path against the plan's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base.join(p)
        }
    }

    /// Reports `name` when an earlier item of the list at `list` (e.g. `spec.releases`) already
    /// used it; `field` is the name's field within an item.
    pub fn unique(
        &mut self,
        seen: &mut std::collections::HashMap<String, usize>,
        name: &str,
        index: usize,
        list: &str,
        field: &str,
        what: &str,
    ) {
        match seen.get(name) {
            Some(first) => {
                let msg = format!(
                    "{what} {name:?} is already used by {list}[{first}]; names must be unique"
                );
                self.err(format!("{list}[{index}].{field}"), msg);
            }
            None => {
                seen.insert(name.to_owned(), index);
            }
        }
    }
}

/// Builds the model; returns it only when no finding was recorded.
pub fn validate(
    raw: RawPlan,
    base: &Path,
    source: &Path,
    digest: String,
) -> (Option<Plan>, Vec<Finding>) {
    let mut cx = Ctx {
        base,
        findings: Vec::new(),
        inputs: Vec::new(),
    };
    let kind = match raw.kind {
        RawKind::Upgrade => PlanKind::Upgrade,
        RawKind::DevCluster => PlanKind::DevCluster,
        RawKind::Drill => PlanKind::Drill,
    };
    let metadata = metadata(&mut cx, raw.metadata);
    let spec = raw.spec;
    kind_rules(&mut cx, kind, &spec);

    let aws = Aws {
        region: spec.aws.region,
    };
    cx.check("spec.aws.region", rules::region(&aws.region));
    let state = state(&mut cx, spec.state);
    let blue = spec.blue.map(|b| {
        cx.check("spec.blue.cluster", rules::cluster_name(&b.cluster));
        BlueRef { cluster: b.cluster }
    });
    let green_lists_pod_identities = spec.green.pod_identities.is_some();
    let mut green = cluster::green(&mut cx, spec.green);
    if let Some(b) = &blue
        && b.cluster == green.name
    {
        cx.err(
            "spec.green.cluster",
            format!(
                "green and blue are both {:?}; give green a new name",
                b.cluster
            ),
        );
    }
    cx.check(
        "spec.helm.version",
        rules::exact_version(&spec.helm.version)
            .map_err(|m| m.replace("pin an exact version", "pin the exact helm version")),
    );
    let helm = HelmPin {
        version: spec.helm.version,
    };
    let (releases, captured_identities) = match spec.releases {
        None => (Vec::new(), Vec::new()),
        Some(RawReleases::List(list)) => (releases::releases(&mut cx, list), Vec::new()),
        Some(RawReleases::Lock(lock)) => releases::from_lock(&mut cx, &lock.lock),
    };
    // A plan replaying a capture gets blue's Pod Identity associations with its releases, unless
    // it says which it wants (`podIdentities: []` for none).
    if !green_lists_pod_identities && !captured_identities.is_empty() {
        green.identity.pod_identities = captured_identities;
        cluster::with_pod_identity_agent(&mut green);
    }
    // Gates are checked against every named check, even one with other problems, so a broken
    // check yields one finding rather than a second "unknown gate" one.
    let check_names: Vec<String> = spec
        .checks
        .iter()
        .flatten()
        .map(|c| c.name.clone())
        .collect();
    let checks = checks::checks(&mut cx, spec.checks.unwrap_or_default(), kind, &releases);
    let traffic = spec
        .traffic
        .map(|t| {
            let names = traffic::Names {
                plan: &metadata.name,
                blue: blue.as_ref().map(|b| b.cluster.as_str()),
                green: &green.name,
            };
            traffic::traffic(&mut cx, t, kind, &names, &check_names)
        });
    // An Upgrade without traffic is already reported; its http checks would only repeat it.
    if traffic.is_some() || kind != PlanKind::Upgrade {
        probe_targets(&mut cx, &checks, traffic.as_ref(), blue.is_some());
    }

    let preflight = preflight(&mut cx, spec.preflight);
    let notify = notify::notify(&mut cx, spec.notify.unwrap_or_default());
    let teardown = Teardown {
        retain_blue_for: cx.duration(
            "spec.teardown.retainBlueFor",
            spec.teardown.as_ref().map(|t| &t.retain_blue_for),
            Duration::from_secs(24 * 3600),
            false,
        ),
    };
    let on_failure = match spec.on_failure {
        None | Some(RawFailurePolicy::Rollback) => FailurePolicy::Rollback,
        Some(RawFailurePolicy::Pause) => FailurePolicy::Pause,
    };
    let ttl = spec
        .ttl
        .as_ref()
        .map(|d| cx.duration("spec.ttl", Some(d), Duration::ZERO, true));
    let rto_target = spec
        .rto_target
        .as_ref()
        .map(|d| cx.duration("spec.rtoTarget", Some(d), Duration::ZERO, true));
    let timeouts = timeouts(&mut cx, spec.timeouts);
    let data = data::data(&mut cx, spec.data, kind, &metadata.name, traffic.as_ref());
    let rpo_target = data::rpo_target(&mut cx, spec.rpo_target.as_ref(), kind, data.as_ref());
    if preflight.skip.contains(&PreflightGate::Data) && data.as_ref().is_some_and(DataSpec::carries) {
        cx.err("spec.preflight.skip", "the data gate decides which claims travel and where; it cannot be skipped while spec.data.mode is snapshot");
    }

    if !cx.findings.is_empty() {
        return (None, cx.findings);
    }
    // A plan that replays a lock file is that file too: an edit to either is a different plan.
    let digest = if cx.inputs.is_empty() {
        digest
    } else {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(digest.as_bytes());
        for d in &cx.inputs {
            h.update(b"\0");
            h.update(d.as_bytes());
        }
        hex::encode(h.finalize())
    };
    let plan = Plan {
        kind,
        metadata,
        aws,
        state,
        blue,
        green,
        helm,
        releases,
        checks,
        traffic,
        teardown,
        on_failure,
        ttl,
        rto_target,
        timeouts,
        preflight,
        notify,
        data,
        rpo_target,
        digest,
        source: source.to_path_buf(),
    };
    (Some(plan), Vec::new())
}

fn preflight(cx: &mut Ctx, raw: Option<RawPreflight>) -> Preflight {
    let mut skip = Vec::new();
    for (i, name) in raw.map(|r| r.skip).unwrap_or_default().iter().enumerate() {
        match PreflightGate::ALL.iter().find(|g| g.name() == name) {
            Some(g) if skip.contains(g) => cx.err(format!("spec.preflight.skip[{i}]"), format!("{name} is listed twice")),
            Some(g) => skip.push(*g),
            None => {
                let names: Vec<&str> = PreflightGate::ALL.iter().map(|g| g.name()).collect();
                cx.err(
                    format!("spec.preflight.skip[{i}]"),
                    format!("no pre-flight gate is called {name:?}; the gates are {}", names.join(", ")),
                )
            }
        }
    }
    Preflight { skip }
}

fn metadata(cx: &mut Ctx, raw: RawMetadata) -> Metadata {
    cx.check("metadata.name", rules::dns_label(&raw.name, "plan name"));
    if raw.owner.trim().is_empty() {
        cx.err(
            "metadata.owner",
            "the owner is empty; name who to contact, e.g. platform@example.com",
        );
    }
    Metadata {
        name: raw.name,
        owner: raw.owner,
        labels: raw.labels.unwrap_or_default(),
    }
}

/// Which parts each kind needs or forbids.
fn kind_rules(cx: &mut Ctx, kind: PlanKind, spec: &RawSpec) {
    let name = format!("{kind:?}");
    let forbid = |cx: &mut Ctx, present: bool, path: &str, why: &str| {
        if present {
            cx.err(path, format!("{name} plans {why}; remove it"));
        }
    };
    match kind {
        PlanKind::Upgrade => {
            if spec.blue.is_none() {
                cx.err(
                    "spec.blue",
                    "Upgrade plans need the live cluster to replace: add `blue: {cluster: NAME}`",
                );
            }
            if spec.traffic.is_none() {
                cx.err("spec.traffic", "Upgrade plans need a `traffic` section (zoneId, records, steps) to move traffic to green");
            }
            forbid(
                cx,
                spec.ttl.is_some(),
                "spec.ttl",
                "have no TTL (it is for DevCluster)",
            );
            forbid(
                cx,
                spec.rto_target.is_some(),
                "spec.rtoTarget",
                "have no rtoTarget (it is for Drill)",
            );
        }
        PlanKind::DevCluster => {
            if spec.ttl.is_none() {
                cx.err("spec.ttl", "DevCluster plans need a `ttl` (e.g. `ttl: 8h`) after which the cluster is reaped");
            }
            forbid(
                cx,
                spec.blue.is_some(),
                "spec.blue",
                "build a cluster from nothing and have no blue",
            );
            forbid(
                cx,
                spec.traffic.is_some(),
                "spec.traffic",
                "shift no traffic",
            );
            forbid(
                cx,
                spec.teardown.is_some(),
                "spec.teardown",
                "have no blue to retain (the ttl decides teardown)",
            );
            forbid(
                cx,
                spec.rto_target.is_some(),
                "spec.rtoTarget",
                "have no rtoTarget (it is for Drill)",
            );
        }
        PlanKind::Drill => {
            if spec.rto_target.is_none() {
                cx.err("spec.rtoTarget", "Drill plans need an `rtoTarget` (e.g. `rtoTarget: 45m`) to measure recovery against");
            }
            forbid(
                cx,
                spec.blue.is_some(),
                "spec.blue",
                "rebuild from nothing and have no blue",
            );
            forbid(
                cx,
                spec.teardown.is_some(),
                "spec.teardown",
                "have no blue to retain",
            );
            forbid(
                cx,
                spec.ttl.is_some(),
                "spec.ttl",
                "have no TTL (it is for DevCluster)",
            );
        }
    }
}

fn state(cx: &mut Ctx, raw: RawState) -> StateBackend {
    match raw.backend {
        RawBackend::Local => {
            for (present, field) in [
                (raw.bucket.is_some(), "bucket"),
                (raw.prefix.is_some(), "prefix"),
                (raw.region.is_some(), "region"),
            ] {
                if present {
                    cx.err(
                        format!("spec.state.{field}"),
                        format!("`{field}` is for the s3 backend; remove it or set `backend: s3`"),
                    );
                }
            }
            let path = raw.path.unwrap_or_else(|| ".cutover".into());
            if path.trim().is_empty() {
                cx.err(
                    "spec.state.path",
                    "the state path is empty; give a directory such as .cutover",
                );
            }
            StateBackend::Local {
                path: cx.resolve(&path),
            }
        }
        RawBackend::S3 => {
            if raw.path.is_some() {
                cx.err(
                    "spec.state.path",
                    "`path` is for the local backend; use `bucket` and `prefix` with s3",
                );
            }
            let bucket = raw.bucket.unwrap_or_else(|| {
                cx.err("spec.state", "the s3 backend needs a `bucket`");
                String::new()
            });
            if !bucket.is_empty() {
                cx.check("spec.state.bucket", rules::s3_bucket(&bucket));
            }
            let prefix = raw.prefix.unwrap_or_else(|| "cutover".into());
            if prefix.starts_with('/') {
                cx.err(
                    "spec.state.prefix",
                    format!("{prefix:?} starts with `/`; S3 keys do not, remove it"),
                );
            }
            if let Some(r) = &raw.region {
                cx.check("spec.state.region", rules::region(r));
            }
            StateBackend::S3 {
                bucket,
                prefix: prefix.trim_end_matches('/').to_owned(),
                region: raw.region,
            }
        }
    }
}

fn timeouts(cx: &mut Ctx, raw: Option<RawTimeouts>) -> Timeouts {
    let d = Timeouts::default();
    let Some(t) = raw else { return d };
    Timeouts {
        cluster_active: cx.duration(
            "spec.timeouts.clusterActive",
            t.cluster_active.as_ref(),
            d.cluster_active,
            true,
        ),
        nodegroup_active: cx.duration(
            "spec.timeouts.nodegroupActive",
            t.nodegroup_active.as_ref(),
            d.nodegroup_active,
            true,
        ),
        addon_active: cx.duration(
            "spec.timeouts.addonActive",
            t.addon_active.as_ref(),
            d.addon_active,
            true,
        ),
        dns_insync: cx.duration(
            "spec.timeouts.dnsInsync",
            t.dns_insync.as_ref(),
            d.dns_insync,
            true,
        ),
        load_balancer_release: cx.duration(
            "spec.timeouts.loadBalancerRelease",
            t.load_balancer_release.as_ref(),
            d.load_balancer_release,
            true,
        ),
    }
}

/// An http check sent `via: green` or `via: blue` goes to the load balancer that the traffic record
/// for the URL's host points at, so that record must exist (and `via: blue` needs a blue); caught
/// here rather than after a green cluster has been built for a check that could never pass.
fn probe_targets(cx: &mut Ctx, checks: &[Check], traffic: Option<&Traffic>, has_blue: bool) {
    for (i, check) in checks.iter().enumerate() {
        let CheckKind::Http(http) = &check.kind else { continue };
        let path = format!("spec.checks[{i}].http.via");
        let side = match http.via {
            ProbeTarget::Dns => continue,
            ProbeTarget::Green => "green",
            ProbeTarget::Blue => "blue",
        };
        if http.via == ProbeTarget::Blue && !has_blue {
            cx.err(path, "`via: blue` needs a blue cluster, and this plan has none; use `via: green` or `via: dns`");
            continue;
        }
        let host = url_host(&http.url);
        let known = traffic.iter().flat_map(|t| &t.records).any(|r| r.name.trim_end_matches('.').eq_ignore_ascii_case(&host));
        if !known {
            cx.err(
                path,
                format!(
                    "`via: {side}` probes the load balancer behind the traffic record for {host:?}, and the plan has no \
                     such record; add it under spec.traffic.records or use `via: dns`"
                ),
            );
        }
    }
}

/// The host of an http(s) URL already checked by `rules::http_url`, lower-case, without port.
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}
