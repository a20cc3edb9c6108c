//! Wire decoders, one module per source format.
//!
//! Every decoder takes untrusted bytes, never panics, bounds what it will buffer or parse by a
//! documented maximum, and reports failures as a typed error with a stable snake_case
//! [`code`](WireError::code) for metrics and the dead-letter sink. Every format also has an
//! encoder, used by the simulator and by the round-trip tests.

mod crc;
pub mod isl;
pub mod optical;
pub mod radar;
pub mod synthetic;

use thiserror::Error;

/// Any wire decoding failure, for operators that handle several formats alike.
#[derive(Debug, Error)]
pub enum WireError {
    /// A radar datagram failed to decode.
    #[error(transparent)]
    Radar(#[from] radar::RadarError),
    /// The ISL stream failed to decode.
    #[error(transparent)]
    Isl(#[from] isl::IslError),
    /// An optical archive page failed to decode.
    #[error(transparent)]
    Optical(#[from] optical::OpticalError),
    /// A synthetic-sensor record failed to decode.
    #[error(transparent)]
    Synthetic(#[from] synthetic::SyntheticError),
}

impl WireError {
    /// Stable snake_case code of the underlying error.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::Radar(e) => e.code(),
            WireError::Isl(e) => e.code(),
            WireError::Optical(e) => e.code(),
            WireError::Synthetic(e) => e.code(),
        }
    }
}
