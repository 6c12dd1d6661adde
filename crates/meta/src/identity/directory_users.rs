//! Directory accounts as the store keeps them: a directory login onboards the user (source
//! `ldap`, no password) or refreshes their entry, mirrors the directory groups the user
//! belongs to (found by DN; created on first sight, named by the directory) and replaces the
//! user's memberships of mirrored groups with what the directory reported, in one
//! transaction. Local groups and their memberships are never touched, and a local account
//! is never turned into a directory one.

use sqlx::{Any, Row, Transaction};

use super::flag;
use super::groups::BY_DN;
use super::members::set_member_tx;
use super::orgs::insert_org;
use super::users::{user_row, USER_COLS};
use crate::{now_ms, Meta, MetaError, UserRow};

/// What the directory says about a user.
#[derive(Debug, Clone, Default)]
pub struct DirectoryUser<'a> {
    pub name: &'a str,
    pub dn: &'a str,
    pub display_name: Option<&'a str>,
    pub email: Option<&'a str>,
    /// `Some`: the admin flag follows the directory (an admin group is configured).
    pub admin: Option<bool>,
    /// The user's directory groups: (name, DN).
    pub groups: &'a [(String, String)],
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectorySync {
    pub user: UserRow,
    /// The account was created by this sync.
    pub created: bool,
    /// Mirrored groups the user joined / left (names).
    pub joined: Vec<String>,
    pub left: Vec<String>,
    /// Directory groups that could not be mirrored: a group of that name exists already
    /// (local, or another DN).
    pub skipped: Vec<String>,
}

/// How a sync can be refused.
#[derive(Debug, thiserror::Error)]
pub enum DirectorySyncError {
    /// A local account holds the name: local accounts win, they are never merged.
    #[error("a local account named {0} exists")]
    LocalAccount(String),
    /// The Berth account of that name belongs to another directory entry (its DN differs).
    #[error("the account {name} belongs to the directory entry {dn}")]
    OtherEntry { name: String, dn: String },
    /// An organization holds the name the user's personal namespace needs.
    #[error("an organization named {0} exists")]
    OrgTaken(String),
    #[error(transparent)]
    Meta(#[from] MetaError),
}

impl From<sqlx::Error> for DirectorySyncError {
    fn from(e: sqlx::Error) -> Self {
        DirectorySyncError::Meta(e.into())
    }
}

impl Meta {
    /// Onboards or refreshes the directory user `d` and their mirrored groups (see the module
    /// doc). A disabled Berth account stays disabled: the caller refuses it.
    pub async fn sync_directory_user(
        &self,
        d: &DirectoryUser<'_>,
    ) -> Result<DirectorySync, DirectorySyncError> {
        let fut = async move {
            let now = now_ms();
            let mut tx = self.write.begin().await?;
            let existing = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE name = $1"))
                .bind(d.name)
                .fetch_optional(&mut *tx)
                .await?;
            let existing = existing.as_ref().map(user_row).transpose()?;
            let (user, created) = match existing {
                Some(u) if u.source != "ldap" => {
                    return Err(DirectorySyncError::LocalAccount(d.name.to_owned()))
                }
                Some(u)
                    if u.external_dn
                        .as_deref()
                        .is_some_and(|old| !old.trim().eq_ignore_ascii_case(d.dn.trim())) =>
                {
                    // Another directory entry had this name first (a reused name, or two
                    // entries mapping to one Berth name): never hand its account over.
                    return Err(DirectorySyncError::OtherEntry {
                        name: d.name.to_owned(),
                        dn: u.external_dn.unwrap_or_default(),
                    });
                }
                Some(u) => {
                    let row = sqlx::query(&format!(
                        "UPDATE users SET email = $1, display_name = $2, external_dn = $3, \
                         admin = $4, directory_checked_at = $5, updated_at = $5 \
                         WHERE id = $6 RETURNING {USER_COLS}"
                    ))
                    .bind(d.email)
                    .bind(d.display_name)
                    .bind(d.dn)
                    .bind(flag(d.admin.unwrap_or(u.admin)))
                    .bind(now)
                    .bind(u.id)
                    .fetch_one(&mut *tx)
                    .await?;
                    (user_row(&row)?, false)
                }
                None => {
                    let taken = sqlx::query("SELECT 1 FROM orgs WHERE name = $1")
                        .bind(d.name)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if taken.is_some() {
                        return Err(DirectorySyncError::OrgTaken(d.name.to_owned()));
                    }
                    let row = sqlx::query(&format!(
                        "INSERT INTO users (name, email, password_hash, admin, source, created_at, \
                         updated_at, external_dn, display_name, directory_checked_at) \
                         VALUES ($1, $2, NULL, $3, 'ldap', $4, $4, $5, $6, $4) RETURNING {USER_COLS}"
                    ))
                    .bind(d.name)
                    .bind(d.email)
                    .bind(flag(d.admin.unwrap_or(false)))
                    .bind(now)
                    .bind(d.dn)
                    .bind(d.display_name)
                    .fetch_one(&mut *tx)
                    .await?;
                    let user = user_row(&row)?;
                    let org = insert_org(&mut tx, d.name, false, Some(d.name)).await?;
                    set_member_tx(&mut tx, org, "user", user.id, "admin").await?;
                    (user, true)
                }
            };
            let (joined, left, skipped) = sync_groups(&mut tx, user.id, d.groups, now).await?;
            tx.commit().await?;
            Ok(DirectorySync {
                user,
                created,
                joined,
                left,
                skipped,
            })
        };
        match tokio::time::timeout(self.op_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(MetaError::Timeout(self.op_timeout).into()),
        }
    }

