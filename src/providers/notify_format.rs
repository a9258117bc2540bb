//! The payload each sink format sends, made from one [`Notification`]:
//! - `json`: the notification itself (cutover's schema);
//! - `slack`: an incoming-webhook message, `blocks` for the layout and `text` as the fallback
//!   that notifications and screen readers use (Slack's mrkdwn needs `&`, `<`, `>` escaped);
//! - `teams`: a Workflows webhook message, `{"type":"message","attachments":[…]}` around an
//!   Adaptive Card 1.4 (the retired Office 365 connectors took MessageCards; Workflows do not);
//! - `teams-card`: the bare card, for flows built to take one.

use serde_json::{Value, json};

use super::notify::Notification;
use crate::plan::NotifyFormat;

/// The body to POST.
pub fn payload(format: NotifyFormat, n: &Notification) -> Value {
    match format {
        NotifyFormat::Json => serde_json::to_value(n).expect("a notification serializes"),
        NotifyFormat::Slack => slack(n),
        NotifyFormat::Teams => json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card(n),
            }],
        }),
        NotifyFormat::TeamsCard => card(n),
    }
}

fn title(n: &Notification) -> String {
    format!("cutover · {} · {}", n.environment, n.event.name())
}

/// Label/value pairs shown under the summary.
fn facts(n: &Notification) -> Vec<(String, String)> {
    let mut out = vec![("Run".to_string(), n.run_id.clone())];
    if let Some(step) = &n.step {
        out.push(("Step".into(), step.clone()));
    }
    if let Some(code) = &n.code {
        out.push(("Code".into(), code.clone()));
    }
    for w in &n.weights {
        let side = |v: Option<u8>| v.map(|v| v.to_string()).unwrap_or_else(|| "–".into());
        out.push((w.record.clone(), format!("blue {} / green {}", side(w.blue), side(w.green))));
    }
    if let Some(until) = &n.until {
        out.push(("Resume after".into(), until.to_string()));
    }
    out
}

fn mrkdwn_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn slack(n: &Notification) -> Value {
    let mut text = format!("*{}*", mrkdwn_escape(&n.summary));
    if let Some(cause) = &n.cause {
        text.push_str(&format!("\n{}", mrkdwn_escape(cause)));
    }
    let fields: Vec<Value> = facts(n)
        .iter()
        .take(10) // Slack's limit per section
        .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{}*\n{}", mrkdwn_escape(k), mrkdwn_escape(v))}))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": title(n).chars().take(150).collect::<String>()}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": text}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(next) = &n.next_command {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Next: `{}`", mrkdwn_escape(next))}]}));
    }
    json!({ "text": format!("{}: {}", title(n), n.summary), "blocks": blocks })
}

fn card(n: &Notification) -> Value {
    let mut body = vec![
        json!({"type": "TextBlock", "text": title(n), "weight": "Bolder", "size": "Medium", "wrap": true}),
        json!({"type": "TextBlock", "text": n.summary, "wrap": true}),
    ];
    if let Some(cause) = &n.cause {
        body.push(json!({"type": "TextBlock", "text": cause, "wrap": true, "isSubtle": true}));
    }
    let facts: Vec<Value> = facts(n).into_iter().map(|(title, value)| json!({"title": title, "value": value})).collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    if let Some(next) = &n.next_command {
        body.push(json!({"type": "TextBlock", "text": format!("Next: {next}"), "fontType": "Monospace", "wrap": true}));
    }
    json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
    })
}
