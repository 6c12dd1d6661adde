//! Web UI sessions: signing in with a password through the same check, throttling and audit
//! as the token service, a session any replica recognises, idle and absolute expiry, and
//! sign-out. The browser holds an opaque random token; the database holds its SHA-256. The
//! session's CSRF token is derived from the cookie token with a different label, so it can be
//! checked without a lookup and is never computable from what the database stores.

use std::net::IpAddr;

use berth_meta::UserRow;
use sha2::{Digest, Sha256};

use crate::{new_secret, now_ms, secret_hash, Auth, Error, Principal, Result};

/// Prefix of session tokens (recognisable in a leaked log or cookie jar).
const TOKEN_PREFIX: &str = "bus_";

/// A session is touched (its idle clock reset) at most this often, to keep page views from
/// each costing a database write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A session just opened: the cookie value to hand the browser (only this once) and whom it
/// signs in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub user: UserRow,
}

/// A live session, as a request presents it.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: UserRow,
    /// The token every state-changing form of this session must carry.
    pub csrf: String,
}

/// The CSRF token of the session whose cookie token is `token`.
pub fn csrf_token(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"berth-ui-csrf\0");
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

impl Auth {
    /// Signs a user in with a password: [`Error::BadCredentials`] or [`Error::RateLimited`]
    /// exactly as a token request (the same throttling counters, audited as a failed login);
    /// robot accounts are refused (they are for clients, not for people). Audited as `login`.
    pub async fn sign_in(
        &self,
        name: &str,
        password: &str,
        source: Option<IpAddr>,
    ) -> Result<SignedIn> {
        let principal = match self.login(name, password, source).await {
            Ok(p) => p,
            Err(e) => {
                self.audit_failed_login(name, source, &e).await;
                return Err(e);
            }
        };
        let Principal::User(user) = principal else {
            return Err(Error::invalid(
                "name",
                "robot accounts cannot sign in to the web UI; use a user account",
            ));
        };
        // A personal token is for the CLI and the API: a stolen one must not open the web UI.
        if crate::manage::is_personal_token(password)
            && self
                .check_personal_token(Some(&user), password)
                .await?
                .is_some()
        {
            return Err(Error::invalid(
                "password",
                "personal tokens are for docker login and the API; sign in here with your password",
            ));
        }
        let token = new_secret(TOKEN_PREFIX);
        let expires = now_ms() + self.config.session_max.as_millis() as i64;
        self.meta
            .insert_session(&secret_hash(&token), user.id, user.epoch, expires)
            .await?;
        self.audit(
            &Principal::User(user.clone()),
            "login",
            &format!("user:{}", user.name),
            None,
            source,
            "ok",
        )
        .await;
        Ok(SignedIn { token, user })
    }

    /// The live session of cookie token `token`, or `None` when it is unknown, ended, past
    /// its absolute or idle expiry, or its user is gone, disabled or changed password since
    /// (a directory user: or no longer in the directory).
    pub async fn session(&self, token: &str) -> Result<Option<Session>> {
        if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
            return Ok(None);
        }
        let hash = secret_hash(token);
        let Some(row) = self.meta.session(&hash).await? else {
            return Ok(None);
        };
        let now = now_ms();
        let idle = self.config.session_idle.as_millis() as i64;
        if row.expires_at <= now || row.seen_at + idle <= now {
            self.meta.delete_session(&hash).await?;
            return Ok(None);
        }
        let Some(user) = self
            .meta
            .user_by_id(row.user_id)
            .await?
            .filter(|u| !u.disabled && u.epoch == row.epoch)
        else {
            self.meta.delete_session(&hash).await?;
            return Ok(None);
        };
        // A directory user is re-checked like a refresh token's (at most once per cache_ttl).
        let Some(user) = self.recheck_directory_user(user).await? else {
            self.meta.delete_session(&hash).await?;
            return Ok(None);
        };
        if now - row.seen_at >= TOUCH_EVERY_MS {
            self.meta.touch_session(&hash, now).await?;
        }
        Ok(Some(Session {
            user,
            csrf: csrf_token(token),
        }))
    }

    /// Ends the session of cookie token `token` everywhere (every replica reads the same
    /// row); audited as `logout` when there was one.
    pub async fn sign_out(&self, token: &str, source: Option<IpAddr>) -> Result<()> {
        let Some(s) = self.session(token).await? else {
            return Ok(());
        };
        self.meta.delete_session(&secret_hash(token)).await?;
        self.audit(
            &Principal::User(s.user.clone()),
            "logout",
            &format!("user:{}", s.user.name),
            None,
            source,
            "ok",
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use berth_meta::{Meta, MetaOptions};

    use crate::{Auth, AuthConfig, Caller, Error, Principal};

    async fn auth(config: AuthConfig) -> (tempfile::TempDir, Auth, Caller) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let meta = Meta::connect(&url, &MetaOptions::default()).await.unwrap();
        meta.migrate().await.unwrap();
        let auth = Auth::new(meta, config).await.unwrap();
        auth.bootstrap_admin("root", Some("root-password".into()))
            .await
            .unwrap();
        let admin = auth.meta.user_by_name("root").await.unwrap().unwrap();
        (dir, auth, Caller::new(Principal::User(admin), None))
    }

    #[tokio::test]
    async fn a_session_lives_until_sign_out_or_password_change() {
        let (_d, auth, root) = auth(AuthConfig::default()).await;
        assert!(matches!(
            auth.sign_in("root", "wrong", None).await,
            Err(Error::BadCredentials)
        ));
        let s = auth.sign_in("root", "root-password", None).await.unwrap();
        let live = auth.session(&s.token).await.unwrap().unwrap();
        assert_eq!(live.user.name, "root");
        assert_eq!(live.csrf, super::csrf_token(&s.token));
        assert_ne!(live.csrf, crate::secret_hash(&s.token));
        assert!(auth.session("bus_forged").await.unwrap().is_none());
        assert!(auth.session("not-a-token").await.unwrap().is_none());
        auth.sign_out(&s.token, None).await.unwrap();
        assert!(auth.session(&s.token).await.unwrap().is_none());

        // A password change ends every session of the account.
        let s = auth.sign_in("root", "root-password", None).await.unwrap();
        auth.set_password(&root, "root", "a-new-password-1", Some("root-password"))
            .await
            .unwrap();
        assert!(auth.session(&s.token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn sessions_expire_when_idle() {
        let config = AuthConfig {
            session_idle: Duration::from_millis(1),
            ..AuthConfig::default()
        };
        let (_d, auth, _) = auth(config).await;
        let s = auth.sign_in("root", "root-password", None).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert!(auth.session(&s.token).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn failed_sign_ins_share_the_token_services_throttle() {
        let config = AuthConfig {
            max_failures_per_account: 2,
            ..AuthConfig::default()
        };
        let (_d, auth, _) = auth(config).await;
        for _ in 0..2 {
            assert!(matches!(
                auth.sign_in("root", "nope", None).await,
                Err(Error::BadCredentials)
            ));
        }
        assert!(matches!(
            auth.sign_in("root", "root-password", None).await,
            Err(Error::RateLimited(_))
        ));
    }
}
