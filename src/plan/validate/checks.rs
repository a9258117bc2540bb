//! Health checks: unique names, exactly one kind each, and the documented defaults
//! (timeout 5m; http: status 200, 3 successes, every 5s, via green).

use std::collections::HashMap;
use std::time::Duration;

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;
use crate::plan::rules;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const ONE_KIND: &str = "a check needs exactly one of nodesReady, workloadsReady, releasesDeployed (written `releasesDeployed: {}`), http, command, webhook, prometheus or alertmanager";

pub(super) fn checks(
    cx: &mut Ctx,
    raw: Vec<RawCheck>,
    kind: PlanKind,
    releases: &[Release],
) -> Vec<Check> {
    let mut seen = HashMap::new();
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let p = format!("spec.checks[{i}]");
            cx.check(format!("{p}.name"), rules::health_check_name(&c.name));
            cx.unique(&mut seen, &c.name, i, "spec.checks", "name", "check name");
            let timeout = cx.duration(
                &format!("{p}.timeout"),
                c.timeout.as_ref(),
                DEFAULT_TIMEOUT,
                true,
            );
            let signals = [c.webhook.is_some(), c.prometheus.is_some(), c.alertmanager.is_some()];
            let kind = if signals.contains(&true) {
                let others = [c.nodes_ready.is_some(), c.workloads_ready.is_some(), c.releases_deployed.is_some(), c.http.is_some(), c.command.is_some()];
                if signals.iter().chain(&others).filter(|g| **g).count() != 1 {
                    cx.err(p, ONE_KIND);
                    return None;
                }
                super::signals::kind(cx, &p, c.webhook, c.prometheus, c.alertmanager)?
            } else {
                check_kind(cx, &p, c.nodes_ready, c.workloads_ready, c.releases_deployed, c.http, c.command, kind, releases)?
            };
            Some(Check {
                name: c.name,
                kind,
                timeout,
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)] // one argument per check kind, as the file spells them
fn check_kind(
    cx: &mut Ctx,
    p: &str,
    nodes: Option<RawNodesReady>,
    workloads: Option<RawWorkloadsReady>,
    releases_deployed: Option<RawReleasesDeployed>,
    http: Option<RawHttp>,
    command: Option<RawCommand>,
    plan_kind: PlanKind,
    releases: &[Release],
) -> Option<CheckKind> {
    let given = [
        nodes.is_some(),
        workloads.is_some(),
        releases_deployed.is_some(),
        http.is_some(),
        command.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        cx.err(p, ONE_KIND);
        return None;
    }
    if let Some(n) = nodes {
        let min = n.min.unwrap_or(1);
        if min == 0 {
            cx.err(
                format!("{p}.nodesReady.min"),
                "min is 0, so the check proves nothing; use 1 or more",
            );
        }
        return Some(CheckKind::NodesReady { min });
    }
    if let Some(w) = workloads {
        if w.namespaces.is_empty() {
            cx.err(
                format!("{p}.workloadsReady.namespaces"),
                "list the namespaces whose workloads must be ready",
            );
        }
        for (i, ns) in w.namespaces.iter().enumerate() {
            cx.check(
                format!("{p}.workloadsReady.namespaces[{i}]"),
                rules::dns_label(ns, "namespace"),
            );
        }
        return Some(CheckKind::WorkloadsReady {
            namespaces: w.namespaces,
        });
    }
    if releases_deployed.is_some() {
        if releases.is_empty() {
            cx.err(
                format!("{p}.releasesDeployed"),
                "the plan has no releases to check; remove this check or add releases",
            );
        }
        return Some(CheckKind::ReleasesDeployed);
    }
    if let Some(h) = http {
        return Some(CheckKind::Http(http_check(
            cx,
            &format!("{p}.http"),
            h,
            plan_kind,
        )));
    }
    let c = command.expect("exactly one kind was given");
    if c.run.is_empty() || c.run[0].trim().is_empty() {
        cx.err(
            format!("{p}.command.run"),
            "give the program and its arguments, e.g. [./scripts/smoke.sh, --quick]",
        );
    }
    Some(CheckKind::Command {
        argv: c.run,
        expect_exit: c.expect_exit.unwrap_or(0),
    })
}

fn http_check(cx: &mut Ctx, p: &str, h: RawHttp, plan_kind: PlanKind) -> HttpCheck {
    cx.check(format!("{p}.url"), rules::http_url(&h.url));
    let via = match h.via {
        None | Some(RawProbeTarget::Green) => ProbeTarget::Green,
        Some(RawProbeTarget::Dns) => ProbeTarget::Dns,
        Some(RawProbeTarget::Blue) => {
            if plan_kind != PlanKind::Upgrade {
                cx.err(
                    format!("{p}.via"),
                    format!(
                        "{plan_kind:?} plans have no blue cluster; use `via: green` or `via: dns`"
                    ),
                );
            }
            ProbeTarget::Blue
        }
    };
    let expect_status = h.expect_status.unwrap_or(200);
    if !(100..=599).contains(&expect_status) {
        cx.err(
            format!("{p}.expectStatus"),
            format!("{expect_status} is not an HTTP status; use 100–599"),
        );
    }
    let successes = h.successes.unwrap_or(3);
    if successes == 0 {
        cx.err(
            format!("{p}.successes"),
            "successes is 0, so the check proves nothing; use 1 or more",
        );
    }
    let interval = cx.duration(
        &format!("{p}.interval"),
        h.interval.as_ref(),
        DEFAULT_INTERVAL,
        true,
    );
    let latency_budget = h
        .latency_budget
        .as_ref()
        .map(|d| cx.duration(&format!("{p}.latencyBudget"), Some(d), Duration::ZERO, true));
    HttpCheck {
        url: h.url,
        via,
        expect_status,
        body_contains: h.body_contains,
        successes,
        interval,
        latency_budget,
    }
}
