//! CCSDS OMM as CSV: a header row naming the keys, then one element set per row.

use std::borrow::Cow;

use super::omm::{self, Value};
use super::{Candidate, ElementError, Location, Reject};

/// Reads every row after the header; columns are found by their header name, so their order
/// does not matter and extra columns are ignored. A row is rejected at its line number.
pub(super) fn scan(text: &str) -> Vec<Result<Candidate, Reject>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(str::to_owned).collect(),
        Err(e) => {
            return vec![Err(Reject {
                at: Location::Line(1),
                error: ElementError::RecordFormat(e.to_string()),
            })];
        }
    };
    let mut out = Vec::new();
    let mut row = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as usize;
        match reader.read_record(&mut row) {
            Ok(false) => break,
            Ok(true) => {
                // The position before reading can point at a blank line the reader skipped;
                // the record's own position is where its text starts.
                let at = Location::Line(row.position().map_or(line, |p| p.line() as usize));
                if row.len() != headers.len() {
                    out.push(Err(Reject {
                        at,
                        error: ElementError::RecordFormat(format!(
                            "{} fields where the header has {}",
                            row.len(),
                            headers.len()
                        )),
                    }));
                    continue;
                }
                let get = |key: &str| {
                    let column = headers.iter().position(|h| h == key)?;
                    row.get(column).map(|v| Value::Text(Cow::Borrowed(v)))
                };
                out.push(
                    omm::read(get)
                        .map(|elements| Candidate { at, elements })
                        .map_err(|error| Reject { at, error }),
                );
            }
            Err(e) => {
                let at = Location::Line(e.position().map_or(line, |p| p.line() as usize));
                out.push(Err(Reject {
                    at,
                    error: ElementError::RecordFormat(e.to_string()),
                }));
                // A reader error other than a bad record (for example broken UTF-8 mid-way)
                // leaves it unable to go on.
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
    out
}
