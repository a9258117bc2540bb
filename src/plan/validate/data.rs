//! `spec.data` and `spec.rpoTarget`: which claims travel, checked for shape here; whether they
//! exist, are EBS-backed and have a zone on green is the `data` pre-flight gate's job (it needs
//! the clusters).

use std::time::Duration;

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;
use crate::plan::rules;

const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 24 * 3600);
const DEFAULT_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

pub(super) fn data(cx: &mut Ctx, raw: Option<RawData>, kind: PlanKind, env: &str, traffic: Option<&Traffic>) -> Option<DataSpec> {
    let raw = raw?;
    let mode = match raw.mode {
        RawDataMode::Snapshot => DataMode::Snapshot,
        RawDataMode::None => DataMode::None,
    };
    if kind == PlanKind::DevCluster {
        cx.err("spec.data", "DevCluster plans carry no data; a dev cluster starts empty");
    }
    let claims = claims(cx, raw.claims.unwrap_or_default());
    match mode {
        DataMode::Snapshot if claims.is_empty() => {
            cx.err("spec.data.claims", "mode snapshot needs the claims that travel: `- {namespace: NS, name: CLAIM}` or `- {namespace: NS, selector: {app: NAME}}`");
        }
        DataMode::None if !claims.is_empty() => {
            cx.err("spec.data.claims", "with mode none no claim travels; remove `claims` or use mode snapshot");
        }
        _ => {}
    }
    let quiesce = raw.quiesce.unwrap_or(false);
    if quiesce {
        if mode == DataMode::None {
            cx.err("spec.data.quiesce", "quiesce stops blue's writers for a snapshot; with mode none there is none");
        }
        if kind == PlanKind::Drill {
            cx.err("spec.data.quiesce", "a drill restores from existing snapshots and stops nothing; remove quiesce");
        }
        // Writers stopped on blue: any traffic left on blue would reach a service without them.
        if let Some(t) = traffic
            && t.steps.len() != 1
        {
            cx.err(
                "spec.traffic.steps",
                "with spec.data.quiesce, blue's writers are stopped, so traffic moves to green in one step: give `steps: [{weight: 100, bake: ...}]`",
            );
        }
    }
    for (from, to) in raw.storage_class_map.iter().flatten() {
        for (name, what) in [(from, "key"), (to, "value")] {
            if let Err(m) = rules::dns_subdomain(name, "storage class name") {
                cx.err(format!("spec.data.storageClassMap.{from}"), format!("{what}: {m}"));
            }
        }
    }
    let from = match raw.from {
        Some(f) if kind != PlanKind::Drill => {
            cx.err("spec.data.from", "only a Drill restores another environment's snapshots; remove `from`");
            f
        }
        Some(f) => {
            if let Err(m) = rules::dns_label(&f, "environment name") {
                cx.err("spec.data.from", m);
            }
            f
        }
        None => env.to_string(),
    };
    Some(DataSpec {
        mode,
        claims,
        quiesce,
        storage_class_map: raw.storage_class_map.unwrap_or_default(),
        retain: cx.duration("spec.data.retain", raw.retain.as_ref(), DEFAULT_RETAIN, true),
        snapshot_timeout: cx.duration("spec.data.snapshotTimeout", raw.snapshot_timeout.as_ref(), DEFAULT_SNAPSHOT_TIMEOUT, true),
        move_zones: raw.move_zones.unwrap_or(false),
        from,
    })
}

fn claims(cx: &mut Ctx, raw: Vec<RawClaimSelector>) -> Vec<ClaimSelector> {
    let mut out: Vec<ClaimSelector> = Vec::new();
    for (i, c) in raw.into_iter().enumerate() {
        let at = format!("spec.data.claims[{i}]");
        if let Err(m) = rules::dns_label(&c.namespace, "namespace") {
            cx.err(format!("{at}.namespace"), m);
        }
        let selector = match (c.name, c.selector) {
            (Some(name), None) => {
                if let Err(m) = rules::dns_subdomain(&name, "claim name") {
                    cx.err(format!("{at}.name"), m);
                }
                ClaimSelector { namespace: c.namespace, name: Some(name), labels: Default::default() }
            }
            (None, Some(labels)) if !labels.is_empty() => {
                for (k, v) in &labels {
                    if let Err(m) = rules::label_key(k).and_then(|()| rules::label_value(v)) {
                        cx.err(format!("{at}.selector.{k}"), m);
                    }
                }
                ClaimSelector { namespace: c.namespace, name: None, labels }
            }
            _ => {
                cx.err(at, "give exactly one of `name` (one claim) or `selector` (labels every selected claim carries)");
                continue;
            }
        };
        if let Some(j) = out.iter().position(|o| *o == selector) {
            cx.err(format!("spec.data.claims[{i}]"), format!("the same claims as spec.data.claims[{j}]"));
        }
        out.push(selector);
    }
    out
}

/// `spec.rpoTarget`: a Drill's, and only one that restores data.
pub(super) fn rpo_target(cx: &mut Ctx, raw: Option<&RawDuration>, kind: PlanKind, data: Option<&DataSpec>) -> Option<Duration> {
    let raw = raw?;
    if kind != PlanKind::Drill || !data.is_some_and(DataSpec::carries) {
        cx.err("spec.rpoTarget", "rpoTarget is for Drill plans that restore data (spec.data.mode: snapshot)");
    }
    Some(cx.duration("spec.rpoTarget", Some(raw), Duration::ZERO, true))
}
