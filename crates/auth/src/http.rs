//! The token service's routes: `GET|POST /auth/token`, `GET /auth/jwks`, `POST /auth/revoke`,
//! and the header helpers the `/v2` guard and the management API share (Basic credentials,
//! challenges).

use std::net::IpAddr;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_core::Scope;
use serde_json::json;

use crate::{Auth, AuthError, Principal};

/// Mounts the token routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/auth/token")
            .route(web::get().to(token_get))
            .route(web::post().to(token_post)),
    )
    .service(web::resource(["/auth/jwks", "/.well-known/jwks.json"]).route(web::get().to(jwks)))
    .service(web::resource("/auth/revoke").route(web::post().to(revoke)));
}

/// Credentials in an `Authorization` header.
pub enum Credentials {
    Basic(String, String),
    Bearer(String),
}

/// An `Authorization` header that is present but cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unreadable Authorization header")]
pub struct BadHeader;

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
/// (`http.trusted_proxies`) — the nearest address in `X-Forwarded-For` that is not one.
pub fn source(req: &HttpRequest) -> Option<IpAddr> {
    let peer = req.peer_addr().map(|a| a.ip())?;
    let Some(auth) = req.app_data::<actix_web::web::Data<crate::Auth>>() else {
        return Some(peer);
    };
    Some(client_address(
        peer,
        req.headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok()),
        &auth.config.trusted_proxies,
    ))
}

/// A proxy address or network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let bad = || format!("{s:?} is not an IP address or network (a.b.c.d/n, x::y/n)");
        let (ip, bits) = match s.split_once('/') {
            Some((ip, b)) => (ip, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let net: IpAddr = ip.trim().parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        Ok(Cidr { net, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (a, b, max) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
            (IpAddr::V6(n), IpAddr::V4(i)) => (u128::from(n), u128::from(i.to_ipv6_mapped()), 128),
            (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
                Some(i) => (u32::from(n) as u128, u32::from(i) as u128, 32),
                None => return false,
            },
        };
        let shift = max - u32::from(self.bits);
        if shift >= 128 {
            return true;
        }
        (a >> shift) == (b >> shift)
    }
}

/// The client behind a chain of trusted proxies: walk `X-Forwarded-For` from the right
/// (nearest hop first) while the hop is trusted; the first untrusted address is the client.
/// An untrusted peer's headers are ignored (anyone can send them).
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded_for: impl Iterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

impl Auth {
    /// The realm of challenges: configured, or `<scheme>://<host>/auth/token` of the request.
    pub fn realm(&self, req: &HttpRequest) -> String {
        if let Some(r) = &self.config.realm {
            return r.clone();
        }
        let info = req.connection_info();
        format!("{}://{}/auth/token", info.scheme(), info.host())
    }

    /// A `WWW-Authenticate: Bearer …` value for `scopes`, with `error` when a token was
    /// presented but is not enough.
    pub fn challenge(&self, req: &HttpRequest, scopes: &[Scope], error: Option<&str>) -> String {
        let mut v = format!(
            "Bearer realm=\"{}\",service=\"{}\"",
            self.realm(req),
            self.config.service
        );
        if !scopes.is_empty() {
            let s: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            v.push_str(&format!(",scope=\"{}\"", s.join(" ")));
        }
        if let Some(e) = error {
            v.push_str(&format!(",error=\"{e}\""));
        }
        v
    }
}

fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({"errors": [{"code": code, "message": message, "detail": null}]})
}

/// The HTTP answer to a failed authentication on the token endpoint.
pub fn auth_error_response(auth: &Auth, req: &HttpRequest, e: &AuthError) -> HttpResponse {
    match e {
        AuthError::BadCredentials => HttpResponse::Unauthorized()
            .insert_header(("WWW-Authenticate", auth.challenge(req, &[], None)))
            .json(error_body("UNAUTHORIZED", "invalid user name or password")),
        AuthError::RateLimited(secs) => HttpResponse::TooManyRequests()
            .insert_header(("Retry-After", secs.to_string()))
            .json(error_body(
                "TOOMANYREQUESTS",
                &format!("too many failed logins; retry in {secs} s"),
            )),
        AuthError::Meta(m) if is_unavailable(m) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "5"))
            .json(error_body(
                "UNAVAILABLE",
                "the metadata database is unavailable",
            )),
        other => {
            tracing::error!(error = %other, "token service failure");
            HttpResponse::InternalServerError().json(error_body("UNKNOWN", "internal error"))
        }
    }
}

