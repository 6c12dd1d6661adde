//! An organization's members: the list, adding a user or a group with a role, changing a
//! role, removing a member, and what each of the five roles may do (read from the one role
//! table in `berth-core`, so the page cannot drift from the decision).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use askama::Template;
use berth_auth::manage::Member;
use berth_core::{MemberKind, Permission, Role};
use berth_edge::Query;

use crate::page::{redirect, render, Nav, UiResult};
use crate::visitor::{services, Visitor};

/// A member as the list shows it.
pub struct MemberItem {
    pub kind: String,
    pub name: String,
    pub role: String,
}

/// One line of the roles table: a permission and which roles hold it.
pub struct RoleLine {
    pub what: &'static str,
    pub held: Vec<bool>,
}

/// The add form as sent, kept when it is shown again with an error.
#[derive(Default)]
struct NewMember {
    kind: String,
    name: String,
    role: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    nav: Nav,
    org: String,
    /// Whether the visitor may change the members (the forms are shown only then).
    manage: bool,
    members: Vec<MemberItem>,
    roles: Vec<&'static str>,
    lines: Vec<RoleLine>,
    form: NewMember,
}

fn role_lines() -> Vec<RoleLine> {
    Permission::ALL
        .iter()
        .map(|p| RoleLine {
            what: p.description(),
            held: Role::ALL.iter().map(|r| r.can(*p)).collect(),
        })
        .collect()
}

/// `GET /orgs/{org}/members` (those who may read the members).
pub async fn list(req: HttpRequest, org: web::Path<String>) -> UiResult {
    page(&req, &org, NewMember::default(), StatusCode::OK).await
}

async fn page(req: &HttpRequest, org: &str, form: NewMember, status: StatusCode) -> UiResult {
    let (auth, _) = services(req)?;
    let v = Visitor::of(req).await?;
    let rows = auth.list_members(&v.caller, org).await?;
    let manage = auth
        .org_access(&v.caller, org, Permission::ManageMembers)
        .await
        .is_ok();
    let page = MembersPage {
        nav: v.nav(),
        org: org.to_owned(),
        manage,
        members: rows
            .into_iter()
            .map(|m| MemberItem {
                kind: m.kind,
                name: m.name,
                role: m.role,
            })
            .collect(),
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        lines: role_lines(),
        form,
    };
    Ok(render(status, &page))
}

/// `POST /orgs/{org}/members` (`kind`, `name`, `role`, `csrf`): adds the member or changes its
/// role; a refused one shows the page again with the error and the input kept.
pub async fn set(req: HttpRequest, org: web::Path<String>, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    let kind = form.get("kind").unwrap_or("user").to_owned();
    let name = form.get("name").unwrap_or("").trim().to_owned();
    let role = form.get("role").unwrap_or("").to_owned();
    let parsed = MemberKind::parse(&kind)
        .ok_or_else(|| berth_auth::Error::invalid("kind", "a member is a user or a group"))
        .and_then(|k| {
            let r = Role::parse(&role)
                .map_err(|e| berth_auth::Error::invalid("role", e.to_string()))?;
            Ok(Member {
                kind: k,
                name: name.clone(),
                role: r,
            })
        });
    let result = match parsed {
        Ok(m) => auth.set_member(&v.caller, &org, &m).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => Ok(redirect(&format!("/orgs/{org}/members"))),
        Err(
            e @ (berth_auth::Error::Invalid { .. }
            | berth_auth::Error::NotFound("user" | "group")
            | berth_auth::Error::Conflict(_)),
        ) => {
            let status = match e {
                berth_auth::Error::NotFound(_) => StatusCode::NOT_FOUND,
                berth_auth::Error::Conflict(_) => StatusCode::CONFLICT,
                _ => StatusCode::BAD_REQUEST,
            };
            let error = Some(e.to_string());
            let form = NewMember {
                kind,
                name,
                role,
                error,
            };
            page(&req, &org, form, status).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /orgs/{org}/members/remove` (`kind`, `name`, `csrf`).
pub async fn remove(req: HttpRequest, org: web::Path<String>, body: web::Bytes) -> UiResult {
    let (auth, _) = services(&req)?;
    let v = Visitor::of(&req).await?;
    let form = Query::parse(&body);
    v.check_form(&req, &form)?;
    let kind = MemberKind::parse(form.get("kind").unwrap_or(""))
        .ok_or_else(|| berth_auth::Error::invalid("kind", "a member is a user or a group"))?;
    let name = form.get("name").unwrap_or("");
    auth.remove_member(&v.caller, &org, kind, name).await?;
    Ok(redirect(&format!("/orgs/{org}/members")))
}
