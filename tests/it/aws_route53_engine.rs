//! The engine's traffic steps on the Route53 provider against moto (the other providers are the
//! engine tests' fakes): green joins at weight 0, every shift is one batch, blue's record goes at
//! the end; and weights changed by hand mid-run stop the run with cutover changing nothing.
//! Real clock (the SDK's timeouts must not jump), so bakes and TTLs are shortened.

use crate::aws_common;
use crate::support;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
};
use cutover::engine::{Engine, EngineEvent, RunOutcome};
use cutover::plan::{CheckKind, HostedZone, Plan, RecordType, Timeouts};
use cutover::providers::aws::poll::PollConfig;
use cutover::providers::aws::route53::Route53Traffic;
use cutover::providers::{Providers, TrafficProvider};
use support::{Harness, plans};
use testkit::moto::Moto;

struct Setup {
    _moto: Moto,
    endpoint: String,
    zone: String,
    traffic: Arc<Route53Traffic>,
}

async fn upsert(endpoint: &str, zone: &str, sets: &[(&str, &str, i64)]) {
    let config = aws_common::sdk_config(endpoint).await;
    let sdk = aws_sdk_route53::Client::new(&config);
    let mut batch = ChangeBatch::builder();
    for (set, target, weight) in sets {
        let rrs = ResourceRecordSet::builder()
            .name(plans::RECORD)
            .r#type(RrType::Cname)
            .set_identifier(*set)
            .weight(*weight)
            .ttl(0)
            .resource_records(ResourceRecord::builder().value(*target).build().unwrap())
            .build()
            .unwrap();
        batch = batch.changes(
            Change::builder()
                .action(ChangeAction::Upsert)
                .resource_record_set(rrs)
                .build()
                .unwrap(),
        );
    }
    sdk.change_resource_record_sets()
        .hosted_zone_id(zone)
        .change_batch(batch.build().unwrap())
        .send()
        .await
        .unwrap();
}

/// moto with example.com holding blue's weighted record at 100.
async fn setup() -> Setup {
    let moto = Moto::start();
    let config = aws_common::sdk_config(&moto.endpoint()).await;
    let sdk = aws_sdk_route53::Client::new(&config);
    let created = sdk
        .create_hosted_zone()
        .name("example.com")
        .caller_reference(aws_common::unique("zone"))
        .send()
        .await
        .unwrap();
    let zone = created
        .hosted_zone()
        .unwrap()
        .id
        .trim_start_matches("/hostedzone/")
        .to_string();
    upsert(
        &moto.endpoint(),
        &zone,
        &[(plans::BLUE_SET, plans::BLUE_LB, 100)],
    )
    .await;
    let traffic = Arc::new(
        Route53Traffic::new(&config, &Timeouts::default()).with_poll(PollConfig::scaled(100.0)),
    );
    Setup {
        endpoint: moto.endpoint(),
        _moto: moto,
        zone,
        traffic,
    }
}

/// The reference Upgrade on moto's example.com zone, with bakes, TTLs and probe intervals cut to nothing.
fn plan() -> Plan {
    let mut plan = plans::upgrade().build();
    let traffic = plan.traffic.as_mut().unwrap();
    // Named, not by id: the provider looks the zone up.
    traffic.zone = HostedZone::Name("example.com.".into());
    traffic.records[0].ttl = 0;
    for step in &mut traffic.steps {
        step.bake = Duration::from_millis(20);
    }
    for check in &mut plan.checks {
        if let CheckKind::Http(http) = &mut check.kind {
            http.interval = Duration::from_millis(5);
        }
    }
    plan
}

fn engine(h: &Harness, traffic: Arc<Route53Traffic>) -> Engine {
    let providers = Providers {
        traffic,
        ..h.world.providers()
    };
    let mut options = h.options();
    options.check_interval = Duration::from_millis(5);
    options.address_poll_interval = Duration::from_millis(5);
    Engine::new(h.plan.clone(), providers, h.local.clone(), options)
}

async fn weights(s: &Setup) -> Vec<(String, u8)> {
    let mut w: Vec<(String, u8)> = s
        .traffic
        .records(&s.zone, plans::RECORD, RecordType::Cname)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.set_id, r.weight))
        .collect();
    w.sort();
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_moves_traffic_on_route53_step_by_step_and_retires_blues_record() {
    let s = setup().await;
    let mut world = plans::world();
    world.install_time = Duration::from_millis(5);
    let h = Harness::with_world(plan(), world);
    let outcome = engine(&h, s.traffic.clone()).apply().await.unwrap();
    assert_eq!(outcome, RunOutcome::Completed);
    assert_eq!(
        weights(&s).await,
        vec![(plans::GREEN_SET.to_string(), 100)],
        "green carries everything, blue's record is gone"
    );
    let green = s
        .traffic
        .records(&s.zone, plans::RECORD, RecordType::Cname)
        .await
        .unwrap()
        .remove(0);
    assert!(!green.target.is_empty());
    let checkpoints = h.sink.checkpoints();
    for c in ["traffic-10", "traffic-50", "traffic-100"] {
        assert!(checkpoints.iter().any(|x| x == c), "{checkpoints:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_changed_by_hand_mid_run_stop_it_and_cutover_changes_nothing() {
    let s = setup().await;
    let mut world = plans::world();
    world.install_time = Duration::from_millis(5);
    let h = Harness::with_world(plan(), world);
    let (endpoint, zone) = (s.endpoint.clone(), s.zone.clone());
    h.sink.on_event(move |e, _| {
        if matches!(e, EngineEvent::Checkpoint { name } if name == "traffic-10") {
            // Someone moves traffic by hand while the run bakes (its own runtime: this hook is sync).
            let (endpoint, zone) = (endpoint.clone(), zone.clone());
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(upsert(
                    &endpoint,
                    &zone,
                    &[
                        (plans::BLUE_SET, plans::BLUE_LB, 70),
                        (plans::GREEN_SET, "green-by-hand.example.net", 30),
                    ],
                ));
            })
            .join()
            .unwrap();
        }
    });
    let outcome = engine(&h, s.traffic.clone()).apply().await.unwrap();
    let RunOutcome::NeedsAttention { cause, .. } = &outcome else {
        panic!("{outcome:?}")
    };
    assert!(cause.contains("Someone changed DNS by hand"), "{cause}");
    assert!(
        cause.contains("blue=90 green=10") && cause.contains("blue=70 green=30"),
        "{cause}"
    );
    assert_eq!(
        weights(&s).await,
        vec![
            (plans::BLUE_SET.to_string(), 70),
            (plans::GREEN_SET.to_string(), 30)
        ],
        "the hand-set weights are left as they are"
    );
}
