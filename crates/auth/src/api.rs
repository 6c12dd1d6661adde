//! The management API under `/api/v1`: users, orgs, members, robots, the audit log, and the
//! OpenAPI document that describes them (`/api/v1/openapi.json`).
//!
//! Callers authenticate with HTTP Basic credentials or a bearer access token of this service.
//! Errors are JSON `{"error": {"code", "message"}}` with a stable `code`: `UNAUTHORIZED`,
//! `FORBIDDEN`, `NOT_FOUND`, `CONFLICT`, `INVALID`, `TOO_MANY_REQUESTS`, `UNAVAILABLE`,
//! `INTERNAL`. An org the caller may not see answers 404, as if it did not exist.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use berth_core::{Permission, RepoName, RobotRule, Role, UserName};
use berth_meta::{AuditQuery, MetaError, NewRobot, NewUser, OrgRow, UserPatch, UserRow};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::http::{credentials, source, Credentials};
use crate::{now_ms, password, secret_hash, Auth, AuthError, Principal};

const OPENAPI: &str = include_str!("openapi.json");

/// Mounts `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(
                web::JsonConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|e, _| {
                        let msg = e.to_string();
                        actix_web::error::InternalError::from_response(
                            e,
                            ApiError::new(StatusCode::BAD_REQUEST, "INVALID", msg).response(),
                        )
                        .into()
                    }),
            )
            .route("/openapi.json", web::get().to(openapi))
            .route("/users", web::post().to(create_user))
            .route("/users", web::get().to(list_users))
            .route("/users/{name}", web::get().to(get_user))
            .route("/users/{name}", web::patch().to(patch_user))
            .route("/users/{name}", web::delete().to(delete_user))
            .route("/users/{name}/password", web::put().to(set_password))
            .route("/groups", web::post().to(create_group))
            .route("/groups", web::get().to(list_groups))
            .route(
                "/groups/{name}/members/{user}",
                web::put().to(put_group_member),
            )
            .route(
                "/groups/{name}/members/{user}",
                web::delete().to(delete_group_member),
            )
            .route("/orgs", web::post().to(create_org))
            .route("/orgs", web::get().to(list_orgs))
            .route("/orgs/{org}", web::get().to(get_org))
            .route("/orgs/{org}", web::patch().to(patch_org))
            .route("/orgs/{org}", web::delete().to(delete_org))
            .route("/orgs/{org}/members", web::get().to(list_members))
            .route(
                "/orgs/{org}/members/{kind}/{name}",
                web::put().to(put_member),
            )
            .route(
                "/orgs/{org}/members/{kind}/{name}",
                web::delete().to(delete_member),
            )
            .route("/orgs/{org}/robots", web::post().to(create_robot))
            .route("/orgs/{org}/robots", web::get().to(list_robots))
            .route("/orgs/{org}/robots/{name}", web::delete().to(delete_robot))
            .route("/orgs/{org}/repositories", web::get().to(org_repositories))
            .route("/repositories/{tail:.+}", web::get().to(repo_get))
            .route("/repositories/{tail:.+}", web::patch().to(repo_patch))
            .route("/repositories/{tail:.+}", web::delete().to(repo_delete))
            .route("/audit-log", web::get().to(audit_log))
            .default_service(web::to(|| async {
                ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint").response()
            })),
    );
}

/// An API failure with its stable code.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }
    fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found"),
        )
    }
    fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "you are not allowed to do this",
        )
    }
    fn invalid(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID", m)
    }
    fn conflict(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "CONFLICT", m)
    }
    fn response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header(("WWW-Authenticate", "Basic realm=\"berth\""));
        }
        if let Some(s) = self.retry_after {
            r.insert_header(("Retry-After", s.to_string()));
        }
        r.json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

