//! The fake Route53: weighted records changed in atomic batches.

use async_trait::async_trait;
use cutover::plan::RecordType;
use cutover::providers::{
    ChangeAction, ChangeId, ErrorKind, ProviderError, RecordChange, TrafficProvider, WeightedRecord,
};

use super::{FakeRecord, World};

fn describe_change(c: &RecordChange) -> String {
    let verb = match c.action {
        ChangeAction::Upsert => "UPSERT",
        ChangeAction::Delete => "DELETE",
    };
    format!(
        "{verb} {}/{}={}",
        c.record.name, c.record.set_id, c.record.weight
    )
}

#[async_trait]
impl TrafficProvider for World {
    async fn records(
        &self,
        _zone: &str,
        name: &str,
        record_type: RecordType,
    ) -> Result<Vec<WeightedRecord>, ProviderError> {
        self.enter("records", name).await?;
        let w = self.lock();
        Ok(w.state
            .records
            .iter()
            .filter(|((n, _), r)| n == name && r.record_type == record_type)
            .map(|((n, set), r)| WeightedRecord {
                name: n.clone(),
                record_type: r.record_type,
                set_id: set.clone(),
                target: r.target.clone(),
                ttl: r.ttl,
                weight: r.weight,
            })
            .collect())
    }

    async fn change(
        &self,
        _zone: &str,
        changes: &[RecordChange],
    ) -> Result<ChangeId, ProviderError> {
        let desc: Vec<String> = changes.iter().map(describe_change).collect();
        let desc = desc.join("; ");
        self.enter("change", &desc).await?;
        let mut w = self.lock();
        let mut next = w.state.records.clone();
        for c in changes {
            let key = (c.record.name.clone(), c.record.set_id.clone());
            let rec = FakeRecord {
                record_type: c.record.record_type,
                target: c.record.target.clone(),
                ttl: c.record.ttl,
                weight: c.record.weight,
            };
            match c.action {
                ChangeAction::Upsert => {
                    next.insert(key, rec);
                }
                // Like Route53: a delete must match the record exactly, else the batch fails whole.
                ChangeAction::Delete => {
                    if next.get(&key) != Some(&rec) {
                        return Err(ProviderError::new(
                            ErrorKind::Invalid,
                            format!("no exact match to delete: {desc}"),
                        ));
                    }
                    next.remove(&key);
                }
            }
        }
        w.state.records = next;
        w.change_seq += 1;
        World::effect_happened(&mut w, format!("dns {desc}"));
        Ok(ChangeId(format!("C{}", w.change_seq)))
    }

    async fn wait_insync(&self, change: &ChangeId) -> Result<(), ProviderError> {
        self.enter("wait_insync", &change.0).await
    }
}
