//! CCSDS OMM as JSON: an array of records (or a single record), keys as CelesTrak publishes.

use std::borrow::Cow;

use serde_json::Value as Json;

use super::omm::{self, Value};
use super::{Candidate, ElementError, LoadError, Location, Reject};

/// Reads every record of the document; a record that is not an object, or whose fields do
/// not hold, is rejected at its index.
///
/// # Errors
///
/// [`LoadError::Json`] when the document itself is not JSON or not an array or object.
pub(super) fn scan(text: &str) -> Result<Vec<Result<Candidate, Reject>>, LoadError> {
    let document: Json =
        serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| LoadError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let records = match document {
        Json::Array(records) => records,
        record @ Json::Object(_) => vec![record],
        other => {
            return Err(LoadError::Json {
                line: 1,
                column: 1,
                message: format!("expected an array of records, found {}", kind(&other)),
            });
        }
    };
    Ok(records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let at = Location::Record(i);
            let Json::Object(fields) = record else {
                return Err(Reject {
                    at,
                    error: ElementError::RecordFormat(format!("{} is not an object", kind(record))),
                });
            };
            omm::read(|key| match fields.get(key)? {
                Json::Null => None,
                Json::Number(n) => n.as_f64().map(Value::Number),
                Json::String(s) => Some(Value::Text(Cow::Borrowed(s.as_str()))),
                // A boolean, array or object where a value belongs cannot parse as any field;
                // handing over its JSON text gets it reported with the field's name.
                other => Some(Value::Text(Cow::Owned(format!("{other}")))),
            })
            .map(|elements| Candidate { at, elements })
            .map_err(|error| Reject { at, error })
        })
        .collect())
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
