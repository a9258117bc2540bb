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
//! - [`metrics`]: what the load balancers answered, for Prometheus at `GET /metrics`.
//! - [`eks`]: the EKS control plane (REST API, resource lifecycle) and its seam to the Kubernetes half.
//! - [`server`]: the HTTP server (EKS + control API), start-up restore and shutdown: [`Server::start`].
//! - [`control`]: the `/_cloudsim/` API (faults, events, leaked load balancers, reset).
//! - [`persist`]: what survives a kill under `--state-dir`, written atomically.
//! - [`throttle`]: the EKS request-rate limit.

pub mod auth;
pub mod clock;
pub mod control;
pub mod ec2;
pub mod eks;
pub mod env;
pub mod events;
pub mod faults;
pub mod kube;
pub mod lb;
pub mod metrics;
pub mod persist;
pub mod profile;
pub mod server;
pub mod throttle;

pub use server::{Config, RunningServer, Server};
