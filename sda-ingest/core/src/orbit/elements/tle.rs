//! Two- and three-line element sets: splitting text into records, then reading the fixed
//! columns of each pair of lines.

use chrono::{NaiveDate, NaiveTime};

use super::check::ranges;
use super::{Candidate, ElementError, ElementSet, Location, Reject};
use crate::orbit::catalog::tle_checksum;

/// Columns (0-based) that must hold a space on line 1 and on line 2.
const LINE1_SPACES: [usize; 8] = [1, 8, 17, 32, 43, 52, 61, 63];
const LINE2_SPACES: [usize; 7] = [1, 7, 16, 25, 33, 42, 51];

/// What scanning a TLE or 3LE text found: records in input order, and whether any had a name.
pub(super) struct Scan {
    pub(super) records: Vec<Result<Candidate, Reject>>,
    pub(super) named: bool,
}

/// Splits `text` into element sets and reads each one.
///
/// A line starting `1 ` opens an element set and a line starting `2 ` closes it; any other
/// non-blank line is the name of the element set that follows (Space-Track's `0 ` prefix is
/// dropped). Blank lines are ignored, so a file of two-line sets separated by blank lines
/// reads as well as a dense one. A broken record is reported once, at the line that broke it:
/// a line 1 without a line 2, or a line 2 without a line 1, takes its name line with it; a
/// name followed by another name is reported on its own.
pub(super) fn scan(text: &str) -> Scan {
    let mut records = Vec::new();
    let mut named = false;
    let mut name: Option<(usize, &str)> = None;
    let mut line1: Option<(usize, &str)> = None;
    let reject = |n, error| {
        Err(Reject {
            at: Location::Line(n),
            error,
        })
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim_start_matches('\u{feff}').trim_end();
        if line.is_empty() {
            continue;
        }
        if is_element_line(line, b'1') {
            if let Some((l1, _)) = line1.replace((n, line)) {
                records.push(reject(l1, ElementError::MissingLine2));
                name = None;
            }
        } else if is_element_line(line, b'2') {
            match line1.take() {
                Some((n1, l1)) => {
                    let title = name.take();
                    named |= title.is_some();
                    records.push(read_pair(title.map(|(_, t)| t), (n1, l1), (n, line)));
                }
                None => {
                    records.push(reject(n, ElementError::MissingLine1));
                    name = None;
                }
            }
        } else {
            if let Some((l1, _)) = line1.take() {
                records.push(reject(l1, ElementError::MissingLine2));
                name = None;
            }
            let title = line.strip_prefix("0 ").unwrap_or(line);
            if let Some((orphan, _)) = name.replace((n, title)) {
                records.push(reject(orphan, ElementError::UnexpectedLine));
            }
        }
    }
    if let Some((l1, _)) = line1 {
        records.push(reject(l1, ElementError::MissingLine2));
    } else if let Some((orphan, _)) = name {
        records.push(reject(orphan, ElementError::UnexpectedLine));
    }
    Scan { records, named }
}

/// Whether `line` looks like element line `digit` (`1 ...` or `2 ...`), whatever its length.
fn is_element_line(line: &str, digit: u8) -> bool {
    let b = line.as_bytes();
    b.first() == Some(&digit) && (b.len() == 1 || b[1] == b' ')
}

/// Reads one pair of lines, reporting a failure at the line it is on.
fn read_pair(
    name: Option<&str>,
    (n1, l1): (usize, &str),
    (n2, l2): (usize, &str),
) -> Result<Candidate, Reject> {
    let at = |line: u8| Location::Line(if line == 1 { n1 } else { n2 });
    let elements = parse_lines(name.unwrap_or(""), l1, l2).map_err(|(line, error)| Reject {
        at: at(line),
        error,
    })?;
    ranges(&elements).map_err(|error| {
        let line = match &error {
            ElementError::FieldRange { field, .. } => line_of(field),
            _ => 1,
        };
        Reject {
            at: at(line),
            error,
        }
    })?;
    Ok(Candidate {
        at: at(1),
        elements,
    })
}

/// Which TLE line carries a field (for placing range errors).
fn line_of(field: &str) -> u8 {
    match field {
        "NORAD_CAT_ID"
        | "CLASSIFICATION_TYPE"
        | "OBJECT_ID"
        | "EPOCH"
        | "MEAN_MOTION_DOT"
        | "MEAN_MOTION_DDOT"
        | "BSTAR"
        | "EPHEMERIS_TYPE"
        | "ELEMENT_SET_NO" => 1,
        _ => 2,
    }
}

