//! `/api/v1/orgs/{org}/robots`: robot accounts; the secret appears once, in the answer to
//! the create.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::NewRobotSpec;
use berth_auth::{now_ms, Auth};
use berth_core::RobotRule;
use berth_edge::{caller, parse_rfc3339};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::model::{self, Robot, RobotRuleDoc};
use crate::{ApiError, ApiResult};

/// A new robot account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRobot {
    /// The part after `<org>+`.
    name: String,
    description: Option<String>,
    /// At least one rule, each with at least one action.
    #[schema(value_type = Vec<RobotRuleDoc>)]
    permissions: Vec<RobotRule>,
    /// Days until expiry; absent or 0: never.
    expires_in_days: Option<u32>,
    /// Absolute expiry, RFC 3339 (wins over `expires_in_days`).
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// Create a robot account (org admin, maintainer). The secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/robots", tag = "robots", request_body = NewRobot,
    params(("org" = String, Path, description = "organization")),
    responses((status = 201, description = "Created, with its secret", body = Robot)))]
pub async fn create_robot(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    body: web::Json<NewRobot>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let b = body.into_inner();
    let expires_at = match (b.expires_at, b.expires_in_days) {
        (Some(t), _) => Some(parse_rfc3339(&t).ok_or_else(|| {
            ApiError::invalid(
                "expires_at",
                "expires_at must be an RFC 3339 time, e.g. 2027-01-31T00:00:00Z",
            )
        })?),
        (None, Some(d)) if d > 0 => Some(now_ms() + i64::from(d) * 86_400_000),
        _ => None,
    };
    let spec = NewRobotSpec {
        name: b.name,
        description: b.description,
        permissions: b.permissions,
        expires_at,
    };
    let created = auth.create_robot(&c, &org, &spec).await?;
    let mut v = Robot::from(&created.robot);
    v.secret = Some(created.secret);
    Ok(HttpResponse::Created().json(v))
}

/// List robot accounts (developers and up; not for guests).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/robots", tag = "robots",
    params(("org" = String, Path, description = "organization")),
    responses((status = 200, description = "The org's robots", body = Vec<Robot>)))]
pub async fn list_robots(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let robots = auth.list_robots(&c, &org).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, Robot>(&robots)))
}

/// Revoke a robot account (org admin, maintainer).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/robots/{name}", tag = "robots",
    params(("org" = String, Path, description = "organization"),
           ("name" = String, Path, description = "robot name, with or without <org>+")),
    responses((status = 204, description = "Revoked")))]
pub async fn delete_robot(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (org, name) = path.into_inner();
    let c = caller(&auth, &req).await?;
    auth.delete_robot(&c, &org, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
