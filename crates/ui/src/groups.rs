//! Administration of groups (system admins): the groups a page at a time with their members,
//! creating a local group, adding and removing a member. Directory groups (with their DN) are
//! listed too; the rules (names, who may) are `berth-auth`'s.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_edge::Query;

use crate::page::{fixable, redirect, render, Nav, UiResult};
use crate::visitor::{services, Visitor};

/// Groups per page.
const PAGE: i64 = 50;

/// A group as the list shows it.
pub struct GroupItem {
    pub name: String,
    pub external_dn: Option<String>,
    pub members: Vec<String>,
}

#[derive(Template)]
#[template(path = "groups.html")]
struct GroupsPage {
    nav: Nav,
    groups: Vec<GroupItem>,
    next: Option<String>,
    /// The create form's name, kept when it is shown again with an error.
    name: String,
    error: Option<String>,
}

/// `GET /admin/groups[?last=]` (system admins).
pub async fn list(req: HttpRequest) -> UiResult {
    page(&req, String::new(), None, StatusCode::OK).await
}

async fn page(
    req: &HttpRequest,
    name: String,
    error: Option<String>,
    status: StatusCode,
) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let q = Query::parse(req.query_string().as_bytes());
    let mut rows = auth
        .list_groups(&v.caller, q.get("last").unwrap_or(""), PAGE + 1)
        .await?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let page = GroupsPage {
        nav: v.nav(),
        next: more
            .then(|| rows.last().map(|(g, _)| g.name.clone()))
            .flatten(),
        groups: rows
            .into_iter()
            .map(|(g, members)| GroupItem {
                name: g.name,
                external_dn: g.external_dn,
                members,
            })
            .collect(),
        name,
        error,
    };
    Ok(render(status, &page))
}

/// Shows the list again with a refusal a person can act on; anything else is an error page.
async fn refused(req: &HttpRequest, name: String, e: berth_auth::Error) -> UiResult {
    let Some(status) = fixable(&e) else {
        return Err(e.into());
    };
    page(req, name, Some(e.to_string()), status).await
}

/// `POST /admin/groups` (`name`, `csrf`): a new local group.
pub async fn create(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let name = q.get("name").unwrap_or("").trim().to_owned();
    match auth.create_group(&v.caller, &name).await {
        Ok(_) => Ok(redirect("/admin/groups")),
        Err(e) => refused(&req, name, e).await,
    }
}

/// `POST /admin/groups/members` (`group`, `user`, `action`: `add` or `remove`; `csrf`).
pub async fn members(req: HttpRequest, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let q = Query::parse(&body);
    v.check_form(&req, &q)?;
    let group = q.get("group").unwrap_or("");
    let user = q.get("user").unwrap_or("").trim();
    let result = match q.get("action") {
        Some("add") => auth.add_group_member(&v.caller, group, user).await,
        Some("remove") => auth.remove_group_member(&v.caller, group, user).await,
        _ => Err(berth_auth::Error::invalid("action", "unknown action")),
    };
    match result {
        Ok(()) => Ok(redirect("/admin/groups")),
        Err(e) => refused(&req, String::new(), e).await,
    }
}
