//! Pre-flight: what is checked before `provision.*` starts, changing nothing in the world.
//!
//! Each check owns one question and answers it from data already in hand (rendered manifests, blue's
//! release records, the plan), so it can be tested without a cluster. The engine steps that run the
//! checks, journal their findings and refuse a run live beside the other steps.
//!
//! - [`gates`]: the gates a run (and `cutover preflight`) runs, each turning what it finds into
//!   findings with stable codes; an error finding refuses the run before anything is created.
//! - [`data`]: which persistent volume claims travel and the zone each lands in.
//! - [`irsa`]: which IAM roles the workloads use through IRSA, and whether green's pods can assume them.
//! - [`removed_apis`]: which objects use an API version the target Kubernetes release no longer serves.

pub mod data;
pub mod gates;
pub mod irsa;
pub mod removed_apis;
