//! Orbital mechanics: the TLE catalog and its generators, loading real catalogs (TLE, 3LE,
//! OMM), SGP4 propagation, frames, conjunction screening and observation association.

pub mod associate;
pub mod catalog;
pub mod conjunction;
pub mod elements;
pub mod frames;
pub mod fusion;
pub mod propagate;
