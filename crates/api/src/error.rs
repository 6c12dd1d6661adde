//! [`ApiError`]: how `/api/v1` answers a failure — the edge's [`Failure`] as
//! `{"error": {"code", "message", "field"?}}`, with `WWW-Authenticate: Basic` on a 401 and
//! `Retry-After` where the policy sets one. Every handler error passes through here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use berth_edge::Failure;
use serde_json::json;

/// A failed `/api/v1` request.
#[derive(Debug)]
pub struct ApiError(pub Failure);

impl ApiError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> ApiError {
        berth_auth::Error::invalid(field, message).into()
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError(Failure::new(StatusCode::NOT_FOUND, "NOT_FOUND", message))
    }
}

impl From<berth_auth::Error> for ApiError {
    fn from(e: berth_auth::Error) -> ApiError {
        ApiError(Failure::from(&e))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let f = &self.0;
        let mut r = HttpResponse::build(f.status);
        if f.status == StatusCode::UNAUTHORIZED {
            r.insert_header(("WWW-Authenticate", "Basic realm=\"berth\""));
        }
        if let Some(s) = f.retry_after {
            r.insert_header(("Retry-After", s.to_string()));
        }
        let mut error = json!({"code": f.code, "message": f.message});
        if let Some(field) = f.field {
            error["field"] = json!(field);
        }
        r.json(json!({ "error": error }))
    }
}

/// The result of an `/api/v1` handler.
pub type ApiResult = Result<HttpResponse, ApiError>;
