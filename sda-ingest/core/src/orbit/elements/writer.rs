//! Writing element sets as TLE and 3LE text, to the precision of the format.
//!
//! Every value is rounded once, to the digits its column holds, so the text [`load`] reads back
//! is the nearest representable element set; writing that again gives the same text.
//!
//! [`load`]: super::load

use chrono::{Datelike, Timelike};

use super::ElementSet;
use crate::orbit::catalog::{CatalogError, tle_checksum};

/// Whether written element sets carry a name line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TleStyle {
    /// Two lines per object, no names.
    TwoLine,
    /// A name line, then the two lines (CelesTrak's layout).
    ThreeLine,
}

/// Writes a catalog as TLE or 3LE text, one element set after the other, each line ending in
/// `\n`.
///
/// In [`TleStyle::ThreeLine`], an object without a name gets no name line, and a name that
/// would read as an element line (`1 ...`, `2 ...`) or that starts with Space-Track's `0 `
/// is written with the `0 ` prefix, so that reading it back gives the same name.
///
/// # Errors
///
/// The first [`CatalogError`] of [`tle_lines`], or [`CatalogError::Unwritable`] for a name
/// with a line break.
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::elements::{TleStyle, load, write_tle};
///
/// let text = "\
/// ISS (ZARYA)
/// 1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927
/// 2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537
/// ";
/// let catalog = load(text)?;
/// let elements: Vec<_> = catalog.objects.into_iter().map(|o| o.elements).collect();
/// assert_eq!(write_tle(&elements, TleStyle::ThreeLine)?, text);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_tle(objects: &[ElementSet], style: TleStyle) -> Result<String, CatalogError> {
    let mut out = String::with_capacity(objects.len() * 165);
    for el in objects {
        let [l1, l2] = tle_lines(el)?;
        if style == TleStyle::ThreeLine && !el.name.is_empty() {
            if el.name.contains(['\n', '\r']) {
                return Err(CatalogError::Unwritable {
                    field: "OBJECT_NAME",
                    value: el.name.clone(),
                });
            }
            let b = el.name.as_bytes();
            let reads_as_element_line =
                matches!(b.first(), Some(b'1' | b'2')) && (b.len() == 1 || b[1] == b' ');
            if reads_as_element_line || el.name.starts_with("0 ") {
                out.push_str("0 ");
            }
            out.push_str(&el.name);
            out.push('\n');
        }
        out.push_str(&l1);
        out.push('\n');
        out.push_str(&l2);
        out.push('\n');
    }
    Ok(out)
}

/// The two 69-character lines of one element set, checksums included.
///
/// Angles other than the inclination are normalised to `[0, 360)`; the element set and
/// revolution numbers keep their last four and five digits, as real catalogs wrap them; an
/// international designator that is not in COSPAR form (`1998-067A`) is left blank.
///
/// # Errors
///
/// [`CatalogError::NoradIdOutOfRange`] above 99,999, [`CatalogError::EpochOutOfRange`]
/// outside 1957..=2056, [`CatalogError::Unwritable`] for a value its column cannot hold
/// (inclination outside 0..=180, eccentricity outside 0..1, mean motion outside 0..100,
/// |mean motion dot| ≥ 1, B* or mean motion ddot beyond 1e9, a non-ASCII classification).
///
/// # Examples
///
/// ```
/// use sda_ingest_core::orbit::elements::{load, tle_lines};
///
/// let l1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927";
/// let l2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537";
/// let catalog = load(&format!("{l1}\n{l2}\n"))?;
/// assert_eq!(tle_lines(&catalog.objects[0].elements)?, [l1, l2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn tle_lines(el: &ElementSet) -> Result<[String; 2], CatalogError> {
    if el.norad_id == 0 || el.norad_id > 99_999 {
        return Err(CatalogError::NoradIdOutOfRange(el.norad_id));
    }
    let unwritable = |field: &'static str, value: f64| CatalogError::Unwritable {
        field,
        value: value.to_string(),
    };
    if !el.classification.is_ascii_graphic() {
        return Err(CatalogError::Unwritable {
            field: "CLASSIFICATION_TYPE",
            value: el.classification.to_string(),
        });
    }
    let inclination = round4(el.inclination_deg);
    if !(0.0..=180.0).contains(&inclination) {
        return Err(unwritable("INCLINATION", el.inclination_deg));
    }
    let ecc = (el.eccentricity * 1e7).round();
    if !(0.0..1e7).contains(&ecc) {
        return Err(unwritable("ECCENTRICITY", el.eccentricity));
    }
    let mm = el.mean_motion_rev_day;
    if !(mm > 0.0 && (mm * 1e8).round() < 1e10) {
        return Err(unwritable("MEAN_MOTION", mm));
    }
    let ndot = signed_fraction(el.mean_motion_dot)
        .ok_or_else(|| unwritable("MEAN_MOTION_DOT", el.mean_motion_dot))?;
    let nddot = assumed_decimal(el.mean_motion_ddot)
        .ok_or_else(|| unwritable("MEAN_MOTION_DDOT", el.mean_motion_ddot))?;
    let bstar = assumed_decimal(el.bstar).ok_or_else(|| unwritable("BSTAR", el.bstar))?;
    let body1 = format!(
        "1 {:05}{} {:<8} {} {} {} {} {} {:4}",
        el.norad_id,
        el.classification,
        tle_designator(&el.object_id),
        tle_epoch(el)?,
        ndot,
        nddot,
        bstar,
        el.ephemeris_type % 10,
        el.element_set_no % 10_000,
    );
    let body2 = format!(
        "2 {:05} {:8.4} {:8.4} {:07} {:8.4} {:8.4} {:11.8}{:5}",
        el.norad_id,
        inclination,
        angle(el.raan_deg),
        ecc as u32,
        angle(el.arg_perigee_deg),
        angle(el.mean_anomaly_deg),
        mm,
        el.rev_at_epoch % 100_000,
    );
    let line1 = format!("{body1}{}", tle_checksum(&body1));
    let line2 = format!("{body2}{}", tle_checksum(&body2));
    Ok([line1, line2])
}

