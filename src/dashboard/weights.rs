//! The weights of each record over a run, as its journal tells them: blue's before the run
//! (`preflight.blue`), green's record added at 0 (`traffic.prepare`), each shift once INSYNC
//! (`traffic.shift.N`, at its `insync_at`), each undo (`compensation-done`: back to the shift's
//! `before`), and blue's record deleted (`retire.blue-records`).
//!
//! A shift journals its weights only when its bake is over, so while a shift step runs (or after
//! it failed in its bake) the journal does not say whether DNS already moved: such a point is
//! kept with `journaled: false` and drawn as unconfirmed, never as fact.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use crate::engine::{JournalEvent, JournalRecord, ids};
use crate::providers::weights::RecordWeights;

/// The weights of one record from a point in time on.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightPoint {
    /// When DNS carried these weights (INSYNC for a shift, the journal record's time otherwise).
    pub at: Timestamp,
    /// The record's DNS name.
    pub record: String,
    /// Blue's weight; `None` when its record is absent.
    pub blue: Option<u8>,
    /// Green's weight; `None` when its record is absent.
    pub green: Option<u8>,
    /// The step that set them.
    pub step: String,
    /// False for a shift that started but whose weights the journal does not (yet) confirm.
    pub journaled: bool,
}

/// Every weight change of the run, in order.
pub fn series(records: &[JournalRecord]) -> Vec<WeightPoint> {
    let mut points = Vec::new();
    // What each step said the weights were before and after it, for undoing it.
    let mut befores: BTreeMap<String, Vec<RecordWeights>> = BTreeMap::new();
    let mut current: BTreeMap<String, RecordWeights> = BTreeMap::new();
    let push = |points: &mut Vec<WeightPoint>, at, step: &str, w: &RecordWeights, journaled| {
        points.push(WeightPoint {
            at,
            record: w.record.clone(),
            blue: w.blue,
            green: w.green,
            step: step.to_string(),
            journaled,
        })
    };
    for r in records {
        match &r.event {
            JournalEvent::StepStarted { step, .. } => {
                if let Some(weight) = ids::shift_weight(step) {
                    for w in current.values() {
                        let target = RecordWeights { green: Some(weight), blue: Some(100 - weight), ..w.clone() };
                        push(&mut points, r.ts, step, &target, false);
                    }
                }
            }
            JournalEvent::StepDone { step, output } => {
                let after = match step.as_str() {
                    ids::PREFLIGHT_BLUE => weights(&output["records"]),
                    ids::TRAFFIC_PREPARE => weights(&output["after"]),
                    ids::RETIRE_BLUE_RECORDS => deleted_blue(&output["deleted"], &current),
                    s if ids::shift_weight(s).is_some() => weights(&output["after"]),
                    _ => continue,
                };
                let at = output["insync_at"].as_str().and_then(|t| t.parse().ok()).unwrap_or(r.ts);
                // The shift's weights are now journaled: its unconfirmed point is superseded.
                points.retain(|p| p.journaled || p.step != *step);
                befores.insert(step.clone(), weights(&output["before"]));
                for w in after {
                    push(&mut points, at, step, &w, true);
                    current.insert(w.record.clone(), w);
                }
            }
            JournalEvent::CompensationDone { step } => {
                let restored = match step.as_str() {
                    // Green's record removed: blue keeps what it had before green's was added.
                    ids::TRAFFIC_PREPARE => befores.get(step).cloned().unwrap_or_default(),
                    s if ids::shift_weight(s).is_some() => match befores.get(step) {
                        Some(before) => before.clone(),
                        // The shift failed in its bake: undone to what the step before it left.
                        None => current.values().cloned().collect(),
                    },
                    _ => continue,
                };
                for w in restored {
                    push(&mut points, r.ts, step, &w, true);
                    current.insert(w.record.clone(), w);
                }
            }
            _ => {}
        }
    }
    points
}

fn weights(v: &Value) -> Vec<RecordWeights> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// `retire.blue-records` lists the blue records it deleted; green keeps its weight.
fn deleted_blue(deleted: &Value, current: &BTreeMap<String, RecordWeights>) -> Vec<RecordWeights> {
    let names: Vec<&str> = deleted.as_array().into_iter().flatten().filter_map(|d| d["record"].as_str()).collect();
    current
        .values()
        .filter(|w| names.contains(&w.record.as_str()))
        .map(|w| RecordWeights { blue: None, ..w.clone() })
        .collect()
}

/// Each record's latest journaled weights, and the weight a running shift is moving it to.
pub fn latest(points: &[WeightPoint]) -> Vec<(RecordWeights, Option<u8>)> {
    let mut by_record: BTreeMap<&str, (RecordWeights, Option<u8>)> = BTreeMap::new();
    for p in points {
        let entry = by_record.entry(&p.record).or_insert_with(|| {
            (RecordWeights { record: p.record.clone(), blue: None, green: None }, None)
        });
        if p.journaled {
            *entry = (RecordWeights { record: p.record.clone(), blue: p.blue, green: p.green }, None);
        } else {
            entry.1 = p.green;
        }
    }
    by_record.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(name: &str) -> Vec<JournalRecord> {
        let path = format!("{}/tests/fixtures/journals/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
        let bytes = std::fs::read(path).unwrap();
        let run = serde_json::from_slice::<Value>(bytes.split(|&b| b == b'\n').next().unwrap()).unwrap()["run"]
            .as_str()
            .unwrap()
            .to_string();
        crate::engine::journal::parse(&run, &bytes).unwrap().records
    }

    #[test]
    fn a_completed_run_moves_green_through_each_step_and_retires_blue() {
        let points = series(&golden("completed"));
        assert!(points.iter().all(|p| p.journaled), "a finished shift leaves no unconfirmed point");
        let journaled: Vec<(Option<u8>, Option<u8>)> =
            points.iter().filter(|p| p.journaled).map(|p| (p.blue, p.green)).collect();
        assert_eq!(
            journaled,
            [
                (Some(100), None),
                (Some(100), Some(0)),
                (Some(90), Some(10)),
                (Some(50), Some(50)),
                (Some(0), Some(100)),
                (None, Some(100)),
            ]
        );
        assert_eq!(latest(&points), [(RecordWeights { record: "api.example.com".into(), blue: None, green: Some(100) }, None)]);
    }

    #[test]
    fn a_shift_under_way_is_unconfirmed_and_an_undo_restores_the_weights_before() {
        let mut records = golden("completed");
        // Cut the run during the 50% bake, then fail it and undo both shifts.
        let cut = records.iter().position(|r| matches!(&r.event, JournalEvent::StepStarted { step, .. } if step == "traffic.shift.50")).unwrap();
        records.truncate(cut + 1);
        let points = series(&records);
        assert_eq!(latest(&points)[0].0.green, Some(10), "the journal still says 10");
        assert_eq!(latest(&points)[0].1, Some(50), "moving to 50, unconfirmed");
        let mut next = records.last().unwrap().clone();
        for step in ["traffic.shift.50", "traffic.shift.10"] {
            next.seq += 1;
            next.event = JournalEvent::CompensationDone { step: step.into() };
            records.push(next.clone());
        }
        let points = series(&records);
        let last = points.last().unwrap();
        assert_eq!((last.blue, last.green, last.journaled), (Some(100), Some(0), true));
    }
}
