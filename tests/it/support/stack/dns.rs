//! Route53 as the tests see it (moto, called directly, not through the recording proxy): the
//! hosted zone with blue's weighted record, hand edits, and the live weights and targets.

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};

use super::Stack;

impl Stack {
    /// A hosted zone in moto and the blue weighted record carrying all traffic.
    pub async fn create_zone_with_blue_record(
        &self,
        zone: &str,
        record: &str,
        set_id: &str,
        target: &str,
    ) -> String {
        let r53 = self.route53().await;
        let created = r53
            .create_hosted_zone()
            .name(zone)
            .caller_reference(format!("e2e-{}", fastrand::u64(..)))
            .send()
            .await
            .expect("create zone");
        let zone_id = created
            .hosted_zone()
            .unwrap()
            .id()
            .trim_start_matches("/hostedzone/")
            .to_string();
        self.upsert_weight(&zone_id, record, set_id, target, 100)
            .await;
        zone_id
    }

    /// UPSERTs one weighted CNAME (what a human editing DNS by hand does).
    pub async fn upsert_weight(
        &self,
        zone_id: &str,
        record: &str,
        set_id: &str,
        target: &str,
        weight: i64,
    ) {
        let set = ResourceRecordSet::builder()
            .name(record)
            .r#type(RrType::Cname)
            .set_identifier(set_id)
            .weight(weight)
            .ttl(1)
            .resource_records(ResourceRecord::builder().value(target).build().unwrap())
            .build()
            .unwrap();
        self.route53()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(zone_id)
            .change_batch(
                ChangeBatch::builder()
                    .changes(
                        Change::builder()
                            .action(ChangeAction::Upsert)
                            .resource_record_set(set)
                            .build()
                            .unwrap(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("upsert record");
    }

    /// Weights of every weighted record of `record`, by set identifier.
    pub async fn weights(
        &self,
        zone_id: &str,
        record: &str,
    ) -> std::collections::BTreeMap<String, i64> {
        let listed = self
            .route53()
            .await
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .send()
            .await
            .unwrap();
        let wanted = format!("{}.", record.trim_end_matches('.'));
        listed
            .resource_record_sets()
            .iter()
            .filter(|r| r.name() == wanted && r.set_identifier().is_some())
            .map(|r| {
                (
                    r.set_identifier().unwrap().to_string(),
                    r.weight().unwrap_or(0),
                )
            })
            .collect()
    }

    /// Targets (CNAME values) of every weighted record of `record`, by set identifier.
    pub async fn targets(
        &self,
        zone_id: &str,
        record: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let listed = self
            .route53()
            .await
            .list_resource_record_sets()
            .hosted_zone_id(zone_id)
            .send()
            .await
            .unwrap();
        let wanted = format!("{}.", record.trim_end_matches('.'));
        listed
            .resource_record_sets()
            .iter()
            .filter(|r| r.name() == wanted && r.set_identifier().is_some())
            .map(|r| {
                (
                    r.set_identifier().unwrap().to_string(),
                    r.resource_records()[0].value().to_string(),
                )
            })
            .collect()
    }
}
