//! Route53 weighted records against moto: reading, green created at weight 0, one-batch shifts
//! that keep what else is configured on a record, alias records to load balancers, the all-zero
//! refusal, hand-made changes seen as they are; and, against a scripted endpoint (moto never
//! throttles), how throttling and busy zones are retried.

use crate::aws_common;

use std::time::Duration;

use aws_common::fake_http::{FakeServer, Response};
use aws_sdk_route53::types::{
    AliasTarget, Change, ChangeAction as SdkAction, ChangeBatch, HealthCheckConfig,
    HealthCheckType, ResourceRecord, ResourceRecordSet, RrType,
};
use cutover::plan::{RecordType, Timeouts};
use cutover::providers::aws::poll::PollConfig;
use cutover::providers::aws::route53::Route53Traffic;
use cutover::providers::{ChangeAction, ErrorKind, RecordChange, TrafficProvider, WeightedRecord};
use testkit::moto::Moto;

const NAME: &str = "api.example.com";

struct Dns {
    _moto: Moto,
    sdk: aws_sdk_route53::Client,
    traffic: Route53Traffic,
    zone: String,
}

impl Dns {
    async fn start() -> Dns {
        let moto = Moto::start();
        let config = aws_common::sdk_config(&moto.endpoint()).await;
        let sdk = aws_sdk_route53::Client::new(&config);
        let zone = sdk
            .create_hosted_zone()
            .name("example.com")
            .caller_reference(aws_common::unique("zone"))
            .send()
            .await
            .unwrap()
            .hosted_zone()
            .unwrap()
            .id
            .trim_start_matches("/hostedzone/")
            .to_string();
        let traffic =
            Route53Traffic::new(&config, &Timeouts::default()).with_poll(PollConfig::scaled(100.0));
        Dns {
            _moto: moto,
            sdk,
            traffic,
            zone,
        }
    }

    /// Changes records behind cutover's back (the world before the run, or a human).
    async fn by_hand(&self, sets: Vec<ResourceRecordSet>) {
        let mut batch = ChangeBatch::builder();
        for set in sets {
            batch = batch.changes(
                Change::builder()
                    .action(SdkAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .unwrap(),
            );
        }
        self.sdk
            .change_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .change_batch(batch.build().unwrap())
            .send()
            .await
            .unwrap();
    }

    async fn raw(&self, name: &str, rr: RrType) -> Vec<ResourceRecordSet> {
        let out = self
            .sdk
            .list_resource_record_sets()
            .hosted_zone_id(&self.zone)
            .send()
            .await
            .unwrap();
        out.resource_record_sets()
            .iter()
            .filter(|s| s.name.trim_end_matches('.') == name && s.r#type == rr)
            .cloned()
            .collect()
    }

    async fn weights(&self, name: &str, t: RecordType) -> Vec<(String, u8)> {
        let mut w: Vec<(String, u8)> = self
            .traffic
            .records(&self.zone, name, t)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.set_id, r.weight))
            .collect();
        w.sort();
        w
    }

    async fn apply(
        &self,
        changes: &[RecordChange],
    ) -> Result<(), cutover::providers::ProviderError> {
        let id = self.traffic.change(&self.zone, changes).await?;
        self.traffic.wait_insync(&id).await
    }
}

fn cname(set: &str, target: &str, weight: i64) -> ResourceRecordSet {
    ResourceRecordSet::builder()
        .name(NAME)
        .r#type(RrType::Cname)
        .set_identifier(set)
        .weight(weight)
        .ttl(60)
        .resource_records(ResourceRecord::builder().value(target).build().unwrap())
        .build()
        .unwrap()
}

fn record(set: &str, target: &str, weight: u8) -> WeightedRecord {
    WeightedRecord {
        name: NAME.into(),
        record_type: RecordType::Cname,
        set_id: set.into(),
        target: target.into(),
        ttl: 60,
        weight,
    }
}

fn upsert(r: WeightedRecord) -> RecordChange {
    RecordChange {
        action: ChangeAction::Upsert,
        record: r,
    }
}