impl From<MetaError> for ApiError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Unavailable(_) | MetaError::Timeout(_) => {
                let mut a = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "UNAVAILABLE",
                    "the metadata database is unavailable",
                );
                a.retry_after = Some(5);
                a
            }
            MetaError::Conflict => ApiError::conflict("already exists"),
            other => {
                tracing::error!(error = %other, "management API failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "internal error",
                )
            }
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::BadCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "invalid or missing credentials",
            ),
            AuthError::RateLimited(s) => {
                let mut a = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_REQUESTS",
                    format!("too many failed logins; retry in {s} s"),
                );
                a.retry_after = Some(s);
                a
            }
            AuthError::Meta(m) => m.into(),
            AuthError::Internal(m) => {
                tracing::error!(error = %m, "management API failure");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "INTERNAL",
                    "internal error",
                )
            }
        }
    }
}

type ApiResult = Result<HttpResponse, ApiError>;

/// The authenticated caller; anonymous callers get 401 here (the API has no public part
/// beyond the OpenAPI document and public orgs, which `caller_or_anonymous` serves).
async fn caller(auth: &Auth, req: &HttpRequest) -> Result<Principal, ApiError> {
    match caller_or_anonymous(auth, req).await? {
        Principal::Anonymous => Err(AuthError::BadCredentials.into()),
        p => Ok(p),
    }
}

async fn caller_or_anonymous(auth: &Auth, req: &HttpRequest) -> Result<Principal, ApiError> {
    match credentials(req).map_err(|_| ApiError::from(AuthError::BadCredentials))? {
        None => Ok(Principal::Anonymous),
        Some(Credentials::Basic(u, p)) => Ok(auth.login_basic(&u, &p, source(req)).await?),
        Some(Credentials::Bearer(t)) => {
            let claims = auth
                .verify_access(&t)
                .await
                .map_err(|_| ApiError::from(AuthError::BadCredentials))?;
            match auth.principal_of(&claims).await? {
                Principal::Anonymous if !claims.sub.is_empty() => {
                    Err(AuthError::BadCredentials.into())
                }
                p => Ok(p),
            }
        }
    }
}

fn require_admin(p: &Principal) -> Result<(), ApiError> {
    if p.is_admin() {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// The org and whether the caller holds `perm` in it. Orgs the caller cannot see are 404.
async fn org_access(
    auth: &Auth,
    p: &Principal,
    org: &str,
    perm: Permission,
) -> Result<OrgRow, ApiError> {
    let row = auth
        .meta
        .org_by_name(org)
        .await?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    if p.is_admin() {
        return Ok(row);
    }
    let role = match p {
        Principal::User(u) => auth.role_in(row.id, u.id).await?,
        _ => None,
    };
    let visible = row.public || role.is_some();
    if !visible {
        return Err(ApiError::not_found("organization"));
    }
    let allowed = match role {
        Some(r) => r.can(perm),
        // Anyone may read a public org's settings and repository list.
        None => perm == Permission::ReadOrg && row.public,
    };
    if allowed {
        Ok(row)
    } else {
        Err(ApiError::forbidden())
    }
}

fn user_json(u: &UserRow) -> Value {
    json!({
        "name": u.name,
        "email": u.email,
        "admin": u.admin,
        "disabled": u.disabled,
        "source": u.source,
        "created_at": u.created_at,
    })
}

fn org_json(o: &OrgRow) -> Value {
    json!({"name": o.name, "public": o.public, "owner": o.owner, "created_at": o.created_at})
}

async fn audit(
    auth: &Auth,
    req: &HttpRequest,
    p: &Principal,
    action: &str,
    resource: &str,
    org: Option<&str>,
) {
    auth.audit(p, action, resource, org, source(req), "ok")
        .await;
}

#[derive(Deserialize)]
struct Page {
    last: Option<String>,
    n: Option<i64>,
}

impl Page {
    fn limit(&self) -> i64 {
        self.n.unwrap_or(100).clamp(1, 1000)
    }
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(OPENAPI)
}

// ---- users ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    name: String,
    password: String,
    email: Option<String>,
    #[serde(default)]
    admin: bool,
}

fn check_password(p: &str) -> Result<(), ApiError> {
    if p.chars().count() < 8 || p.len() > 256 {
        return Err(ApiError::invalid(
            "passwords must be 8 to 256 characters long",
        ));
    }
    Ok(())
}

async fn create_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewUserBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    let name = UserName::parse(&body.name).map_err(|e| ApiError::invalid(e.to_string()))?;
    check_password(&body.password)?;
    if auth.meta.org_by_name(name.as_str()).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "an organization named {} exists; a user's personal namespace needs that name",
            name.as_str()
        )));
    }
    let hash = password::hash(body.password.clone())
        .await
        .map_err(AuthError::Internal)?;
    let u = auth
        .meta
        .create_user(&NewUser {
            name: name.as_str(),
            email: body.email.as_deref(),
            password_hash: Some(&hash),
            admin: body.admin,
            source: "local",
        })
        .await
        .map_err(|e| match e {
            MetaError::Conflict => ApiError::conflict(format!("user {} exists", name.as_str())),
            e => e.into(),
        })?;
    audit(
        &auth,
        &req,
        &p,
        "user.create",
        &format!("user:{}", u.name),
        None,
    )
    .await;
    Ok(HttpResponse::Created().json(user_json(&u)))
}

