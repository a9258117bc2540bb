//! EKS cluster insights: ListInsights and DescribeInsight, and the control API that sets them.
//!
//! Real EKS computes insights (deprecated API usage from audit logs, version skew, add-on
//! compatibility) and refreshes them about daily. cloudsim computes none: a cluster has no insights
//! until a test sets them with `PUT /_cloudsim/clusters/{name}/insights`. An invented PASSING
//! insight would let a pre-flight check pass for a reason nobody checked; an empty list is what
//! cloudsim actually knows.
//!
//! An insight is stored exactly as DescribeInsight answers it (the SDK's `Insight` shape, times in
//! epoch seconds), so what a test PUTs is what the SDK parses. Unknown fields and enum values are
//! refused when set, not when read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::api::{page_body_with, paginate_with};
use super::clusters::not_found;
use super::errors::{EksError, EksResult};
use super::{Eks, new_id};

/// One insight as DescribeInsight returns it (and as the control API takes it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Insight {
    /// Filled with a fresh id when the control API is given none.
    #[serde(default)]
    pub id: String,
    pub name: String,
    pub category: Category,
    pub kubernetes_version: String,
    /// Epoch seconds; the time it was set when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refresh_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub insight_status: InsightStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recommendation: Option<String>,
    #[serde(default)]
    pub additional_info: BTreeMap<String, String>,
    #[serde(default)]
    pub resources: Vec<ResourceDetail>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_specific_summary: Option<CategorySpecificSummary>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    UpgradeReadiness,
    Misconfiguration,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatusValue {
    Passing,
    Warning,
    Error,
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InsightStatus {
    pub status: StatusValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insight_status: Option<InsightStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_resource_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CategorySpecificSummary {
    #[serde(default)]
    pub deprecation_details: Vec<DeprecationDetail>,
    #[serde(default)]
    pub addon_compatibility_details: Vec<AddonCompatibilityDetail>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeprecationDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_with: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_serving_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_serving_replacement_version: Option<String>,
    #[serde(default)]
    pub client_stats: Vec<ClientStat>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientStat {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub number_of_requests_last30_days: i32,
    /// Epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_time: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddonCompatibilityDetail {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub compatible_versions: Vec<String>,
}

/// ListInsights' body: `filter` and paging live in the JSON body, not the query string.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListInsightsRequest {
    #[serde(default)]
    filter: Filter,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    categories: Vec<Category>,
    #[serde(default)]
    kubernetes_versions: Vec<String>,
    #[serde(default)]
    statuses: Vec<StatusValue>,
}

impl Filter {
    fn matches(&self, i: &Insight) -> bool {
        (self.categories.is_empty() || self.categories.contains(&i.category))
            && (self.kubernetes_versions.is_empty()
                || self.kubernetes_versions.contains(&i.kubernetes_version))
            && (self.statuses.is_empty() || self.statuses.contains(&i.insight_status.status))
    }
}

pub fn list(eks: &Eks, cluster: &str, req: ListInsightsRequest) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let ids = c
        .insights
        .values()
        .filter(|i| req.filter.matches(i))
        .map(|i| i.id.clone())
        .collect();
    let max = req.max_results.map(|m| m.to_string());
    let (page, next) = paginate_with(ids, max.as_deref(), req.next_token.as_deref(), 100)?;
    let summaries = page.iter().map(|id| summary(&c.insights[id])).collect();
    Ok(page_body_with("insights", summaries, next))
}

pub fn describe(eks: &Eks, cluster: &str, id: &str) -> EksResult<Value> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    let insight = c.insights.get(id).ok_or_else(|| {
        EksError::not_found(format!(
            "No insight found for id: {id} in cluster: {cluster}"
        ))
    })?;
    Ok(json!({ "insight": insight }))
}

/// The InsightSummary fields of an insight.
fn summary(i: &Insight) -> Value {
    let mut v = serde_json::to_value(i).expect("insight serializes");
    let obj = v.as_object_mut().expect("an object");
    for detail_only in [
        "recommendation",
        "additionalInfo",
        "resources",
        "categorySpecificSummary",
    ] {
        obj.remove(detail_only);
    }
    v
}

/// Replaces a cluster's insights (`PUT /_cloudsim/clusters/{name}/insights`). Ids must be unique;
/// missing ids and times are filled in. Returns the insights as stored.
pub async fn set(eks: &Eks, cluster: &str, mut insights: Vec<Insight>) -> EksResult<Vec<Insight>> {
    let now = eks.time.now_ms() as f64 / 1000.0;
    for i in &mut insights {
        if i.id.is_empty() {
            i.id = new_id();
        }
        i.last_refresh_time.get_or_insert(now);
        i.last_transition_time.get_or_insert(now);
    }
    let mut by_id = BTreeMap::new();
    for i in &insights {
        if by_id.insert(i.id.clone(), i.clone()).is_some() {
            return Err(EksError::invalid(format!(
                "insight id {:?} appears twice",
                i.id
            )));
        }
    }
    let count = insights.len();
    eks.change(|st| {
        let c = st
            .clusters
            .get_mut(cluster)
            .ok_or_else(|| not_found(cluster))?;
        c.insights = by_id;
        eks.env
            .events
            .record("insights-set", Some(cluster), json!({"count": count}));
        Ok(())
    })
    .await?;
    Ok(insights)
}

/// A cluster's insights as stored (`GET /_cloudsim/clusters/{name}/insights`).
pub fn get(eks: &Eks, cluster: &str) -> EksResult<Vec<Insight>> {
    let st = eks.state();
    let c = st.clusters.get(cluster).ok_or_else(|| not_found(cluster))?;
    Ok(c.insights.values().cloned().collect())
}
