//! The failure policy of every edge. A service failure becomes one [`Failure`]: the same
//! status, code and `Retry-After` whichever route it happened on. Causes of unavailable and
//! internal failures are logged here and never sent. Each edge renders a `Failure` in its own
//! envelope (OCI `errors` on `/v2` and the token routes, `error` on `/api/v1`).

use actix_web::http::StatusCode;
use berth_auth::Error;

/// The code of an unexpected server-side failure (500), on every surface.
pub const INTERNAL_CODE: &str = "INTERNAL_ERROR";

/// `Retry-After` of a 503 for a dependency that does not answer, on every surface.
pub const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 1;

/// How an edge answers a failed service call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: StatusCode,
    /// Stable, machine-readable: `UNAUTHORIZED`, `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`,
    /// `UNSUPPORTED`, `INVALID`, `TOOMANYREQUESTS`, `UNAVAILABLE`, `INTERNAL_ERROR`.
    pub code: &'static str,
    /// For people; never a cause from inside.
    pub message: String,
    /// The request field an `INVALID` names.
    pub field: Option<&'static str>,
    pub retry_after: Option<u64>,
}

impl Failure {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A 500 whose cause goes to the log.
    pub fn internal(cause: &dyn std::fmt::Display) -> Failure {
        tracing::error!(error = %cause, "internal error");
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL_CODE,
            "internal error",
        )
    }

    /// A 503 for `what`, whose cause goes to the log.
    pub fn unavailable(what: &str, cause: &dyn std::fmt::Display) -> Failure {
        tracing::warn!(error = %cause, "dependency unavailable: {what}");
        let mut f = Failure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            format!("the {what} is unavailable; retry later"),
        );
        f.retry_after = Some(RETRY_AFTER_UNAVAILABLE_SECS);
        f
    }
}

impl From<&Error> for Failure {
    fn from(e: &Error) -> Failure {
        match e {
            Error::BadCredentials => Failure::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "invalid or missing credentials",
            ),
            Error::RateLimited(secs) => {
                let mut f = Failure::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOOMANYREQUESTS",
                    e.to_string(),
                );
                f.retry_after = Some(*secs);
                f
            }
            Error::NotFound(_) => Failure::new(StatusCode::NOT_FOUND, "NOT_FOUND", e.to_string()),
            Error::Forbidden => Failure::new(StatusCode::FORBIDDEN, "FORBIDDEN", e.to_string()),
            Error::Conflict(m) => Failure::new(StatusCode::CONFLICT, "CONFLICT", m.clone()),
            // The code `/v2` answers for the same refusal (OCI `UNSUPPORTED`).
            Error::Disabled(m) => Failure::new(StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED", *m),
            Error::Invalid { field, message } => {
                let mut f = Failure::new(StatusCode::BAD_REQUEST, "INVALID", message.clone());
                f.field = Some(field);
                f
            }
            Error::Unavailable { what, cause } => Failure::unavailable(what, cause),
            Error::Internal(cause) => Failure::internal(cause),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        Failure::from(&e)
    }
}
