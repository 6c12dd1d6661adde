//! `/api/v1/account/tokens`: the caller's personal CLI tokens (a user's, not a robot's). The
//! secret is in the answer to the create only.

use actix_web::{web, HttpRequest, HttpResponse};
use berth_auth::rows::PersonalTokenRow;
use berth_auth::{now_ms, Auth};
use berth_edge::{caller, parse_rfc3339, rfc3339, rfc3339_opt};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, ApiResult};

/// A new personal token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// 1 to 64 characters, unique among the caller's tokens.
    name: String,
    /// Days until expiry; absent or 0: never.
    expires_in_days: Option<u32>,
    /// Absolute expiry, RFC 3339 (wins over `expires_in_days`).
    #[schema(format = DateTime)]
    expires_at: Option<String>,
}

/// A personal token (its secret is never shown again after the create).
#[derive(Serialize, ToSchema)]
pub struct Token {
    pub name: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// The secret: in the answer to the create only. Use it as the password of
    /// `docker login` and of HTTP Basic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn token(t: &PersonalTokenRow, secret: Option<String>) -> Token {
    Token {
        name: t.name.clone(),
        created_at: rfc3339(t.created_at),
        expires_at: rfc3339_opt(t.expires_at),
        secret,
    }
}

/// The expiry a create asks for, as ms since the epoch.
fn expiry(b: &NewToken) -> Result<Option<i64>, ApiError> {
    if let Some(at) = &b.expires_at {
        return parse_rfc3339(at)
            .map(Some)
            .ok_or_else(|| ApiError::invalid("expires_at", "expires_at must be an RFC 3339 time"));
    }
    Ok(b.expires_in_days
        .filter(|d| *d > 0)
        .map(|d| now_ms() + i64::from(d) * 86_400_000))
}

/// Create a personal CLI token for the signed-in user. The secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/account/tokens", tag = "account", request_body = NewToken,
    responses((status = 201, description = "Created, with the secret", body = Token)))]
pub async fn create_token(
    req: HttpRequest,
    auth: web::Data<Auth>,
    body: web::Json<NewToken>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let expires_at = expiry(&body)?;
    let (row, secret) = auth
        .create_personal_token(&c, &body.name, expires_at)
        .await?;
    Ok(HttpResponse::Created().json(token(&row, Some(secret))))
}

/// List the signed-in user's personal tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/account/tokens", tag = "account",
    responses((status = 200, description = "The tokens, by name", body = Vec<Token>)))]
pub async fn list_tokens(req: HttpRequest, auth: web::Data<Auth>) -> ApiResult {
    let c = caller(&auth, &req).await?;
    let rows = auth.personal_tokens(&c).await?;
    let out: Vec<Token> = rows.iter().map(|t| token(t, None)).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Revoke one of the signed-in user's personal tokens; the user's refresh tokens (CLI logins)
/// end with it.
#[utoipa::path(delete, path = "/api/v1/account/tokens/{name}", tag = "account",
    params(("name" = String, Path, description = "token name")),
    responses((status = 204, description = "Revoked")))]
pub async fn delete_token(
    req: HttpRequest,
    auth: web::Data<Auth>,
    name: web::Path<String>,
) -> ApiResult {
    let c = caller(&auth, &req).await?;
    auth.revoke_personal_token(&c, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}