async fn list_users(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Page>) -> ApiResult {
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    let users = auth
        .meta
        .list_users(q.last.as_deref().unwrap_or(""), q.limit())
        .await?;
    Ok(HttpResponse::Ok().json(users.iter().map(user_json).collect::<Vec<_>>()))
}

fn self_or_admin(p: &Principal, name: &str) -> Result<(), ApiError> {
    match p {
        _ if p.is_admin() => Ok(()),
        Principal::User(u) if u.name == name => Ok(()),
        _ => Err(ApiError::forbidden()),
    }
}

async fn get_user(req: HttpRequest, auth: web::Data<Auth>, name: web::Path<String>) -> ApiResult {
    let p = caller(&auth, &req).await?;
    self_or_admin(&p, &name)?;
    let u = auth
        .meta
        .user_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(HttpResponse::Ok().json(user_json(&u)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatchBody {
    email: Option<String>,
    admin: Option<bool>,
    disabled: Option<bool>,
}

async fn patch_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
    body: web::Json<UserPatchBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    self_or_admin(&p, &name)?;
    if (body.admin.is_some() || body.disabled.is_some()) && !p.is_admin() {
        return Err(ApiError::forbidden());
    }
    let target = auth
        .meta
        .user_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let demotes_admin = target.admin
        && !target.disabled
        && (body.admin == Some(false) || body.disabled == Some(true));
    if demotes_admin && auth.meta.count_admins().await? <= 1 {
        return Err(ApiError::conflict(
            "the last system admin cannot be demoted or disabled",
        ));
    }
    let patch = UserPatch {
        email: body.email.clone().map(Some),
        admin: body.admin,
        disabled: body.disabled,
    };
    let u = auth
        .meta
        .update_user(&name, &patch)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    audit(
        &auth,
        &req,
        &p,
        "user.update",
        &format!("user:{}", u.name),
        None,
    )
    .await;
    Ok(HttpResponse::Ok().json(user_json(&u)))
}

async fn delete_user(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    let target = auth
        .meta
        .user_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    if target.admin && !target.disabled && auth.meta.count_admins().await? <= 1 {
        return Err(ApiError::conflict(
            "the last system admin cannot be deleted",
        ));
    }
    auth.meta.delete_user(&name).await?;
    audit(
        &auth,
        &req,
        &p,
        "user.delete",
        &format!("user:{name}"),
        None,
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    password: String,
    old_password: Option<String>,
}

async fn set_password(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
    body: web::Json<PasswordBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    self_or_admin(&p, &name)?;
    check_password(&body.password)?;
    // Changing one's own password takes the old one, even for admins.
    if let Principal::User(u) = &p {
        if u.name == *name {
            let old = body.old_password.clone().unwrap_or_default();
            if !password::verify(u.password_hash.clone(), old).await {
                return Err(ApiError::invalid("old_password does not match"));
            }
        }
    }
    let hash = password::hash(body.password.clone())
        .await
        .map_err(AuthError::Internal)?;
    if !auth.meta.set_password(&name, &hash).await? {
        return Err(ApiError::not_found("user"));
    }
    audit(
        &auth,
        &req,
        &p,
        "user.password",
        &format!("user:{name}"),
        None,
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

// ---- groups ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGroupBody {
    name: String,
}

fn check_group_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() || name.len() > 256 || name.chars().any(|c| c.is_control() || c == '/') {
        return Err(ApiError::invalid(
            "group names are 1 to 256 characters, without / or control characters",
        ));
    }
    Ok(())
}

async fn create_group(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewGroupBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    check_group_name(&body.name)?;
    if auth.meta.group_by_name(&body.name).await?.is_some() {
        return Err(ApiError::conflict(format!("group {} exists", body.name)));
    }
    let g = auth.meta.ensure_group(&body.name, None).await?;
    audit(
        &auth,
        &req,
        &p,
        "group.create",
        &format!("group:{}", g.name),
        None,
    )
    .await;
    Ok(HttpResponse::Created().json(json!({"name": g.name, "members": []})))
}

async fn list_groups(req: HttpRequest, auth: web::Data<Auth>) -> ApiResult {
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    let groups = auth.meta.list_groups().await?;
    Ok(HttpResponse::Ok().json(
        groups
            .iter()
            .map(|(g, m)| json!({"name": g.name, "external_dn": g.external_dn, "members": m}))
            .collect::<Vec<_>>(),
    ))
}

async fn group_and_user(auth: &Auth, group: &str, user: &str) -> Result<(i64, i64), ApiError> {
    let g = auth
        .meta
        .group_by_name(group)
        .await?
        .ok_or_else(|| ApiError::not_found("group"))?;
    let u = auth
        .meta
        .user_by_name(user)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok((g.id, u.id))
}

async fn put_group_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (group, user) = path.into_inner();
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    let (g, u) = group_and_user(&auth, &group, &user).await?;
    auth.meta.set_group_memberships(u, &[g], false).await?;
    audit(
        &auth,
        &req,
        &p,
        "group.member.add",
        &format!("group:{group}+user:{user}"),
        None,
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

async fn delete_group_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (group, user) = path.into_inner();
    let p = caller(&auth, &req).await?;
    require_admin(&p)?;
    let (g, u) = group_and_user(&auth, &group, &user).await?;
    if !auth.meta.remove_group_member(g, u).await? {
        return Err(ApiError::not_found("group member"));
    }
    audit(
        &auth,
        &req,
        &p,
        "group.member.remove",
        &format!("group:{group}+user:{user}"),
        None,
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

// ---- orgs ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrgBody {
    name: String,
    #[serde(default)]
    public: bool,
}

async fn create_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewOrgBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    let Principal::User(u) = &p else {
        return Err(ApiError::forbidden());
    };
    let name = UserName::parse(&body.name).map_err(|e| ApiError::invalid(e.to_string()))?;
    if auth.meta.user_by_name(name.as_str()).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "{} is a user's personal namespace",
            name.as_str()
        )));
    }
    let org = auth
        .meta
        .create_org(name.as_str(), body.public, Some(u.id))
        .await
        .map_err(|e| match e {
            MetaError::Conflict => {
                ApiError::conflict(format!("organization {} exists", name.as_str()))
            }
            e => e.into(),
        })?;
    audit(
        &auth,
        &req,
        &p,
        "org.create",
        &format!("org:{}", org.name),
        Some(&org.name),
    )
    .await;
    Ok(HttpResponse::Created().json(org_json(&org)))
}

