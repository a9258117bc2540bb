//! Helm releases: chart sources, exact versions, digests, values, secrets, and the `needs` graph
//! (existing names, no self-reference, no cycles — a cycle is named in full: `api -> worker -> api`).

use std::collections::HashMap;
use std::time::Duration;

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;
use crate::plan::rules;
use crate::plan::shape::closest;

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

pub(super) fn releases(cx: &mut Ctx, raw: Vec<RawRelease>) -> Vec<Release> {
    let mut seen = HashMap::with_capacity(raw.len());
    let out: Vec<Release> = raw
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            cx.unique(
                &mut seen,
                &r.name,
                i,
                "spec.releases",
                "name",
                "release name",
            );
            release(cx, i, r)
        })
        .collect();
    needs(cx, &out, &seen);
    out
}

fn release(cx: &mut Ctx, i: usize, r: RawRelease) -> Release {
    let p = format!("spec.releases[{i}]");
    cx.check(format!("{p}.name"), rules::release_name(&r.name));
    cx.check(
        format!("{p}.namespace"),
        rules::dns_label(&r.namespace, "namespace"),
    );
    let chart = chart(cx, &p, &r.chart);
    cx.check(
        format!("{p}.chart.version"),
        rules::exact_version(&r.chart.version),
    );
    let digest = r
        .chart
        .digest
        .as_deref()
        .and_then(|d| cx.check(format!("{p}.chart.digest"), rules::digest(d)));

    let values_files = r
        .values_files
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(j, f)| {
            let resolved = cx.resolve(f);
            if !resolved.is_file() {
                cx.err(
                    format!("{p}.valuesFiles[{j}]"),
                    format!("values file {f:?} not found (looked for {}); paths are relative to the plan file", shown(&resolved)),
                );
            }
            resolved
        })
        .collect();

    let mut secret_keys = HashMap::new();
    let secret_values = r
        .secret_values
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .filter_map(|(j, s)| {
            let sp = format!("{p}.secretValues[{j}]");
            if s.key.is_empty() || s.key.split('.').any(str::is_empty) {
                cx.err(
                    format!("{sp}.key"),
                    format!(
                        "{:?} is not a values path; write one like auth.password",
                        s.key
                    ),
                );
            }
            cx.unique(
                &mut secret_keys,
                &s.key,
                j,
                &format!("{p}.secretValues"),
                "key",
                "secret key",
            );
            let from = match (s.from_env, s.from_file) {
                (Some(env), None) => {
                    cx.check(format!("{sp}.fromEnv"), rules::env_name(&env));
                    SecretSource::Env(env)
                }
                (None, Some(file)) => SecretSource::File(cx.resolve(&file)),
                _ => {
                    cx.err(sp, "give exactly one of `fromEnv` or `fromFile`");
                    return None;
                }
            };
            Some(SecretValue { key: s.key, from })
        })
        .collect();

    let timeout = cx.duration(
        &format!("{p}.timeout"),
        r.timeout.as_ref(),
        DEFAULT_TIMEOUT,
        true,
    );
    Release {
        name: r.name,
        namespace: r.namespace,
        chart,
        version: r.chart.version,
        digest,
        values_files,
        values: serde_json::Value::Object(r.values.unwrap_or_default()),
        secret_values,
        needs: r.needs.unwrap_or_default(),
        timeout,
        create_namespace: r.create_namespace.unwrap_or(true),
    }
}

fn chart(cx: &mut Ctx, p: &str, c: &RawChart) -> ChartSource {
    let sources = [c.repo.is_some(), c.oci.is_some(), c.path.is_some()]
        .iter()
        .filter(|s| **s)
        .count();
    if sources != 1 {
        let what = if sources == 0 {
            "names no source"
        } else {
            "names more than one source"
        };
        cx.err(
            format!("{p}.chart"),
            format!("the chart {what}; give exactly one of `repo` (with `name`), `oci` or `path`"),
        );
    }
    if c.name.is_some() && c.repo.is_none() {
        cx.err(
            format!("{p}.chart.name"),
            "`name` goes with `repo`; an `oci` reference or `path` already names the chart",
        );
    }
    if let Some(repo) = &c.repo {
        cx.check(format!("{p}.chart.repo"), rules::http_url(repo));
        let name = c.name.clone().unwrap_or_else(|| {
            cx.err(
                format!("{p}.chart"),
                "a `repo` chart needs the chart's `name` in that repository",
            );
            String::new()
        });
        return ChartSource::Repo {
            url: repo.clone(),
            name,
        };
    }
    if let Some(oci) = &c.oci {
        cx.check(format!("{p}.chart.oci"), rules::oci_ref(oci));
        return ChartSource::Oci {
            reference: oci.clone(),
        };
    }
    if let Some(path) = &c.path {
        let resolved = cx.resolve(path);
        if !resolved.exists() {
            cx.err(
                format!("{p}.chart.path"),
                format!(
                    "chart {path:?} not found (looked for {}); paths are relative to the plan file",
                    shown(&resolved)
                ),
            );
        }
        return ChartSource::Path { path: resolved };
    }
    ChartSource::Path {
        path: Default::default(),
    }
}

