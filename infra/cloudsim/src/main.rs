//! The `cloudsim` binary.

fn main() {}