#[tokio::test]
async fn green_joins_at_zero_then_one_batch_shifts_keeping_blues_health_check() {
    let dns = Dns::start().await;
    let health = dns
        .sdk
        .create_health_check()
        .caller_reference(aws_common::unique("hc"))
        .health_check_config(
            HealthCheckConfig::builder()
                .r#type(HealthCheckType::Https)
                .fully_qualified_domain_name("blue-lb.example.net")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .health_check()
        .unwrap()
        .id
        .clone();
    let mut blue = cname("api-blue", "blue-lb.example.net", 100);
    blue.health_check_id = Some(health.clone());
    dns.by_hand(vec![blue]).await;

    // Read under any spelling of the name; reported under the name asked for.
    let live = dns
        .traffic
        .records(&dns.zone, "API.Example.com.", RecordType::Cname)
        .await
        .unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].name, "API.Example.com.");
    assert_eq!(
        (
            live[0].set_id.as_str(),
            live[0].target.as_str(),
            live[0].ttl,
            live[0].weight
        ),
        ("api-blue", "blue-lb.example.net", 60, 100)
    );

    dns.apply(&[upsert(record("api-green", "green-lb.example.net", 0))])
        .await
        .unwrap();
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-blue".into(), 100), ("api-green".into(), 0)]
    );

    dns.apply(&[
        upsert(record("api-blue", "blue-lb.example.net", 90)),
        upsert(record("api-green", "green-lb.example.net", 10)),
    ])
    .await
    .unwrap();
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-blue".into(), 90), ("api-green".into(), 10)]
    );
    let raw = dns.raw(NAME, RrType::Cname).await;
    let blue = raw
        .iter()
        .find(|s| s.set_identifier.as_deref() == Some("api-blue"))
        .unwrap();
    assert_eq!(
        blue.health_check_id.as_deref(),
        Some(health.as_str()),
        "a weight change keeps the rest of the record"
    );
    let green = raw
        .iter()
        .find(|s| s.set_identifier.as_deref() == Some("api-green"))
        .unwrap();
    assert_eq!(green.resource_records()[0].value, "green-lb.example.net");
    assert_eq!(green.ttl, Some(60));

    // Blue retired: its record is deleted exactly as it is.
    let blue_now = dns
        .traffic
        .records(&dns.zone, NAME, RecordType::Cname)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.set_id == "api-blue")
        .unwrap();
    dns.apply(&[
        upsert(record("api-green", "green-lb.example.net", 100)),
        upsert(WeightedRecord {
            weight: 0,
            ..blue_now.clone()
        }),
    ])
    .await
    .unwrap();
    dns.apply(&[RecordChange {
        action: ChangeAction::Delete,
        record: WeightedRecord {
            weight: 0,
            ..blue_now
        },
    }])
    .await
    .unwrap();
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-green".into(), 100)]
    );
}

#[tokio::test]
async fn a_batch_leaving_every_weight_at_zero_is_refused_and_nothing_changes() {
    let dns = Dns::start().await;
    dns.by_hand(vec![
        cname("api-blue", "blue-lb.example.net", 100),
        cname("api-green", "green-lb.example.net", 0),
    ])
    .await;
    let err = dns
        .traffic
        .change(
            &dns.zone,
            &[upsert(record("api-blue", "blue-lb.example.net", 0))],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(err.message.contains("weight 0"), "{}", err.message);
    // Deleting the only record carrying traffic leaves the rest at 0: refused too.
    let del = RecordChange {
        action: ChangeAction::Delete,
        record: record("api-blue", "blue-lb.example.net", 100),
    };
    assert_eq!(
        dns.traffic
            .change(&dns.zone, &[del])
            .await
            .unwrap_err()
            .kind,
        ErrorKind::Invalid
    );
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-blue".into(), 100), ("api-green".into(), 0)]
    );
}

