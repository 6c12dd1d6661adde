//! Proving who one is: passwords and robot secrets (with failed-login throttling), the short
//! memory of good HTTP Basic checks, and refresh tokens.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use berth_core::RobotRule;
use berth_meta::RobotRow;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::{new_secret, now_ms, password, secret_hash, Auth, Error, Principal};

/// Remembers successful password checks of Basic credentials for a short time, keyed by an
/// HMAC of the credentials under a per-process random key (the plain password is never kept).
/// An entry holds the account's epoch; a password change or disable bumps the epoch and the
/// entry stops matching on the next request, on every replica.
pub(crate) struct BasicCache {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Checked>>,
}

/// A remembered check: account name, account id, credential epoch, when it was checked.
type Checked = (String, i64, i64, Instant);

const BASIC_CACHE_MAX: usize = 10_000;

impl BasicCache {
    pub(crate) fn new() -> BasicCache {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        BasicCache {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn fingerprint(&self, user: &str, secret: &str) -> [u8; 32] {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        mac.update(user.as_bytes());
        mac.update(&[0]);
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

impl Auth {
    /// Checks a user name (or `<org>+<robot>`) and password, with failed-login throttling.
    /// Every attempt costs one argon2id verification (robots: a SHA-256 of their generated
    /// secret), also for unknown accounts.
    pub async fn login(
        &self,
        name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        let now = Instant::now();
        // Keys and audit records hold at most 128 characters of whatever name was sent.
        // One key per account however its name is spelled (`Alice`, `EXAMPLE\alice`,
        // `alice@example.test`): spellings must not multiply the attempts allowed.
        let acct = format!("acct:{}", clip(&berth_directory::canonical_login(name)));
        let src = source.map(|ip| format!("ip:{ip}"));
        let c = &self.config;
        if let Some(wait) = self
            .limiter
            .blocked(&acct, c.max_failures_per_account, now)
            .or_else(|| {
                src.as_ref()
                    .and_then(|s| self.limiter.blocked(s, c.max_failures_per_source, now))
            })
        {
            return Err(Error::RateLimited(wait.as_secs().max(1)));
        }
        match self.check_secret(name, secret, source).await {
            Ok(p) => {
                self.limiter.reset(&acct);
                Ok(p)
            }
            Err(Error::BadCredentials) => {
                self.limiter.record_failure(&acct, now);
                if let Some(s) = &src {
                    self.limiter.record_failure(s, now);
                }
                Err(Error::BadCredentials)
            }
            Err(e) => Err(e),
        }
    }

    /// [`Auth::login`] for HTTP Basic credentials on `/v2`: a successful check is remembered
    /// for `basic_cache_ttl`, so a client that sends its password on every request costs one
    /// argon2id check per minute, not one per request.
    pub async fn login_basic(
        &self,
        name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        // A personal token is cheap to check and may be revoked at any moment: never cached.
        if crate::manage::is_personal_token(secret) {
            return self.login(name, secret, source).await;
        }
        let fp = self.basic_cache.fingerprint(name, secret);
        let cached = self
            .basic_cache
            .entries
            .lock()
            .ok()
            .and_then(|m| m.get(&fp).cloned());
        if let Some((cached_name, id, epoch, at)) = cached {
            if at.elapsed() < self.config.basic_cache_ttl && cached_name == name {
                if let Some(p) = self.current(name, id, epoch).await? {
                    return Ok(p);
                }
            }
        }
        let p = self.login(name, secret, source).await?;
        let (id, epoch) = match &p {
            Principal::User(u) => (u.id, u.epoch),
            Principal::Robot(r, _) => (r.id, 0),
            Principal::Anonymous => (0, 0),
        };
        if let Ok(mut m) = self.basic_cache.entries.lock() {
            if m.len() >= BASIC_CACHE_MAX {
                m.clear();
            }
            m.insert(fp, (name.to_owned(), id, epoch, Instant::now()));
        }
        Ok(p)
    }

    /// The account `name` if it is still the same account (`id`: a deleted and recreated
    /// account of the same name is another one) and usable at `epoch` (users) or at all
    /// (robots).
    async fn current(&self, name: &str, id: i64, epoch: i64) -> Result<Option<Principal>, Error> {
        if let Some((org, robot)) = name.split_once('+') {
            let Some(r) = self.meta.robot(org, robot).await?.filter(|r| r.id == id) else {
                return Ok(None);
            };
            return Ok(robot_principal(r));
        }
        // By id: the name as typed may be another spelling of a directory user's (`BOB`,
        // `EXAMPLE\bob`), and a deleted and recreated account has a new id.
        Ok(self
            .meta
            .user_by_id(id)
            .await?
            .filter(|u| !u.disabled && u.epoch == epoch)
            .map(Principal::User))
    }

    async fn check_secret(
        &self,
        name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal, Error> {
        // No account name holds NUL, and PostgreSQL refuses it in a query (an error, not a
        // miss): such a name is wrong credentials before it reaches a store.
        if name.contains('\0') {
            return Err(Error::BadCredentials);
        }
        if let Some((org, robot)) = name.split_once('+') {
            let row = self.meta.robot(org, robot).await?;
            let ok = row
                .as_ref()
                .is_some_and(|r| constant_eq(&r.secret_hash, &secret_hash(secret)));
            return match row {
                Some(r) if ok => robot_principal(r).ok_or(Error::BadCredentials),
                _ => Err(Error::BadCredentials),
            };
        }
        let user = self.meta.user_by_name(name).await?;
        // A personal CLI token: a SHA-256 and one lookup. Anything else that was sent (a
        // password that happens to look like one included) goes through the password check.
        if crate::manage::is_personal_token(secret) {
            if let Some(Principal::User(u)) =
                self.check_personal_token(user.as_ref(), secret).await?
            {
                return self
                    .recheck_directory_user(u)
                    .await?
                    .map(Principal::User)
                    .ok_or(Error::BadCredentials);
            }
        }
        // Local accounts are checked here; any other name goes to the directory if there is
        // one (see `directory`).
        if let Some(r) = self
            .check_directory(name, user.as_ref(), secret, source)
            .await
        {
            return r;
        }
        let phc = user.as_ref().and_then(|u| u.password_hash.clone());
        let ok = password::verify(phc, secret.to_owned()).await;
        match user {
            Some(u) if ok && !u.disabled => Ok(Principal::User(u)),
            _ => Err(Error::BadCredentials),
        }
    }

    /// Issues a refresh token for `p` (not for anonymous).
    pub async fn issue_refresh(&self, p: &Principal) -> Result<String, Error> {
        let (kind, id, epoch) = match p {
            Principal::User(u) => ("user", u.id, u.epoch),
            Principal::Robot(r, _) => ("robot", r.id, 0),
            Principal::Anonymous => return Err(Error::BadCredentials),
        };
        let token = new_secret("brt_");
        let expires = now_ms() + self.config.refresh_ttl.as_millis() as i64;
        self.meta
            .insert_refresh_token(&secret_hash(&token), kind, id, epoch, expires)
            .await?;
        Ok(token)
    }

    /// The principal a refresh token stands for, if it is unrevoked, unexpired, of the
    /// subject's current epoch, and the subject is still enabled.
    pub async fn refresh(&self, token: &str) -> Result<Principal, Error> {
        let Some(row) = self.meta.refresh_token(&secret_hash(token)).await? else {
            return Err(Error::BadCredentials);
        };
        if row.revoked || row.expires_at <= now_ms() {
            return Err(Error::BadCredentials);
        }
        let p = match row.kind.as_str() {
            "user" => {
                let u = self
                    .meta
                    .user_by_id(row.subject_id)
                    .await?
                    .filter(|u| !u.disabled && u.epoch == row.epoch);
                match u {
                    Some(u) => self.recheck_directory_user(u).await?.map(Principal::User),
                    None => None,
                }
            }
            "robot" => self
                .meta
                .robot_by_id(row.subject_id)
                .await?
                .and_then(robot_principal),
            _ => None,
        };
        p.ok_or(Error::BadCredentials)
    }

    /// Revokes a refresh token (logout). Unknown tokens are ignored.
    pub async fn revoke(&self, token: &str) -> Result<(), Error> {
        self.meta.revoke_refresh_token(&secret_hash(token)).await?;
        Ok(())
    }
}

/// A robot row as a principal, unless disabled, expired or with unreadable rules.
pub(crate) fn robot_principal(r: RobotRow) -> Option<Principal> {
    if r.disabled || r.expires_at.is_some_and(|t| t <= now_ms()) {
        return None;
    }
    let rules: Vec<RobotRule> = serde_json::from_str(&r.rules).ok()?;
    Some(Principal::Robot(r, rules))
}

/// At most 128 characters of a client-supplied name, for keys and log records.
pub fn clip(s: &str) -> &str {
    match s.char_indices().nth(128) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
