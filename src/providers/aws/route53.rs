//! Route53 weighted records: [`Route53Traffic`], the [`TrafficProvider`] on AWS.
//!
//! - Reading lists the record sets of one name and type (paging through
//!   `ListResourceRecordSets`), keeps the weighted ones, and reports them under the name the
//!   caller asked for, so names compare equal however Route53 spells them (case, trailing dot,
//!   `\052`).
//! - A change is read-modify-write of whole record sets: an UPSERT starts from the live set and
//!   changes only its weight (and its target when that differs), so health checks, alias
//!   settings and extra values someone configured on blue's record survive a weight shift. A
//!   DELETE sends the live set exactly, as Route53 requires. All changes go in ONE batch, which
//!   Route53 applies atomically.
//! - A batch that would leave every weighted record of a name at 0 (or none at all) is refused
//!   here too, against the live records, whatever the caller checked before.
//! - A and AAAA records are aliases (the plan's model): the alias target's hosted zone comes from
//!   AWS's published load balancer zones ([`super::route53_names`]) or, for a name inside the
//!   record's own zone, that zone.
//!
//! Retrying (`Throttling`, `PriorRequestNotComplete`, 5xx) happens in two layers and no more: the
//! SDK's standard retry resends one request a few times with jittered backoff (it counts both
//! codes as throttling), which absorbs a busy zone within seconds; what still fails comes back
//! as a retryable [`ProviderError`] and the engine retries the whole call with its own, longer
//! backoff. Nothing here loops on top of that, except that a throttled `GetChange` while waiting
//! for INSYNC does not end the wait (see [`super::poll`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_route53::Client;
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction as SdkAction, ChangeBatch, ChangeStatus, ResourceRecord,
    ResourceRecordSet, RrType,
};

use super::errors::sdk_error;
use super::poll::{self, Poll, PollConfig, Wait};
use super::route53_names::{elb_zone, normalize, same_name, zone_id};
use crate::providers::weights::{check_change_keeps_traffic, type_name};
use crate::plan::{RecordType, Timeouts};
use crate::providers::{
    ChangeAction, ChangeId, ErrorKind, ProviderError, RecordChange, TrafficProvider, WeightedRecord,
};

/// Route53 on the SDK configuration it was built with.
pub struct Route53Traffic {
    client: Client,
    poll: PollConfig,
    insync_timeout: Duration,
    /// Hosted zone id → its name, for alias targets inside the zone.
    zone_names: Mutex<BTreeMap<String, String>>,
    /// Hosted zone name (normalised) → its id, for plans that name the zone.
    zone_ids: Mutex<BTreeMap<String, String>>,
}

impl Route53Traffic {
    /// Waits for INSYNC are bounded by `timeouts.dns_insync`.
    pub fn new(config: &SdkConfig, timeouts: &Timeouts) -> Self {
        Route53Traffic {
            client: super::calls::route53_client(config),
            poll: PollConfig::default(),
            insync_timeout: timeouts.dns_insync,
            zone_names: Mutex::default(),
            zone_ids: Mutex::default(),
        }
    }

    /// Polls INSYNC on another schedule (an emulator's time scale, tests).
    pub fn with_poll(mut self, poll: PollConfig) -> Self {
        self.poll = poll;
        self
    }

