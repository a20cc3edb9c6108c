//! Bearer-token checks for the endpoints that change state.

use axum::http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;

/// Why a request may not change state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No token is configured: the endpoints that change state are off.
    Disabled,
    /// No `Authorization: Bearer ...` header, or a malformed one.
    Unauthenticated,
    /// A bearer token that is not the configured one.
    Forbidden,
}

impl Refusal {
    /// The `outcome` of the control event that records the refusal.
    pub(crate) fn outcome(self) -> &'static str {
        match self {
            Refusal::Disabled => "disabled",
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Forbidden => "forbidden",
        }
    }

    pub(crate) fn into_error(self) -> ApiError {
        match self {
            Refusal::Disabled => ApiError::new(
                StatusCode::FORBIDDEN,
                "control endpoints are disabled: no token is configured",
            ),
            Refusal::Unauthenticated => {
                let mut error = ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing or malformed `Authorization: Bearer <token>` header",
                );
                error
                    .headers
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                error
            }
            Refusal::Forbidden => ApiError::new(StatusCode::FORBIDDEN, "invalid token"),
        }
    }
}

/// Checks the request's bearer token against `expected`.
pub(crate) fn authorize(headers: &HeaderMap, expected: Option<&str>) -> Result<(), Refusal> {
    let expected = expected.ok_or(Refusal::Disabled)?;
    let presented = bearer(headers).ok_or(Refusal::Unauthenticated)?;
    if constant_time_eq(presented.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(Refusal::Forbidden)
    }
}

/// The token of an `Authorization: Bearer <token>` header (the scheme is case-insensitive);
/// `None` when the header is missing, repeated, not text, of another scheme, or empty.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// Compares two byte strings in time that depends on their lengths only, never on where they
/// first differ, so a wrong token reveals nothing about the right one but its length.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Keeps the optimiser from turning the loop into an early-exit comparison.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_bearer_scheme_is_required() {
        assert_eq!(authorize(&headers("Bearer t"), Some("t")), Ok(()));
        assert_eq!(authorize(&headers("bearer t"), Some("t")), Ok(()));
        assert_eq!(
            authorize(&headers("Basic t"), Some("t")),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            authorize(&headers("Bearer "), Some("t")),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            authorize(&headers("Bearer u"), Some("t")),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            authorize(&HeaderMap::new(), Some("t")),
            Err(Refusal::Unauthenticated)
        );
        assert_eq!(
            authorize(&headers("Bearer t"), None),
            Err(Refusal::Disabled)
        );
    }
}
