//! EKS upgrade insights ([`UpgradeInsights`] for [`EksClusters`]): ListInsights filtered to the
//! UPGRADE_READINESS category and the target version, then DescribeInsight for each, read into our
//! own [`Insight`] — status, recommendation, affected resources, and the clients still calling a
//! deprecated API (which no manifest scan can see).

use async_trait::async_trait;
use aws_sdk_eks::types::{Category, InsightStatusValue, InsightsFilter};

use super::eks::EksClusters;
use super::errors::sdk_error;
use crate::providers::{ApiClient, DeprecatedApi, Insight, InsightStatus, ProviderError, UpgradeInsights};

#[async_trait]
impl UpgradeInsights for EksClusters {
    async fn upgrade_insights(&self, cluster: &str, kubernetes_version: &str) -> Result<Vec<Insight>, ProviderError> {
        let filter = InsightsFilter::builder()
            .categories(Category::UpgradeReadiness)
            .kubernetes_versions(kubernetes_version)
            .build();
        let mut ids = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let page = self
                .client
                .list_insights()
                .cluster_name(cluster)
                .filter(filter.clone())
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("list the upgrade insights of cluster {cluster}"), &e))?;
            ids.extend(page.insights().iter().filter_map(|s| s.id().map(str::to_string)));
            match page.next_token().filter(|t| !t.is_empty()) {
                Some(t) => next = Some(t.to_string()),
                None => break,
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let described = self
                .client
                .describe_insight()
                .cluster_name(cluster)
                .id(&id)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("describe upgrade insight {id} of cluster {cluster}"), &e))?;
            let Some(i) = described.insight() else { continue };
            let status = i.insight_status();
            out.push(Insight {
                id: id.clone(),
                name: i.name().unwrap_or(&id).to_string(),
                status: match status.and_then(|s| s.status()) {
                    Some(InsightStatusValue::Passing) => InsightStatus::Passing,
                    Some(InsightStatusValue::Warning) => InsightStatus::Warning,
                    Some(InsightStatusValue::Error) => InsightStatus::Error,
                    _ => InsightStatus::Unknown,
                },
                reason: status.and_then(|s| s.reason()).unwrap_or_default().to_string(),
                recommendation: i.recommendation().unwrap_or_default().to_string(),
                resources: i
                    .resources()
                    .iter()
                    .filter_map(|r| r.kubernetes_resource_uri().or(r.arn()).map(str::to_string))
                    .collect(),
                deprecations: i
                    .category_specific_summary()
                    .map(|s| s.deprecation_details())
                    .unwrap_or_default()
                    .iter()
                    .map(|d| DeprecatedApi {
                        usage: d.usage().unwrap_or_default().to_string(),
                        replaced_with: d.replaced_with().map(str::to_string),
                        stop_serving_version: d.stop_serving_version().map(str::to_string),
                        clients: d
                            .client_stats()
                            .iter()
                            .map(|c| ApiClient {
                                user_agent: c.user_agent().unwrap_or_default().to_string(),
                                requests_last_30_days: c.number_of_requests_last30_days().max(0) as u64,
                                last_request: c.last_request_time().map(|t| t.to_string()),
                            })
                            .collect(),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}
