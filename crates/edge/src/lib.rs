//! berth-edge: what every HTTP surface of Berth shares, and nothing else.
//!
//! Reading credentials from `Authorization` ([`credentials`]), the client address behind
//! trusted proxies ([`source`]), the caller of a request as the services know it ([`caller`]),
//! Bearer challenges ([`challenge`]), query and form pairs with repeated keys ([`Query`]),
//! paging ([`Page`]), RFC 3339 timestamps ([`rfc3339`]), and the failure policy ([`Failure`]):
//! the same failure gets the same status, code and `Retry-After` on every surface, and causes
//! go to the log only. No rule lives here; the edges (`berth-registry` for `/v2`, `berth-api`
//! for `/api/v1` and the token routes, later the UI) use it and never import each other.
//!
//! Depends on `berth-core`, `berth-auth` and actix-web.

mod caller;
mod challenge;
mod failure;
mod query;

pub use caller::{caller, credentials, source, BadHeader, Credentials};
pub use challenge::{challenge, realm};
pub use failure::{Failure, INTERNAL_CODE, RETRY_AFTER_UNAVAILABLE_SECS};
pub use query::{Page, Query};

/// A timestamp in milliseconds since the epoch as RFC 3339 UTC with millisecond precision
/// (`2026-12-05T07:51:37.123Z`), the form `/api/v1` and the token service write.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::new();
    };
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// [`rfc3339`] of an optional timestamp.
pub fn rfc3339_opt(ms: Option<i64>) -> Option<String> {
    ms.map(rfc3339)
}

/// Parses an RFC 3339 timestamp into milliseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_733_385_097_123),
            "2024-12-05T07:51:37.123Z"
        );
        assert_eq!(
            super::parse_rfc3339("2024-12-05T07:51:37.123Z"),
            Some(1_733_385_097_123)
        );
        assert_eq!(
            super::parse_rfc3339("2024-12-05T08:51:37+01:00"),
            Some(1_733_385_097_000)
        );
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }
}