async fn list_orgs(req: HttpRequest, auth: web::Data<Auth>, q: web::Query<Page>) -> ApiResult {
    let p = caller_or_anonymous(&auth, &req).await?;
    let visible_to = match &p {
        _ if p.is_admin() => None,
        Principal::User(u) => Some(u.id),
        _ => Some(-1),
    };
    let orgs = auth
        .meta
        .list_orgs(q.last.as_deref().unwrap_or(""), q.limit(), visible_to)
        .await?;
    Ok(HttpResponse::Ok().json(orgs.iter().map(org_json).collect::<Vec<_>>()))
}

async fn get_org(req: HttpRequest, auth: web::Data<Auth>, org: web::Path<String>) -> ApiResult {
    let p = caller_or_anonymous(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ReadOrg).await?;
    let mut v = org_json(&row);
    v["repository_count"] = json!(auth.meta.org_repo_count(&row.name).await?);
    Ok(HttpResponse::Ok().json(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgPatchBody {
    public: Option<bool>,
}

async fn patch_org(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    body: web::Json<OrgPatchBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ManageOrg).await?;
    let row = match body.public {
        Some(public) => auth
            .meta
            .update_org(&row.name, public)
            .await?
            .ok_or_else(|| ApiError::not_found("organization"))?,
        None => row,
    };
    audit(
        &auth,
        &req,
        &p,
        "org.update",
        &format!("org:{}", row.name),
        Some(&row.name),
    )
    .await;
    Ok(HttpResponse::Ok().json(org_json(&row)))
}

async fn delete_org(req: HttpRequest, auth: web::Data<Auth>, org: web::Path<String>) -> ApiResult {
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ManageOrg).await?;
    if auth.meta.org_repo_count(&row.name).await? > 0 {
        return Err(ApiError::conflict(
            "the organization still has repositories; delete them first",
        ));
    }
    auth.meta.delete_org(&row.name).await?;
    audit(
        &auth,
        &req,
        &p,
        "org.delete",
        &format!("org:{}", row.name),
        Some(&row.name),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

// ---- members ----

async fn list_members(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ReadMembers).await?;
    let members = auth.meta.list_members(row.id).await?;
    Ok(HttpResponse::Ok().json(
        members
            .iter()
            .map(|m| json!({"kind": m.kind, "name": m.name, "role": m.role, "created_at": m.created_at}))
            .collect::<Vec<_>>(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

/// The id of member `name` of `kind` (`user` or `group`; groups are created on first use).
async fn member_id(auth: &Auth, kind: &str, name: &str, create: bool) -> Result<i64, ApiError> {
    match kind {
        "user" => Ok(auth
            .meta
            .user_by_name(name)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))?
            .id),
        "group" => {
            check_group_name(name)?;
            if create {
                Ok(auth.meta.ensure_group(name, None).await?.id)
            } else {
                Ok(auth
                    .meta
                    .group_by_name(name)
                    .await?
                    .ok_or_else(|| ApiError::not_found("group"))?
                    .id)
            }
        }
        _ => Err(ApiError::not_found("member kind (use user or group)")),
    }
}

async fn put_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String, String)>,
    body: web::Json<RoleBody>,
) -> ApiResult {
    let (org, kind, name) = path.into_inner();
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ManageMembers).await?;
    let role = Role::parse(&body.role).map_err(|e| ApiError::invalid(e.to_string()))?;
    let id = member_id(&auth, &kind, &name, true).await?;
    auth.meta
        .set_member(row.id, &kind, id, role.as_str())
        .await?;
    audit(
        &auth,
        &req,
        &p,
        "org.member.set",
        &format!("{kind}:{name}={role}"),
        Some(&row.name),
    )
    .await;
    Ok(HttpResponse::Ok().json(json!({"kind": kind, "name": name, "role": role.as_str()})))
}

async fn delete_member(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String, String)>,
) -> ApiResult {
    let (org, kind, name) = path.into_inner();
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ManageMembers).await?;
    let id = member_id(&auth, &kind, &name, false).await?;
    if !auth.meta.remove_member(row.id, &kind, id).await? {
        return Err(ApiError::not_found("member"));
    }
    audit(
        &auth,
        &req,
        &p,
        "org.member.remove",
        &format!("{kind}:{name}"),
        Some(&row.name),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

// ---- robots ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRobotBody {
    name: String,
    description: Option<String>,
    permissions: Vec<RobotRule>,
    /// Days until expiry; absent or 0: never.
    expires_in_days: Option<u32>,
    /// Absolute expiry in ms since the epoch (wins over `expires_in_days`).
    expires_at: Option<i64>,
}

