//! testkit's one integration-test binary (cargo's `tests/testsuite` layout): one module per
//! topic, linked once, so adding a topic costs a module rather than another test executable.

mod charts;
mod iam;
mod moto;
mod process;
mod registry;
mod tools;
