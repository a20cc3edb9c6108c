//! The optical archive's HTTP JSON response: one page of observations and a cursor.
//!
//! ```json
//! {
//!   "observations": [
//!     {
//!       "id": "A-000123",
//!       "sensor": "optical-1",
//!       "site": { "lat_deg": 32.9, "lon_deg": -105.5, "alt_m": 2200.0 },
//!       "object": 25544,
//!       "epoch": "2024-01-01T00:10:00.250Z",
//!       "ra_deg": 123.456,
//!       "dec_deg": -12.345,
//!       "sigma_arcsec": 1.5
//!     }
//!   ],
//!   "next_cursor": "A-000124"
//! }
//! ```
//!
//! The archive speaks degrees and RFC 3339 because that is what astronomers' tools emit;
//! normalisation converts to radians and Unix seconds. Unknown fields are ignored so the archive
//! can add fields without breaking ingest. `next_cursor` is `null` on the last page.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Largest response body the poller accepts.
///
/// Checked before parsing, so a runaway archive cannot make the parser build an unbounded tree.
pub const MAX_BODY_LEN: usize = 1024 * 1024;

/// One page of the archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpticalPage {
    /// Observations on this page, oldest first.
    pub observations: Vec<OpticalRecord>,
    /// Cursor for the next request; `None` when this is the last page.
    pub next_cursor: Option<String>,
}

/// A page decoded record by record (see [`OpticalPage::decode_records`]).
#[derive(Debug)]
pub struct RecordPage {
    /// The records that decode, with their positions in the page.
    pub records: Vec<(usize, OpticalRecord)>,
    /// The records that do not: why ([`OpticalError::InvalidRecord`]), and their JSON text.
    pub rejected: Vec<(OpticalError, String)>,
    /// Cursor for the next request; `None` when this is the last page.
    pub next_cursor: Option<String>,
}

/// A page's envelope with its records left as raw JSON, so each is decoded on its own.
#[derive(Deserialize)]
struct RawPage<'a> {
    #[serde(borrow)]
    observations: Vec<&'a serde_json::value::RawValue>,
    next_cursor: Option<String>,
}

/// One archived optical observation, in the archive's units.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpticalRecord {
    /// Archive-assigned id, unique within the sensor.
    pub id: String,
    /// Telescope name.
    pub sensor: String,
    /// Telescope location.
    pub site: OpticalSite,
    /// NORAD number when the archive has already identified the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<u32>,
    /// Observation time, RFC 3339.
    pub epoch: DateTime<Utc>,
    /// Topocentric right ascension, degrees.
    pub ra_deg: f64,
    /// Topocentric declination, degrees.
    pub dec_deg: f64,
    /// One-sigma angular uncertainty, arcseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma_arcsec: Option<f64>,
}

/// A telescope location.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct OpticalSite {
    /// Geodetic latitude, degrees.
    pub lat_deg: f64,
    /// Longitude, degrees east.
    pub lon_deg: f64,
    /// Height above the ellipsoid, metres.
    pub alt_m: f64,
}

/// Why an archive response could not be decoded.
#[derive(Debug, Error)]
pub enum OpticalError {
    /// The body is larger than [`MAX_BODY_LEN`].
    #[error("optical response body of {len} bytes exceeds the maximum {MAX_BODY_LEN}")]
    BodyTooLarge {
        /// Body length.
        len: usize,
    },
    /// The body is not a valid page.
    #[error("invalid optical response json")]
    InvalidJson(#[from] serde_json::Error),
    /// One record of an otherwise valid page is not a valid record.
    #[error("invalid optical record {index} of the page: {source}")]
    InvalidRecord {
        /// The record's position in the page, from 0.
        index: usize,
        /// Why it does not decode.
        source: serde_json::Error,
    },
}

impl OpticalError {
    /// Stable snake_case code for metrics and the dead-letter sink.
    pub fn code(&self) -> &'static str {
        match self {
            OpticalError::BodyTooLarge { .. } => "body_too_large",
            OpticalError::InvalidJson(_) => "invalid_json",
            OpticalError::InvalidRecord { .. } => "invalid_record",
        }
    }
}

