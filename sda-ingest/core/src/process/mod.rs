//! The per-observation processing stages, in pipeline order: normalise, validate, dedup.

pub mod dedup;
pub mod event_time;
pub mod normalize;
pub mod validate;