fn is_unavailable(m: &berth_meta::MetaError) -> bool {
    matches!(
        m,
        berth_meta::MetaError::Unavailable(_) | berth_meta::MetaError::Timeout(_)
    )
}

/// Query or form pairs, with repeated keys kept.
fn pairs(raw: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(raw).into_owned().collect()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

/// Requested scopes: every `scope` parameter, each holding one or more space-separated
/// scopes. Malformed ones are ignored (granted nothing), as the spec allows.
fn scopes(p: &[(String, String)]) -> Vec<Scope> {
    p.iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|s| Scope::parse(&s).ok())
        .collect()
}

/// `GET /auth/token`: Docker token spec. Basic credentials optional (anonymous otherwise);
/// `offline_token=true` with credentials adds a refresh token.
async fn token_get(req: HttpRequest, auth: web::Data<Auth>) -> HttpResponse {
    let q = pairs(req.query_string().as_bytes());
    let creds = match credentials(&req) {
        Ok(c) => c,
        Err(_) => return auth_error_response(&auth, &req, &AuthError::BadCredentials),
    };
    let (principal, login) = match creds {
        None => (Principal::Anonymous, false),
        Some(Credentials::Basic(u, p)) => match auth.login(&u, &p, source(&req)).await {
            Ok(p) => (p, true),
            Err(e) => {
                audit_failed_login(&auth, &req, &u, &e).await;
                return auth_error_response(&auth, &req, &e);
            }
        },
        // A refresh token presented as a bearer credential (some clients do this).
        Some(Credentials::Bearer(t)) => match auth.refresh(&t).await {
            Ok(p) => (p, false),
            Err(e) => return auth_error_response(&auth, &req, &e),
        },
    };
    let offline = get(&q, "offline_token") == Some("true");
    respond(&auth, &req, principal, &scopes(&q), offline, login).await
}

/// `POST /auth/token`: the OAuth2 form. `grant_type=password` (with `access_type=offline`
/// for a refresh token) or `grant_type=refresh_token`.
async fn token_post(req: HttpRequest, body: web::Bytes, auth: web::Data<Auth>) -> HttpResponse {
    let f = pairs(&body);
    let oauth_error = |status: StatusCode, code: &str, msg: &str| {
        HttpResponse::build(status).json(json!({"error": code, "error_description": msg}))
    };
    match get(&f, "grant_type") {
        Some("password") => {
            let (Some(u), Some(p)) = (get(&f, "username"), get(&f, "password")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "username and password are required",
                );
            };
            match auth.login(u, p, source(&req)).await {
                Ok(principal) => {
                    let offline = get(&f, "access_type") == Some("offline");
                    respond(&auth, &req, principal, &scopes(&f), offline, true).await
                }
                Err(AuthError::BadCredentials) => {
                    audit_failed_login(&auth, &req, u, &AuthError::BadCredentials).await;
                    oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_grant",
                        "invalid user name or password",
                    )
                }
                Err(e) => auth_error_response(&auth, &req, &e),
            }
        }
        Some("refresh_token") => {
            let Some(t) = get(&f, "refresh_token") else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "refresh_token is required",
                );
            };
            match auth.refresh(t).await {
                // The client keeps the refresh token it has; no new one is issued.
                Ok(principal) => respond(&auth, &req, principal, &scopes(&f), false, false).await,
                Err(AuthError::BadCredentials) => oauth_error(
                    StatusCode::UNAUTHORIZED,
                    "invalid_grant",
                    "the refresh token is invalid, expired or revoked",
                ),
                Err(e) => auth_error_response(&auth, &req, &e),
            }
        }
        _ => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be password or refresh_token",
        ),
    }
}

