//! berth-directory: the LDAP / Active Directory adapter. It knows LDAP, not HTTP and not
//! Berth's accounts: it checks a login name and password against the directory
//! (search-then-bind), reads a user's entry and groups, and searches users and groups for the
//! people adding members. The identity service (`berth-auth`) decides what a directory answer
//! means for a Berth account.
//!
//! Every value a person typed is escaped before it enters a filter ([`filter`]); every network
//! step runs under `operation_timeout`, so a directory that hangs is an
//! [`DirError::Unavailable`] in bounded time, never a stuck request; the configured URLs are
//! tried in order until one answers. Built on `ldap3` with rustls.

mod conn;
pub mod filter;
mod settings;
mod tls;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ldap3::{Scope as LdapScope, SearchEntry, SearchOptions};

use conn::Connections;
pub use filter::{canonical_login, normalize_dn};
pub use settings::{Membership, Scope, Settings};

/// Why the directory did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirError {
    /// Wrong password, no such user, several entries for one name, a disabled or expired
    /// account, an empty password: the caller answers "invalid credentials"; the reason is
    /// for the log only.
    #[error("refused: {0}")]
    Rejected(String),
    /// No configured server could be reached or answered in time: worth a retry (503).
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The directory refuses Berth's own requests as configured (the search account's
    /// password, a server that requires TLS, a certificate that does not verify, a base DN
    /// that does not exist): an operator has to change the settings.
    #[error("directory misconfigured: {0}")]
    Misconfigured(String),
}

/// A directory user as Berth needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The Berth user name: the login attribute's value, lowercased (for
    /// `userPrincipalName`, the part before `@`).
    pub name: String,
    pub dn: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
    /// The groups the user belongs to (nested ones too with `nested_groups`).
    pub groups: Vec<Group>,
    /// Member of `admin_group_dn`.
    pub admin: bool,
}

/// A directory group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub dn: String,
    pub name: String,
}

/// A user found by [`Directory::search_users`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserHit {
    pub name: String,
    pub dn: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
}

/// What [`Directory::ping`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingReport {
    /// The URL that answered.
    pub url: String,
    /// The search account (empty: anonymous).
    pub bound_as: String,
    /// The base DNs that were read.
    pub bases: Vec<String>,
}

/// The longest login name sent to the directory.
const MAX_LOGIN_LEN: usize = 256;

/// One configured directory.
pub struct Directory {
    settings: Arc<Settings>,
    conns: Connections,
    /// Groups by normalized user DN, with when they were read.
    groups: Mutex<HashMap<String, (Instant, Vec<Group>)>>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("urls", &self.settings.urls)
            .finish_non_exhaustive()
    }
}