#[tokio::test]
async fn weights_changed_by_hand_are_read_as_they_are_and_a_stale_delete_is_refused() {
    let dns = Dns::start().await;
    dns.by_hand(vec![
        cname("api-blue", "blue-lb.example.net", 90),
        cname("api-green", "green-lb.example.net", 10),
    ])
    .await;
    // Someone moves traffic by hand; the engine compares what it reads with its journal.
    dns.by_hand(vec![
        cname("api-blue", "blue-lb.example.net", 70),
        cname("api-green", "green-lb.example.net", 30),
    ])
    .await;
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-blue".into(), 70), ("api-green".into(), 30)]
    );
    let stale = RecordChange {
        action: ChangeAction::Delete,
        record: record("api-green", "green-lb.example.net", 10),
    };
    let err = dns.traffic.change(&dns.zone, &[stale]).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Conflict, "{}", err.message);
    assert!(
        err.message.contains("changed since it was read"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn other_names_and_types_are_not_mixed_in() {
    let dns = Dns::start().await;
    let mut other_name = cname("x", "x.example.net", 5);
    other_name.name = "api2.example.com".into();
    let mut before = cname("y", "y.example.net", 5);
    before.name = "apa.example.com".into();
    let mut simple = cname("z", "z.example.net", 1);
    simple.name = "www.example.com".into();
    dns.by_hand(vec![
        cname("api-blue", "blue-lb.example.net", 100),
        other_name,
        before,
        simple,
    ])
    .await;
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-blue".into(), 100)]
    );
    assert_eq!(dns.weights(NAME, RecordType::A).await, vec![]);
    assert_eq!(
        dns.weights("absent.example.com", RecordType::Cname).await,
        vec![]
    );
}

#[tokio::test]
async fn alias_records_point_at_load_balancers_in_their_published_zones() {
    let dns = Dns::start().await;
    let blue_alb = "blue-alb-123.us-east-1.elb.amazonaws.com";
    let blue = ResourceRecordSet::builder()
        .name(NAME)
        .r#type(RrType::A)
        .set_identifier("api-blue")
        .weight(100)
        .alias_target(
            AliasTarget::builder()
                .hosted_zone_id("Z35SXDOTRQ7X7K")
                .dns_name(blue_alb)
                .evaluate_target_health(true)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    dns.by_hand(vec![blue]).await;
    let live = dns
        .traffic
        .records(&dns.zone, NAME, RecordType::A)
        .await
        .unwrap();
    assert_eq!(
        (live[0].target.as_str(), live[0].weight, live[0].ttl),
        (blue_alb, 100, 0)
    );

    let green_nlb = "green-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com";
    let green = WeightedRecord {
        name: NAME.into(),
        record_type: RecordType::A,
        set_id: "api-green".into(),
        target: green_nlb.into(),
        ttl: 60,
        weight: 0,
    };
    dns.apply(&[upsert(green.clone())]).await.unwrap();
    dns.apply(&[
        upsert(WeightedRecord {
            weight: 50,
            ..live[0].clone()
        }),
        upsert(WeightedRecord {
            weight: 50,
            ..green.clone()
        }),
    ])
    .await
    .unwrap();
    let raw = dns.raw(NAME, RrType::A).await;
    let alias = |set: &str| {
        raw.iter()
            .find(|s| s.set_identifier.as_deref() == Some(set))
            .unwrap()
            .alias_target
            .clone()
            .unwrap()
    };
    assert_eq!(
        alias("api-green").hosted_zone_id,
        "Z26RNL4JYFTOTI",
        "network load balancers' zone in us-east-1"
    );
    assert!(
        alias("api-green").evaluate_target_health,
        "mirrors the name's other aliases"
    );
    assert_eq!(
        alias("api-blue").hosted_zone_id,
        "Z35SXDOTRQ7X7K",
        "blue's alias kept as it was"
    );
    assert_eq!(
        dns.weights(NAME, RecordType::A).await,
        vec![("api-blue".into(), 50), ("api-green".into(), 50)]
    );

    // A name in the same zone aliases within it; anything else cannot be an alias.
    let inside = WeightedRecord {
        target: "green.example.com".into(),
        weight: 50,
        ..green.clone()
    };
    dns.apply(&[upsert(inside)]).await.unwrap();
    assert_eq!(
        dns.raw(NAME, RrType::A)
            .await
            .iter()
            .find(|s| s.set_identifier.as_deref() == Some("api-green"))
            .unwrap()
            .alias_target
            .as_ref()
            .unwrap()
            .hosted_zone_id
            .trim_start_matches("/hostedzone/"),
        dns.zone
    );
    let elsewhere = WeightedRecord {
        target: "green.example.org".into(),
        ..green
    };
    let err = dns
        .traffic
        .change(&dns.zone, &[upsert(elsewhere)])
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message.contains("use a CNAME record"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_zone_named_in_the_plan_is_looked_up_and_an_ambiguous_name_refused() {
    let dns = Dns::start().await;
    dns.by_hand(vec![cname("api-blue", "blue-lb.example.net", 100)])
        .await;
    let by_name = dns
        .traffic
        .records("example.com.", NAME, RecordType::Cname)
        .await
        .unwrap();
    assert_eq!(
        by_name,
        dns.traffic
            .records(&dns.zone, NAME, RecordType::Cname)
            .await
            .unwrap()
    );
    dns.traffic
        .change(
            "Example.COM.",
            &[upsert(record("api-green", "green-lb.example.net", 0))],
        )
        .await
        .unwrap();
    assert_eq!(
        dns.weights(NAME, RecordType::Cname).await,
        vec![("api-blue".into(), 100), ("api-green".into(), 0)]
    );

    let err = dns
        .traffic
        .records("example.org.", NAME, RecordType::Cname)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(
        err.message
            .contains("no Route53 hosted zone named example.org."),
        "{}",
        err.message
    );

    for _ in 0..2 {
        dns.sdk
            .create_hosted_zone()
            .name("twice.example")
            .caller_reference(aws_common::unique("z"))
            .send()
            .await
            .unwrap();
    }
    let err = dns
        .traffic
        .records("twice.example.", NAME, RecordType::Cname)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    assert!(
        err.message
            .contains("2 hosted zones are named twice.example.")
            && err.message.contains("by its id"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_missing_zone_is_a_clear_not_found() {
    let dns = Dns::start().await;
    let err = dns
        .traffic
        .records("ZNOSUCHZONE", NAME, RecordType::Cname)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{}", err.message);
    assert!(err.message.contains("ZNOSUCHZONE"), "{}", err.message);
}

// ---- throttling, against a scripted endpoint ----

const XMLNS: &str = "https://route53.amazonaws.com/doc/2013-04-01/";

fn empty_list() -> Response {
    Response::xml(
        200,
        format!(
            r#"<?xml version="1.0"?><ListResourceRecordSetsResponse xmlns="{XMLNS}"><ResourceRecordSets><ResourceRecordSet><Name>api.example.com.</Name><Type>CNAME</Type><SetIdentifier>api-blue</SetIdentifier><Weight>100</Weight><TTL>60</TTL><ResourceRecords><ResourceRecord><Value>blue-lb.example.net</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>300</MaxItems></ListResourceRecordSetsResponse>"#
        ),
    )
}

fn error(code: &str) -> Response {
    Response::xml(
        400,
        format!(
            r#"<?xml version="1.0"?><ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{code}</Code><Message>try later</Message></Error><RequestId>r1</RequestId></ErrorResponse>"#
        ),
    )
}

fn change_info(root: &str, status: &str) -> Response {
    Response::xml(
        200,
        format!(
            r#"<?xml version="1.0"?><{root} xmlns="{XMLNS}"><ChangeInfo><Id>/change/C2FAKE</Id><Status>{status}</Status><SubmittedAt>2026-03-01T09:00:00Z</SubmittedAt></ChangeInfo></{root}>"#
        ),
    )
}

async fn scripted(
    post: impl Fn(usize) -> Response + Send + Sync + 'static,
) -> (FakeServer, Route53Traffic) {
    let server = FakeServer::start(move |req, i| match req.method.as_str() {
        "POST" => post(i),
        _ if req.path.contains("/change/") => {
            if i < 2 {
                error("Throttling")
            } else if i < 3 {
                change_info("GetChangeResponse", "PENDING")
            } else {
                change_info("GetChangeResponse", "INSYNC")
            }
        }
        _ => empty_list(),
    })
    .await;
    let config = aws_common::sdk_config_quick_retry(&server.endpoint).await;
    let poll = PollConfig {
        min_interval: Duration::from_millis(5),
        max_interval: Duration::from_millis(50),
        ..PollConfig::scaled(100.0)
    };
    let traffic = Route53Traffic::new(&config, &Timeouts::default()).with_poll(poll);
    (server, traffic)
}

#[tokio::test]
async fn a_busy_zone_is_retried_by_the_sdk_and_the_change_lands_once() {
    let (server, traffic) = scripted(|i| {
        if i < 2 {
            error("PriorRequestNotComplete")
        } else {
            change_info("ChangeResourceRecordSetsResponse", "PENDING")
        }
    })
    .await;
    let id = traffic
        .change(
            "Z1",
            &[upsert(record("api-green", "green-lb.example.net", 0))],
        )
        .await
        .unwrap();
    assert_eq!(id.0, "C2FAKE");
    assert_eq!(server.count("POST"), 3, "two refusals, then the change");
    let bodies: Vec<String> =
        server.requests.lock().unwrap().iter().filter(|r| r.method == "POST").map(|r| r.body.clone()).collect();
    assert!(bodies[0].contains("<Name>api.example.com</Name>") || bodies[0].contains("api.example.com"), "{}", bodies[0]);
    assert!(bodies.iter().all(|b| b == &bodies[0]), "every retry sends the same batch: {bodies:?}");
    // Throttled GetChange and PENDING do not end the wait; INSYNC does.
    traffic.wait_insync(&id).await.unwrap();
    assert_eq!(
        server
            .requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.contains("/change/C2FAKE"))
            .count(),
        4
    );
}

#[tokio::test]
async fn persistent_throttling_comes_back_retryable_after_a_bounded_number_of_sends() {
    let (server, traffic) = scripted(|_| error("Throttling")).await;
    let err = traffic
        .change(
            "Z1",
            &[upsert(record("api-green", "green-lb.example.net", 0))],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled, "{}", err.message);
    assert!(
        err.retryable(),
        "the engine retries it with its own backoff"
    );
    assert!(
        err.message
            .contains("change weighted records in hosted zone Z1"),
        "{}",
        err.message
    );
    assert_eq!(
        server.count("POST"),
        3,
        "the SDK's attempts only: no retry loop on top of it in the provider"
    );
}

#[tokio::test]
async fn an_invalid_batch_is_not_retried() {
    let (server, traffic) = scripted(|_| error("InvalidChangeBatch")).await;
    let err = traffic
        .change(
            "Z1",
            &[upsert(record("api-green", "green-lb.example.net", 0))],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{}", err.message);
    assert_eq!(server.count("POST"), 1);
}