/// Reads the fixed columns of a TLE. The error carries the line (1 or 2) it was found on.
///
/// The epoch is converted exactly as the `sgp4` crate converts it, so a [`Propagator`] built
/// from these elements is the same, bit for bit, as one built from the same lines by the
/// crate's own parser.
///
/// [`Propagator`]: crate::orbit::propagate::Propagator
pub(super) fn parse_lines(
    name: &str,
    l1: &str,
    l2: &str,
) -> Result<ElementSet, (u8, ElementError)> {
    for (line, text) in [(1u8, l1), (2, l2)] {
        if !text.is_ascii() {
            return Err((
                line,
                ElementError::FieldFormat {
                    field: "LINE",
                    value: text.to_owned(),
                },
            ));
        }
        if text.len() != 69 {
            return Err((
                line,
                ElementError::LineLength {
                    line,
                    len: text.len(),
                },
            ));
        }
    }
    for (line, text) in [(1u8, l1), (2, l2)] {
        let expected = tle_checksum(text);
        let found = char::from(text.as_bytes()[68]);
        if found.to_digit(10) != Some(expected) {
            return Err((
                line,
                ElementError::Checksum {
                    line,
                    expected,
                    found,
                },
            ));
        }
    }
    let (b1, b2) = (l1.as_bytes(), l2.as_bytes());
    for (line, bytes, columns) in [(1u8, b1, &LINE1_SPACES[..]), (2, b2, &LINE2_SPACES[..])] {
        if let Some(&col) = columns.iter().find(|&&c| bytes[c] != b' ') {
            return Err((
                line,
                ElementError::FieldFormat {
                    field: "SEPARATOR",
                    value: format!("column {} holds {:?}", col + 1, char::from(bytes[col])),
                },
            ));
        }
    }
    let norad1 = on(1, integer(&l1[2..7], "NORAD_CAT_ID"))?;
    let norad2 = on(2, integer(&l2[2..7], "NORAD_CAT_ID"))?;
    if norad1 != norad2 {
        return Err((
            2,
            ElementError::NoradMismatch {
                line1: l1[2..7].to_owned(),
                line2: l2[2..7].to_owned(),
            },
        ));
    }
    let epoch = on(1, epoch(&l1[18..20], &l1[20..32]))?;
    Ok(ElementSet {
        norad_id: norad1,
        name: name.to_owned(),
        object_id: cospar_from_tle(&l1[9..17]),
        classification: char::from(b1[7]),
        epoch,
        mean_motion_dot: on(1, decimal(&l1[33..43], "MEAN_MOTION_DOT"))?,
        mean_motion_ddot: on(1, assumed_decimal(&l1[44..52], "MEAN_MOTION_DDOT"))?,
        bstar: on(1, assumed_decimal(&l1[53..61], "BSTAR"))?,
        ephemeris_type: on(1, small(&l1[62..63], "EPHEMERIS_TYPE"))?,
        element_set_no: on(1, integer(&l1[64..68], "ELEMENT_SET_NO"))?,
        inclination_deg: on(2, decimal(&l2[8..16], "INCLINATION"))?,
        raan_deg: on(2, decimal(&l2[17..25], "RA_OF_ASC_NODE"))?,
        eccentricity: on(2, leading_decimal(&l2[26..33], "ECCENTRICITY"))?,
        arg_perigee_deg: on(2, decimal(&l2[34..42], "ARG_OF_PERICENTER"))?,
        mean_anomaly_deg: on(2, decimal(&l2[43..51], "MEAN_ANOMALY"))?,
        mean_motion_rev_day: on(2, decimal(&l2[52..63], "MEAN_MOTION"))?,
        rev_at_epoch: on(2, integer(&l2[63..68], "REV_AT_EPOCH"))?,
    })
}

/// Tags a field error with the line it is on.
fn on<T>(line: u8, r: Result<T, ElementError>) -> Result<T, (u8, ElementError)> {
    r.map_err(|e| (line, e))
}

fn format_error(field: &'static str, text: &str) -> ElementError {
    ElementError::FieldFormat {
        field,
        value: text.to_owned(),
    }
}