    /// Records that the directory confirmed user `id` just now.
    pub async fn mark_directory_checked(&self, id: i64) -> Result<(), MetaError> {
        self.timed(async move {
            sqlx::query("UPDATE users SET directory_checked_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(id)
                .execute(&self.write)
                .await?;
            Ok(())
        })
        .await
    }
}

/// Mirrors `groups` and makes them the user's memberships of mirrored groups. Returns the
/// names joined, left and skipped.
async fn sync_groups(
    tx: &mut Transaction<'_, Any>,
    user_id: i64,
    groups: &[(String, String)],
    now: i64,
) -> Result<(Vec<String>, Vec<String>, Vec<String>), DirectorySyncError> {
    let mut want: Vec<(i64, String)> = Vec::with_capacity(groups.len());
    let mut skipped = Vec::new();
    for (name, dn) in groups {
        if let Some(g) = mirrored(tx, dn).await? {
            want.push(g);
            continue;
        }
        let made = sqlx::query(
            "INSERT INTO user_groups (name, external_dn, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name)
        .bind(dn)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(r) = made {
            want.push((r.try_get(0)?, name.clone()));
            continue;
        }
        // The name is taken: by this very group, mirrored meanwhile by a concurrent login,
        // or by another group (local, or another DN), which is not taken over.
        match mirrored(tx, dn).await? {
            Some(g) => want.push(g),
            None => skipped.push(name.clone()),
        }
    }
    let have = sqlx::query(
        "SELECT g.id, g.name FROM group_members m JOIN user_groups g ON g.id = m.group_id \
         WHERE m.user_id = $1 AND g.external_dn IS NOT NULL",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut left = Vec::new();
    for r in &have {
        let id: i64 = r.try_get(0)?;
        if !want.iter().any(|(w, _)| *w == id) {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(id)
                .bind(user_id)
                .execute(&mut **tx)
                .await?;
            left.push(r.try_get(1)?);
        }
    }
    let mut joined = Vec::new();
    for (id, name) in &want {
        let added = sqlx::query(
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
        if added.rows_affected() > 0 {
            joined.push(name.clone());
        }
    }
    Ok((joined, left, skipped))
}

/// The group mirroring directory group `dn` (id, name), if any.
async fn mirrored(
    tx: &mut Transaction<'_, Any>,
    dn: &str,
) -> Result<Option<(i64, String)>, DirectorySyncError> {
    let r = sqlx::query(&format!("SELECT id, name FROM user_groups WHERE {BY_DN}"))
        .bind(dn)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(
        r.map(|r| Ok::<_, sqlx::Error>((r.try_get(0)?, r.try_get(1)?)))
            .transpose()?,
    )
}

#[cfg(test)]
mod tests {
    use super::{DirectorySyncError, DirectoryUser};
    use crate::identity::{test_meta, test_user};

    fn groups(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| (n.to_string(), format!("cn={n},ou=groups,dc=example,dc=org")))
            .collect()
    }

    #[tokio::test]
    async fn onboards_refreshes_and_syncs_mirrored_groups_only() {
        let (_d, m) = test_meta().await;
        let g = groups(&["developers", "readers"]);
        let alice = DirectoryUser {
            name: "alice",
            dn: "uid=alice,ou=people,dc=example,dc=org",
            display_name: Some("Alice"),
            email: Some("alice@example.org"),
            admin: Some(true),
            groups: &g,
        };
        let s = m.sync_directory_user(&alice).await.unwrap();
        assert!(s.created);
        assert_eq!(s.user.source, "ldap");
        assert!(s.user.admin && s.user.password_hash.is_none());
        assert_eq!(s.user.display_name.as_deref(), Some("Alice"));
        assert!(s.user.directory_checked_at.is_some());
        assert_eq!(s.joined, ["developers", "readers"]);
        assert!(
            m.org_by_name("alice").await.unwrap().is_some(),
            "personal org"
        );
        // A local group the user was added to by hand survives the syncs.
        let local = m.ensure_group("local-team", None).await.unwrap();
        m.set_group_memberships(s.user.id, &[local.id], false)
            .await
            .unwrap();
        // The DN in another case is the same group; readers is gone; admin follows.
        let g2 = vec![(
            "developers".to_string(),
            "CN=Developers,OU=Groups,DC=example,DC=org".to_string(),
        )];
        let s = m
            .sync_directory_user(&DirectoryUser {
                groups: &g2,
                admin: Some(false),
                ..alice.clone()
            })
            .await
            .unwrap();
        assert!(!s.created && !s.user.admin);
        assert!(s.joined.is_empty());
        assert_eq!(s.left, ["readers"]);
        let page = m.list_groups("", 10).await.unwrap();
        let members = |n: &str| {
            page.iter()
                .find(|(g, _)| g.name == n)
                .map(|(_, m)| m.clone())
                .unwrap()
        };
        assert_eq!(members("developers"), ["alice"]);
        assert!(members("readers").is_empty());
        assert_eq!(members("local-team"), ["alice"]);
        // admin: None leaves the flag as it is.
        let s = m
            .sync_directory_user(&DirectoryUser {
                admin: None,
                ..alice.clone()
            })
            .await
            .unwrap();
        assert!(!s.user.admin);
    }

    #[tokio::test]
    async fn local_accounts_and_local_groups_are_never_merged() {
        let (_d, m) = test_meta().await;
        m.create_user(&test_user("bob")).await.unwrap();
        let g = groups(&["ops"]);
        let bob = DirectoryUser {
            name: "bob",
            dn: "uid=bob,ou=people,dc=example,dc=org",
            groups: &g,
            ..DirectoryUser::default()
        };
        let r = m.sync_directory_user(&bob).await;
        assert!(
            matches!(r, Err(DirectorySyncError::LocalAccount(_))),
            "{r:?}"
        );
        m.create_org("carol", true, None).await.unwrap();
        let r = m
            .sync_directory_user(&DirectoryUser {
                name: "carol",
                ..bob.clone()
            })
            .await;
        assert!(matches!(r, Err(DirectorySyncError::OrgTaken(_))), "{r:?}");
        // Another entry whose name maps to an onboarded user's does not get that account.
        m.sync_directory_user(&DirectoryUser {
            name: "erin",
            groups: &[],
            ..bob.clone()
        })
        .await
        .unwrap();
        let r = m
            .sync_directory_user(&DirectoryUser {
                name: "erin",
                dn: "uid=erin,ou=partners,dc=example,dc=org",
                ..bob.clone()
            })
            .await;
        assert!(
            matches!(r, Err(DirectorySyncError::OtherEntry { .. })),
            "{r:?}"
        );
        // A local group named like a directory group is not taken over.
        m.ensure_group("ops", None).await.unwrap();
        let s = m
            .sync_directory_user(&DirectoryUser {
                name: "dave",
                ..bob
            })
            .await
            .unwrap();
        assert_eq!(s.skipped, ["ops"]);
        assert!(s.joined.is_empty());
    }
}
