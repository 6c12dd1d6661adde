//! `/api/v1/groups`: local groups and their users.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::Auth;
use berth_edge::{caller, Page};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::model::{self, Group};
use crate::ApiResult;

/// A new group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// 1 to 256 characters, without `/` or control characters.
    name: String,
}

/// Create a local group (system admins); groups can be org members.
#[utoipa::path(post, path = "/api/v1/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, description = "Created", body = Group)))]
pub async fn create_group(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewGroup>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let g = auth.create_group(&c, &body.name).await?;
    Ok(HttpResponse::Created().json(Group::from(&(g, Vec::new()))))
}

/// List groups with their members (system admins), a page at a time.
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups",
    params(("last" = Option<String>, Query, description = "the last name of the previous page"),
           ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)")),
    responses((status = 200, description = "Groups in name order", body = Vec<Group>)))]
pub async fn list_groups(
    req: HttpRequest,
    auth: web::Data<Auth>,
    q: web::Query<Page>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let groups = auth.list_groups(&c, q.after(), q.limit()).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, Group>(&groups)))
}

/// Add a user to a group (system admins).
#[utoipa::path(put, path = "/api/v1/groups/{name}/members/{user}", tag = "groups",
    params(("name" = String, Path, description = "group"), ("user" = String, Path, description = "user name")),
    responses((status = 204, description = "Added")))]
pub async fn put_group_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (group, user) = path.into_inner();
    let c = caller(&auth, &req).await?;
    auth.add_group_member(&c, &group, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Remove a user from a group (system admins).
#[utoipa::path(delete, path = "/api/v1/groups/{name}/members/{user}", tag = "groups",
    params(("name" = String, Path, description = "group"), ("user" = String, Path, description = "user name")),
    responses((status = 204, description = "Removed")))]
pub async fn delete_group_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (group, user) = path.into_inner();
    let c = caller(&auth, &req).await?;
    auth.remove_group_member(&c, &group, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}
