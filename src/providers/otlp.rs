//! Exporting spans over OTLP/HTTP (protobuf) with the upstream exporter on our reqwest client,
//! bounded: a collector that hangs or refuses never holds the process, and the caller learns how
//! many spans were dropped.

use std::time::Duration;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter as _};

/// Sends `spans` to the collector at `endpoint` (the OTLP base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`
/// gives it: `/v1/traces` is appended). `Ok(n)`: exported; `Err(why)`: all dropped.
pub async fn export(endpoint: &str, spans: Vec<SpanData>, bound: Duration) -> Result<usize, String> {
    if spans.is_empty() {
        return Ok(0);
    }
    super::probe::ensure_crypto_provider();
    let count = spans.len();
    let client = reqwest::Client::builder()
        .timeout(bound)
        .connect_timeout(bound)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url)
        .with_timeout(bound)
        .build()
        .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    exporter.set_resource(&Resource::builder_empty().with_service_name("cutover").build());
    match tokio::time::timeout(bound, exporter.export(spans)).await {
        Ok(Ok(())) => Ok(count),
        Ok(Err(e)) => Err(format!("the collector refused the spans: {e}")),
        Err(_) => Err(format!("the collector did not answer within {}s", bound.as_secs())),
    }
}