async fn audit_failed_login(auth: &Auth, req: &HttpRequest, user: &str, e: &AuthError) {
    let outcome = match e {
        AuthError::RateLimited(_) => "throttled",
        AuthError::BadCredentials => "denied",
        _ => return,
    };
    let who = Principal::Anonymous;
    auth.audit(
        &who,
        "login",
        &format!("account:{}", crate::clip(user)),
        None,
        source(req),
        outcome,
    )
    .await;
}

/// Most scopes one token request may ask for: each costs database lookups, and a client
/// needs one or two per operation (three for a mount with a catalog).
pub const MAX_SCOPES: usize = 32;

async fn respond(
    auth: &Auth,
    req: &HttpRequest,
    principal: Principal,
    requested: &[Scope],
    offline: bool,
    login: bool,
) -> HttpResponse {
    if requested.len() > MAX_SCOPES {
        let msg = format!("at most {MAX_SCOPES} scopes per token request");
        return HttpResponse::BadRequest().json(json!({
            "error": "invalid_scope",
            "error_description": msg,
            "errors": [{"code": "UNSUPPORTED", "message": msg, "detail": null}],
        }));
    }
    let granted = match auth.grant(&principal, requested).await {
        Ok(g) => g,
        Err(e) => return auth_error_response(auth, req, &e),
    };
    let (token, claims) = match auth.issue_access(&principal, granted) {
        Ok(t) => t,
        Err(e) => return auth_error_response(auth, req, &e),
    };
    let mut body = json!({
        "token": token,
        "access_token": token,
        "expires_in": claims.exp - claims.iat,
        "issued_at": rfc3339(claims.iat),
    });
    if offline && !matches!(principal, Principal::Anonymous) {
        match auth.issue_refresh(&principal).await {
            Ok(r) => body["refresh_token"] = json!(r),
            Err(e) => return auth_error_response(auth, req, &e),
        }
    }
    if login {
        auth.audit(
            &principal,
            "login",
            &principal.actor(),
            None,
            source(req),
            "ok",
        )
        .await;
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn jwks(auth: web::Data<Auth>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "max-age=60"))
        .json(auth.keys.jwks())
}

/// `POST /auth/revoke` (RFC 7009 style): `token=<refresh token>`; always 200.
async fn revoke(req: HttpRequest, body: web::Bytes, auth: web::Data<Auth>) -> HttpResponse {
    let f = pairs(&body);
    if let Some(t) = get(&f, "token") {
        if let Err(e) = auth.revoke(t).await {
            return auth_error_response(&auth, &req, &e);
        }
    }
    HttpResponse::Ok().finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn scopes_split_on_spaces_and_repeat() {
        let p = super::pairs(
            b"scope=repository:a/b:pull%20repository:c/d:push&scope=registry:catalog:*&scope=bad",
        );
        let s = super::scopes(&p);
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].name, "c/d");
    }

    #[test]
    fn client_behind_trusted_proxies() {
        use super::{client_address, Cidr};
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted = vec![
            Cidr::parse("10.0.0.0/8").unwrap(),
            Cidr::parse("::1").unwrap(),
        ];
        let xff = |v: &'static [&'static str]| v.iter().copied();
        // An untrusted peer: its header is ignored.
        assert_eq!(
            client_address(ip("192.0.2.9"), xff(&["1.2.3.4"]), &trusted),
            ip("192.0.2.9")
        );
        // A trusted proxy: the nearest untrusted hop wins, spoofed left entries do not.
        assert_eq!(
            client_address(
                ip("10.1.1.1"),
                xff(&["6.6.6.6, 1.2.3.4", "10.2.2.2"]),
                &trusted
            ),
            ip("1.2.3.4")
        );
        assert_eq!(
            client_address(ip("10.1.1.1"), xff(&[]), &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_address(ip("::1"), xff(&["garbage"]), &trusted),
            ip("::1")
        );
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
        assert!(!Cidr::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains(ip("::ffff:127.0.0.1")));
    }

    #[test]
    fn timestamps() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
