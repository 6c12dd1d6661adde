//! Who is looking at a page: the session behind the cookie (none: an anonymous visitor), the
//! caller the services see, and the checks of a state-changing form — the same-origin check
//! and the CSRF token.

use actix_web::{web, HttpRequest};
use berth_auth::session::csrf_token;
use berth_auth::{Auth, Caller, Principal, Session};
use berth_edge::Query;

use crate::page::{Nav, UiError};
use crate::UiConfig;

/// The session cookie's name: `__Host-` prefixed (host-only, `Path=/`, `Secure`) over https.
pub fn session_cookie_name(cfg: &UiConfig) -> &'static str {
    if cfg.secure() {
        "__Host-berth_session"
    } else {
        "berth_session"
    }
}

/// The cookie that carries the sign-in form's CSRF token before there is a session.
pub fn login_cookie_name(cfg: &UiConfig) -> &'static str {
    if cfg.secure() {
        "__Host-berth_login"
    } else {
        "berth_login"
    }
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite`, `Path=/`, `Secure` over https; `max_age`
/// 0 deletes the cookie.
pub fn cookie(cfg: &UiConfig, name: &str, value: &str, max_age: u64, same_site: &str) -> String {
    let secure = if cfg.secure() { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}")
}

/// The value of cookie `name` sent with `req`, if any.
pub fn cookie_value(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"').to_owned())
}

/// The visitor of one request.
pub struct Visitor {
    pub caller: Caller,
    pub session: Option<Session>,
    /// The session cookie's token (sign-out needs it).
    pub token: Option<String>,
}

impl Visitor {
    /// Reads the session cookie; a missing, unknown or ended session is an anonymous visitor.
    pub async fn of(req: &HttpRequest) -> Result<Visitor, UiError> {
        let (auth, cfg) = services(req)?;
        let src = berth_edge::source(req);
        let token = cookie_value(req, session_cookie_name(&cfg));
        let session = match &token {
            Some(t) => auth.session(t).await?,
            None => None,
        };
        let principal = match &session {
            Some(s) => Principal::User(s.user.clone()),
            None => Principal::Anonymous,
        };
        Ok(Visitor {
            caller: Caller::new(principal, src),
            session,
            token,
        })
    }

    pub fn nav(&self) -> Nav {
        match &self.session {
            Some(s) => Nav {
                user: Some(s.user.name.clone()),
                admin: s.user.admin,
                csrf: s.csrf.clone(),
            },
            None => Nav::default(),
        }
    }

    /// The session, or "sign in required".
    pub fn signed_in(&self) -> Result<&Session, UiError> {
        self.session
            .as_ref()
            .ok_or_else(|| berth_auth::Error::BadCredentials.into())
    }

    /// Checks a state-changing form of a signed-in visitor: sent from this site and carrying
    /// this session's CSRF token. Anything else is refused before it changes anything.
    pub fn check_form(&self, req: &HttpRequest, form: &Query) -> Result<(), UiError> {
        let s = self.signed_in()?;
        same_origin(req)?;
        match form.get("csrf") {
            Some(t) if constant_eq(t, &s.csrf) => Ok(()),
            _ => Err(UiError::csrf()),
        }
    }
}

/// The services and settings a UI handler needs.
pub fn services(req: &HttpRequest) -> Result<(Auth, UiConfig), UiError> {
    let auth = req
        .app_data::<web::Data<Auth>>()
        .ok_or_else(|| UiError::internal(&"the UI is mounted without the auth service"))?;
    let cfg = req
        .app_data::<web::Data<UiConfig>>()
        .map(|c| c.get_ref().clone())
        .unwrap_or_default();
    Ok((auth.get_ref().clone(), cfg))
}

/// The host people give `docker login`: the external URL's, else the one this request came to.
pub fn registry_host(req: &HttpRequest, cfg: &UiConfig) -> String {
    if cfg.external_url.is_empty() {
        req.connection_info().host().to_owned()
    } else {
        cfg.external_url
            .split_once("://")
            .map_or(cfg.external_url.clone(), |(_, h)| h.to_owned())
    }
}

/// Refuses a request a browser sent from another origin (its `Origin` header names another
/// scheme, host or port, or is `null`). Requests without `Origin` (not from a browser form)
/// pass; the CSRF token still guards them.
pub fn same_origin(req: &HttpRequest) -> Result<(), UiError> {
    let Some(origin) = req.headers().get("origin") else {
        return Ok(());
    };
    let origin = origin.to_str().map_err(|_| UiError::csrf())?;
    let cfg = req
        .app_data::<web::Data<UiConfig>>()
        .map(|c| c.get_ref().clone())
        .unwrap_or_default();
    let expected = if cfg.external_url.is_empty() {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    } else {
        cfg.external_url.trim_end_matches('/').to_owned()
    };
    if origin.eq_ignore_ascii_case(&expected) {
        Ok(())
    } else {
        tracing::warn!(origin, expected, "refused a cross-origin form post");
        Err(UiError::csrf())
    }
}

/// A fresh random token for the sign-in form's cookie.
pub fn login_token() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    csrf_token(&b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

pub fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
