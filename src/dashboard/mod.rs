//! `cutover dashboard`: a read-only web UI over the state backends the runs use (local
//! directories and S3 prefixes, several at once), so nobody has to read JSONL journals or run
//! `cutover status` in a loop.
//!
//! It reads environments and runs only through [`crate::ops::inspect`], over backends the
//! composition root built ([`sources`]); it never takes a lock and never writes. Pages are
//! rendered on the server with maud (escaping every value) and follow a live run through
//! server-sent events ([`live`]) that a small embedded script applies.
//!
//! Map: [`sources`] (what is read), [`overview`] (every environment and the needs-attention
//! queue) with [`dev`] (dev clusters' expiry from EKS) and [`journals`] (what was read, so a
//! poll reads only what was appended), [`run`] (a run's timeline, bakes, next steps) with [`weights`] (weights over time)
//! and [`svg`] (the pictures), [`pages`] and [`run_page`] (HTML), [`server`] (routes, headers,
//! lifetime) with [`auth`] (who may read).
//!
//! A stopped run's page shows its runbook (`engine::runbook`, the one `cutover explain` prints) in
//! [`run::NextSteps`]. Seam for a feature not in this build: fleets (the fleet issue) would add
//! their claims and waves as another part of the [`overview`].

pub mod auth;
pub mod dev;
pub mod journals;
pub mod live;
pub mod overview;
pub mod pages;
pub mod run;
pub mod run_page;
pub mod server;
pub mod sources;
pub mod svg;
pub mod weights;

use std::net::SocketAddr;

pub use auth::{Access, Token};
pub use server::{Config, Running, start};
pub use sources::{Catalog, StateArg, catalog};

/// Why the dashboard could not start or serve.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The request cannot be carried out as asked (no source, a weak token, no token off loopback).
    #[error("{0}")]
    Usage(String),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("the dashboard stopped serving: {0}")]
    Serve(std::io::Error),
}