    /// The id of the zone the plan names: an id as it is, or a name (it contains a dot; the
    /// plan writes `example.com.`) looked up once. Several zones of one name (a public and a
    /// private one) are refused rather than guessed between.
    async fn zone(&self, zone: &str) -> Result<String, ProviderError> {
        if !zone.contains('.') {
            return Ok(zone_id(zone).to_string());
        }
        let name = normalize(zone);
        if let Some(id) = self.zone_ids.lock().expect("zone cache").get(&name) {
            return Ok(id.clone());
        }
        let out = self
            .client
            .list_hosted_zones_by_name()
            .dns_name(&name)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("look up hosted zone {name}"), &e))?;
        let found: Vec<_> = out
            .hosted_zones()
            .iter()
            .filter(|z| same_name(&z.name, &name))
            .collect();
        let describe = |z: &&aws_sdk_route53::types::HostedZone| {
            let private = z.config.as_ref().is_some_and(|c| c.private_zone);
            format!(
                "{} ({})",
                zone_id(&z.id),
                if private { "private" } else { "public" }
            )
        };
        match found.as_slice() {
            [one] => {
                let id = zone_id(&one.id).to_string();
                self.zone_ids
                    .lock()
                    .expect("zone cache")
                    .insert(name, id.clone());
                Ok(id)
            }
            [] => Err(ProviderError::new(
                ErrorKind::NotFound,
                format!(
                    "no Route53 hosted zone named {name}. is visible to these AWS credentials; check \
                     traffic.zone, or name the zone by its id"
                ),
            )),
            many => Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{} hosted zones are named {name}.: {}; name the one to change by its id",
                    many.len(),
                    many.iter().map(describe).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// Every record set of exactly `name` and `record_type` in the zone.
    async fn record_sets(
        &self,
        zone: &str,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<ResourceRecordSet>, ProviderError> {
        let zone = zone_id(zone);
        let rr = rr_type(record_type);
        let what = format!(
            "read {} records of {name} in hosted zone {zone}",
            type_name(record_type)
        );
        let mut sets = Vec::new();
        // Asked in lowercase: names are case-insensitive, and listing starts at this exact string.
        let mut next: Option<(String, RrType, Option<String>)> =
            Some((normalize(name), rr.clone(), None));
        while let Some((start_name, start_type, start_id)) = next.take() {
            let started = (start_name.clone(), start_type.clone(), start_id.clone());
            let page = self
                .client
                .list_resource_record_sets()
                .hosted_zone_id(zone)
                .start_record_name(start_name)
                .start_record_type(start_type)
                .set_start_record_identifier(start_id)
                .send()
                .await
                .map_err(|e| sdk_error(&what, &e))?;
            // Sets come sorted by name then type: stop at the first set past ours.
            let mut past = false;
            for set in page.resource_record_sets() {
                if same_name(&set.name, name) && set.r#type == rr {
                    sets.push(set.clone());
                } else {
                    past = true;
                    break;
                }
            }
            if page.is_truncated()
                && !past
                && let (Some(n), Some(t)) = (page.next_record_name(), page.next_record_type())
                && same_name(n, name)
                && *t == rr
            {
                let following = (
                    n.to_string(),
                    t.clone(),
                    page.next_record_identifier().map(str::to_string),
                );
                // A page must move on (an emulator without StartRecordIdentifier would not).
                if following == started {
                    return Err(ProviderError::new(
                        ErrorKind::Other,
                        format!(
                            "{what}: Route53 paging did not advance past {n} ({})",
                            following.2.as_deref().unwrap_or("no set id")
                        ),
                    ));
                }
                next = Some(following);
            }
        }
        Ok(sets)
    }

    /// The hosted zone of an alias target: a load balancer's published zone, or this zone for a
    /// name inside it.
    async fn alias_zone(&self, zone: &str, target: &str) -> Result<String, ProviderError> {
        if let Some(z) = elb_zone(target) {
            return Ok(z.to_string());
        }
        let zone = zone_id(zone);
        let cached = self
            .zone_names
            .lock()
            .expect("zone cache")
            .get(zone)
            .cloned();
        let zone_name = match cached {
            Some(n) => n,
            None => {
                let out = self
                    .client
                    .get_hosted_zone()
                    .id(zone)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("read hosted zone {zone}"), &e))?;
                let n = normalize(
                    out.hosted_zone()
                        .map(|z| z.name.as_str())
                        .unwrap_or_default(),
                );
                self.zone_names
                    .lock()
                    .expect("zone cache")
                    .insert(zone.to_string(), n.clone());
                n
            }
        };
        let t = normalize(target);
        if !zone_name.is_empty() && (t == zone_name || t.ends_with(&format!(".{zone_name}"))) {
            return Ok(zone.to_string());
        }
        Err(ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "cannot make an alias record to {target}: it is neither an Elastic Load Balancing load balancer \
                 (…elb.amazonaws.com) nor a name in hosted zone {zone} ({zone_name}); point the record at the load \
                 balancer's hostname, or use a CNAME record"
            ),
        ))
    }

    /// The SDK record set an engine change asks for, built on the live set when there is one.
    async fn desired_set(
        &self,
        zone: &str,
        change: &RecordChange,
        live: &[ResourceRecordSet],
    ) -> Result<ResourceRecordSet, ProviderError> {
        let want = &change.record;
        let current = live
            .iter()
            .find(|s| s.set_identifier.as_deref() == Some(want.set_id.as_str()));
        let describe = || {
            format!(
                "{} record {} (set id {})",
                type_name(want.record_type),
                want.name,
                want.set_id
            )
        };
        if change.action == ChangeAction::Delete {
            let current = current.ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::NotFound,
                    format!("cannot delete {}: it does not exist", describe()),
                )
            })?;
            let seen = to_weighted(&want.name, want.record_type, current);
            if seen.as_ref().map(|s| (s.weight, normalize(&s.target)))
                != Some((want.weight, normalize(&want.target)))
            {
                return Err(ProviderError::new(
                    ErrorKind::Conflict,
                    format!(
                        "refusing to delete {}: it changed since it was read (now {seen:?})",
                        describe()
                    ),
                ));
            }
            return Ok(current.clone());
        }
        let mut set = match current {
            Some(c) => c.clone(),
            None => ResourceRecordSet::builder()
                .name(&want.name)
                .r#type(rr_type(want.record_type))
                .set_identifier(&want.set_id)
                .weight(0)
                .build()
                .map_err(|e| {
                    ProviderError::new(ErrorKind::Invalid, format!("{}: {e}", describe()))
                })?,
        };
        set.weight = Some(i64::from(want.weight));
        let same_target = current
            .and_then(|c| to_weighted(&want.name, want.record_type, c))
            .map(|c| normalize(&c.target))
            == Some(normalize(&want.target));
        match want.record_type {
            RecordType::Cname => {
                if !same_target {
                    set.resource_records = Some(vec![
                        ResourceRecord::builder()
                            .value(&want.target)
                            .build()
                            .map_err(|e| {
                                ProviderError::new(
                                    ErrorKind::Invalid,
                                    format!("{}: {e}", describe()),
                                )
                            })?,
                    ]);
                    set.alias_target = None;
                }
                if want.ttl > 0 || set.ttl.is_none() {
                    set.ttl = Some(i64::from(want.ttl));
                }
            }
            RecordType::A | RecordType::Aaaa if !same_target => {
                // A new alias mirrors how the name's other aliases treat target health.
                let evaluate = live
                    .iter()
                    .filter_map(|s| s.alias_target.as_ref())
                    .any(|a| a.evaluate_target_health);
                let alias = AliasTarget::builder()
                    .hosted_zone_id(self.alias_zone(zone, &want.target).await?)
                    .dns_name(&want.target)
                    .evaluate_target_health(evaluate)
                    .build()
                    .map_err(|e| {
                        ProviderError::new(ErrorKind::Invalid, format!("{}: {e}", describe()))
                    })?;
                set.alias_target = Some(alias);
                set.resource_records = None;
                set.ttl = None;
            }
            RecordType::A | RecordType::Aaaa => {}
        }
        Ok(set)
    }
}

