//! Weight arithmetic and the traffic interlock that needs no I/O: a change batch must never leave
//! a record name with no weighted record, or with every weight at 0 (Route53 then spreads traffic
//! over all of them, which is never what anyone meant).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::plan::RecordType;
use super::{ChangeAction, RecordChange, WeightedRecord};

/// The weights of blue's and green's records of one name; `None` when the record is absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordWeights {
    /// DNS name of the record.
    pub record: String,
    /// Weight of blue's record.
    pub blue: Option<u8>,
    /// Weight of green's record.
    pub green: Option<u8>,
}

impl fmt::Display for RecordWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = |v: Option<u8>| v.map_or("absent".to_string(), |w| w.to_string());
        write!(f, "blue={} green={}", w(self.blue), w(self.green))
    }
}

pub(crate) fn type_name(t: RecordType) -> &'static str {
    match t {
        RecordType::Cname => "CNAME",
        RecordType::A => "A",
        RecordType::Aaaa => "AAAA",
    }
}

/// Refuses a batch that would leave any record name it touches with no weighted record or with
/// every weight at 0. `live` holds every current record of the names involved (all set ids,
/// including ones cutover does not manage). The message says what and why.
pub fn check_change_keeps_traffic(
    live: &[WeightedRecord],
    changes: &[RecordChange],
) -> Result<(), String> {
    type Key = (String, &'static str);
    let key = |r: &WeightedRecord| (r.name.clone(), type_name(r.record_type));
    let mut after: BTreeMap<Key, BTreeMap<String, u8>> = BTreeMap::new();
    for r in live {
        after
            .entry(key(r))
            .or_default()
            .insert(r.set_id.clone(), r.weight);
    }
    let mut touched: Vec<Key> = Vec::new();
    for c in changes {
        let k = key(&c.record);
        let group = after.entry(k.clone()).or_default();
        match c.action {
            ChangeAction::Upsert => group.insert(c.record.set_id.clone(), c.record.weight),
            ChangeAction::Delete => group.remove(&c.record.set_id),
        };
        if !touched.contains(&k) {
            touched.push(k);
        }
    }
    for k in touched {
        let group = &after[&k];
        if group.is_empty() {
            return Err(format!(
                "refusing a DNS change that would delete every weighted record of {} ({}): the \
                 name would stop resolving",
                k.0, k.1
            ));
        }
        if group.values().all(|w| *w == 0) {
            let sets: Vec<String> = group.keys().map(|s| format!("{s}=0")).collect();
            return Err(format!(
                "refusing a DNS change that would leave every weighted record of {} ({}) at weight \
                 0 ({}): Route53 would then spread traffic over all of them",
                k.0,
                k.1,
                sets.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(set: &str, weight: u8) -> WeightedRecord {
        WeightedRecord {
            name: "api.example.com".into(),
            record_type: RecordType::Cname,
            set_id: set.into(),
            target: format!("{set}.lb.example.net"),
            ttl: 60,
            weight,
        }
    }

    fn upsert(set: &str, weight: u8) -> RecordChange {
        RecordChange {
            action: ChangeAction::Upsert,
            record: rec(set, weight),
        }
    }

    #[test]
    fn a_shift_that_keeps_some_weight_passes() {
        let live = [rec("blue", 100), rec("green", 0)];
        assert!(
            check_change_keeps_traffic(&live, &[upsert("blue", 90), upsert("green", 10)]).is_ok()
        );
    }

    #[test]
    fn all_zero_is_refused_counting_unmanaged_records() {
        let live = [rec("blue", 100), rec("green", 0)];
        let err = check_change_keeps_traffic(&live, &[upsert("blue", 0)]).unwrap_err();
        assert!(err.contains("weight 0"), "{err}");
        let live = [rec("blue", 100), rec("green", 0), rec("other", 5)];
        assert!(check_change_keeps_traffic(&live, &[upsert("blue", 0)]).is_ok());
    }

    #[test]
    fn deleting_the_last_record_is_refused() {
        let live = [rec("blue", 100)];
        let del = RecordChange {
            action: ChangeAction::Delete,
            record: rec("blue", 100),
        };
        assert!(
            check_change_keeps_traffic(&live, &[del])
                .unwrap_err()
                .contains("delete every")
        );
    }

    #[test]
    fn a_batch_leaving_every_weight_of_a_name_at_zero_is_refused_by_name() {
        let rec = |set: &str, weight: u8| WeightedRecord {
            name: "api.example.com".into(),
            record_type: RecordType::Cname,
            set_id: set.into(),
            target: "x".into(),
            ttl: 60,
            weight,
        };
        let live = [rec("blue", 100), rec("green", 0)];
        let to_zero = RecordChange { action: ChangeAction::Upsert, record: rec("blue", 0) };
        let err = check_change_keeps_traffic(&live, &[to_zero]).unwrap_err();
        assert!(err.contains("every weighted record of api.example.com (CNAME) at weight 0"), "{err}");
    }

}