/// An unsigned integer, right-aligned in its columns; a blank field is zero (element set and
/// revolution numbers are often left blank).
fn integer(text: &str, field: &'static str) -> Result<u32, ElementError> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(0);
    }
    if !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format_error(field, text));
    }
    t.parse().map_err(|_| format_error(field, text))
}

/// A one-digit field; blank means zero.
fn small(text: &str, field: &'static str) -> Result<u8, ElementError> {
    integer(text, field).and_then(|v| u8::try_from(v).map_err(|_| format_error(field, text)))
}

/// A decimal number with an explicit point, e.g. ` 51.6416` or `-.00002182`.
fn decimal(text: &str, field: &'static str) -> Result<f64, ElementError> {
    let t = text.trim();
    // Only digits, one point and a leading sign: Rust would also accept "inf" and "NaN".
    let digits = t.strip_prefix(['-', '+']).unwrap_or(t);
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return Err(format_error(field, text));
    }
    t.parse().map_err(|_| format_error(field, text))
}

/// Digits with an assumed leading decimal point, e.g. eccentricity `0006703` = 0.0006703.
fn leading_decimal(text: &str, field: &'static str) -> Result<f64, ElementError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format_error(field, text));
    }
    decimal(&format!(".{text}"), field)
}

/// The assumed-decimal exponent form, e.g. `-11606-4` = -0.11606e-4, ` 00000+0` = 0.
fn assumed_decimal(text: &str, field: &'static str) -> Result<f64, ElementError> {
    let b = text.as_bytes();
    let (sign, mantissa, exponent) = (b[0], &text[1..6], &text[6..8]);
    let sign = match sign {
        b' ' | b'+' => 1.0,
        b'-' => -1.0,
        _ => return Err(format_error(field, text)),
    };
    // Some producers leave leading blanks in the mantissa (`    0-0`); they are zeros.
    let mantissa = mantissa.trim_start();
    if !mantissa.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format_error(field, text));
    }
    let digits: f64 = if mantissa.is_empty() {
        0.0
    } else {
        decimal(&format!(".{mantissa}"), field)?
    };
    let exponent = match exponent.as_bytes() {
        [s @ (b'-' | b'+' | b' '), d @ b'0'..=b'9'] => {
            let e = i32::from(d - b'0');
            if *s == b'-' { -e } else { e }
        }
        _ => return Err(format_error(field, text)),
    };
    Ok(sign * digits * 10f64.powi(exponent))
}

/// The epoch from its two-digit year (57..99 = 19xx) and fractional day of the year.
///
/// This is the `sgp4` crate's conversion, step for step: the seconds of the day are the day's
/// fraction times 86,400, rounded to the nanosecond.
fn epoch(yy: &str, day: &str) -> Result<chrono::DateTime<chrono::Utc>, ElementError> {
    let year = match integer(yy, "EPOCH") {
        Ok(y) if yy.bytes().all(|b| b.is_ascii_digit()) => y as i32,
        _ => return Err(format_error("EPOCH", &format!("{yy}{day}"))),
    };
    let year = if year < 57 { 2000 + year } else { 1900 + year };
    let day_f = decimal(day, "EPOCH").map_err(|_| format_error("EPOCH", &format!("{yy}{day}")))?;
    let seconds = day_f.fract() * 86_400.0;
    let mut nanos = (seconds.fract() * 1e9).round() as u32;
    let mut whole = seconds as u32;
    if nanos >= 1_000_000_000 {
        nanos -= 1_000_000_000;
        whole += 1;
    }
    let out_of_range = || ElementError::FieldRange {
        field: "EPOCH",
        value: day_f,
        range: "day 1 to the last day of the year",
    };
    let mut date = NaiveDate::from_yo_opt(year, day_f as u32).ok_or_else(out_of_range)?;
    // A fraction that rounds up to a whole day moves to the next day rather than failing.
    if whole >= 86_400 {
        whole -= 86_400;
        date = date.succ_opt().ok_or_else(out_of_range)?;
    }
    let time =
        NaiveTime::from_num_seconds_from_midnight_opt(whole, nanos).ok_or_else(out_of_range)?;
    Ok(date.and_time(time).and_utc())
}