impl OpticalPage {
    /// Parses a response body.
    ///
    /// # Errors
    ///
    /// [`OpticalError::BodyTooLarge`] before any parsing when the body exceeds
    /// [`MAX_BODY_LEN`]; [`OpticalError::InvalidJson`] when it is not a page. Never panics.
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::wire::optical::OpticalPage;
    ///
    /// let page = OpticalPage::decode(br#"{"observations":[],"next_cursor":null}"#)?;
    /// assert!(page.observations.is_empty() && page.next_cursor.is_none());
    /// # Ok::<(), sda_ingest_core::wire::optical::OpticalError>(())
    /// ```
    pub fn decode(body: &[u8]) -> Result<Self, OpticalError> {
        if body.len() > MAX_BODY_LEN {
            return Err(OpticalError::BodyTooLarge { len: body.len() });
        }
        Ok(serde_json::from_slice(body)?)
    }

    /// Parses a response body record by record: a page whose envelope is valid yields every
    /// record that decodes, and for each that does not, its position, its JSON text and why.
    /// One bad record does not cost the others.
    ///
    /// # Errors
    ///
    /// As [`OpticalPage::decode`] for a body that is not a page at all (too large, not JSON,
    /// no `observations` array).
    ///
    /// # Examples
    ///
    /// ```
    /// use sda_ingest_core::wire::optical::OpticalPage;
    ///
    /// let good = r#"{"id":"A-1","sensor":"optical-1","site":{"lat_deg":1.0,"lon_deg":2.0,"alt_m":3.0},"epoch":"2024-01-01T00:00:00Z","ra_deg":1.0,"dec_deg":2.0}"#;
    /// let bad = good.replace(r#""A-1""#, r#""A-2","object":-5"#);
    /// let body = format!(r#"{{"observations":[{good},{bad},{good}],"next_cursor":"7"}}"#);
    /// let page = OpticalPage::decode_records(body.as_bytes())?;
    /// assert_eq!(page.records.len(), 2);
    /// assert_eq!(page.rejected.len(), 1);
    /// assert_eq!(page.rejected[0].0.code(), "invalid_record");
    /// assert_eq!(page.next_cursor.as_deref(), Some("7"));
    /// # Ok::<(), sda_ingest_core::wire::optical::OpticalError>(())
    /// ```
    pub fn decode_records(body: &[u8]) -> Result<RecordPage, OpticalError> {
        if body.len() > MAX_BODY_LEN {
            return Err(OpticalError::BodyTooLarge { len: body.len() });
        }
        let page: RawPage<'_> = serde_json::from_slice(body)?;
        let mut out = RecordPage {
            records: Vec::with_capacity(page.observations.len()),
            rejected: Vec::new(),
            next_cursor: page.next_cursor,
        };
        for (index, raw) in page.observations.into_iter().enumerate() {
            match serde_json::from_str::<OpticalRecord>(raw.get()) {
                Ok(record) => out.records.push((index, record)),
                Err(source) => out.rejected.push((
                    OpticalError::InvalidRecord { index, source },
                    raw.get().to_owned(),
                )),
            }
        }
        Ok(out)
    }

    /// Serialises the page as the archive would send it (used by the simulator).
    ///
    /// # Errors
    ///
    /// Only if a float is NaN or infinite, which JSON cannot carry.
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(i: u32) -> OpticalRecord {
        OpticalRecord {
            id: format!("A-{i:06}"),
            sensor: "optical-1".into(),
            site: OpticalSite {
                lat_deg: 32.9,
                lon_deg: -105.5,
                alt_m: 2200.0,
            },
            object: Some(25544),
            epoch: DateTime::from_timestamp(1_704_067_800, 250_000_000).unwrap(),
            ra_deg: 123.456,
            dec_deg: -12.345,
            sigma_arcsec: Some(1.5),
        }
    }

