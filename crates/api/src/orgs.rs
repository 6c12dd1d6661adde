//! `/api/v1/orgs`: organizations and their members.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::{Member, OrgChanges};
use berth_auth::Auth;
use berth_core::{MemberKind, Role};
use berth_edge::{caller, Page};
use serde::Deserialize;
use serde_json::json;

use crate::{json, ApiError, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrgBody {
    name: String,
    #[serde(default)]
    public: bool,
}

pub async fn create_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewOrgBody>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let org = auth.create_org(&c, &body.name, body.public).await?;
    Ok(HttpResponse::Created().json(json::org(&org)))
}

pub async fn list_orgs(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Page>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let orgs = auth.list_orgs(&c, q.after(), q.limit()).await?;
    Ok(HttpResponse::Ok().json(orgs.iter().map(json::org).collect::<Vec<_>>()))
}

pub async fn get_org(req: HttpRequest, auth: web::Data<Auth>, org: web::Path<String>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let d = auth.org(&c, &org).await?;
    let mut v = json::org(&d.org);
    v["repository_count"] = json!(d.repository_count);
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrgPatchBody {
    public: Option<bool>,
}

pub async fn patch_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    body: web::Json<OrgPatchBody>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let changes = OrgChanges {
        public: body.public,
    };
    let row = auth.update_org(&c, &org, &changes).await?;
    Ok(HttpResponse::Ok().json(json::org(&row)))
}

pub async fn delete_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.delete_org(&c, &org).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn list_members(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let members = auth.list_members(&c, &org).await?;
    Ok(HttpResponse::Ok().json(members.iter().map(json::member).collect::<Vec<_>>()))
}

fn member_kind(kind: &str) -> Result<MemberKind, ApiError> {
    MemberKind::parse(kind).ok_or_else(|| ApiError::not_found("member kind (use user or group)"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    role: String,
}

pub async fn put_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String, String)>,
    body: web::Json<RoleBody>,
) -> ApiResult {
    let (org, kind, name) = path.into_inner();
    let c = caller(&auth, &req).await?;
    let member = Member {
        kind: member_kind(&kind)?,
        name,
        role: Role::parse(&body.role).map_err(|e| ApiError::invalid("role", e.to_string()))?,
    };
    auth.set_member(&c, &org, &member).await?;
    Ok(HttpResponse::Ok().json(
        json!({"kind": member.kind.as_str(), "name": member.name, "role": member.role.as_str()}),
    ))
}

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
