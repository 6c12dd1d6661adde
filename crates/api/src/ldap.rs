//! `/api/v1/ldap/…`: the directory for administrators — test the settings, search users and
//! groups (to add them as org members). System admins only.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::manage::DirectoryTest;
use berth_auth::Auth;
use berth_edge::caller;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiResult;

/// A settings test: where it connected and what it read, or why it failed.
#[derive(Serialize, ToSchema)]
pub struct LdapPing {
    /// Whether the directory answered as configured.
    pub ok: bool,
    /// The URL that answered.
    pub url: Option<String>,
    /// The search account it bound as (empty: anonymous).
    pub bound_as: Option<String>,
    /// The base DNs it read.
    pub bases: Vec<String>,
    /// Why it failed (ok false).
    pub error: Option<String>,
}

/// A directory user.
#[derive(Serialize, ToSchema)]
pub struct LdapUser {
    /// The Berth user name this entry signs in as.
    pub name: String,
    pub dn: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

/// A directory group.
#[derive(Serialize, ToSchema)]
pub struct LdapGroup {
    /// Its name (the group name attribute); members pages accept it or the DN.
    pub name: String,
    pub dn: String,
}

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
    n: Option<usize>,
}

/// Test the directory settings: connect (with failover), bind as the search account, read the
/// base DNs (system admins).
#[utoipa::path(post, path = "/api/v1/ldap/ping", tag = "ldap",
    responses((status = 200, description = "The test's answer (ok or the reason it failed)", body = LdapPing)))]
pub async fn ping(req: HttpRequest, auth: web::Data<Auth>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let answer = match auth.test_directory(&c).await? {
        DirectoryTest::Ok(r) => LdapPing {
            ok: true,
            url: Some(r.url),
            bound_as: Some(r.bound_as),
            bases: r.bases,
            error: None,
        },
        DirectoryTest::Failed(why) => LdapPing {
            ok: false,
            url: None,
            bound_as: None,
            bases: Vec::new(),
            error: Some(why),
        },
    };
    Ok(HttpResponse::Ok().json(answer))
}

/// Directory users whose login name, display name or mail contains `q` (system admins).
#[utoipa::path(get, path = "/api/v1/ldap/users", tag = "ldap",
    params(("q" = String, Query, description = "a part of the name, display name or mail (at most 128 characters)"),
           ("n" = Option<usize>, Query, description = "at most this many, 1 to 100 (20)")),
    responses((status = 200, description = "Matching users", body = Vec<LdapUser>)))]
pub async fn users(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Search>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let hits = auth
        .search_directory_users(&c, &q.q, q.n.unwrap_or(20))
        .await?;
    let out: Vec<LdapUser> = hits
        .into_iter()
        .map(|h| LdapUser {
            name: h.name,
            dn: h.dn,
            display_name: h.display_name,
            email: h.mail,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Directory groups whose name contains `q` (system admins).
#[utoipa::path(get, path = "/api/v1/ldap/groups", tag = "ldap",
    params(("q" = String, Query, description = "a part of the group name (at most 128 characters)"),
           ("n" = Option<usize>, Query, description = "at most this many, 1 to 100 (20)")),
    responses((status = 200, description = "Matching groups", body = Vec<LdapGroup>)))]
pub async fn groups(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Search>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let hits = auth
        .search_directory_groups(&c, &q.q, q.n.unwrap_or(20))
        .await?;
    let out: Vec<LdapGroup> = hits
        .into_iter()
        .map(|g| LdapGroup {
            name: g.name,
            dn: g.dn,
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}
