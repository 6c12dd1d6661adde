//! Directory accounts (LDAP / Active Directory) in the identity service: which of the two
//! checks a secret goes to, what a directory answer makes of a Berth account, and the
//! re-check of a directory user who proves themselves with something other than a password.
//!
//! - A name held by a local account is checked locally only: a local account always wins and
//!   is never merged with a directory entry of the same name (the break-glass admin keeps
//!   working whatever the directory says or does).
//! - Any other name, when a directory is configured, is checked by the directory
//!   (search-then-bind); the entry's login attribute, lowercased, is the Berth user name, so
//!   `alice`, `alice@example.test` and `EXAMPLE\alice` are one account. The first login
//!   onboards the user (source `ldap`, no password stored); every login refreshes their
//!   display name, mail, admin flag (with `admin_group_dn`) and mirrored groups.
//! - A refresh token, a CLI token or a UI session of a directory user re-reads the entry (by
//!   its DN, with the search account, no bind) once the last confirmation is older than
//!   `cache_ttl`: a user deleted or disabled in the directory, or moved out of a group, loses
//!   that access within that time.
//! - A Berth account belongs to the directory entry that made it (its DN): another entry whose
//!   name maps to the same Berth name is refused, never handed the account.
//! - A directory that cannot answer is [`Error::Unavailable`] (503), never "wrong password".

use std::net::IpAddr;
use std::sync::Arc;

use berth_directory::{DirError, Directory, Entry};
use berth_meta::{DirectorySyncError, DirectoryUser, MetaError, UserRow};

use crate::{clip, now_ms, Auth, Error, Principal, Result};

