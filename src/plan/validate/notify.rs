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
            let url = match (n.url, n.url_from_env) {
                (Some(url), None) => {
                    if !(url.starts_with("https://") || url.starts_with("http://")) {
                        cx.err(format!("{at}.url"), "a webhook URL starts with https:// (or http:// for a local receiver)");
                    }
                    NotifyUrl::Inline(url)
                }
                (None, Some(var)) => {
                    env_name(cx, format!("{at}.urlFromEnv"), &var);
                    NotifyUrl::FromEnv(var)
                }
                _ => {
                    cx.err(at.clone(), "give exactly one of `url` or `urlFromEnv` (prefer urlFromEnv: a webhook URL is a credential)");
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
            let format = match n.format {
                RawNotifyFormat::Slack => NotifyFormat::Slack,
                RawNotifyFormat::Teams => NotifyFormat::Teams,
                RawNotifyFormat::TeamsCard => NotifyFormat::TeamsCard,
                RawNotifyFormat::Json => NotifyFormat::Json,
            };
            Some(NotifySink { name: n.name, url, format, events, secret_from_env: n.secret_from_env })
        })
        .collect()
}