fn robot_json(r: &berth_meta::RobotRow) -> Value {
    let rules: Value = serde_json::from_str(&r.rules).unwrap_or(Value::Null);
    json!({
        "name": format!("{}+{}", r.org, r.name),
        "description": r.description,
        "permissions": rules,
        "expires_at": r.expires_at,
        "disabled": r.disabled,
        "created_by": r.created_by,
        "created_at": r.created_at,
    })
}

async fn create_robot(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    body: web::Json<NewRobotBody>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ManageRobots).await?;
    let name = UserName::parse(&body.name).map_err(|e| ApiError::invalid(e.to_string()))?;
    if body.permissions.is_empty() || body.permissions.iter().any(|r| r.actions.is_empty()) {
        return Err(ApiError::invalid(
            "permissions must list at least one {repositories, actions} with an action",
        ));
    }
    let expires_at = match (body.expires_at, body.expires_in_days) {
        (Some(t), _) => Some(t),
        (None, Some(d)) if d > 0 => Some(now_ms() + i64::from(d) * 86_400_000),
        _ => None,
    };
    let secret = crate::new_secret("");
    let rules =
        serde_json::to_string(&body.permissions).map_err(|e| ApiError::invalid(e.to_string()))?;
    let r = auth
        .meta
        .create_robot(&NewRobot {
            org: &row.name,
            name: name.as_str(),
            description: body.description.as_deref(),
            secret_hash: &secret_hash(&secret),
            rules: &rules,
            expires_at,
            created_by: Some(&p.actor()),
        })
        .await
        .map_err(|e| match e {
            MetaError::Conflict => ApiError::conflict(format!("robot {} exists", name.as_str())),
            e => e.into(),
        })?
        .ok_or_else(|| ApiError::not_found("organization"))?;
    audit(
        &auth,
        &req,
        &p,
        "robot.create",
        &format!("robot:{}+{}", r.org, r.name),
        Some(&row.name),
    )
    .await;
    let mut v = robot_json(&r);
    v["secret"] = json!(secret);
    Ok(HttpResponse::Created().json(v))
}