impl Directory {
    /// A directory with `settings` (checked first; see [`Settings::check`]). Connects lazily.
    pub fn new(settings: Settings) -> Result<Directory, String> {
        settings.check()?;
        let tls = tls::client_config(&settings)?;
        let settings = Arc::new(settings);
        Ok(Directory {
            conns: Connections::new(settings.clone(), tls),
            settings,
            groups: Mutex::new(HashMap::new()),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Checks `login` and `password`: finds exactly one entry for the login name with the
    /// search account, refuses disabled and expired accounts, then binds as that entry with
    /// the password. An empty password is refused before anything is sent.
    pub async fn authenticate(&self, login: &str, password: &str) -> Result<Entry, DirError> {
        if password.is_empty() {
            return Err(DirError::Rejected("empty password".into()));
        }
        let found = self.find_user(login).await?;
        let dn = found.dn.clone();
        let (mut ldap, _) = self.conns.open(Some((&dn, password))).await?;
        let _ = tokio::time::timeout(self.conns.operation_timeout(), ldap.unbind()).await;
        let groups = self.groups_of(&found, true).await?;
        self.entry(found, groups)
    }

    /// The current entry of `login`, read with the search account (no bind): `None` when the
    /// user no longer exists, is disabled or expired. Groups are read afresh.
    pub async fn lookup(&self, login: &str) -> Result<Option<Entry>, DirError> {
        let found = match self.find_user(login).await {
            Ok(f) => f,
            Err(DirError::Rejected(why)) => {
                tracing::info!(login = %clip(login), reason = %why, "directory user no longer usable");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let groups = self.groups_of(&found, false).await?;
        self.entry(found, groups).map(Some)
    }

    /// Tests the settings: connects (failover included), binds as the search account and reads
    /// every configured base DN.
    pub async fn ping(&self) -> Result<PingReport, DirError> {
        let s = &self.settings;
        let (mut ldap, url) = self.conns.open_search_account().await?;
        let mut bases = Vec::new();
        for base in s
            .user_base_dns
            .iter()
            .chain(std::iter::once(&s.group_base_dn))
            .filter(|b| !b.is_empty())
        {
            let res = self
                .conns
                .timed(
                    "read base DN",
                    ldap.search(base, LdapScope::Base, "(objectClass=*)", vec!["1.1"]),
                )
                .await?;
            if res.1.rc != 0 {
                return Err(DirError::Misconfigured(format!(
                    "base DN {base} cannot be read: result {} ({})",
                    res.1.rc, res.1.text
                )));
            }
            bases.push(base.clone());
        }
        let _ = tokio::time::timeout(self.conns.operation_timeout(), ldap.unbind()).await;
        Ok(PingReport {
            url,
            bound_as: s.bind_dn.clone(),
            bases,
        })
    }

    /// Users whose login name, display name or mail contains `q`, at most `limit`.
    pub async fn search_users(&self, q: &str, limit: usize) -> Result<Vec<UserHit>, DirError> {
        let s = &self.settings;
        let filter = filter::user_search_filter(s, &clip(q));
        let mut hits = Vec::new();
        for base in &s.user_base_dns {
            let left = limit.saturating_sub(hits.len());
            if left == 0 {
                break;
            }
            for e in self.search(base, &filter, &self.user_attrs(), left).await? {
                if let Some(name) = self.berth_name(&e) {
                    hits.push(UserHit {
                        name,
                        display_name: first(&e, &s.display_name_attribute),
                        mail: first(&e, &s.mail_attribute),
                        dn: e.dn,
                    });
                }
            }
        }
        Ok(hits)
    }

    /// Groups under `group_base_dn` whose name contains `q`, at most `limit`.
    pub async fn search_groups(&self, q: &str, limit: usize) -> Result<Vec<Group>, DirError> {
        let s = &self.settings;
        if s.group_base_dn.is_empty() {
            return Err(DirError::Misconfigured(
                "ldap.group_base_dn is not set".into(),
            ));
        }
        let filter = filter::group_search_filter(s, &clip(q), false);
        let found = self
            .search(
                &s.group_base_dn,
                &filter,
                &[s.group_name_attribute.as_str()],
                limit,
            )
            .await?;
        Ok(found.into_iter().map(|e| self.group(e)).collect())
    }

    /// The group named `name_or_dn`: a DN is read directly (it must match the group filter and
    /// lie under `group_base_dn`), a name must match exactly one group.
    pub async fn find_group(&self, name_or_dn: &str) -> Result<Option<Group>, DirError> {
        let s = &self.settings;
        if s.group_base_dn.is_empty() {
            return Err(DirError::Misconfigured(
                "ldap.group_base_dn is not set".into(),
            ));
        }
        let attrs = [s.group_name_attribute.as_str()];
        if name_or_dn.contains('=') {
            if !filter::under(name_or_dn, &s.group_base_dn) {
                return Ok(None);
            }
            let filter = if s.group_filter.is_empty() {
                "(objectClass=*)".to_owned()
            } else {
                s.group_filter.clone()
            };
            let found = self
                .search_at(name_or_dn, LdapScope::Base, &filter, &attrs, 1, true)
                .await?;
            return Ok(found.into_iter().next().map(|e| self.group(e)));
        }
        let filter = filter::group_search_filter(s, &clip(name_or_dn), true);
        let mut found = self.search(&s.group_base_dn, &filter, &attrs, 2).await?;
        if found.len() != 1 {
            return Ok(None);
        }
        Ok(found.pop().map(|e| self.group(e)))
    }

    fn user_attrs(&self) -> Vec<&str> {
        let s = &self.settings;
        let mut attrs = vec![
            s.uid_attribute.as_str(),
            s.mail_attribute.as_str(),
            s.display_name_attribute.as_str(),
        ];
        if s.membership == Membership::MemberOf {
            attrs.push("memberOf");
        }
        if filter::is_ad(s) {
            attrs.extend(["userAccountControl", "accountExpires"]);
        }
        attrs
    }

    /// The one usable entry of `login`.
    async fn find_user(&self, login: &str) -> Result<SearchEntry, DirError> {
        if login.is_empty() || login.len() > MAX_LOGIN_LEN || login.contains('\0') {
            return Err(DirError::Rejected(format!(
                "login name {:?} is empty, too long or holds NUL",
                clip(login)
            )));
        }
        let s = &self.settings;
        let filter = filter::user_filter(s, login);
        let attrs = self.user_attrs();
        let mut found = Vec::new();
        for base in &s.user_base_dns {
            found.extend(self.search(base, &filter, &attrs, 2).await?);
            if found.len() > 1 {
                break;
            }
        }
        if found.len() != 1 {
            return Err(DirError::Rejected(format!(
                "{} directory entries match login {:?}",
                if found.is_empty() { "no" } else { "several" },
                clip(login)
            )));
        }
        usable(found.remove(0))
    }

    /// The current entry at `dn` (a user found before), read with the search account (no
    /// bind): `None` when it no longer exists, no longer matches the user filter, is disabled
    /// or expired. Groups are read afresh.
    pub async fn lookup_dn(&self, dn: &str) -> Result<Option<Entry>, DirError> {
        let s = &self.settings;
        if !s.user_base_dns.iter().any(|b| filter::under(dn, b)) {
            return Ok(None);
        }
        let filter = if s.user_filter.is_empty() {
            "(objectClass=*)".to_owned()
        } else {
            s.user_filter.clone()
        };
        let attrs = self.user_attrs();
        let found = self
            .search_at(dn, LdapScope::Base, &filter, &attrs, 1, true)
            .await?;
        let Some(e) = found.into_iter().next() else {
            return Ok(None);
        };
        let e = match usable(e) {
            Ok(e) => e,
            Err(DirError::Rejected(why)) => {
                tracing::info!(dn = %dn, reason = %why, "directory user no longer usable");
                return Ok(None);
            }
            Err(other) => return Err(other),
        };
        let groups = self.groups_of(&e, false).await?;
        self.entry(e, groups).map(Some)
    }

    /// The groups of a found user; `cached`: a result younger than `cache_ttl` will do.
    async fn groups_of(&self, user: &SearchEntry, cached: bool) -> Result<Vec<Group>, DirError> {
        let s = &self.settings;
        let key = normalize_dn(&user.dn);
        if cached {
            if let Some((at, groups)) = self.groups.lock().ok().and_then(|m| m.get(&key).cloned()) {
                if at.elapsed() < s.cache_ttl {
                    return Ok(groups);
                }
            }
        }
        let groups: Vec<Group> = if s.nested_groups || s.membership == Membership::Member {
            let filter = filter::member_filter(s, &user.dn, s.nested_groups);
            self.search(
                &s.group_base_dn,
                &filter,
                &[s.group_name_attribute.as_str()],
                0,
            )
            .await?
            .into_iter()
            .map(|e| self.group(e))
            .collect()
        } else {
            attr(user, "memberOf")
                .into_iter()
                .flatten()
                .filter(|dn| filter::under(dn, &s.group_base_dn))
                .map(|dn| Group {
                    name: filter::first_rdn_value(dn).to_owned(),
                    dn: dn.clone(),
                })
                .collect()
        };
        if let Ok(mut m) = self.groups.lock() {
            if m.len() >= 10_000 {
                m.clear();
            }
            m.insert(key, (Instant::now(), groups.clone()));
        }
        Ok(groups)
    }

    fn entry(&self, e: SearchEntry, groups: Vec<Group>) -> Result<Entry, DirError> {
        let s = &self.settings;
        let Some(name) = self.berth_name(&e) else {
            return Err(DirError::Rejected(format!(
                "entry {} has no {} value",
                e.dn, s.uid_attribute
            )));
        };
        let admin_dn = normalize_dn(&s.admin_group_dn);
        let admin = !admin_dn.is_empty() && groups.iter().any(|g| normalize_dn(&g.dn) == admin_dn);
        Ok(Entry {
            name,
            display_name: first(&e, &s.display_name_attribute),
            mail: first(&e, &s.mail_attribute),
            dn: e.dn,
            groups,
            admin,
        })
    }

    fn berth_name(&self, e: &SearchEntry) -> Option<String> {
        let v = first(e, &self.settings.uid_attribute)?;
        let v = if self
            .settings
            .uid_attribute
            .eq_ignore_ascii_case("userPrincipalName")
        {
            v.split('@').next().unwrap_or_default().to_owned()
        } else {
            v
        };
        (!v.is_empty()).then(|| v.to_lowercase())
    }

    fn group(&self, e: SearchEntry) -> Group {
        let name = first(&e, &self.settings.group_name_attribute)
            .unwrap_or_else(|| filter::first_rdn_value(&e.dn).to_owned());
        Group { dn: e.dn, name }
    }

    async fn search(
        &self,
        base: &str,
        filter: &str,
        attrs: &[&str],
        limit: usize,
    ) -> Result<Vec<SearchEntry>, DirError> {
        let scope = match self.settings.scope {
            Scope::One => LdapScope::OneLevel,
            Scope::Sub => LdapScope::Subtree,
        };
        self.search_at(base, scope, filter, attrs, limit, false)
            .await
    }

    /// One search with a search-account connection; a pooled connection the server closed
    /// meanwhile is replaced once. Referrals are ignored; a size limit hit returns what came.
    /// A base that does not exist is a configuration error, or nothing with `missing_ok`.
    async fn search_at(
        &self,
        base: &str,
        scope: LdapScope,
        filter: &str,
        attrs: &[&str],
        limit: usize,
        missing_ok: bool,
    ) -> Result<Vec<SearchEntry>, DirError> {
        let attrs: Vec<String> = attrs.iter().map(|a| (*a).to_owned()).collect();
        let sizelimit = i32::try_from(limit).unwrap_or(i32::MAX);
        for attempt in 0..2 {
            let mut c = self.conns.search_account().await?;
            let res = self
                .conns
                .timed(
                    "search",
                    c.ldap
                        .with_search_options(SearchOptions::new().sizelimit(sizelimit))
                        .search(base, scope, filter, attrs.clone()),
                )
                .await;
            let res = match res {
                Ok(r) => r,
                Err(DirError::Unavailable(_)) if c.from_pool && attempt == 0 => continue,
                Err(e) => return Err(e),
            };
            c.done();
            let (entries, result) = (res.0, res.1);
            match result.rc {
                // success, sizeLimitExceeded, referral
                0 | 4 | 10 => {}
                // noSuchObject: the base does not exist
                32 if missing_ok => return Ok(Vec::new()),
                32 => {
                    return Err(DirError::Misconfigured(format!(
                        "base DN {base} does not exist"
                    )))
                }
                rc => {
                    return Err(conn::classify(
                        "search",
                        ldap3::LdapError::LdapResult {
                            result: ldap3::LdapResult { rc, ..result },
                        },
                    ))
                }
            }
            return Ok(entries
                .into_iter()
                .filter(|e| !e.is_ref() && !e.is_intermediate())
                .map(SearchEntry::construct)
                .collect());
        }
        Err(DirError::Unavailable(
            "search: connection lost twice".into(),
        ))
    }
}

/// `e` unless Active Directory says the account is disabled (`userAccountControl` bit 2) or
/// expired (`accountExpires`).
fn usable(e: SearchEntry) -> Result<SearchEntry, DirError> {
    if let Some(uac) = first(&e, "userAccountControl").and_then(|v| v.parse::<i64>().ok()) {
        if uac & 2 != 0 {
            return Err(DirError::Rejected(format!("account {} is disabled", e.dn)));
        }
    }
    if let Some(expires) = first(&e, "accountExpires").and_then(|v| v.parse::<i64>().ok()) {
        if expired(expires) {
            return Err(DirError::Rejected(format!("account {} has expired", e.dn)));
        }
    }
    Ok(e)
}

/// The values of attribute `name` (any case).
fn attr<'a>(e: &'a SearchEntry, name: &str) -> Option<&'a Vec<String>> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn first(e: &SearchEntry, name: &str) -> Option<String> {
    attr(e, name).and_then(|v| v.first()).cloned()
}

/// Active Directory's `accountExpires` (100 ns ticks since 1601; 0 and i64::MAX: never) is
/// in the past.
fn expired(ticks: i64) -> bool {
    if ticks <= 0 || ticks == i64::MAX {
        return false;
    }
    let unix_ms = ticks / 10_000 - 11_644_473_600_000;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    unix_ms <= now_ms
}

/// At most 128 characters of a client-supplied value, for log lines.
fn clip(s: &str) -> String {
    s.chars().take(128).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn account_expiry() {
        assert!(!super::expired(0));
        assert!(!super::expired(i64::MAX));
        // 2001-01-01 in FILETIME ticks
        assert!(super::expired(126_227_808_000_000_000));
        // 2100-01-01
        assert!(!super::expired(157_766_400_000_000_000));
    }
}
