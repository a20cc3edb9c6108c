//! Orbital mechanics: the TLE catalog, SGP4 propagation, frames, conjunction screening and
//! observation association.

pub mod associate;
pub mod catalog;
pub mod conjunction;
pub mod frames;
pub mod propagate;
