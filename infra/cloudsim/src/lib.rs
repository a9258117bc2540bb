//! cloudsim: a local stand-in for EKS and the Kubernetes API of each cluster it creates.
//!
//! Modules:
//! - [`clock`]: simulated durations (real latency ÷ `--time-scale`).
//! - [`env`]: the environment all parts share (clock, latencies, faults, events, credentials).
//! - [`faults`]: what can be made to go wrong, set from the profile or `/_cloudsim/faults`.
//! - [`events`]: the log of what happened, served at `/_cloudsim/events` for tests to assert on.
//! - [`profile`]: simulated latencies and start-up faults.
//! - [`kube`]: the Kubernetes API of each cluster (server, storage, controller).
//! - [`auth`]: EKS bearer tokens, verified with SigV4.
//! - [`lb`]: reachable load balancers for LoadBalancer Services.

pub mod auth;
pub mod clock;
pub mod env;
pub mod events;
pub mod faults;
pub mod kube;
pub mod lb;
pub mod profile;
