//! Checks on signals teams already have: a confirm webhook, a Prometheus query, Alertmanager's
//! alerts. URLs are http(s); bounds are finite with min <= max; matchers are
//! `label op "value"` with op one of `=`, `!=`, `=~`, `!~` (Alertmanager's own syntax).

use std::time::Duration;

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

fn base_url(cx: &mut Ctx, path: String, url: &str) {
    if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
        cx.err(path, format!("{url:?} is not an http(s) URL"));
    }
}

/// Whether `m` is a matcher Alertmanager's API accepts: `label op "value"`.
pub(crate) fn matcher_ok(m: &str) -> bool {
    let m = m.trim();
    let name_end = m.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(m.len());
    if name_end == 0 || m.starts_with(|c: char| c.is_ascii_digit()) {
        return false;
    }
    let rest = m[name_end..].trim_start();
    let Some(value) = ["=~", "!~", "!=", "="].iter().find_map(|op| rest.strip_prefix(op)) else { return false };
    let value = value.trim();
    value.len() >= 2 && value.starts_with('"') && value.ends_with('"')
}

pub(super) fn kind(
    cx: &mut Ctx,
    p: &str,
    webhook: Option<RawWebhook>,
    prometheus: Option<RawPrometheus>,
    alertmanager: Option<RawAlertmanager>,
) -> Option<CheckKind> {
    if let Some(w) = webhook {
        base_url(cx, format!("{p}.webhook.url"), &w.url);
        let timeout = cx.duration(&format!("{p}.webhook.timeout"), w.timeout.as_ref(), WEBHOOK_TIMEOUT, true);
        return Some(CheckKind::Webhook { url: w.url, timeout });
    }
    if let Some(q) = prometheus {
        base_url(cx, format!("{p}.prometheus.url"), &q.url);
        if q.query.trim().is_empty() {
            cx.err(format!("{p}.prometheus.query"), "give the PromQL query, e.g. sum(rate(http_requests_total{code=~\"5..\"}[5m]))");
        }
        let (min, max) = (q.expect.min, q.expect.max);
        match (min, max) {
            (None, None) => cx.err(format!("{p}.prometheus.expect"), "give max, min or both, e.g. {max: 0.01}"),
            (Some(a), Some(b)) if a > b => cx.err(format!("{p}.prometheus.expect"), format!("min {a} is above max {b}")),
            _ => {}
        }
        if min.is_some_and(|v| !v.is_finite()) || max.is_some_and(|v| !v.is_finite()) {
            cx.err(format!("{p}.prometheus.expect"), "bounds must be finite numbers");
        }
        let hold = cx.duration(&format!("{p}.prometheus.for"), q.hold.as_ref(), Duration::ZERO, false);
        return Some(CheckKind::Prometheus(PrometheusCheck { url: q.url, query: q.query, min, max, hold }));
    }
    let a = alertmanager.expect("one signal kind was given");
    base_url(cx, format!("{p}.alertmanager.url"), &a.url);
    if a.matchers.is_empty() {
        cx.err(format!("{p}.alertmanager.matchers"), "give at least one matcher, e.g. 'severity=\"critical\"'");
    }
    for (i, m) in a.matchers.iter().enumerate() {
        if !matcher_ok(m) {
            cx.err(
                format!("{p}.alertmanager.matchers[{i}]"),
                format!("{m:?} is not a matcher; write label=\"value\" (or !=, =~, !~), e.g. 'cluster=\"{{green}}\"'"),
            );
        }
    }
    Some(CheckKind::Alertmanager { url: a.url, matchers: a.matchers })
}

#[cfg(test)]
mod tests {
    use super::matcher_ok;

    #[test]
    fn matchers_follow_alertmanagers_syntax() {
        for ok in [r#"severity="critical""#, r#"cluster =~ "green-.*""#, r#"env!="dev""#, r#"a_b!~"x""#] {
            assert!(matcher_ok(ok), "{ok}");
        }
        for bad in ["severity=critical", r#"="x""#, r#"1a="x""#, r#"sev>"x""#, "severity"] {
            assert!(!matcher_ok(bad), "{bad}");
        }
    }
}
