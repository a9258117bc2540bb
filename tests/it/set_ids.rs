//! Which weighted records a run moves, quarter after quarter: SetIdentifiers default to the
//! clusters' names; a blue record under another id is found by the traffic it carries; when blue's
//! record cannot be told the run is refused before anything is made, listing what exists and the
//! field that picks one; and the ids a run resolved are journaled.

use crate::support;

use cutover::engine::{self, JournalEvent, RunOutcome};
use cutover::plan::{SetIds, SetIdsGiven};
use support::Harness;
use support::fakes::World;
use support::plans::{self, BLUE, BLUE_LB, GREEN, RECORD};

/// The reference plan with its SetIdentifiers left to their defaults.
fn defaults_plan() -> cutover::plan::Plan {
    let mut plan = plans::upgrade().build();
    let rec = &mut plan.traffic.as_mut().unwrap().records[0];
    rec.blue_set_id = BLUE.into();
    rec.green_set_id = GREEN.into();
    rec.explicit = SetIdsGiven::default();
    rec.legacy = SetIds { blue: format!("{}-blue", plans::ENV), green: format!("{}-green", plans::ENV) };
    plan
}

fn world_with_records(records: &[(&str, &str, u8)]) -> World {
    let world = World::new();
    world.add_cluster(BLUE, &[], &["ingress/ingress-nginx-controller"]);
    world.lb_service_for("ingress", "ingress/ingress-nginx-controller");
    for (set, target, weight) in records {
        world.set_record(RECORD, set, target, *weight);
    }
    world
}

async fn journaled_set_ids(h: &Harness) -> serde_json::Value {
    let records = engine::history(h.local.as_ref(), plans::ENV, None).await.unwrap();
    records
        .iter()
        .find_map(|r| match &r.event {
            JournalEvent::StepDone { step, output } if step == "preflight.blue" => Some(output["setIds"].clone()),
            _ => None,
        })
        .expect("preflight.blue journals the ids it resolved")
}

#[tokio::test(start_paused = true)]
async fn a_blue_record_under_any_id_is_found_by_its_traffic_and_green_gets_its_cluster_name() {
    let h = Harness::with_world(defaults_plan(), world_with_records(&[("made-by-hand", BLUE_LB, 100)]));
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert_eq!(h.world.weight(RECORD, GREEN), Some(100), "green's record carries green's cluster name");
    assert_eq!(h.world.weight(RECORD, "made-by-hand"), None, "blue's record is retired");
    assert_eq!(journaled_set_ids(&h).await, serde_json::json!([{"blue": "made-by-hand", "green": GREEN}]));
}

#[tokio::test(start_paused = true)]
async fn a_record_named_after_blue_is_blues_even_beside_others() {
    let world = world_with_records(&[(BLUE, BLUE_LB, 100), ("canary", "canary-lb.example.net", 5)]);
    let h = Harness::with_world(defaults_plan(), world);
    assert_eq!(h.engine().apply().await.unwrap(), RunOutcome::Completed);
    assert_eq!(h.world.weight(RECORD, "canary"), Some(5), "a record cutover does not manage is left alone");
    assert_eq!(journaled_set_ids(&h).await[0]["blue"], BLUE);
}

#[tokio::test(start_paused = true)]
async fn when_blues_record_cannot_be_told_the_run_is_refused_listing_the_records() {
    let world = world_with_records(&[("east", "east-lb.example.net", 60), ("west", "west-lb.example.net", 40)]);
    let h = Harness::with_world(defaults_plan(), world);
    let before = h.world.state();
    let RunOutcome::Refused { step, cause } = h.engine().apply().await.unwrap() else { panic!("expected a refusal") };
    assert_eq!(step, "preflight.blue");
    for expected in ["\"east\" weight 60 → east-lb.example.net", "\"west\" weight 40", "setIdentifiers.blue"] {
        assert!(cause.contains(expected), "{expected:?} missing from: {cause}");
    }
    assert_eq!(h.world.state(), before, "nothing was made");
}

#[tokio::test(start_paused = true)]
async fn a_written_blue_set_id_that_does_not_exist_is_not_guessed_around() {
    let mut plan = defaults_plan();
    let rec = &mut plan.traffic.as_mut().unwrap().records[0];
    rec.blue_set_id = "typo".into();
    rec.explicit.blue = true;
    let h = Harness::with_world(plan, world_with_records(&[("made-by-hand", BLUE_LB, 100)]));
    let RunOutcome::Refused { cause, .. } = h.engine().apply().await.unwrap() else { panic!("expected a refusal") };
    assert!(cause.contains("the plan's set id \"typo\"") && cause.contains("\"made-by-hand\" weight 100"), "{cause}");
}
