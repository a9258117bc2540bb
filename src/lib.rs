//! cutover: blue/green Kubernetes upgrades on EKS from one declarative plan.
//!
//! A tour for a newcomer, in the order data flows:
//! - [`plan`] reads a YAML plan, reports every problem with its place in the file, and yields a
//!   typed [`plan::Plan`].
//! - [`engine`] compiles a plan into ordered steps with named checkpoints, runs them, journals every
//!   transition, compensates on failure, resumes after a crash and rolls back on request. The engine
//!   decides; it imports no cloud or Kubernetes crate.
//! - [`providers`] holds the small traits (in our own types) through which the engine acts on the
//!   world: clusters, releases, health checks, traffic, and the state backend.
//! - [`dev`] (dev clusters with a TTL, found and reaped by their tags) and [`drill`] (timed
//!   disaster-recovery rebuilds with a report) build on the engine and the EKS provider.
//! - [`telemetry`] owns logging, the progress display and reports.
//! - [`capture`] reads the Helm releases running on a cluster into a lock file (with their exact
//!   charts), replays a lock through a plan, and reports drift between a cluster and its pins.
//! - [`ops`] holds the flows (apply, resume, rollback, status, capture, dev, drill, ...) as library
//!   functions with typed outcomes; [`compose`] is the one composition root that builds every
//!   provider from the environment and a plan.
//! - [`dashboard`] serves a read-only web UI over the state backends, reading through `ops`.
//! - [`cli`] is arguments → one `ops` call → printing; `main.rs` maps errors to exit codes.
//!
//! ARCHITECTURE.md has the layers and the rule for each; `tests/it/architecture.rs` enforces them.

#![warn(missing_docs)]

pub mod capture;
pub mod cli;
pub mod compose;
pub mod dashboard;
pub mod dev;
pub mod drill;
pub mod engine;
pub mod ops;
pub mod plan;
pub mod providers;
pub mod telemetry;
