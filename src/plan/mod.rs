//! Plan files: YAML → located tree → raw (serde mirror) → validated [`Plan`].

pub mod model;

pub use model::*;
