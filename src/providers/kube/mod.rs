//! Kubernetes access for cutover's providers: how a cluster is reached ([`access`]: endpoint and
//! CA from EKS, bearer tokens presigned locally and renewed before expiry), a per-cluster client
//! cache ([`client`]), the [`WorkloadProvider`](crate::providers::WorkloadProvider) over the
//! Kubernetes API ([`workloads`]), claims and persistent volumes ([`claims`]), and the cluster-side
//! health checks ([`health`]).
//!
//! Everything here talks to the API server in-process with kube-rs on rustls/ring; nothing shells
//! out to kubectl. Helm, which must run as its own binary, gets a kubeconfig from
//! [`crate::providers::helm`] that authenticates through `cutover token` instead.

pub mod access;
pub mod claims;
pub mod client;
pub mod health;
pub mod release_secrets;
pub mod workloads;

pub use access::{ClusterDirectory, ClusterEndpoint, TokenSource};
pub use claims::KubeClaims;
pub use client::KubeClients;
pub use workloads::KubeWorkloads;