async fn list_robots(req: HttpRequest, auth: web::Data<Auth>, org: web::Path<String>) -> ApiResult {
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ReadRobots).await?;
    let robots = auth.meta.list_robots(&row.name).await?;
    Ok(HttpResponse::Ok().json(robots.iter().map(robot_json).collect::<Vec<_>>()))
}

async fn delete_robot(
    req: HttpRequest,
    auth: web::Data<Auth>,
    path: web::Path<(String, String)>,
) -> ApiResult {
    let (org, name) = path.into_inner();
    let p = caller(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ManageRobots).await?;
    // Accept both `name` and `org+name`.
    let short = name
        .strip_prefix(&format!("{}+", row.name))
        .unwrap_or(&name)
        .to_owned();
    if !auth.meta.delete_robot(&row.name, &short).await? {
        return Err(ApiError::not_found("robot"));
    }
    audit(
        &auth,
        &req,
        &p,
        "robot.delete",
        &format!("robot:{}+{short}", row.name),
        Some(&row.name),
    )
    .await;
    Ok(HttpResponse::NoContent().finish())
}

// ---- repositories ----

/// What a `/repositories/…` path names: `<name>`, `<name>/-/tags[/<tag>]` or
/// `<name>/-/manifests[/<digest>]` (`-` cannot be a name component, so this is unambiguous).
enum RepoPath {
    Repo(RepoName),
    Tags(RepoName, Option<String>),
    Manifests(RepoName, Option<String>),
}

fn repo_path(tail: &str) -> Result<RepoPath, ApiError> {
    let (name, rest) = match tail.split_once("/-/") {
        Some((n, r)) => (n, Some(r)),
        None => (tail, None),
    };
    let name = RepoName::parse(name.trim_end_matches('/'))
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    if !name.as_str().contains('/') {
        return Err(ApiError::not_found("repository (names are <org>/<path>)"));
    }
    let item = |r: &str| (!r.is_empty()).then(|| r.to_owned());
    match rest {
        None => Ok(RepoPath::Repo(name)),
        Some("tags") => Ok(RepoPath::Tags(name, None)),
        Some("manifests") => Ok(RepoPath::Manifests(name, None)),
        Some(r) => match r.split_once('/') {
            Some(("tags", t)) if !t.contains('/') => Ok(RepoPath::Tags(name, item(t))),
            Some(("manifests", d)) if !d.contains('/') => Ok(RepoPath::Manifests(name, item(d))),
            _ => Err(ApiError::not_found("endpoint")),
        },
    }
}

