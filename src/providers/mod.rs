//! Provider traits: how the engine acts on the world, in our own types.
