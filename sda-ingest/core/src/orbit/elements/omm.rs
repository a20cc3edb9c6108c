//! CCSDS OMM fields, read the same way whichever container (JSON or CSV) they came in.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};

use super::check::ranges;
use super::{ElementError, ElementSet};

/// One field value as a container delivers it: JSON has numbers and strings, CSV only text.
pub(super) enum Value<'a> {
    /// A JSON number.
    Number(f64),
    /// A JSON string or a CSV cell, untrimmed.
    Text(Cow<'a, str>),
}

/// Builds an element set from the fields `get` returns, then checks their ranges.
///
/// The fields SGP4 needs are required; the descriptive ones default as CelesTrak documents
/// them (unclassified, ephemeris type 0, no name or designator, derivatives zero). A blank
/// value counts as missing.
pub(super) fn read<'a>(
    get: impl Fn(&str) -> Option<Value<'a>>,
) -> Result<ElementSet, ElementError> {
    let present = |key: &'static str| match get(key) {
        Some(Value::Text(t)) if t.trim().is_empty() => None,
        other => other,
    };
    let required = |key: &'static str| present(key).ok_or(ElementError::MissingField(key));
    let number = |key: &'static str, v: Value<'a>| match v {
        Value::Number(n) => Ok(n),
        Value::Text(t) => parse_number(key, &t),
    };
    let real = |key| required(key).and_then(|v| number(key, v));
    let optional_real = |key| present(key).map_or(Ok(0.0), |v| number(key, v));
    let integer = |key: &'static str, v: Value<'a>| {
        let n = number(key, v)?;
        if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
            Ok(n as u32)
        } else {
            Err(ElementError::FieldFormat {
                field: key,
                value: n.to_string(),
            })
        }
    };
    let optional_integer = |key| present(key).map_or(Ok(0), |v| integer(key, v));
    let text = |key| match present(key) {
        Some(Value::Text(t)) => t.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        None => String::new(),
    };
    let classification = match present("CLASSIFICATION_TYPE") {
        None => 'U',
        Some(v) => {
            let t = match v {
                Value::Text(t) => t.trim().to_owned(),
                Value::Number(n) => n.to_string(),
            };
            let mut chars = t.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => c,
                _ => {
                    return Err(ElementError::FieldFormat {
                        field: "CLASSIFICATION_TYPE",
                        value: t,
                    });
                }
            }
        }
    };
    let ephemeris_type = optional_integer("EPHEMERIS_TYPE")?;
    let elements = ElementSet {
        norad_id: integer("NORAD_CAT_ID", required("NORAD_CAT_ID")?)?,
        name: text("OBJECT_NAME"),
        object_id: text("OBJECT_ID"),
        classification,
        epoch: match required("EPOCH")? {
            Value::Text(t) => parse_epoch(&t)?,
            Value::Number(n) => {
                return Err(ElementError::FieldFormat {
                    field: "EPOCH",
                    value: n.to_string(),
                });
            }
        },
        mean_motion_rev_day: real("MEAN_MOTION")?,
        eccentricity: real("ECCENTRICITY")?,
        inclination_deg: real("INCLINATION")?,
        raan_deg: real("RA_OF_ASC_NODE")?,
        arg_perigee_deg: real("ARG_OF_PERICENTER")?,
        mean_anomaly_deg: real("MEAN_ANOMALY")?,
        ephemeris_type: u8::try_from(ephemeris_type).unwrap_or(u8::MAX),
        element_set_no: optional_integer("ELEMENT_SET_NO")?,
        rev_at_epoch: optional_integer("REV_AT_EPOCH")?,
        bstar: real("BSTAR")?,
        mean_motion_dot: optional_real("MEAN_MOTION_DOT")?,
        mean_motion_ddot: optional_real("MEAN_MOTION_DDOT")?,
    };
    ranges(&elements)?;
    Ok(elements)
}

/// A number written as text: plain decimal or scientific notation, never `inf` or `NaN`.
fn parse_number(key: &'static str, text: &str) -> Result<f64, ElementError> {
    let t = text.trim();
    let plain = t
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E'));
    match t.parse::<f64>() {
        Ok(v) if plain => Ok(v),
        _ => Err(ElementError::FieldFormat {
            field: key,
            value: text.to_owned(),
        }),
    }
}

/// An OMM epoch: ISO 8601 date and time, UTC, with optional fraction and optional `Z`
/// (`2024-01-01T12:00:00.123456`); a space instead of the `T` is accepted too.
pub(super) fn parse_epoch(text: &str) -> Result<DateTime<Utc>, ElementError> {
    let t = text.trim();
    let t = t.strip_suffix('Z').unwrap_or(t);
    NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.f"))
        .map(|dt| dt.and_utc())
        .map_err(|_| ElementError::FieldFormat {
            field: "EPOCH",
            value: text.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_with_and_without_fraction_or_zone() {
        let a = parse_epoch("2024-01-01T12:00:00.123456").unwrap();
        assert_eq!(a.timestamp_subsec_micros(), 123_456);
        assert_eq!(
            parse_epoch("2024-01-01T12:00:00Z").unwrap().timestamp(),
            1_704_110_400
        );
        assert_eq!(
            parse_epoch("2024-01-01 12:00:00").unwrap().timestamp(),
            1_704_110_400
        );
        assert!(parse_epoch("2024-13-01T00:00:00").is_err());
        assert!(parse_epoch("yesterday").is_err());
    }

    #[test]
    fn numbers_as_text() {
        assert_eq!(parse_number("BSTAR", " 1.5e-4 ").unwrap(), 1.5e-4);
        assert!(parse_number("BSTAR", "inf").is_err());
        assert!(parse_number("BSTAR", "NaN").is_err());
        assert!(parse_number("BSTAR", "1,5").is_err());
    }
}
