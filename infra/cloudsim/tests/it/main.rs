//! cloudsim's integration tests: one binary, a module per topic (as cargo's own `tests/testsuite`),
//! so the shared helpers compile once and every test links against one copy of cloudsim.
//!
//! - EKS half, through aws-sdk-eks against an in-process server with a recording Kubernetes half
//!   ([`support`]): [`eks_clusters`], [`eks_nodegroups`], [`eks_addon_versions`],
//!   [`eks_addons_access_tags`], [`eks_pod_identity`], [`eks_oidc`], [`eks_insights`],
//!   [`eks_throttling`], [`control_api`], [`profile_latencies`]; the `cloudsim` binary killed
//!   with -9 ([`restart_kill9`]); the same calls against moto ([`moto_conformance`]).
//! - Kubernetes half, through kube-rs and the real helm and kubectl binaries ([`kube_support`]):
//!   [`kube_api`], [`kube_auth`], [`kube_controller`], [`helm_cli`], [`kubectl_cli`]; persistent
//!   volumes with moto's EC2 ([`kube_volumes`], [`kube_volume_binding`], [`helm_volumes`]); both
//!   halves together behind the main listener's `/metrics` ([`lb_metrics`]) and with the EBS add-on
//!   and subnets' zones ([`eks_volumes`]).

mod kube_support;
mod support;

mod control_api;
mod eks_addon_versions;
mod eks_addons_access_tags;
mod eks_clusters;
mod eks_insights;
mod eks_nodegroups;
mod eks_oidc;
mod eks_pod_identity;
mod eks_throttling;
mod eks_volumes;
mod helm_cli;
mod helm_volumes;
mod kube_api;
mod kube_auth;
mod kube_controller;
mod kube_volume_binding;
mod kube_volumes;
mod kubectl_cli;
mod lb_metrics;
mod moto_conformance;
mod profile_latencies;
mod restart_kill9;
