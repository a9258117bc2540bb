//! Traffic: the hosted zone, weighted records with their blue and green targets, the weight
//! steps (strictly increasing, 0–100, ending at 100) and the gates (names of existing checks).

use std::collections::HashMap;

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;
use crate::plan::rules;
use crate::plan::shape::closest;

/// Resolvers may keep serving blue for a record's TTL after a weight change; beyond this a
/// rollback would take too long to bite. AWS recommends 60 s for weighted records.
const MAX_RECORD_TTL: u32 = 300;
const DEFAULT_RECORD_TTL: u32 = 60;

/// The names set identifiers default to.
pub(super) struct Names<'a> {
    pub plan: &'a str,
    /// Blue's cluster (`None` in a Drill).
    pub blue: Option<&'a str>,
    pub green: &'a str,
}

pub(super) fn traffic(
    cx: &mut Ctx,
    raw: RawTraffic,
    kind: PlanKind,
    names: &Names,
    check_names: &[String],
) -> Traffic {
    let zone = match (raw.zone_id, raw.zone) {
        (Some(id), None) => {
            cx.check("spec.traffic.zoneId", rules::zone_id(&id));
            HostedZone::Id(id)
        }
        (None, Some(name)) => {
            cx.check("spec.traffic.zone", rules::zone_name(&name));
            HostedZone::Name(format!("{}.", name.trim_end_matches('.').to_ascii_lowercase()))
        }
        (Some(id), Some(_)) => {
            cx.err("spec.traffic.zone", "give either `zoneId` or `zone` (its name), not both");
            HostedZone::Id(id)
        }
        (None, None) => {
            cx.err("spec.traffic", "name the hosted zone: `zoneId: Z…` or `zone: example.com`");
            HostedZone::Id(String::new())
        }
    };
    if raw.records.is_empty() {
        cx.err(
            "spec.traffic.records",
            "list at least one record to move from blue to green",
        );
    }
    let mut seen = HashMap::new();
    let records = raw
        .records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let rec = record(cx, i, r, kind, names);
            let key = format!("{} {:?}", rec.name.trim_end_matches('.').to_lowercase(), rec.record_type);
            if let Some(first) = seen.insert(key, i) {
                cx.err(
                    format!("spec.traffic.records[{i}].name"),
                    format!("record {:?} of this type is already listed at spec.traffic.records[{first}]", rec.name),
                );
            }
            rec
        })
        .collect();
    let steps = steps(cx, raw.steps);

    let gates = raw.gates.unwrap_or_default();
    let mut listed = HashMap::new();
    for (i, g) in gates.iter().enumerate() {
        let p = format!("spec.traffic.gates[{i}]");
        if let Some(first) = listed.insert(g.as_str(), i) {
            cx.err(
                p,
                format!("gate {g:?} is listed twice (also at gates[{first}]); remove one"),
            );
        } else if !check_names.contains(g) {
            let hint = match closest(g, check_names.iter().map(String::as_str)) {
                Some(n) => format!("; did you mean {n:?}?"),
                None if check_names.is_empty() => "; define it under spec.checks".into(),
                None => format!("; known checks: {}", check_names.join(", ")),
            };
            cx.err(p, format!("gate {g:?} names no check{hint}"));
        }
    }
    Traffic {
        zone,
        records,
        steps,
        gates,
    }
}

