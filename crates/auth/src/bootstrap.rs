//! What the service does for itself rather than for a request: the first system admin on an
//! empty database, signing-key rotation, and the periodic upkeep of keys and refresh tokens.

use std::time::Duration;

use berth_meta::{Meta, MetaError, NewUser};

use crate::{keys, new_secret, now_ms, password, Auth, Error};

/// What [`Auth::bootstrap_admin`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstAdmin {
    /// There were users already (or another replica created the admin first).
    Exists,
    /// The admin was created; `generated` is the password if none was configured, to be shown
    /// once to the operator (never logged).
    Created { generated: Option<String> },
}

impl Auth {
    /// Creates the first system admin `user` when the database has no user at all, with
    /// `password`, or a generated one when it is `None`.
    pub async fn bootstrap_admin(
        &self,
        user: &str,
        password: Option<String>,
    ) -> Result<FirstAdmin, Error> {
        if !self.meta.list_users("", 1).await?.is_empty() {
            return Ok(FirstAdmin::Exists);
        }
        let (password, generated) = match password {
            Some(p) => (p, false),
            None => (new_secret(""), true),
        };
        let hash = password::hash(password.clone())
            .await
            .map_err(Error::Internal)?;
        let new = NewUser {
            name: user,
            email: None,
            password_hash: Some(&hash),
            admin: true,
            source: "local",
        };
        match self.meta.create_user(&new).await {
            Ok(_) => {}
            // Another replica created it first.
            Err(MetaError::Conflict) => return Ok(FirstAdmin::Exists),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(user, generated, "created the first system admin");
        Ok(FirstAdmin::Created {
            generated: generated.then_some(password),
        })
    }

    /// Picks up signing keys rotated by any replica; forgets keys retired longer ago than any
    /// token they signed can live, expired refresh tokens and ended web UI sessions. Runs until dropped.
    pub async fn maintain_keys(self, every: Duration) {
        loop {
            tokio::time::sleep(every).await;
            let now = now_ms();
            if let Err(e) = self.keys.reload(&self.meta, now).await {
                tracing::warn!(error = %e, "could not reload token signing keys");
            }
            let horizon = self.config.token_ttl.as_millis() as i64 + 120_000;
            if let Err(e) = self.meta.purge_signing_keys(now - horizon).await {
                tracing::warn!(error = %e, "could not purge retired signing keys");
            }
            if let Err(e) = self.meta.purge_refresh_tokens(now).await {
                tracing::warn!(error = %e, "could not purge expired refresh tokens");
            }
            let idle_before = now - self.config.session_idle.as_millis() as i64;
            if let Err(e) = self.meta.purge_sessions(now, idle_before).await {
                tracing::warn!(error = %e, "could not purge ended web UI sessions");
            }
        }
    }
}

/// Starts signing with a new key (every replica picks it up within the reload period); tokens
/// signed with the previous key stay valid until they expire. Returns the new key's id.
pub async fn rotate_signing_key(meta: &Meta) -> Result<String, Error> {
    let key = keys::generate(now_ms()).map_err(Error::Internal)?;
    meta.add_signing_key(&key, true).await?;
    Ok(key.kid)
}
