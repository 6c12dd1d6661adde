//! `/api/v1/groups`: local groups and their users.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::Auth;
use berth_edge::caller;
use serde::Deserialize;
use serde_json::json;

use crate::ApiResult;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewGroupBody {
    name: String,
}

pub async fn create_group(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewGroupBody>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let g = auth.create_group(&c, &body.name).await?;
    Ok(HttpResponse::Created().json(json!({"name": g.name, "members": []})))
}

pub async fn list_groups(req: HttpRequest, auth: web::Data<Auth>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let groups = auth.list_groups(&c).await?;
    Ok(HttpResponse::Ok().json(
        groups
            .iter()
            .map(|(g, m)| json!({"name": g.name, "external_dn": g.external_dn, "members": m}))
            .collect::<Vec<_>>(),
    ))
}

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
