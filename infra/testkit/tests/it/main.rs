//! testkit's one integration-test binary (cargo's `tests/testsuite` layout): one module per
//! topic, linked once, so adding a topic costs a module rather than another test executable.

mod alertmanager;
mod browser;
mod charts;
mod iam;
mod moto;
mod process;
mod prometheus;
mod receiver;
mod registry;
mod support;
mod tools;
