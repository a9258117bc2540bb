//! Where the dashboard reads from: the state backends named on the command line (`local:DIR`,
//! `s3://BUCKET/PREFIX`) and those the plans in `--plans DIR` name in `spec.state`, each built by
//! the composition root. A source has a stable short id (from its label) so links to an
//! environment or a run stay valid across restarts of the dashboard.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::compose::Context;
use crate::plan::{Plan, StateBackend as StateSpec};
use crate::providers::StateBackend;

use super::DashboardError;

/// A `--state` argument: `local:DIR` (or a bare directory) or `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone)]
pub struct StateArg(StateSpec);

impl std::str::FromStr for StateArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("{s:?}: name a bucket, as in s3://BUCKET/PREFIX"));
            }
            let prefix = prefix.trim_matches('/').to_string();
            // The bucket's region is the dashboard's `--region`.
            return Ok(StateArg(StateSpec::S3 { bucket: bucket.to_string(), prefix, region: None }));
        }
        let dir = s.strip_prefix("local:").unwrap_or(s);
        if dir.is_empty() {
            return Err("an empty state directory; use local:DIR or s3://BUCKET/PREFIX".into());
        }
        Ok(StateArg(StateSpec::Local { path: PathBuf::from(dir) }))
    }
}

impl StateArg {
    fn spec(&self) -> &StateSpec {
        &self.0
    }
}

/// One state backend the dashboard reads, with how people and URLs name it.
pub struct Source {
    /// Eight hex digits of the label's sha256: the source's part of every URL.
    pub id: String,
    /// `local:/abs/dir` or `s3://bucket/prefix`.
    pub label: String,
    /// The backend, built by the composition root.
    pub state: Arc<dyn StateBackend>,
}

/// Everything the dashboard reads: its sources, the plans found for their environments, and
/// the dev clusters of the DevCluster plans' regions.
pub struct Catalog {
    /// The state backends, in the order given (command line first, then the plans').
    pub sources: Vec<Source>,
    /// Plans by (source id, environment): owner, kind, plan path for the commands shown.
    pub plans: HashMap<(String, String), Arc<Plan>>,
    /// Plan files in `--plans` that could not be loaded, with why (shown, never fatal).
    pub plan_problems: Vec<String>,
    /// Dev clusters (from EKS) of the regions DevCluster plans name.
    pub dev: super::dev::DevClusters,
    /// The latest runs' records read so far.
    pub journals: super::journals::Journals,
    /// Reaches AWS for what is read on demand (weights from Route53).
    pub cx: Arc<Context>,
}

impl Catalog {
    /// The source with URL id `id`.
    pub fn source(&self, id: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.id == id)
    }

    /// The plan of environment `env` in source `source`, if `--plans` had it.
    pub fn plan(&self, source: &str, env: &str) -> Option<&Arc<Plan>> {
        self.plans.get(&(source.to_string(), env.to_string()))
    }
}

/// How a spec is named on screen and, hashed, in URLs. Local directories are made absolute so
/// the same directory given twice (a `--state` and a plan's `spec.state`) is one source.
fn label(spec: &StateSpec) -> String {
    match spec {
        StateSpec::Local { path } => {
            let abs = std::fs::canonicalize(path)
                .or_else(|_| std::path::absolute(path))
                .unwrap_or_else(|_| path.clone());
            format!("local:{}", abs.display())
        }
        StateSpec::S3 { bucket, prefix, .. } if prefix.is_empty() => format!("s3://{bucket}"),
        StateSpec::S3 { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}"),
    }
}

fn source_id(label: &str) -> String {
    hex::encode(&Sha256::digest(label.as_bytes())[..4])
}

/// Builds the catalog: every `--state`, then every plan's state backend from `plans_dir`
/// (`*.yaml` and `*.yml` directly in it). `region` reaches S3 buckets given on the command line.
pub async fn catalog(
    cx: Arc<Context>,
    states: &[StateArg],
    plans_dir: Option<&Path>,
    region: &str,
) -> Result<Catalog, DashboardError> {
    let mut catalog = Catalog {
        sources: Vec::new(),
        plans: HashMap::new(),
        plan_problems: Vec::new(),
        dev: super::dev::DevClusters::new(cx.clone(), Default::default()),
        journals: Default::default(),
        cx: cx.clone(),
    };
    let mut dev_regions = std::collections::BTreeSet::new();
    for arg in states {
        add_source(&cx, &mut catalog, arg.spec(), region).await;
    }
    if let Some(dir) = plans_dir {
        for path in plan_files(dir)? {
            match crate::ops::load_plan(&path) {
                Ok(plan) => {
                    if plan.kind == crate::plan::PlanKind::DevCluster {
                        dev_regions.insert(plan.aws.region.clone());
                    }
                    let id = add_source(&cx, &mut catalog, &plan.state, &plan.aws.region).await;
                    catalog.plans.insert((id, plan.metadata.name.clone()), Arc::new(plan));
                }
                Err(e) => catalog.plan_problems.push(e.to_string()),
            }
        }
    }
    catalog.dev = super::dev::DevClusters::new(cx, dev_regions);
    if catalog.sources.is_empty() {
        let mut why = "nothing to show: give --state local:DIR or s3://BUCKET/PREFIX, or --plans DIR with valid plans".to_string();
        for problem in &catalog.plan_problems {
            why.push_str(&format!("\n  plan not loaded: {problem}"));
        }
        return Err(DashboardError::Usage(why));
    }
    Ok(catalog)
}

/// Adds the source `spec` names unless it is there already; its id either way.
async fn add_source(cx: &Context, catalog: &mut Catalog, spec: &StateSpec, region: &str) -> String {
    let label = label(spec);
    let id = source_id(&label);
    if catalog.source(&id).is_none() {
        let state = cx.state_at(spec, region).await;
        catalog.sources.push(Source { id: id.clone(), label, state });
    }
    id
}

fn plan_files(dir: &Path) -> Result<Vec<PathBuf>, DashboardError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DashboardError::Usage(format!("--plans {}: {e}", dir.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_arguments_parse_as_documented() {
        let parse = |s: &str| s.parse::<StateArg>().map(|a| a.0);
        assert!(matches!(parse("local:/tmp/x"), Ok(StateSpec::Local { path }) if path == Path::new("/tmp/x")));
        assert!(matches!(parse("state"), Ok(StateSpec::Local { path }) if path == Path::new("state")));
        assert!(matches!(
            parse("s3://b/teams/pay/"),
            Ok(StateSpec::S3 { bucket, prefix, region: None }) if bucket == "b" && prefix == "teams/pay"
        ));
        assert!(matches!(parse("s3://b"), Ok(StateSpec::S3 { prefix, .. }) if prefix.is_empty()));
        assert!(parse("s3:///x").is_err());
        assert!(parse("local:").is_err());
    }

    #[test]
    fn one_directory_named_two_ways_is_one_source() {
        let dir = tempfile::tempdir().unwrap();
        let a = label(&StateSpec::Local { path: dir.path().to_path_buf() });
        let b = label(&StateSpec::Local { path: dir.path().join(".") });
        assert_eq!(source_id(&a), source_id(&b));
        assert_eq!(source_id(&a).len(), 8);
    }
}
