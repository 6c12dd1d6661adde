//! Answering with a page: the security headers every UI answer carries, the navigation bar's
//! facts, and [`UiError`], which turns a failed service call into a readable error page with
//! the status the API would give.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use berth_edge::Failure;

/// No inline script or style, nothing from elsewhere, no framing, forms post only here.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// Adds the headers every UI answer carries.
pub fn secure(mut b: HttpResponseBuilder) -> HttpResponseBuilder {
    b.insert_header(("Content-Security-Policy", CSP))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("Cache-Control", "no-store"));
    b
}

/// What the navigation bar shows: who is signed in, whether they administer the system, and
/// the session's CSRF token for the sign-out form.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    pub user: Option<String>,
    pub admin: bool,
    pub csrf: String,
}

/// Renders `t` as an HTML answer with `status`.
pub fn render(status: StatusCode, t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(html) => secure(HttpResponse::build(status))
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => UiError::internal(&e).error_response(),
    }
}

/// `303 See Other` to `to` (after a successful form post).
pub fn redirect(to: &str) -> HttpResponse {
    secure(HttpResponse::SeeOther())
        .insert_header(("Location", to))
        .finish()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: Nav,
    status: u16,
    title: &'a str,
    message: &'a str,
    sign_in: bool,
}

/// A failed request, answered with an error page.
#[derive(Debug)]
pub struct UiError {
    pub failure: Failure,
}

impl UiError {
    pub fn internal(cause: &dyn std::fmt::Display) -> UiError {
        UiError {
            failure: Failure::internal(cause),
        }
    }

    /// 403: a state-changing request without this session's CSRF token, or from another site.
    pub fn csrf() -> UiError {
        UiError {
            failure: Failure::new(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "This form has expired or was sent from another site. Go back, reload the page \
                 and try again.",
            ),
        }
    }
}

impl From<berth_auth::Error> for UiError {
    fn from(e: berth_auth::Error) -> UiError {
        let mut failure = Failure::from(&e);
        match e {
            berth_auth::Error::Forbidden => {
                failure.message = "You do not have permission to see or change this.".into()
            }
            berth_auth::Error::BadCredentials => {
                failure.message = "Sign in to see this page.".into()
            }
            _ => {}
        }
        UiError { failure }
    }
}

impl std::fmt::Display for UiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.failure.message)
    }
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        self.failure.status
    }

    fn error_response(&self) -> HttpResponse {
        let f = &self.failure;
        let title = match f.status {
            StatusCode::UNAUTHORIZED => "Sign in required",
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Too many attempts",
            StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
            s if s.is_server_error() => "Something went wrong",
            _ => "Request refused",
        };
        let page = ErrorPage {
            nav: Nav::default(),
            status: f.status.as_u16(),
            title,
            message: &f.message,
            // What is private is "not found" to an anonymous visitor: offer to sign in there too.
            sign_in: matches!(f.status, StatusCode::UNAUTHORIZED | StatusCode::NOT_FOUND),
        };
        let html = page.render().unwrap_or_else(|_| title.to_owned());
        let mut b = secure(HttpResponse::build(f.status));
        if let Some(s) = f.retry_after {
            b.insert_header(("Retry-After", s.to_string()));
        }
        b.content_type("text/html; charset=utf-8").body(html)
    }
}

/// The status of a refusal a person can act on beside the form (a field that is wrong, a
/// name that is taken, a name that does not exist); `None`: anything else, an error page.
pub fn fixable(e: &berth_auth::Error) -> Option<StatusCode> {
    match e {
        berth_auth::Error::Invalid { .. } => Some(StatusCode::BAD_REQUEST),
        berth_auth::Error::Conflict(_) => Some(StatusCode::CONFLICT),
        berth_auth::Error::NotFound(_) => Some(StatusCode::NOT_FOUND),
        _ => None,
    }
}

/// The result of a UI handler.
pub type UiResult = Result<HttpResponse, UiError>;
