//! `/api/v1/users`: accounts and passwords.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::{NewAccount, UserChanges};
use berth_auth::Auth;
use berth_edge::{caller, Page};
use serde::Deserialize;

use crate::{json, ApiResult};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    name: String,
    password: String,
    email: Option<String>,
    #[serde(default)]
    admin: bool,
}

pub async fn create_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewUserBody>,
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
    Ok(HttpResponse::Created().json(json::user(&u)))
}

pub async fn list_users(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Page>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let users = auth.list_users(&c, q.after(), q.limit()).await?;
    Ok(HttpResponse::Ok().json(users.iter().map(json::user).collect::<Vec<_>>()))
}

pub async fn get_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let u = auth.user(&c, &name).await?;
    Ok(HttpResponse::Ok().json(json::user(&u)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    email: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

pub async fn patch_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
    body: web::Json<UserPatchBody>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let b = body.into_inner();
    let changes = UserChanges {
        email: b.email,
        admin: b.admin,
        disabled: b.disabled,
    };
    let u = auth.update_user(&c, &name, &changes).await?;
    Ok(HttpResponse::Ok().json(json::user(&u)))
}

pub async fn delete_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.delete_user(&c, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
    old_password: Option<String>,
}

pub async fn set_password(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
    body: web::Json<PasswordBody>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.set_password(&c, &name, &body.password, body.old_password.as_deref())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
