//! The token service's routes: `GET|POST /auth/token` (Docker token spec and its OAuth2
//! form), `GET /auth/jwks`, `POST /auth/revoke`. Each reads the request into a
//! [`TokenRequest`], calls [`Auth::issue_token`] and shapes the answer; failures are the
//! Docker token spec's `errors` (GET) or OAuth2's `error` (POST) on the edge's policy.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::{Auth, Error, Grant, Proof, TokenRequest};
use berth_core::Scope;
use berth_edge::{challenge, credentials, rfc3339, source, Credentials, Failure, Query};
use serde_json::json;

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

/// Requested scopes: every `scope` parameter, each holding one or more space-separated
/// scopes. Malformed ones are ignored (granted nothing), as the spec allows.
fn scopes(q: &Query) -> Vec<Scope> {
    q.all("scope")
        .into_iter()
        .flat_map(|v| v.split(' '))
        .filter_map(|s| Scope::parse(s).ok())
        .collect()
}

/// A failure in the Docker token spec's shape (`errors`), with a Bearer challenge on 401;
/// too many scopes also carries OAuth2's `error: invalid_scope`.
fn docker_error(auth: &Auth, req: &HttpRequest, e: &Error) -> HttpResponse {
    let mut f = Failure::from(e);
    let mut body = json!({});
    match e {
        Error::BadCredentials => f.message = "invalid user name or password".into(),
        Error::Invalid { .. } => {
            f.code = "UNSUPPORTED";
            body["error"] = json!("invalid_scope");
            body["error_description"] = json!(f.message);
        }
        _ => {}
    }
    body["errors"] = json!([{"code": f.code, "message": f.message, "detail": null}]);
    let mut r = HttpResponse::build(f.status);
    if f.status == StatusCode::UNAUTHORIZED {
        r.insert_header(("WWW-Authenticate", challenge(auth, req, &[], None)));
    }
    if let Some(s) = f.retry_after {
        r.insert_header(("Retry-After", s.to_string()));
    }
    r.json(body)
}

/// A failure of the OAuth2 form: `invalid_grant` for a bad password or refresh token, the
/// Docker shape for everything else (throttling, outages, too many scopes).
fn oauth_error(auth: &Auth, req: &HttpRequest, e: &Error, bad_grant: &str) -> HttpResponse {
    match e {
        Error::BadCredentials => HttpResponse::Unauthorized()
            .json(json!({"error": "invalid_grant", "error_description": bad_grant})),
        e => docker_error(auth, req, e),
    }
}

fn oauth_request_error(code: &str, msg: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(json!({"error": code, "error_description": msg}))
}

fn granted(g: &Grant) -> HttpResponse {
    let mut body = json!({
        "token": g.token,
        "access_token": g.token,
        "expires_in": g.claims.exp - g.claims.iat,
        "issued_at": rfc3339(g.claims.iat * 1000),
    });
    if let Some(r) = &g.refresh_token {
        body["refresh_token"] = json!(r);
    }
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(body)
}

/// `GET /auth/token`: Docker token spec. Basic credentials optional (anonymous otherwise);
/// `offline_token=true` with credentials adds a refresh token.
async fn token_get(req: HttpRequest, auth: web::Data<Auth>) -> HttpResponse {
    let q = Query::parse(req.query_string().as_bytes());
    let proof = match credentials(&req) {
        Ok(None) => Proof::Anonymous,
        Ok(Some(Credentials::Basic(user, secret))) => Proof::Password { user, secret },
        // A refresh token presented as a bearer credential (some clients do this).
        Ok(Some(Credentials::Bearer(t))) => Proof::Refresh(t),
        Err(_) => return docker_error(&auth, &req, &Error::BadCredentials),
    };
    let request = TokenRequest {
        proof,
        scopes: scopes(&q),
        offline: q.get("offline_token") == Some("true"),
        source: source(&req),
    };
    match auth.issue_token(request).await {
        Ok(g) => granted(&g),
        Err(e) => docker_error(&auth, &req, &e),
    }
}

/// `POST /auth/token`: the OAuth2 form. `grant_type=password` (with `access_type=offline`
/// for a refresh token) or `grant_type=refresh_token`.
async fn token_post(req: HttpRequest, body: web::Bytes, auth: web::Data<Auth>) -> HttpResponse {
    let f = Query::parse(&body);
    let (proof, offline, bad_grant) = match f.get("grant_type") {
        Some("password") => {
            let (Some(user), Some(secret)) = (f.get("username"), f.get("password")) else {
                return oauth_request_error(
                    "invalid_request",
                    "username and password are required",
                );
            };
            let proof = Proof::Password {
                user: user.to_owned(),
                secret: secret.to_owned(),
            };
            let offline = f.get("access_type") == Some("offline");
            (proof, offline, "invalid user name or password")
        }
        Some("refresh_token") => {
            let Some(t) = f.get("refresh_token") else {
                return oauth_request_error("invalid_request", "refresh_token is required");
            };
            // The client keeps the refresh token it has; no new one is issued.
            (
                Proof::Refresh(t.to_owned()),
                false,
                "the refresh token is invalid, expired or revoked",
            )
        }
        _ => {
            return oauth_request_error(
                "unsupported_grant_type",
                "grant_type must be password or refresh_token",
            )
        }
    };
    let request = TokenRequest {
        proof,
        scopes: scopes(&f),
        offline,
        source: source(&req),
    };
    match auth.issue_token(request).await {
        Ok(g) => granted(&g),
        Err(e) => oauth_error(&auth, &req, &e, bad_grant),
    }
}

async fn jwks(auth: web::Data<Auth>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "max-age=60"))
        .json(auth.keys.jwks())
}

/// `POST /auth/revoke` (RFC 7009 style): `token=<refresh token>`; always 200.
async fn revoke(req: HttpRequest, body: web::Bytes, auth: web::Data<Auth>) -> HttpResponse {
    let f = Query::parse(&body);
    if let Some(t) = f.get("token") {
        if let Err(e) = auth.revoke(t).await {
            return docker_error(&auth, &req, &e);
        }
    }
    HttpResponse::Ok().finish()
}

#[cfg(test)]
mod tests {
    #[test]
    fn scopes_split_on_spaces_and_repeat() {
        let q = super::Query::parse(
            b"scope=repository:a/b:pull%20repository:c/d:push&scope=registry:catalog:*&scope=bad",
        );
        let s = super::scopes(&q);
        assert_eq!(s.len(), 3);
        assert_eq!(s[1].name, "c/d");
    }
}
