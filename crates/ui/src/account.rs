//! The signed-in user's own account: who they are, and changing their password (the old one
//! checked, the rules of `berth-auth`). A new password ends every session of the account on
//! every replica, so the browser that changed it is signed in again with the new one. The
//! page also lists the user's personal CLI tokens (see `tokens` for creating and revoking).

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
    tokens: Vec<TokenItem>,
    token_form: TokenForm,
}

/// A personal token as the list shows it.
pub struct TokenItem {
    pub name: String,
    pub created: String,
    pub expires: String,
}

/// The new-token form as sent, kept when it is shown again with an error.
#[derive(Default)]
pub struct TokenForm {
    pub name: String,
    pub days: String,
    pub error: Option<String>,
}

impl AccountPage {
    fn field_error(&self, field: &str) -> Option<&str> {
        match &self.error {
            Some((f, m)) if f == field => Some(m),
            _ => None,
        }
    }
}

/// The account page with a password error or a token form to show again, if any.
pub async fn page(
    req: &HttpRequest,
    error: Option<(String, String)>,
    token_form: TokenForm,
    status: StatusCode,
) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let s = v.signed_in()?;
    let q = Query::parse(req.query_string().as_bytes());
    let day = |ms: i64| berth_edge::rfc3339(ms).get(..10).unwrap_or("").to_owned();
    let tokens = auth
        .personal_tokens(&v.caller)
        .await?
        .into_iter()
        .map(|t| TokenItem {
            created: day(t.created_at),
            expires: t.expires_at.map_or_else(|| "never".to_owned(), day),
            name: t.name,
        })
        .collect();
    let page = AccountPage {
        nav: v.nav(),
        name: s.user.name.clone(),
        email: s.user.email.clone().unwrap_or_default(),
        admin: s.user.admin,
        source: s.user.source.clone(),
        changed: q.get("changed").is_some(),
        error,
        tokens,
        token_form,
    };
    Ok(render(status, &page))
}

/// `GET /account`.
pub async fn show(req: HttpRequest) -> UiResult {
    page(&req, None, TokenForm::default(), StatusCode::OK).await
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
        return page(&req, Some(e), TokenForm::default(), StatusCode::BAD_REQUEST).await;
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
            page(&req, Some(e), TokenForm::default(), StatusCode::BAD_REQUEST).await
        }
        Err(e) => Err(e.into()),
    }
}