fn record(cx: &mut Ctx, i: usize, r: RawRecord, kind: PlanKind, names: &Names) -> TrafficRecord {
    let p = format!("spec.traffic.records[{i}]");
    cx.check(format!("{p}.name"), rules::hostname(&r.name, true));
    let record_type = match r.record_type {
        None | Some(RawRecordType::Cname) => RecordType::Cname,
        Some(RawRecordType::A) => RecordType::A,
        Some(RawRecordType::Aaaa) => RecordType::Aaaa,
    };
    let ttl = r.ttl.unwrap_or(DEFAULT_RECORD_TTL);
    if ttl > MAX_RECORD_TTL {
        cx.err(
            format!("{p}.ttl"),
            format!("ttl {ttl} is too long: resolvers keep the old answer that many seconds after each shift; use at most {MAX_RECORD_TTL} (AWS recommends 60)"),
        );
    }
    let blue = target(cx, &format!("{p}.blue"), r.blue);
    let green = target(cx, &format!("{p}.green"), r.green);
    if kind == PlanKind::Drill && matches!(blue, RecordTarget::Service { .. }) {
        cx.err(
            format!("{p}.blue"),
            "a Drill has no blue cluster; give blue as a hostname (where the drill record points when not drilling)",
        );
    }
    if matches!(&blue, RecordTarget::Hostname(_)) && blue == green {
        cx.err(
            format!("{p}.green"),
            "blue and green point at the same target; shifting traffic would change nothing",
        );
    }
    let ids = r.set_identifiers.unwrap_or(RawSetIdentifiers {
        blue: None,
        green: None,
    });
    // Set identifiers follow the clusters, so the record green makes this quarter is the one
    // next quarter's plan finds as blue's with no renaming. A Drill's standby side has no cluster.
    let legacy = SetIds { blue: format!("{}-blue", names.plan), green: format!("{}-green", names.plan) };
    let explicit = SetIdsGiven { blue: ids.blue.is_some(), green: ids.green.is_some() };
    let blue_set_id = ids.blue.unwrap_or_else(|| names.blue.map_or_else(|| legacy.blue.clone(), str::to_string));
    let green_set_id = ids.green.unwrap_or_else(|| names.green.to_string());
    for (side, id) in [("blue", &blue_set_id), ("green", &green_set_id)] {
        if id.is_empty() || id.chars().count() > 128 {
            cx.err(
                format!("{p}.setIdentifiers.{side}"),
                "a SetIdentifier is 1–128 characters",
            );
        }
    }
    // Defaults that collide mean green and blue are one cluster, which is reported already.
    let same_cluster = !explicit.blue && !explicit.green && names.blue == Some(names.green);
    if blue_set_id == green_set_id && !same_cluster {
        cx.err(
            format!("{p}.setIdentifiers"),
            format!("blue and green share the SetIdentifier {blue_set_id:?}; they must differ"),
        );
    }
    TrafficRecord {
        name: r.name,
        record_type,
        ttl,
        blue,
        green,
        blue_set_id,
        green_set_id,
        explicit,
        legacy,
    }
}

fn target(cx: &mut Ctx, p: &str, raw: RawTarget) -> RecordTarget {
    match raw {
        RawTarget::Hostname(h) => {
            cx.check(p, rules::hostname(&h, false));
            RecordTarget::Hostname(h)
        }
        RawTarget::Service(s) => {
            let sp = format!("{p}.service");
            match s.service.split_once('/') {
                Some((ns, name))
                    if rules::dns_label(ns, "").is_ok() && rules::dns_label(name, "").is_ok() =>
                {
                    RecordTarget::Service {
                        namespace: ns.to_owned(),
                        name: name.to_owned(),
                    }
                }
                _ => {
                    cx.err(sp, format!("{:?} is not namespace/name of a Service; write one like ingress/ingress-nginx-controller", s.service));
                    RecordTarget::Service {
                        namespace: String::new(),
                        name: s.service,
                    }
                }
            }
        }
    }
}

fn steps(cx: &mut Ctx, raw: Vec<RawStep>) -> Vec<TrafficStep> {
    if raw.is_empty() {
        cx.err(
            "spec.traffic.steps",
            "list at least one step; the last one has weight 100",
        );
        return Vec::new();
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut prev: Option<u8> = None;
    for (i, s) in raw.iter().enumerate() {
        let p = format!("spec.traffic.steps[{i}]");
        if s.weight > 100 {
            cx.err(
                format!("{p}.weight"),
                format!("weight {} is above 100; a step's weight is green's share of traffic in percent", s.weight),
            );
        } else if let Some(before) = prev.filter(|b| s.weight <= *b) {
            cx.err(
                format!("{p}.weight"),
                format!(
                    "weights must strictly increase: {} comes after {before}",
                    s.weight
                ),
            );
        }
        prev = Some(prev.map_or(s.weight, |b| b.max(s.weight)));
        let bake = cx.duration(
            &format!("{p}.bake"),
            Some(&s.bake),
            Default::default(),
            false,
        );
        out.push(TrafficStep {
            weight: s.weight,
            bake,
        });
    }
    let last = raw.last().expect("checked non-empty").weight;
    if last < 100 {
        cx.err(
            format!("spec.traffic.steps[{}].weight", raw.len() - 1),
            format!("the last step has weight {last}; end at 100 so green takes all traffic"),
        );
    }
    out
}
