//! Pre-flight: what is checked before `provision.*` starts, changing nothing in the world.
//!
//! Each check owns one question and answers it from data already in hand (rendered manifests, blue's
//! release records, the plan), so it can be tested without a cluster. The engine steps that run the
//! checks, journal their findings and refuse a run live beside the other steps.
//!
//! - [`removed_apis`]: which objects use an API version the target Kubernetes release no longer serves.

pub mod removed_apis;