impl RepoPath {
    fn name(&self) -> &RepoName {
        match self {
            RepoPath::Repo(n) | RepoPath::Tags(n, _) | RepoPath::Manifests(n, _) => n,
        }
    }
}

fn repo_json(r: &berth_meta::RepoSummary) -> Value {
    json!({
        "name": r.name,
        "description": r.description,
        "tag_count": r.tag_count,
        "manifest_count": r.manifest_count,
        "size": r.size,
        "created_at": r.created_at,
    })
}

async fn org_repositories(
    req: HttpRequest,
    auth: web::Data<Auth>,
    org: web::Path<String>,
    q: web::Query<Page>,
) -> ApiResult {
    let p = caller_or_anonymous(&auth, &req).await?;
    let row = org_access(&auth, &p, &org, Permission::ReadOrg).await?;
    let repos = auth
        .meta
        .org_repos(&row.name, q.last.as_deref().unwrap_or(""), q.limit())
        .await?;
    Ok(HttpResponse::Ok().json(repos.iter().map(repo_json).collect::<Vec<_>>()))
}

async fn repo_get(req: HttpRequest, auth: web::Data<Auth>, tail: web::Path<String>) -> ApiResult {
    let path = repo_path(&tail)?;
    let name = path.name().clone();
    let p = caller_or_anonymous(&auth, &req).await?;
    org_access(&auth, &p, name.org(), Permission::ReadOrg).await?;
    let repo = auth
        .meta
        .repo_summary(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("repository"))?;
    match path {
        RepoPath::Repo(_) => Ok(HttpResponse::Ok().json(repo_json(&repo))),
        RepoPath::Tags(_, None) => {
            let tags = auth.meta.tag_rows(name.as_str()).await?;
            Ok(HttpResponse::Ok().json(
                tags.iter()
                    .map(|t| json!({"name": t.name, "digest": t.digest, "media_type": t.media_type, "size": t.size, "updated_at": t.updated_at}))
                    .collect::<Vec<_>>(),
            ))
        }
        RepoPath::Manifests(_, None) => {
            let ms = auth.meta.manifest_rows(name.as_str()).await?;
            Ok(HttpResponse::Ok().json(
                ms.iter()
                    .map(|m| json!({"digest": m.digest, "media_type": m.media_type, "artifact_type": m.artifact_type, "subject": m.subject, "size": m.size, "created_at": m.created_at, "tags": m.tags}))
                    .collect::<Vec<_>>(),
            ))
        }
        _ => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "INVALID",
            "read single tags and manifests through /v2",
        )),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RepoPatchBody {
    description: Option<String>,
}

async fn repo_patch(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
    body: web::Json<RepoPatchBody>,
) -> ApiResult {
    let RepoPath::Repo(name) = repo_path(&tail)? else {
        return Err(ApiError::not_found("endpoint"));
    };
    let p = caller(&auth, &req).await?;
    org_access(&auth, &p, name.org(), Permission::Delete).await?;
    if let Some(d) = &body.description {
        if d.len() > 64 * 1024 {
            return Err(ApiError::invalid("description is longer than 64 KiB"));
        }
        if !auth.meta.set_repo_description(name.as_str(), d).await? {
            return Err(ApiError::not_found("repository"));
        }
    }
    let repo = auth
        .meta
        .repo_summary(name.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("repository"))?;
    audit(
        &auth,
        &req,
        &p,
        "repository.update",
        name.as_str(),
        Some(name.org()),
    )
    .await;
    Ok(HttpResponse::Ok().json(repo_json(&repo)))
}