/// TLE international designator (`98067A  `) in COSPAR form (`1998-067A`); blank stays empty.
fn cospar_from_tle(field: &str) -> String {
    let t = field.trim();
    let b = t.as_bytes();
    if b.len() < 6 || !b[..5].iter().all(u8::is_ascii_digit) {
        // Not the standard layout: keep what is there rather than invent a designator.
        return t.to_owned();
    }
    let yy = u32::from(b[0] - b'0') * 10 + u32::from(b[1] - b'0');
    let year = if yy < 57 { 2000 + yy } else { 1900 + yy };
    format!("{year}-{}", &t[2..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const L1: &str = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927";
    const L2: &str = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537";

    #[test]
    fn reads_every_field_of_the_iss_example() {
        let el = parse_lines("ISS (ZARYA)", L1, L2).unwrap();
        assert_eq!(el.norad_id, 25544);
        assert_eq!(el.object_id, "1998-067A");
        assert_eq!(el.classification, 'U');
        // Day 264.51782528 of 2008; the nanosecond digits are the crate's float rounding.
        let epoch = el.epoch.format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
        assert_eq!(epoch, "2008-09-20T12:25:40.104192");
        assert_eq!(el.mean_motion_dot, -0.00002182);
        assert_eq!(el.mean_motion_ddot, 0.0);
        assert!((el.bstar - -0.11606e-4).abs() < 1e-18);
        assert_eq!((el.ephemeris_type, el.element_set_no), (0, 292));
        assert_eq!(el.inclination_deg, 51.6416);
        assert_eq!(el.raan_deg, 247.4627);
        assert!((el.eccentricity - 0.0006703).abs() < 1e-15);
        assert_eq!(
            (el.arg_perigee_deg, el.mean_anomaly_deg),
            (130.5360, 325.0288)
        );
        assert_eq!(el.mean_motion_rev_day, 15.72125391);
        assert_eq!(el.rev_at_epoch, 56353);
    }

    #[test]
    fn epoch_and_elements_match_the_sgp4_crate() {
        let ours = parse_lines("", L1, L2).unwrap().to_sgp4();
        let theirs = sgp4::Elements::from_tle(None, L1.as_bytes(), L2.as_bytes()).unwrap();
        assert_eq!(ours.datetime, theirs.datetime);
        assert_eq!(ours.mean_motion, theirs.mean_motion);
        assert_eq!(ours.drag_term, theirs.drag_term);
        assert_eq!(ours.eccentricity, theirs.eccentricity);
    }

    #[test]
    fn assumed_decimal_forms() {
        assert_eq!(assumed_decimal(" 00000-0", "BSTAR").unwrap(), 0.0);
        assert_eq!(assumed_decimal(" 00000+0", "BSTAR").unwrap(), 0.0);
        assert!((assumed_decimal(" 25000-4", "BSTAR").unwrap() - 2.5e-5).abs() < 1e-20);
        assert!((assumed_decimal("-12345-5", "BSTAR").unwrap() + 0.12345e-5).abs() < 1e-20);
        assert!(assumed_decimal(" 1a345-5", "BSTAR").is_err());
        assert!(assumed_decimal(" 12345*5", "BSTAR").is_err());
    }

    #[test]
    fn numbers_refuse_words() {
        assert!(decimal("     inf", "INCLINATION").is_err());
        assert!(decimal("     NaN", "INCLINATION").is_err());
        assert!(decimal("  1.2.3 ", "INCLINATION").is_err());
        assert!(decimal("       -", "INCLINATION").is_err());
        assert_eq!(decimal(" -.5", "X").unwrap(), -0.5);
    }

    #[test]
    fn scan_pairs_names_and_reports_broken_records_once() {
        let text =
            format!("STRAY\nISS (ZARYA)\n{L1}\n{L2}\n\n0 LONE NAME\n{L1}\nJUNK\n{L2}\n{L1}\n");
        let scan = scan(&text);
        assert!(scan.named);
        let codes: Vec<_> = scan
            .records
            .iter()
            .map(|r| match r {
                Ok(c) => format!("ok {} {:?}", c.elements.name, c.at),
                Err(rej) => format!("{} {:?}", rej.code(), rej.at),
            })
            .collect();
        assert_eq!(
            codes,
            [
                "unexpected_line Line(1)",
                "ok ISS (ZARYA) Line(3)",
                "missing_line2 Line(7)",
                "missing_line1 Line(9)",
                "missing_line2 Line(10)",
            ]
        );
    }
}
