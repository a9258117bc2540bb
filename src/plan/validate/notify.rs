//! `spec.notify`: each sink names exactly one URL source, a known format and known events, and
//! the names of environment variables are names (the values are read only when sending).

use std::collections::HashMap;

use super::Ctx;
use crate::plan::model::*;
use crate::plan::raw::*;

fn env_name(cx: &mut Ctx, path: String, name: &str) {
    let ok = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        cx.err(path, format!("{name:?} is not an environment variable name (letters, digits, '_')"));
    }
}

pub(super) fn notify(cx: &mut Ctx, raw: Vec<RawNotify>) -> Vec<NotifySink> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, n)| {
            let at = format!("spec.notify[{i}]");
            if n.name.trim().is_empty() {
                cx.err(format!("{at}.name"), "give the sink a name");
            }
            if let Some(first) = seen.insert(n.name.clone(), i) {
                cx.err(format!("{at}.name"), format!("{} is also the name of spec.notify[{first}]", n.name));
            }
            let url = match (n.url, n.url_from_env, n.sns_topic_arn) {
                (None, None, Some(arn)) => {
                    let parts: Vec<&str> = arn.split(':').collect();
                    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[3].is_empty() || parts[4].len() != 12 {
                        cx.err(format!("{at}.snsTopicArn"), format!("{arn:?} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:TOPIC)"));
                    }
                    NotifyUrl::Sns(arn)
                }
                (Some(url), None, None) => {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        cx.err(format!("{at}.url"), "a webhook URL starts with https:// (or http:// for a local receiver)");
                    }
                    NotifyUrl::Inline(url)
                }
                (None, Some(var), None) => {
                    env_name(cx, format!("{at}.urlFromEnv"), &var);
                    NotifyUrl::FromEnv(var)
                }
                _ => {
                    cx.err(at.clone(), "give exactly one of `url`, `urlFromEnv` (prefer it: a webhook URL is a credential) or `snsTopicArn`");
                    return None;
                }
            };
            if let Some(var) = &n.secret_from_env {
                env_name(cx, format!("{at}.secretFromEnv"), var);
            }
            let mut events = Vec::new();
            for (j, e) in n.events.unwrap_or_default().iter().enumerate() {
                match NotifyEvent::ALL.iter().find(|k| k.name() == e) {
                    Some(k) if events.contains(k) => cx.err(format!("{at}.events[{j}]"), format!("{e} is listed twice")),
                    Some(k) => events.push(*k),
                    None => {
                        let names: Vec<&str> = NotifyEvent::ALL.iter().map(|k| k.name()).collect();
                        cx.err(format!("{at}.events[{j}]"), format!("no event is called {e:?}; the events are {}", names.join(", ")));
                    }
                }
            }
            let format = match (n.format, &url) {
                (None | Some(RawNotifyFormat::Json), NotifyUrl::Sns(_)) => NotifyFormat::Json,
                (Some(_), NotifyUrl::Sns(_)) => {
                    cx.err(format!("{at}.format"), "an SNS topic gets cutover's JSON; leave `format` out");
                    NotifyFormat::Json
                }
                (None, _) => {
                    cx.err(format!("{at}.format"), "say which format the webhook takes: slack, teams, teams-card or json");
                    NotifyFormat::Json
                }
                (Some(RawNotifyFormat::Slack), _) => NotifyFormat::Slack,
                (Some(RawNotifyFormat::Teams), _) => NotifyFormat::Teams,
                (Some(RawNotifyFormat::TeamsCard), _) => NotifyFormat::TeamsCard,
                (Some(RawNotifyFormat::Json), _) => NotifyFormat::Json,
            };
            Some(NotifySink { name: n.name, url, format, events, secret_from_env: n.secret_from_env })
        })
        .collect()
}
