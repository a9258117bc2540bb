//! `next`: next quarter's plan, written from this quarter's completed run. The green that serves
//! now becomes blue; a new green is named after the existing pattern (`payments-1-32` →
//! `payments-1-33`) or as asked; the Kubernetes version moves; pinned add-ons move to EKS's default
//! for the new version; everything else — comments, layout, releases, checks, traffic — stays as
//! written ([`crate::plan::edit`]). The result is validated like any plan before it is returned.
//!
//! Set identifiers need no edit when the plan leaves them to their defaults (the clusters' names):
//! the record this quarter's green made carries green's cluster name, which is next quarter's blue.

use std::path::{Path, PathBuf};

use crate::compose::Context;
use crate::engine::RunPhase;
use crate::plan::edit::{self, Edit};
use crate::plan::{Plan, PlanKind, rules};
use crate::providers::AddonCatalog as _;

use super::OpsError;

/// What to make next quarter's plan with.
#[derive(Debug, Clone)]
pub struct NextOptions {
    /// The Kubernetes version of next quarter's green.
    pub version: String,
    /// Next green's cluster name (default: this green's name with its version moved).
    pub cluster: Option<String>,
    /// Where the plan will be written: it is validated there, so relative paths (values files,
    /// local charts) that would not resolve from that directory are caught now.
    pub output: Option<PathBuf>,
}

/// Next quarter's plan, not yet written anywhere.
#[derive(Debug, Clone)]
pub struct NextPlan {
    /// The new plan's text.
    pub text: String,
    /// One line per changed line: `-12: old` / `+12: new`.
    pub diff: Vec<String>,
    /// Blue of the new plan: the green that serves now.
    pub blue: String,
    /// Green of the new plan: the cluster next quarter builds.
    pub green: String,
}

/// Writes next quarter's plan for `plan_path` from the environment's completed run.
pub async fn next(cx: &Context, plan_path: &Path, opts: &NextOptions) -> Result<NextPlan, OpsError> {
    let plan = super::load_plan(plan_path)?;
    if plan.kind != PlanKind::Upgrade {
        return Err(OpsError::Usage(format!(
            "plan {} is a {:?} plan; `cutover next` follows an Upgrade plan quarter after quarter",
            plan.metadata.name, plan.kind
        )));
    }
    check_completed(cx, &plan).await?;
    let cluster = match &opts.cluster {
        Some(c) => c.clone(),
        None => next_cluster_name(&plan.green.name, &plan.green.version.to_string(), &opts.version)?,
    };
    rules::cluster_name(&cluster).map_err(OpsError::Usage)?;
    if newer(&opts.version, &plan.green.version.to_string()) != Some(true) {
        return Err(OpsError::Usage(format!(
            "--version {} is not newer than {}, the version green runs now",
            opts.version, plan.green.version
        )));
    }
    let mut edits = vec![
        Edit { path: "spec.blue.cluster".into(), value: plan.green.name.clone() },
        Edit { path: "spec.green.cluster".into(), value: cluster.clone() },
        Edit { path: "spec.green.version".into(), value: opts.version.clone() },
    ];
    let aws = cx.aws(&plan.aws.region).await;
    let catalog = aws.eks(&plan.timeouts, cx.settings().poll);
    for (i, addon) in plan.green.addons.iter().enumerate() {
        if addon.version.is_none() {
            continue;
        }
        let versions = catalog.addon_versions(&addon.name, &opts.version).await?;
        let default = versions.default.ok_or_else(|| {
            OpsError::Usage(format!(
                "EKS lists no default version of add-on {} for Kubernetes {}; pin one by hand in \
                 spec.green.addons[{i}].version",
                addon.name, opts.version
            ))
        })?;
        edits.push(Edit { path: format!("spec.green.addons[{i}].version"), value: default });
    }
    edits.extend(set_identifier_edits(&plan, &cluster));
    let original = std::fs::read_to_string(plan_path).map_err(OpsError::io(format!("read {}", plan_path.display())))?;
    let text = edit::apply(&original, &edits).map_err(|e| OpsError::Usage(format!("{}: {e}", plan_path.display())))?;
    validate_beside(opts.output.as_deref().unwrap_or(plan_path), &text)?;
    let diff = original
        .lines()
        .zip(text.lines())
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .flat_map(|(n, (a, b))| [format!("-{}: {a}", n + 1), format!("+{}: {b}", n + 1)])
        .collect();
    Ok(NextPlan { text, diff, blue: plan.green.name.clone(), green: cluster })
}

