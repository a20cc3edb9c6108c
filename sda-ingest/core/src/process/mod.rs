//! The per-observation processing stages, in pipeline order: normalise, validate, dedup.

pub mod dedup;
pub mod normalize;
pub mod validate;