/// `releases: {lock: FILE}`: the releases a `cutover capture` lock file pins; its problems are
/// reported in that file, located there.
pub(super) fn from_lock(cx: &mut Ctx, file: &str) -> (Vec<Release>, Vec<PodIdentity>) {
    let path = cx.resolve(file);
    if !path.is_file() {
        cx.err(
            "spec.releases.lock",
            format!(
                "lock file {file:?} not found (looked for {}); write one with `cutover capture --cluster NAME -o FILE --export-charts DIR`",
                shown(&path)
            ),
        );
        return (Vec::new(), Vec::new());
    }
    match crate::plan::lockfile::replay::releases(&path) {
        Ok((releases, digest)) => {
            cx.inputs.push(digest);
            // Read already without problems by `replay`.
            let captured = crate::plan::lockfile::load(&path).map(|l| l.pod_identities).unwrap_or_default();
            let identities = captured
                .into_iter()
                .map(|p| PodIdentity { namespace: p.namespace, service_account: p.service_account, role_arn: p.role_arn })
                .collect();
            (releases, identities)
        }
        Err(diagnostics) => {
            for d in diagnostics {
                cx.findings.push(super::Finding {
                    path: "spec.releases.lock".into(),
                    message: d.message.clone(),
                    elsewhere: Some(d),
                });
            }
            (Vec::new(), Vec::new())
        }
    }
}

/// Checks `needs` names, then finds cycles by depth-first search (iterative: a long chain of
/// releases must not overflow the stack).
fn needs(cx: &mut Ctx, releases: &[Release], index: &HashMap<String, usize>) {
    let mut edges: Vec<Vec<(usize, usize)>> = vec![Vec::new(); releases.len()];
    for (i, r) in releases.iter().enumerate() {
        let mut listed = HashMap::new();
        for (j, need) in r.needs.iter().enumerate() {
            let p = format!("spec.releases[{i}].needs[{j}]");
            if let Some(first) = listed.insert(need.as_str(), j) {
                cx.err(
                    p,
                    format!("{need:?} is listed twice (also at needs[{first}]); remove one"),
                );
                continue;
            }
            if *need == r.name {
                cx.err(
                    p,
                    format!("release {need:?} needs itself; remove it from its own `needs`"),
                );
                continue;
            }
            match index.get(need) {
                Some(&target) => edges[i].push((j, target)),
                None => {
                    let hint = closest(need, releases.iter().map(|r| r.name.as_str()))
                        .map(|n| format!("; did you mean {n:?}?"))
                        .unwrap_or_else(|| "; add that release or remove it from `needs`".into());
                    cx.err(p, format!("release {need:?} does not exist{hint}"));
                }
            }
        }
    }
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; releases.len()];
    for start in 0..releases.len() {
        if state[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        state[start] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(need_idx, target)) = edges[node].get(*next) {
                *next += 1;
                match state[target] {
                    0 => {
                        state[target] = 1;
                        stack.push((target, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == target).unwrap_or(0);
                        let mut names: Vec<&str> = stack[from..]
                            .iter()
                            .map(|(n, _)| releases[*n].name.as_str())
                            .collect();
                        names.push(&releases[target].name);
                        cx.err(
                            format!("spec.releases[{node}].needs[{need_idx}]"),
                            format!(
                                "`needs` form a cycle: {}; break it by removing one of these needs",
                                names.join(" -> ")
                            ),
                        );
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
}

/// A resolved (absolute) path as a person wants to read it: relative to where they ran cutover
/// when it lies below it.
fn shown(path: &std::path::Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}