/// The environment's latest run must be this plan's, completed: then its green serves.
async fn check_completed(cx: &Context, plan: &Plan) -> Result<(), OpsError> {
    let env = &plan.metadata.name;
    let Some(status) = super::inspect::status(cx, plan).await? else {
        return Err(OpsError::Usage(format!(
            "environment {env} has no run yet; apply this plan first (`cutover apply`), then make the next one"
        )));
    };
    if status.phase != RunPhase::Completed {
        return Err(OpsError::Refused(format!(
            "the latest run {} of environment {env} is {}, not completed, so green does not serve yet; \
             finish it (`cutover resume`), or roll it back and apply this plan again, before planning \
             the next quarter",
            status.run_id,
            status.phase.describe()
        )));
    }
    if status.digest != plan.digest {
        return Err(OpsError::Refused(format!(
            "run {} of {env} completed with another version of this plan file (digest {}, the file \
             now has {}); `cutover next` needs the plan the run completed with",
            status.run_id, status.digest, plan.digest
        )));
    }
    Ok(())
}

/// Set identifiers the plan wrote move with the clusters: blue's becomes the one green used.
fn set_identifier_edits(plan: &Plan, cluster: &str) -> Vec<Edit> {
    let Some(t) = &plan.traffic else { return Vec::new() };
    let mut edits = Vec::new();
    for (i, r) in t.records.iter().enumerate() {
        if r.explicit.blue {
            edits.push(Edit { path: format!("spec.traffic.records[{i}].setIdentifiers.blue"), value: r.green_set_id.clone() });
        }
        if r.explicit.green {
            edits.push(Edit { path: format!("spec.traffic.records[{i}].setIdentifiers.green"), value: cluster.to_string() });
        }
    }
    edits
}

/// `payments-1-32` at 1.32 → `payments-1-33` at 1.33 (also `…-132`, `…-1.32`); a name that does
/// not carry its version cannot be continued and needs `--cluster`.
pub fn next_cluster_name(green: &str, version: &str, next: &str) -> Result<String, OpsError> {
    for sep in ["-", "", "."] {
        let (old, new) = (version.replace('.', sep), next.replace('.', sep));
        if let Some(i) = green.rfind(&old) {
            return Ok(format!("{}{new}{}", &green[..i], &green[i + old.len()..]));
        }
    }
    Err(OpsError::Usage(format!(
        "green's name {green} does not carry its version {version}, so the next name cannot follow \
         it; pass --cluster NAME"
    )))
}

/// Whether `a` is a newer `MAJOR.MINOR` than `b`; `None` when either does not read as one.
fn newer(a: &str, b: &str) -> Option<bool> {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (major, minor) = v.split_once('.')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    Some(parse(a)? > parse(b)?)
}

/// Validates the new text as a plan in the directory of `path` (where it will be written, so its
/// relative paths resolve as they will), leaving nothing behind.
fn validate_beside(plan_path: &Path, text: &str) -> Result<(), OpsError> {
    let dir = plan_path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
    let tmp = tempfile::Builder::new()
        .prefix(".cutover-next-")
        .suffix(".yaml")
        .tempfile_in(&dir)
        .map_err(OpsError::io(format!("create a temporary plan in {}", dir.display())))?;
    std::fs::write(tmp.path(), text).map_err(OpsError::io(format!("write {}", tmp.path().display())))?;
    crate::plan::load(tmp.path()).map_err(|errors| OpsError::InvalidPlan { path: plan_path.to_path_buf(), errors })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_name_follows_the_version_in_the_name() {
        assert_eq!(next_cluster_name("payments-1-32", "1.32", "1.33").unwrap(), "payments-1-33");
        assert_eq!(next_cluster_name("pay-132-eu", "1.32", "1.34").unwrap(), "pay-134-eu");
        assert!(next_cluster_name("payments-prod-green", "1.32", "1.33").is_err());
    }

    #[test]
    fn versions_compare_by_minor() {
        assert_eq!(newer("1.33", "1.32"), Some(true));
        assert_eq!(newer("1.32", "1.32"), Some(false));
        assert_eq!(newer("1.4", "1.32"), Some(false));
        assert_eq!(newer("x", "1.32"), None);
    }
}
