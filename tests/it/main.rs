//! cutover's integration tests: one binary (as cargo's own `tests/testsuite`), a module per topic,
//! and the support modules compiled once. Topics talk to the library through its public API, or to
//! the `cutover` binary as a user would; the stand-ins (cloudsim, moto, helm, the OCI registry) are
//! real programs started per test on free loopback ports.

mod aws_common;
mod kube_support;
mod support;

mod architecture;
mod aws_ec2;
mod aws_eks;
mod aws_route53;
mod aws_route53_engine;
mod aws_s3_state;
mod capture_replay;
mod cli;
mod dashboard;
mod dashboard_browser;
mod dev_clusters;
mod dev_rules;
mod drill_rto;
mod e2e_access;
mod e2e_chain;
mod e2e_data;
mod e2e_gates;
mod e2e_identity;
mod e2e_notify;
mod e2e_preflight;
mod e2e_recovery;
mod e2e_trace;
mod e2e_runbook;
mod e2e_upgrade;
mod engine_crash;
mod engine_data;
mod engine_faults;
mod engine_lock;
mod engine_rollback;
mod engine_run;
mod health_checks;
mod golden_journals;
mod helm_recovery;
mod helm_releases;
mod kube_access;
mod kube_workloads;
mod lock_drift_plan;
mod lock_drill_replay;
mod plan_corpus;
mod plan_examples;
mod plan_props;
mod plan_schema;
mod notifications;
mod preflight;
mod runbooks;
mod set_ids;
mod signals;
