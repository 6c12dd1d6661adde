//! Who sent a request: the credentials in its `Authorization` header, the client address
//! (behind trusted proxies), and [`caller`], which turns both into the services' [`Caller`].

use std::net::IpAddr;

use actix_web::{web, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_auth::{Auth, Caller, Error, Principal};

/// Credentials in an `Authorization` header.
pub enum Credentials {
    Basic(String, String),
    Bearer(String),
}

/// An `Authorization` header that is present but cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadHeader;

impl std::fmt::Display for BadHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unreadable Authorization header")
    }
}

/// Reads the `Authorization` header (`Basic` or `Bearer`).
pub fn credentials(req: &HttpRequest) -> Result<Option<Credentials>, BadHeader> {
    let Some(h) = req.headers().get("authorization") else {
        return Ok(None);
    };
    let h = h.to_str().map_err(|_| BadHeader)?.trim();
    let (scheme, rest) = h.split_once(' ').ok_or(BadHeader)?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let raw = STANDARD.decode(rest).map_err(|_| BadHeader)?;
        let s = String::from_utf8(raw).map_err(|_| BadHeader)?;
        let (u, p) = s.split_once(':').ok_or(BadHeader)?;
        Ok(Some(Credentials::Basic(u.to_owned(), p.to_owned())))
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Some(Credentials::Bearer(rest.to_owned())))
    } else {
        Err(BadHeader)
    }
}

/// The client's address: the TCP peer, or — when the peer is a trusted proxy
/// (`auth.trusted_proxies`) — the nearest address in `X-Forwarded-For` that is not one.
pub fn source(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let Some(auth) = req.app_data::<web::Data<Auth>>() else {
        return Some(peer);
    };
    Some(berth_core::net::client_address(
        peer,
        req.headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok()),
        &auth.config.trusted_proxies,
    ))
}

/// The request's caller: anonymous without credentials; a user or robot for good Basic
/// credentials (the check remembered briefly) or a valid access token of this service.
/// Unreadable or wrong credentials, and a token whose subject no longer exists, are
/// [`Error::BadCredentials`]; a throttled account is [`Error::RateLimited`].
pub async fn caller(auth: &Auth, req: &HttpRequest) -> Result<Caller, Error> {
    let src = source(req);
    let principal = match credentials(req).map_err(|_| Error::BadCredentials)? {
        None => Principal::Anonymous,
        Some(Credentials::Basic(u, p)) => auth.login_basic(&u, &p, src).await?,
        Some(Credentials::Bearer(t)) => {
            let claims = auth
                .verify_access(&t)
                .await
                .map_err(|_| Error::BadCredentials)?;
            match auth.principal_of(&claims).await? {
                Principal::Anonymous if !claims.sub.is_empty() => {
                    return Err(Error::BadCredentials)
                }
                p => p,
            }
        }
    };
    Ok(Caller::new(principal, src))
}
