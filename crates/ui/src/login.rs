//! Signing in and out. The form posts to the same identity check, throttle and audit as the
//! token service (`berth_auth::Auth::sign_in`); before a session exists, the form's CSRF token
//! is a random value also held in a short-lived cookie, checked together with the origin.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use berth_edge::Query;

use crate::page::{redirect, render, secure, Nav, UiError, UiResult};
use crate::visitor::{
    constant_eq, cookie, cookie_value, login_cookie_name, login_token, same_origin, services,
    session_cookie_name, Visitor,
};

/// How long the sign-in form stays valid.
const LOGIN_FORM_SECS: u64 = 1800;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    nav: Nav,
    csrf: &'a str,
    name: &'a str,
    next: &'a str,
    error: Option<String>,
}

/// Where to go after signing in: a path of this site, never another site (`//host`, `/\host`).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.starts_with("/\\") => p,
        _ => "/",
    }
}

/// `GET /login[?next=]`: the sign-in form (signed-in visitors go on to `next`).
pub async fn form(req: HttpRequest) -> UiResult {
    let v = Visitor::of(&req).await?;
    let q = Query::parse(req.query_string().as_bytes());
    let next = local_path(q.get("next"));
    if v.session.is_some() {
        return Ok(redirect(next));
    }
    Ok(login_page(&req, "", next, None, StatusCode::OK))
}

/// The sign-in form with a fresh CSRF token (and its cookie), `name` kept and `error` shown.
fn login_page(
    req: &HttpRequest,
    name: &str,
    next: &str,
    error: Option<String>,
    status: StatusCode,
) -> HttpResponse {
    let cfg = services(req).map(|(_, c)| c).unwrap_or_default();
    let token = login_token();
    let mut res = render(
        status,
        &LoginPage {
            nav: Nav::default(),
            csrf: &token,
            name,
            next,
            error,
        },
    );
    let set = cookie(
        &cfg,
        login_cookie_name(&cfg),
        &token,
        LOGIN_FORM_SECS,
        "Strict",
    );
    if let Ok(v) = set.parse() {
        res.headers_mut()
            .append(actix_web::http::header::SET_COOKIE, v);
    }
    res
}

/// `POST /login` (`name`, `password`, `csrf`, `next`): opens a session and goes on to `next`;
/// a wrong password or a throttled account re-renders the form with the name kept.
pub async fn submit(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, cfg) = services(&req)?;
    let form = Query::parse(&body);
    same_origin(&req)?;
    let expected = cookie_value(&req, login_cookie_name(&cfg)).unwrap_or_default();
    match form.get("csrf") {
        Some(t) if !expected.is_empty() && constant_eq(t, &expected) => {}
        _ => return Err(UiError::csrf()),
    }
    let name = form.get("name").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    let next = local_path(form.get("next"));
    if name.is_empty() || password.is_empty() {
        let msg = "Enter your user name and password.".to_owned();
        return Ok(login_page(
            &req,
            name,
            next,
            Some(msg),
            StatusCode::BAD_REQUEST,
        ));
    }
    match auth.sign_in(name, password, berth_edge::source(&req)).await {
        Ok(signed) => {
            let max_age = auth.config.session_max.as_secs();
            let mut res = secure(HttpResponse::SeeOther());
            res.insert_header(("Location", next));
            res.append_header((
                "Set-Cookie",
                cookie(
                    &cfg,
                    session_cookie_name(&cfg),
                    &signed.token,
                    max_age,
                    "Lax",
                ),
            ));
            res.append_header((
                "Set-Cookie",
                cookie(&cfg, login_cookie_name(&cfg), "", 0, "Strict"),
            ));
            Ok(res.finish())
        }
        Err(
            e @ (berth_auth::Error::BadCredentials
            | berth_auth::Error::RateLimited(_)
            | berth_auth::Error::Invalid { .. }),
        ) => {
            let (msg, status) = match &e {
                berth_auth::Error::BadCredentials => (
                    "Wrong user name or password.".to_owned(),
                    StatusCode::UNAUTHORIZED,
                ),
                berth_auth::Error::RateLimited(secs) => (
                    format!("Too many failed sign-ins. Try again in {secs} seconds."),
                    StatusCode::TOO_MANY_REQUESTS,
                ),
                other => (other.to_string(), StatusCode::BAD_REQUEST),
            };
            Ok(login_page(&req, name, next, Some(msg), status))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout` (`csrf`): ends the session on every replica and clears the cookie.
pub async fn logout(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, cfg) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    if v.session.is_none() {
        // Already signed out (elsewhere, or expired): nothing to end.
        return Ok(redirect("/login"));
    }
    v.check_form(&req, &form)?;
    if let Some(t) = &v.token {
        auth.sign_out(t, v.caller.source).await?;
    }
    let mut res = secure(HttpResponse::SeeOther());
    res.insert_header(("Location", "/login"));
    res.append_header((
        "Set-Cookie",
        cookie(&cfg, session_cookie_name(&cfg), "", 0, "Lax"),
    ));
    Ok(res.finish())
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(super::local_path(Some("/orgs/a")), "/orgs/a");
        assert_eq!(super::local_path(Some("//evil.example")), "/");
        assert_eq!(super::local_path(Some("/\\evil.example")), "/");
        assert_eq!(super::local_path(Some("https://evil.example")), "/");
        assert_eq!(super::local_path(None), "/");
    }
}