fn rr_type(t: RecordType) -> RrType {
    match t {
        RecordType::Cname => RrType::Cname,
        RecordType::A => RrType::A,
        RecordType::Aaaa => RrType::Aaaa,
    }
}

/// A weighted set as the engine sees it, under the name the caller used; `None` if not weighted.
fn to_weighted(
    name: &str,
    record_type: RecordType,
    set: &ResourceRecordSet,
) -> Option<WeightedRecord> {
    let (set_id, weight) = (set.set_identifier.as_ref()?, set.weight?);
    let target = match &set.alias_target {
        Some(alias) => normalize(&alias.dns_name),
        None => {
            let values: Vec<&str> = set
                .resource_records()
                .iter()
                .map(|r| r.value.as_str())
                .collect();
            normalize(&values.join(","))
        }
    };
    Some(WeightedRecord {
        name: name.to_string(),
        record_type,
        set_id: set_id.clone(),
        target,
        // Alias records have no TTL of their own (the target's applies).
        ttl: set.ttl.and_then(|t| u32::try_from(t).ok()).unwrap_or(0),
        weight: u8::try_from(weight).unwrap_or(u8::MAX),
    })
}

/// The engine's interlock, on names compared the DNS way.
fn keeps_traffic(live: &[WeightedRecord], changes: &[RecordChange]) -> Result<(), ProviderError> {
    let norm = |r: &WeightedRecord| WeightedRecord {
        name: normalize(&r.name),
        ..r.clone()
    };
    let live: Vec<WeightedRecord> = live.iter().map(norm).collect();
    let changes: Vec<RecordChange> = changes
        .iter()
        .map(|c| RecordChange {
            action: c.action,
            record: norm(&c.record),
        })
        .collect();
    check_change_keeps_traffic(&live, &changes)
        .map_err(|m| ProviderError::new(ErrorKind::Invalid, m))
}