fn round4(deg: f64) -> f64 {
    (deg * 1e4).round() / 1e4
}

/// Normalises an angle to `[0, 360)` after rounding to the four decimals the format keeps, so
/// that 359.99999 is written as `0.0000` rather than the out-of-field `360.0000`.
fn angle(deg: f64) -> f64 {
    round4(deg).rem_euclid(360.0)
}

/// `-.00002182`-style: sign (blank for positive) and eight decimals of a value below 1.
fn signed_fraction(value: f64) -> Option<String> {
    let digits = (value.abs() * 1e8).round();
    // NaN fails this test too, which is what refuses it.
    if !(0.0..1e8).contains(&digits) {
        return None;
    }
    let sign = if value < 0.0 && digits > 0.0 {
        '-'
    } else {
        ' '
    };
    Some(format!("{sign}.{:08}", digits as u32))
}

/// The TLE's assumed-decimal exponent form, e.g. `-1.1606e-5` → `-11606-4`.
///
/// Values below the smallest exponent (1e-10) are written with exponent −9 and fewer
/// significant digits rather than with a wrong exponent; `None` for values of 1e9 and above
/// or not finite.
pub(crate) fn assumed_decimal(value: f64) -> Option<String> {
    if !value.is_finite() {
        return None;
    }
    if value == 0.0 {
        return Some(" 00000-0".to_owned());
    }
    let sign = if value < 0.0 { '-' } else { ' ' };
    let magnitude = value.abs();
    let mut exp = magnitude.log10().floor() as i32 + 1;
    if exp < -9 {
        exp = -9;
    }
    let mut digits = (magnitude / 10f64.powi(exp) * 1e5).round();
    if digits >= 1e5 {
        digits = (digits / 10.0).round();
        exp += 1;
    }
    if exp > 9 {
        return None;
    }
    if digits == 0.0 {
        return Some(" 00000-0".to_owned());
    }
    let exp_sign = if exp < 0 { '-' } else { '+' };
    Some(format!(
        "{sign}{:05}{exp_sign}{}",
        digits as u32,
        exp.unsigned_abs()
    ))
}

/// `YYDDD.DDDDDDDD`, rounded once to the format's 1e-8 day (0.864 ms); a time that rounds up
/// to the next year is written as that year's day 1.
fn tle_epoch(el: &ElementSet) -> Result<String, CatalogError> {
    const NANOS_PER_UNIT: u64 = 864_000;
    const UNITS_PER_DAY: u64 = 100_000_000;
    let out_of_range = || CatalogError::EpochOutOfRange(el.epoch_unix_s());
    let t = el.epoch;
    let nanos_of_day =
        u64::from(t.num_seconds_from_midnight()) * 1_000_000_000 + u64::from(t.nanosecond());
    let mut year = t.year();
    let mut units = u64::from(t.ordinal0()) * UNITS_PER_DAY
        + (nanos_of_day + NANOS_PER_UNIT / 2) / NANOS_PER_UNIT;
    let days_in_year = if chrono::NaiveDate::from_ymd_opt(year, 2, 29).is_some() {
        366
    } else {
        365
    };
    if units >= days_in_year * UNITS_PER_DAY {
        units -= days_in_year * UNITS_PER_DAY;
        year += 1;
    }
    if !(1957..=2056).contains(&year) {
        return Err(out_of_range());
    }
    Ok(format!(
        "{:02}{:03}.{:08}",
        year.rem_euclid(100),
        units / UNITS_PER_DAY + 1,
        units % UNITS_PER_DAY
    ))
}

/// COSPAR `1998-067A` as the TLE's eight columns `98067A  `; anything else as blanks.
fn tle_designator(object_id: &str) -> String {
    let b = object_id.as_bytes();
    let standard = (9..=11).contains(&b.len())
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..8].iter().all(u8::is_ascii_digit)
        && b[8..].iter().all(u8::is_ascii_uppercase);
    if standard {
        format!("{}{}", &object_id[2..4], &object_id[5..])
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_decimal_format() {
        let f = |v| assumed_decimal(v).unwrap();
        assert_eq!(f(-1.1606e-5), "-11606-4");
        assert_eq!(f(2.5e-5), " 25000-4");
        assert_eq!(f(0.0), " 00000-0");
        assert_eq!(f(0.5), " 50000+0");
        assert_eq!(f(9.999_996e-5), " 10000-3");
        assert_eq!(f(1.234e-12), " 00123-9");
        assert_eq!(f(1e-16), " 00000-0");
        assert_eq!(assumed_decimal(2e9), None);
        assert_eq!(assumed_decimal(f64::NAN), None);
    }

    #[test]
    fn fractions_and_designators() {
        assert_eq!(signed_fraction(-0.00002182).unwrap(), "-.00002182");
        assert_eq!(signed_fraction(-1e-12).unwrap(), " .00000000");
        assert_eq!(signed_fraction(1.0), None);
        assert_eq!(tle_designator("1998-067A"), "98067A");
        assert_eq!(tle_designator("2024-123ABC"), "24123ABC");
        assert_eq!(tle_designator("UNKNOWN"), "");
    }
}
