//! `/api/v1/users`: accounts and passwords.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::{NewAccount, UserChanges};
use berth_auth::Auth;
use berth_edge::{caller, Page};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::model::{self, User};
use crate::ApiResult;

/// A new local account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Lowercase letters, digits and separators (`.`, `_`, `__`, `-`), at most 64.
    name: String,
    /// 8 to 256 characters.
    password: String,
    email: Option<String>,
    #[serde(default)]
    admin: bool,
}

/// Create a local user (system admins). Also creates the user's personal org.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = NewUser,
    responses((status = 201, description = "Created", body = User)))]
pub async fn create_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewUser>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let b = body.into_inner();
    let new = NewAccount {
        name: b.name,
        password: b.password,
        email: b.email,
        admin: b.admin,
    };
    let u = auth.create_user(&c, &new).await?;
    Ok(HttpResponse::Created().json(User::from(&u)))
}

/// List users (system admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    params(("last" = Option<String>, Query, description = "the last name of the previous page"),
           ("n" = Option<i64>, Query, description = "page size, 1 to 1000 (100)")),
    responses((status = 200, description = "Users in name order", body = Vec<User>)))]
pub async fn list_users(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Page>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let users = auth.list_users(&c, q.after(), q.limit()).await?;
    Ok(HttpResponse::Ok().json(model::all::<_, User>(&users)))
}

/// Get a user (system admins, or the user).
#[utoipa::path(get, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, description = "The user", body = User)))]
pub async fn get_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let u = auth.user(&c, &name).await?;
    Ok(HttpResponse::Ok().json(User::from(&u)))
}

/// Changes to a user; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    email: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

/// Change a user: email (self or admin); admin, disabled (system admins). Disabling revokes
/// the user's refresh tokens.
#[utoipa::path(patch, path = "/api/v1/users/{name}", tag = "users", request_body = UserPatch,
    params(("name" = String, Path, description = "user name")),
    responses((status = 200, description = "The changed user", body = User)))]
pub async fn patch_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
    body: web::Json<UserPatch>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let b = body.into_inner();
    let changes = UserChanges {
        email: b.email,
        admin: b.admin,
        disabled: b.disabled,
    };
    let u = auth.update_user(&c, &name, &changes).await?;
    Ok(HttpResponse::Ok().json(User::from(&u)))
}

/// Delete a user (system admins; never the last one).
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "users",
    params(("name" = String, Path, description = "user name")),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.delete_user(&c, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A new password; one's own needs the old one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Password {
    password: String,
    old_password: Option<String>,
}

/// Set a password (system admins, or the user with old_password). Revokes the user's refresh
/// tokens.
#[utoipa::path(put, path = "/api/v1/users/{name}/password", tag = "users", request_body = Password,
    params(("name" = String, Path, description = "user name")),
    responses((status = 204, description = "Set")))]
pub async fn set_password(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
    body: web::Json<Password>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.set_password(&c, &name, &body.password, body.old_password.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
