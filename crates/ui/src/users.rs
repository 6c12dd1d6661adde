//! Administration of accounts (system admins): the users a page at a time, creating a local
//! account, disabling and enabling, the system-admin flag, and setting a new password. The
//! rules (the last admin stays, password length, names) are `berth-auth`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::manage::{NewAccount, UserChanges};
use berth_edge::Query;

use crate::page::{fixable, redirect, render, Nav, UiResult};
use crate::visitor::{services, Visitor};

/// Users per page.
const PAGE: i64 = 50;

/// An account as the list shows it.
pub struct UserItem {
    pub name: String,
    pub email: String,
    pub admin: bool,
    pub disabled: bool,
    pub source: String,
    pub created: String,
}

/// The create form as sent, kept when it is shown again with an error.
#[derive(Default)]
struct NewUserForm {
    name: String,
    email: String,
    admin: bool,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    users: Vec<UserItem>,
    next: Option<String>,
    form: NewUserForm,
    error: Option<String>,
}

/// `GET /admin/users[?last=]` (system admins).
pub async fn list(req: HttpRequest) -> UiResult {
    page(&req, NewUserForm::default(), None, StatusCode::OK).await
}

async fn page(
    req: &HttpRequest,
    form: NewUserForm,
    error: Option<String>,
    status: StatusCode,
) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let q = Query::parse(req.query_string().as_bytes());
    let mut rows = auth
        .list_users(&v.caller, q.get("last").unwrap_or(""), PAGE + 1)
        .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let page = UsersPage {
        nav: v.nav(),
        next: more.then(|| rows.last().map(|u| u.name.clone())).flatten(),
        users: rows
            .into_iter()
            .map(|u| UserItem {
                created: berth_edge::rfc3339(u.created_at)
                    .get(..10)
                    .unwrap_or("")
                    .to_owned(),
                name: u.name,
                email: u.email.unwrap_or_default(),
                admin: u.admin,
                disabled: u.disabled,
                source: u.source,
            })
            .collect(),
        form,
        error,
    };
    Ok(render(status, &page))
}

/// Shows the list again with a refusal a person can act on; anything else is an error page.
async fn refused(req: &HttpRequest, form: NewUserForm, e: berth_auth::Error) -> UiResult {
    let Some(status) = fixable(&e) else {
        return Err(e.into());
    };
    page(req, form, Some(e.to_string()), status).await
}

/// `POST /admin/users` (`name`, `password`, `email`, `admin`, `csrf`).
pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let form = NewUserForm {
        name: q.get("name").unwrap_or("").trim().to_owned(),
        email: q.get("email").unwrap_or("").trim().to_owned(),
        admin: q.get("admin").is_some_and(|x| x == "true" || x == "on"),
    };
    let account = NewAccount {
        name: form.name.clone(),
        password: q.get("password").unwrap_or("").to_owned(),
        email: (!form.email.is_empty()).then(|| form.email.clone()),
        admin: form.admin,
    };
    match auth.create_user(&v.caller, &account).await {
        Ok(_) => Ok(redirect("/admin/users")),
        Err(e) => refused(&req, form, e).await,
    }
}

/// `POST /admin/users/update` (`name`, `action`: `disable`, `enable`, `grant-admin`,
/// `revoke-admin` or `password` with `password`; `csrf`).
pub async fn update(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let name = q.get("name").unwrap_or("");
    let changes = |admin: Option<bool>, disabled: Option<bool>| UserChanges {
        email: None,
        admin,
        disabled,
    };
    let result = match q.get("action") {
        Some("disable") => auth
            .update_user(&v.caller, name, &changes(None, Some(true)))
            .await
            .map(|_| ()),
        Some("enable") => auth
            .update_user(&v.caller, name, &changes(None, Some(false)))
            .await
            .map(|_| ()),
        Some("grant-admin") => auth
            .update_user(&v.caller, name, &changes(Some(true), None))
            .await
            .map(|_| ()),
        Some("revoke-admin") => auth
            .update_user(&v.caller, name, &changes(Some(false), None))
            .await
            .map(|_| ()),
        Some("password") => {
            // A system admin sets another account's password without the old one.
            v.caller.require_admin()?;
            auth.set_password(&v.caller, name, q.get("password").unwrap_or(""), None)
                .await
        }
        _ => Err(berth_auth::Error::invalid("action", "unknown action")),
    };
    match result {
        Ok(()) => Ok(redirect("/admin/users")),
        Err(e) => refused(&req, NewUserForm::default(), e).await,
    }
}