#[async_trait]
impl TrafficProvider for Route53Traffic {
    async fn records(
        &self,
        zone: &str,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<WeightedRecord>, ProviderError> {
        let zone = self.zone(zone).await?;
        let sets = self.record_sets(&zone, name, record_type).await?;
        Ok(sets
            .iter()
            .filter_map(|s| to_weighted(name, record_type, s))
            .collect())
    }

    async fn change(
        &self,
        zone: &str,
        changes: &[RecordChange],
    ) -> Result<ChangeId, ProviderError> {
        if changes.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                "an empty DNS change was asked for; nothing to submit",
            ));
        }
        let zone = self.zone(zone).await?;
        let zone = zone.as_str();
        // The live sets of every name the batch touches, read once per name.
        let mut groups: Vec<((String, RecordType), Vec<ResourceRecordSet>)> = Vec::new();
        for c in changes {
            let key = (normalize(&c.record.name), c.record.record_type);
            if !groups.iter().any(|(k, _)| *k == key) {
                let sets = self
                    .record_sets(zone, &c.record.name, c.record.record_type)
                    .await?;
                groups.push((key, sets));
            }
        }
        let live: Vec<WeightedRecord> = groups
            .iter()
            .flat_map(|((name, t), sets)| sets.iter().filter_map(|s| to_weighted(name, *t, s)))
            .collect();
        keeps_traffic(&live, changes)?;
        let mut batch = ChangeBatch::builder().comment(format!(
            "cutover: {} weighted record change(s)",
            changes.len()
        ));
        for c in changes {
            let key = (normalize(&c.record.name), c.record.record_type);
            let sets = &groups
                .iter()
                .find(|(k, _)| *k == key)
                .expect("read above")
                .1;
            let set = self.desired_set(zone, c, sets).await?;
            let action = match c.action {
                ChangeAction::Upsert => SdkAction::Upsert,
                ChangeAction::Delete => SdkAction::Delete,
            };
            let change = Change::builder()
                .action(action)
                .resource_record_set(set)
                .build()
                .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))?;
            batch = batch.changes(change);
        }
        let batch = batch
            .build()
            .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))?;
        let out = self
            .client
            .change_resource_record_sets()
            .hosted_zone_id(zone)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    &format!("change weighted records in hosted zone {zone}"),
                    &e,
                )
            })?;
        let id = out
            .change_info()
            .map(|i| i.id().trim_start_matches("/change/").to_string())
            .unwrap_or_default();
        if id.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Other,
                "Route53 accepted the change but returned no change id",
            ));
        }
        Ok(ChangeId(id))
    }

    async fn wait_insync(&self, change: &ChangeId) -> Result<(), ProviderError> {
        let id = change.0.trim_start_matches("/change/");
        let what = format!("DNS change {id} to be INSYNC");
        let wait = Wait {
            what: &what,
            typical: poll::DNS_INSYNC,
            timeout: self.insync_timeout,
            on_timeout: "Route53 is slow to propagate; `cutover resume` waits again (the change itself was accepted)",
        };
        poll::poll_until(&self.poll, &wait, || async {
            let out = self
                .client
                .get_change()
                .id(id)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("read DNS change {id}"), &e))?;
            match out.change_info().map(|i| i.status()) {
                Some(ChangeStatus::Insync) => Ok(Poll::Ready(())),
                Some(other) => Ok(Poll::Pending(format!("status {}", other.as_str()))),
                None => Ok(Poll::Pending("no status yet".into())),
            }
        })
        .await
    }
}
