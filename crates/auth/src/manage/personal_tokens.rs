//! Personal CLI tokens: a signed-in user's named secrets for `docker login` and the API, for
//! people whose password must not be typed into a terminal (or who have none Berth knows, as
//! directory accounts will). A token is shown once, at creation; Berth keeps its SHA-256.
//! It stands for its user (same roles), works wherever a password is checked for the CLI and
//! the API, and stops at its expiry or when revoked; revoking also ends the user's refresh
//! tokens, so a `docker login` made with it cannot outlive it. The sign-in form of the web UI
//! does not take one.

use berth_meta::{MetaError, PersonalTokenRow};

use crate::{new_secret, now_ms, secret_hash, Auth, Caller, Error, Principal, Result};

/// What every personal token starts with (so it is recognised without a lookup, and by
/// secret scanners).
pub const PERSONAL_TOKEN_PREFIX: &str = "bpt_";
/// Tokens one user may hold.
pub const MAX_PERSONAL_TOKENS: i64 = 50;

/// Whether `secret` has the shape of a personal token.
pub fn is_personal_token(secret: &str) -> bool {
    secret.starts_with(PERSONAL_TOKEN_PREFIX)
}

/// Token names: 1 to 64 characters, no control characters.
fn check_token_name(name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "name",
            "token names are 1 to 64 characters, without control characters",
        ));
    }
    Ok(())
}

/// The signed-in user behind `c` (tokens are a person's, not a robot's).
fn person(c: &Caller) -> Result<&berth_meta::UserRow> {
    c.require_known()?;
    match &c.principal {
        Principal::User(u) => Ok(u),
        _ => Err(Error::Forbidden),
    }
}

impl Auth {
    /// Creates a token named `name` for the caller, expiring at `expires_at` (ms since the
    /// epoch; `None`: never). Returns it with its secret, which is never shown again.
    pub async fn create_personal_token(
        &self,
        c: &Caller,
        name: &str,
        expires_at: Option<i64>,
    ) -> Result<(PersonalTokenRow, String)> {
        let u = person(c)?;
        let name = name.trim();
        check_token_name(name)?;
        if expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(Error::invalid(
                "expires_at",
                "the expiry must be in the future",
            ));
        }
        let secret = new_secret(PERSONAL_TOKEN_PREFIX);
        let row = match self
            .meta
            .insert_personal_token(
                u.id,
                name,
                &secret_hash(&secret),
                expires_at,
                MAX_PERSONAL_TOKENS,
            )
            .await
        {
            Ok(Some(row)) => row,
            Ok(None) => {
                return Err(Error::invalid(
                    "name",
                    format!("you hold {MAX_PERSONAL_TOKENS} tokens already: revoke one first"),
                ))
            }
            Err(MetaError::Conflict) => {
                return Err(Error::conflict(format!("you have a token named {name}")))
            }
            Err(e) => return Err(e.into()),
        };
        self.audit_change(
            c,
            "token.create",
            &format!("user:{}+token:{name}", u.name),
            None,
        )
        .await;
        Ok((row, secret))
    }

    /// The caller's tokens, by name.
    pub async fn personal_tokens(&self, c: &Caller) -> Result<Vec<PersonalTokenRow>> {
        let u = person(c)?;
        Ok(self.meta.personal_tokens(u.id).await?)
    }

    /// Revokes the caller's token `name` (and ends the caller's refresh tokens).
    pub async fn revoke_personal_token(&self, c: &Caller, name: &str) -> Result<()> {
        let u = person(c)?;
        if !self.meta.delete_personal_token(u.id, name).await? {
            return Err(Error::NotFound("token"));
        }
        self.audit_change(
            c,
            "token.revoke",
            &format!("user:{}+token:{name}", u.name),
            None,
        )
        .await;
        Ok(())
    }

    /// The user `user` if `secret` is one of their unexpired personal tokens and they are
    /// enabled.
    pub(crate) async fn check_personal_token(
        &self,
        user: Option<&berth_meta::UserRow>,
        secret: &str,
    ) -> Result<Option<Principal>> {
        let Some(u) = user.filter(|u| !u.disabled) else {
            return Ok(None);
        };
        let Some(t) = self
            .meta
            .personal_token_by_hash(&secret_hash(secret))
            .await?
        else {
            return Ok(None);
        };
        let live = t.expires_at.is_none_or(|e| e > now_ms());
        Ok((t.user_id == u.id && live).then(|| Principal::User(u.clone())))
    }
}
