//! The signed-in user's own account: who they are, and changing their password (the old one
//! checked, the rules of `berth-auth`). A new password ends every session of the account on
//! every replica, so the browser that changed it is signed in again with the new one.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use berth_edge::Query;

use crate::page::{render, secure, Nav, UiResult};
use crate::visitor::{cookie, services, session_cookie_name, Visitor};

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    name: String,
    email: String,
    admin: bool,
    source: String,
    error: Option<(String, String)>,
    changed: bool,
}

impl AccountPage {
    fn field_error(&self, field: &str) -> Option<&str> {
        match &self.error {
            Some((f, m)) if f == field => Some(m),
            _ => None,
        }
    }
}

async fn page(req: &HttpRequest, error: Option<(String, String)>, status: StatusCode) -> UiResult {
    let v = Visitor::of(req).await?;
    let s = v.signed_in()?;
    let q = Query::parse(req.query_string().as_bytes());
    let page = AccountPage {
        nav: v.nav(),
        name: s.user.name.clone(),
        email: s.user.email.clone().unwrap_or_default(),
        admin: s.user.admin,
        source: s.user.source.clone(),
        changed: q.get("changed").is_some(),
        error,
    };
    Ok(render(status, &page))
}

/// `GET /account`.
pub async fn show(req: HttpRequest) -> UiResult {
    page(&req, None, StatusCode::OK).await
}

/// `POST /account/password` (`old_password`, `password`, `confirm`, `csrf`).
pub async fn password(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, cfg) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    let name = v.signed_in()?.user.name.clone();
    let new = form.get("password").unwrap_or("");
    if form.get("confirm").unwrap_or("") != new {
        let e = (
            "confirm".to_owned(),
            "The two new passwords differ.".to_owned(),
        );
        return page(&req, Some(e), StatusCode::BAD_REQUEST).await;
    }
    let old = form.get("old_password").unwrap_or("");
    match auth.set_password(&v.caller, &name, new, Some(old)).await {
        Ok(()) => {
            // Every session of the account ended; this browser continues with a new one.
            let signed = auth.sign_in(&name, new, v.caller.source).await?;
            let max_age = auth.config.session_max.as_secs();
            let mut res = secure(HttpResponse::SeeOther());
            res.insert_header(("Location", "/account?changed=1"));
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
            Ok(res.finish())
        }
        Err(berth_auth::Error::Invalid { field, message }) => {
            let e = (field.to_owned(), message);
            page(&req, Some(e), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}