    #[test]
    fn round_trip() {
        let page = OpticalPage {
            observations: vec![record(1), record(2)],
            next_cursor: Some("A-000003".into()),
        };
        let body = page.encode().unwrap();
        assert_eq!(OpticalPage::decode(&body).unwrap(), page);
    }

    #[test]
    fn parses_the_documented_example() {
        let body = br#"{"observations":[{"id":"A-000123","sensor":"optical-1",
            "site":{"lat_deg":32.9,"lon_deg":-105.5,"alt_m":2200.0},"object":25544,
            "epoch":"2024-01-01T00:10:00.250Z","ra_deg":123.456,"dec_deg":-12.345,
            "sigma_arcsec":1.5,"added_later":true}],"next_cursor":"A-000124"}"#;
        let page = OpticalPage::decode(body).unwrap();
        assert_eq!(
            page.observations[0].epoch.timestamp_millis(),
            1_704_067_800_250
        );
        assert_eq!(page.next_cursor.as_deref(), Some("A-000124"));
    }

    #[test]
    fn invalid_json() {
        let err = OpticalPage::decode(b"{\"observations\": [").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
        let err = OpticalPage::decode(br#"{"observations":[{"id":1}],"next_cursor":null}"#);
        assert!(matches!(err, Err(OpticalError::InvalidJson(_))));
        let bad_epoch = br#"{"observations":[{"id":"x","sensor":"o","site":{"lat_deg":0,
            "lon_deg":0,"alt_m":0},"epoch":"yesterday","ra_deg":1,"dec_deg":1}],
            "next_cursor":null}"#;
        assert!(matches!(
            OpticalPage::decode(bad_epoch),
            Err(OpticalError::InvalidJson(_))
        ));
    }

    #[test]
    fn oversized_body() {
        let body = vec![b' '; MAX_BODY_LEN + 1];
        let err = OpticalPage::decode(&body).unwrap_err();
        assert!(matches!(err, OpticalError::BodyTooLarge { len } if len == MAX_BODY_LEN + 1));
        assert_eq!(err.code(), "body_too_large");
    }

    fn finite() -> impl Strategy<Value = f64> {
        -1.0e9f64..1.0e9
    }

    fn arb_record() -> impl Strategy<Value = OpticalRecord> {
        (
            (
                "[a-zA-Z0-9-]{1,12}",
                "[a-z0-9\"\\\\ -]{1,12}",
                proptest::option::of(any::<u32>()),
            ),
            (0i64..4_102_444_800, 0u32..1_000_000_000),
            (
                finite(),
                finite(),
                finite(),
                finite(),
                finite(),
                proptest::option::of(finite()),
            ),
        )
            .prop_map(
                |((id, sensor, object), (secs, nanos), (lat, lon, alt, ra, dec, sig))| {
                    OpticalRecord {
                        id,
                        sensor,
                        site: OpticalSite {
                            lat_deg: lat,
                            lon_deg: lon,
                            alt_m: alt,
                        },
                        object,
                        epoch: DateTime::from_timestamp(secs, nanos).unwrap_or_default(),
                        ra_deg: ra,
                        dec_deg: dec,
                        sigma_arcsec: sig,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = OpticalPage::decode(&data);
        }

        #[test]
        fn encode_decode_is_identity(
            observations in proptest::collection::vec(arb_record(), 0..4),
            next_cursor in proptest::option::of("[ -~]{0,16}"),
        ) {
            let page = OpticalPage { observations, next_cursor };
            let body = page.encode().unwrap();
            prop_assert_eq!(OpticalPage::decode(&body).unwrap(), page);
        }

        #[test]
        fn truncation_always_errors(rec in arb_record(), cut in 0.0f64..1.0) {
            let page = OpticalPage { observations: vec![rec], next_cursor: None };
            let body = page.encode().unwrap();
            let cut = ((body.len() as f64) * cut) as usize;
            prop_assert!(OpticalPage::decode(&body[..cut]).is_err());
        }
    }
}