async fn repo_delete(
    req: HttpRequest,
    auth: web::Data<Auth>,
    tail: web::Path<String>,
) -> ApiResult {
    let path = repo_path(&tail)?;
    let name = path.name().clone();
    let p = caller(&auth, &req).await?;
    org_access(&auth, &p, name.org(), Permission::Delete).await?;
    let (found, action, resource) = match &path {
        RepoPath::Repo(_) => (
            auth.meta.delete_repo(name.as_str()).await?,
            "repository.delete",
            name.to_string(),
        ),
        RepoPath::Tags(_, Some(tag)) => (
            auth.meta.delete_tag(name.as_str(), tag).await?,
            "delete",
            format!("{name}:{tag}"),
        ),
        RepoPath::Manifests(_, Some(d)) => {
            let d = berth_core::Digest::parse(d).map_err(|e| ApiError::invalid(e.to_string()))?;
            (
                auth.meta
                    .delete_manifest(name.as_str(), &d.to_string())
                    .await?,
                "delete",
                format!("{name}@{d}"),
            )
        }
        _ => return Err(ApiError::not_found("endpoint")),
    };
    if !found {
        return Err(ApiError::not_found("repository, tag or manifest"));
    }
    audit(&auth, &req, &p, action, &resource, Some(name.org())).await;
    Ok(HttpResponse::NoContent().finish())
}

// ---- audit log ----

#[derive(Deserialize)]
struct AuditParams {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    before: Option<i64>,
    n: Option<i64>,
}

async fn audit_log(
    req: HttpRequest,
    auth: web::Data<Auth>,
    q: web::Query<AuditParams>,
) -> ApiResult {
    let p = caller(&auth, &req).await?;
    match &q.org {
        Some(org) => {
            org_access(&auth, &p, org, Permission::ReadLogs).await?;
        }
        None => require_admin(&p)?,
    }
    let events = auth
        .meta
        .list_audit(&AuditQuery {
            org: q.org.clone(),
            actor: q.actor.clone(),
            action: q.action.clone(),
            before: q.before,
            limit: q.n.unwrap_or(100).clamp(1, 1000),
        })
        .await?;
    Ok(HttpResponse::Ok().json(
        events
            .iter()
            .map(|e| {
                json!({
                    "id": e.id, "at": e.at, "actor": e.actor, "action": e.action,
                    "resource": e.resource, "org": e.org, "source": e.source, "outcome": e.outcome,
                })
            })
            .collect::<Vec<_>>(),
    ))
}

#[cfg(test)]
mod tests {
    /// Every route mounted above is documented in the OpenAPI document, and nothing else.
    #[test]
    fn openapi_documents_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for m in ops.as_object().unwrap().keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&m.as_str()) {
                    documented.push(format!("{} {path}", m.to_uppercase()));
                }
            }
        }
        documented.sort();
        // The route calls of `configure`, however rustfmt wrapped them.
        let src: String = include_str!("api.rs")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let mut mounted = Vec::new();
        for call in src.split(".route(\"/").skip(1) {
            let Some((path, rest)) = call.split_once('"') else {
                continue;
            };
            let Some(method) = rest
                .strip_prefix(",web::")
                .and_then(|r| r.split('(').next())
            else {
                continue;
            };
            // One catch-all route serves a repository, its tags and its manifests.
            let paths: &[&str] = if path == "repositories/{tail:.+}" {
                match method {
                    "get" => &[
                        "repositories/{org}/{repo}",
                        "repositories/{org}/{repo}/-/tags",
                        "repositories/{org}/{repo}/-/manifests",
                    ],
                    "delete" => &[
                        "repositories/{org}/{repo}",
                        "repositories/{org}/{repo}/-/tags/{tag}",
                        "repositories/{org}/{repo}/-/manifests/{digest}",
                    ],
                    _ => &["repositories/{org}/{repo}"],
                }
            } else {
                &[path]
            };
            for p in paths {
                mounted.push(format!("{} /api/v1/{p}", method.to_uppercase()));
            }
        }
        mounted.sort();
        assert_eq!(documented, mounted);
    }
}