impl Auth {
    /// Checks a secret against the directory when one is configured and the name belongs to
    /// no local account. `None`: the caller does the local check.
    pub(crate) async fn check_directory(
        &self,
        name: &str,
        user: Option<&UserRow>,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Option<Result<Principal>> {
        if user.is_some_and(|u| u.source != "ldap") {
            return None;
        }
        let Some(dir) = self.directory.clone() else {
            // A directory account while no directory is configured: nothing can check it.
            return user.map(|_| Err(Error::BadCredentials));
        };
        if user.is_none() {
            // Another spelling of a local account's name (`Admin`, `EXAMPLE\admin`): the
            // local account wins, and its password is never sent to the directory.
            let canonical = berth_directory::canonical_login(name);
            if canonical != name {
                match self.meta.user_by_name(&canonical).await {
                    Ok(Some(local)) if local.source != "ldap" => {
                        return Some(Err(Error::BadCredentials))
                    }
                    Ok(_) => {}
                    Err(e) => return Some(Err(e.into())),
                }
            }
        }
        Some(self.directory_login(&dir, name, secret, source).await)
    }

    async fn directory_login(
        &self,
        dir: &Arc<Directory>,
        name: &str,
        secret: &str,
        source: Option<IpAddr>,
    ) -> Result<Principal> {
        let entry = match dir.authenticate(name, secret).await {
            Ok(e) => e,
            Err(e) => {
                let err = dir_error(&e);
                self.audit_directory_login(name, source, "denied", &e.to_string())
                    .await;
                return Err(err);
            }
        };
        let user = self.sync_entry(dir, &entry, source).await?;
        if user.disabled {
            tracing::info!(user = %user.name, "directory login refused: the Berth account is disabled");
            self.audit_directory_login(name, source, "denied", "the Berth account is disabled")
                .await;
            return Err(Error::BadCredentials);
        }
        Ok(Principal::User(user))
    }

    /// Onboards or refreshes the account of `entry` and its mirrored groups; audits what
    /// changed. A local account or an org of that name refuses it (logged and audited).
    async fn sync_entry(
        &self,
        dir: &Directory,
        entry: &Entry,
        source: Option<IpAddr>,
    ) -> Result<UserRow> {
        let groups: Vec<(String, String)> = entry
            .groups
            .iter()
            .map(|g| (g.name.clone(), g.dn.clone()))
            .collect();
        let admin = (!dir.settings().admin_group_dn.is_empty()).then_some(entry.admin);
        let d = DirectoryUser {
            name: &entry.name,
            dn: &entry.dn,
            display_name: entry.display_name.as_deref(),
            email: entry.mail.as_deref(),
            admin,
            groups: &groups,
        };
        if berth_core::name::UserName::parse(&entry.name).is_err() {
            let why = format!(
                "directory name {:?} is not a valid Berth user name",
                clip(&entry.name)
            );
            tracing::warn!(dn = %entry.dn, reason = %why, "directory login refused");
            self.audit_directory_login(&entry.name, source, "denied", &why)
                .await;
            return Err(Error::BadCredentials);
        }
        let mut result = self.meta.sync_directory_user(&d).await;
        if matches!(
            result,
            Err(DirectorySyncError::Meta(MetaError::Conflict) | DirectorySyncError::OrgTaken(_))
        ) {
            // A concurrent first login of the same user committed first (its user row or
            // personal org appeared meanwhile); the second attempt finds its rows. A name
            // truly taken by an org is refused again.
            result = self.meta.sync_directory_user(&d).await;
        }
        let sync = match result {
            Ok(s) => s,
            Err(DirectorySyncError::Meta(e)) => return Err(e.into()),
            Err(e) => {
                // A local account (or org) holds the name: local wins, never merged.
                tracing::warn!(user = %entry.name, dn = %entry.dn, reason = %e, "directory login refused");
                self.audit_directory_login(&entry.name, source, "denied", &e.to_string())
                    .await;
                return Err(Error::BadCredentials);
            }
        };
        let actor = format!("user:{}", sync.user.name);
        if sync.created {
            self.audit_as(&actor, "user.onboard", &actor, None, None)
                .await;
        }
        for g in &sync.joined {
            self.audit_as(
                &actor,
                "group.member.sync.add",
                &format!("group:{g}+{actor}"),
                None,
                None,
            )
            .await;
        }
        for g in &sync.left {
            self.audit_as(
                &actor,
                "group.member.sync.remove",
                &format!("group:{g}+{actor}"),
                None,
                None,
            )
            .await;
        }
        for g in &sync.skipped {
            tracing::warn!(group = %g, user = %sync.user.name, "directory group not mirrored: a group of that name exists");
        }
        Ok(sync.user)
    }

    /// A directory user who proved themselves without a password (refresh token, CLI token):
    /// still there and enabled in the directory? Re-read at most once per `cache_ttl`.
    /// `None`: refused.
    pub(crate) async fn recheck_directory_user(&self, u: UserRow) -> Result<Option<UserRow>> {
        if u.source != "ldap" {
            return Ok(Some(u));
        }
        let Some(dir) = self.directory.clone() else {
            return Ok(None);
        };
        let ttl = dir.settings().cache_ttl.as_millis() as i64;
        if u.directory_checked_at.is_some_and(|t| now_ms() - t < ttl) {
            return Ok(Some(u));
        }
        // By the DN the account was made from: another entry that maps to the same name
        // is not this user.
        let found = match &u.external_dn {
            Some(dn) => dir.lookup_dn(dn).await,
            None => dir.lookup(&u.name).await,
        };
        let entry = match found {
            Ok(Some(e)) => e,
            Ok(None) => {
                self.audit_directory_login(&u.name, None, "denied", "no longer in the directory")
                    .await;
                return Ok(None);
            }
            Err(e) => return Err(dir_error(&e)),
        };
        if entry.name != u.name {
            return Ok(None);
        }
        match self.sync_entry(&dir, &entry, None).await {
            Ok(fresh) if !fresh.disabled => Ok(Some(fresh)),
            Ok(_) | Err(Error::BadCredentials) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn audit_directory_login(
        &self,
        name: &str,
        source: Option<IpAddr>,
        outcome: &str,
        reason: &str,
    ) {
        tracing::info!(login = %clip(name), outcome, reason, "directory login");
        self.audit_detail(
            "anonymous",
            "login.directory",
            &format!("account:{}", clip(name)),
            source,
            outcome,
            reason,
        )
        .await;
    }
}

/// What a directory failure means to a caller: a refusal is "invalid credentials" (the reason
/// goes to the log and audit only), anything else is the directory being unavailable.
fn dir_error(e: &DirError) -> Error {
    match e {
        DirError::Rejected(_) => Error::BadCredentials,
        DirError::Unavailable(cause) | DirError::Misconfigured(cause) => Error::Unavailable {
            what: "directory",
            cause: cause.clone(),
        },
    }
}
