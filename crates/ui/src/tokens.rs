//! Personal CLI tokens on the account page: create one (name, expiry in days) and see its
//! secret once, with a copy button and a ready `docker login` line; revoke one. The rules (a
//! person's tokens only, names, the bound, what revoking ends) are `berth-auth`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::now_ms;
use berth_edge::Query;

use crate::account::{page, TokenForm};
use crate::page::{fixable, redirect, render, Nav, UiResult};
use crate::visitor::{registry_host, services, Visitor};

/// The longest expiry the form offers, in days.
const MAX_DAYS: u32 = 3650;

#[derive(Template)]
#[template(path = "token_created.html")]
struct CreatedPage {
    nav: Nav,
    user: String,
    name: String,
    secret: String,
    host: String,
}

/// `POST /account/tokens` (`name`, `expires_in_days`, `csrf`).
pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, cfg) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let user = v.signed_in()?.user.name.clone();
    let mut form = TokenForm {
        name: q.get("name").unwrap_or("").trim().to_owned(),
        days: q.get("expires_in_days").unwrap_or("").trim().to_owned(),
        error: None,
    };
    let days: Option<u32> = if form.days.is_empty() {
        Some(0)
    } else {
        form.days.parse().ok().filter(|d| *d <= MAX_DAYS)
    };
    let Some(days) = days else {
        form.error = Some(format!(
            "The expiry is a number of days from 0 (never) to {MAX_DAYS}."
        ));
        return page(&req, None, form, StatusCode::BAD_REQUEST).await;
    };
    let expires_at = (days > 0).then(|| now_ms() + i64::from(days) * 86_400_000);
    match auth
        .create_personal_token(&v.caller, &form.name, expires_at)
        .await
    {
        Ok((row, secret)) => {
            let page = CreatedPage {
                nav: v.nav(),
                user,
                name: row.name,
                secret,
                host: registry_host(&req, &cfg),
            };
            Ok(render(StatusCode::CREATED, &page))
        }
        Err(e) => {
            let Some(status) = fixable(&e) else {
                return Err(e.into());
            };
            form.error = Some(e.to_string());
            page(&req, None, form, status).await
        }
    }
}

/// `POST /account/tokens/revoke` (`name`, `csrf`).
pub async fn revoke(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    auth.revoke_personal_token(&v.caller, q.get("name").unwrap_or(""))
        .await?;
    Ok(redirect("/account#tokens"))
}
