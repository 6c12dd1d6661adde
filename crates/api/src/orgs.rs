//! `/api/v1/orgs`: organizations and their members.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::{Member as NewMember, OrgChanges};
use berth_auth::Auth;
use berth_core::{MemberKind, Role};
use berth_edge::{caller, Page};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::model::{self, Member, Org};
use crate::{ApiError, ApiResult};

/// A new organization.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    /// Validated as the registry validates names; not a user's name.
    name: String,
    #[serde(default)]
    public: bool,
}

/// Create an organization; the caller becomes its admin.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = NewOrg,
    responses((status = 201, description = "Created", body = Org)))]
pub async fn create_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewOrg>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let org = auth.create_org(&c, &body.name, body.public).await?;
    Ok(HttpResponse::Created().json(Org::from(&org)))
}

/// List the organizations the caller can see (public ones, and those they are a member of).
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", security((), ("basic" = []), ("bearer" = [])),
    params(("last" = Option<String>, Query, description = "the last name of the previous page"),
           ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)"),
           ("q" = Option<String>, Query, description = "only orgs whose name contains this text")),
    responses((status = 200, description = "Orgs in name order", body = Vec<Org>)))]
pub async fn list_orgs(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Page>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let orgs = auth.list_orgs(&c, q.after(), q.limit(), q.search()).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, Org>(&orgs)))
}

/// Get an organization, with its repository count.
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "orgs", security((), ("basic" = []), ("bearer" = [])),
    params(("org" = String, Path, description = "organization")),
    responses((status = 200, description = "The org", body = Org)))]
pub async fn get_org(req: HttpRequest, auth: web::Data<Auth>, org: web::Path<String>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let d = auth.org(&c, &org).await?;
    let mut v = Org::from(&d.org);
    v.repository_count = Some(d.repository_count);
    Ok(HttpResponse::Ok().json(v))
}

/// Changes to an org's settings; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgPatch {
    public: Option<bool>,
    /// Plain text, at most 4096 bytes; empty clears it.
    description: Option<String>,
}

/// Change an organization's settings (org admin).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "orgs", request_body = OrgPatch,
    params(("org" = String, Path, description = "organization")),
    responses((status = 200, description = "The changed org", body = Org)))]
pub async fn patch_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    body: web::Json<OrgPatch>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let body = body.into_inner();
    let changes = OrgChanges {
        public: body.public,
        description: body.description,
    };
    let row = auth.update_org(&c, &org, &changes).await?;
    Ok(HttpResponse::Ok().json(Org::from(&row)))
}

/// Delete an empty organization with its members and robots (org admin).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}", tag = "orgs",
    params(("org" = String, Path, description = "organization")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.delete_org(&c, &org).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List members (developers and up; not for guests).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "organization")),
    responses((status = 200, description = "Users and groups with their roles", body = Vec<Member>)))]
pub async fn list_members(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let members = auth.list_members(&c, &org).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, Member>(&members)))
}

fn member_kind(kind: &str) -> Result<MemberKind, ApiError> {
    MemberKind::parse(kind).ok_or_else(|| ApiError::not_found("member kind (use user or group)"))
}

/// A member's role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// `admin`, `maintainer`, `developer`, `guest` or `limited-guest`.
    role: String,
}

/// Add a member or change its role (org admin). Groups are created on first use.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/members/{kind}/{name}", tag = "members", request_body = RoleBody,
    params(("org" = String, Path, description = "organization"),
           ("kind" = String, Path, description = "user or group"),
           ("name" = String, Path, description = "user or group name; with a directory configured, a directory group by name or DN (mirrored as a Berth group)")),
    responses((status = 200, description = "The member", body = Member)))]
pub async fn put_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String, String)>,
    body: web::Json<RoleBody>,
) -> ApiResult {
    let (org, kind, name) = path.into_inner();
    let c = caller(&auth, &req).await?;
    let member = NewMember {
        kind: member_kind(&kind)?,
        name,
        role: Role::parse(&body.role).map_err(|e| ApiError::invalid("role", e.to_string()))?,
    };
    auth.set_member(&c, &org, &member).await?;
    Ok(HttpResponse::Ok().json(Member {
        kind: member.kind.as_str().into(),
        name: member.name,
        role: member.role.as_str().into(),
        created_at: None,
    }))
}

/// Remove a member (org admin).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{kind}/{name}", tag = "members",
    params(("org" = String, Path, description = "organization"),
           ("kind" = String, Path, description = "user or group"),
           ("name" = String, Path, description = "user or group name")),
    responses((status = 204, description = "Removed")))]
pub async fn delete_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String, String)>,
) -> ApiResult {
    let (org, kind, name) = path.into_inner();
    let c = caller(&auth, &req).await?;
    auth.remove_member(&c, &org, member_kind(&kind)?, &name)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
