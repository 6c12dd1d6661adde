//! Users: local and directory accounts, their credentials epoch and their personal org.
//!
//! Creating a user also creates the private org of the same name with the user as its admin,
//! so a user name and an org name can never collide. A password change or a disable bumps the
//! epoch and revokes the user's refresh tokens; deleting a user keeps their personal org.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::members::set_member_tx;
use super::orgs::insert_org;
use super::{flag, revoke_subject_tx};
use crate::db::id_by_name;
use crate::{now_ms, Meta, MetaError};

/// A user account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub admin: bool,
    pub disabled: bool,
    pub epoch: i64,
    pub source: String,
    pub created_at: i64,
    /// Directory accounts: the entry's DN, display name, and when the directory last
    /// confirmed the account (ms).
    pub external_dn: Option<String>,
    pub display_name: Option<String>,
    pub directory_checked_at: Option<i64>,
}

/// A new user.
#[derive(Debug, Clone, Default)]
pub struct NewUser<'a> {
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub password_hash: Option<&'a str>,
    pub admin: bool,
    pub source: &'a str,
}

/// Changes to a user; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<Option<String>>,
    pub admin: Option<bool>,
    pub disabled: Option<bool>,
}

pub(super) const USER_COLS: &str =
    "id, name, email, password_hash, admin, disabled, epoch, source, \
     created_at, external_dn, display_name, directory_checked_at";

pub(super) fn user_row(r: &AnyRow) -> Result<UserRow, MetaError> {
    Ok(UserRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        email: r.try_get(2)?,
        password_hash: r.try_get(3)?,
        admin: r.try_get::<i64, _>(4)? != 0,
        disabled: r.try_get::<i64, _>(5)? != 0,
        epoch: r.try_get(6)?,
        source: r.try_get(7)?,
        created_at: r.try_get(8)?,
        external_dn: r.try_get(9)?,
        display_name: r.try_get(10)?,
        directory_checked_at: r.try_get(11)?,
    })
}

impl Meta {
    /// Creates a user and their personal org (private, the user its admin) in one transaction.
    /// [`MetaError::Conflict`] when the user or an org of that name exists.
    pub async fn create_user(&self, u: &NewUser<'_>) -> Result<UserRow, MetaError> {
        self.timed(async move {
            let now = now_ms();
            let mut tx = self.write.begin().await?;
            let row = sqlx::query(&format!(
                "INSERT INTO users (name, email, password_hash, admin, source, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {USER_COLS}"
            ))
            .bind(u.name)
            .bind(u.email)
            .bind(u.password_hash)
            .bind(flag(u.admin))
            .bind(u.source)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let user = user_row(&row)?;
            let org = insert_org(&mut tx, u.name, false, Some(u.name)).await?;
            set_member_tx(&mut tx, org, "user", user.id, "admin").await?;
            tx.commit().await?;
            Ok(user)
        })
        .await
    }

    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE name = $1"))
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
            row.as_ref().map(user_row).transpose()
        })
        .await
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            row.as_ref().map(user_row).transpose()
        })
        .await
    }

    /// Users sorted by name, strictly after `after`, at most `limit`.
    pub async fn list_users(&self, after: &str, limit: i64) -> Result<Vec<UserRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(&format!(
                "SELECT {USER_COLS} FROM users WHERE name > $1 ORDER BY name LIMIT $2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
            rows.iter().map(user_row).collect()
        })
        .await
    }

    /// Number of enabled system admins (the last one may not be removed).
    pub async fn count_admins(&self) -> Result<i64, MetaError> {
        self.timed(async move {
            let row = sqlx::query("SELECT COUNT(*) FROM users WHERE admin = 1 AND disabled = 0")
                .fetch_one(&self.read)
                .await?;
            Ok(row.try_get(0)?)
        })
        .await
    }

    /// Applies `p`; disabling bumps the epoch and revokes the user's refresh tokens.
    /// `None` when there is no such user.
    pub async fn update_user(
        &self,
        name: &str,
        p: &UserPatch,
    ) -> Result<Option<UserRow>, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(cur) = sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE name = $1"))
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Ok(None);
            };
            let cur = user_row(&cur)?;
            let email = p.email.clone().unwrap_or(cur.email.clone());
            let admin = p.admin.unwrap_or(cur.admin);
            let disabled = p.disabled.unwrap_or(cur.disabled);
            let bump = i64::from(disabled && !cur.disabled);
            let row = sqlx::query(&format!(
                "UPDATE users SET email = $1, admin = $2, disabled = $3, epoch = epoch + $4, updated_at = $5 \
                 WHERE id = $6 RETURNING {USER_COLS}"
            ))
            .bind(email)
            .bind(flag(admin))
            .bind(flag(disabled))
            .bind(bump)
            .bind(now_ms())
            .bind(cur.id)
            .fetch_one(&mut *tx)
            .await?;
            if bump != 0 {
                revoke_subject_tx(&mut tx, "user", cur.id).await?;
            }
            tx.commit().await?;
            Ok(Some(user_row(&row)?))
        })
        .await
    }

    /// Sets a new password hash, bumps the epoch and revokes the user's refresh tokens.
    /// False when there is no such user.
    pub async fn set_password(&self, name: &str, hash: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let row = sqlx::query(
                "UPDATE users SET password_hash = $1, epoch = epoch + 1, updated_at = $2 WHERE name = $3 RETURNING id",
            )
            .bind(hash)
            .bind(now_ms())
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { return Ok(false) };
            revoke_subject_tx(&mut tx, "user", row.try_get(0)?).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// Deletes a user with their memberships and refresh tokens (their personal org stays,
    /// with its repositories). False when there is no such user.
    pub async fn delete_user(&self, name: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(id) = id_by_name(&mut tx, "users", name).await? else {
                return Ok(false);
            };
            sqlx::query("DELETE FROM org_members WHERE kind = 'user' AND member_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM refresh_tokens WHERE kind = 'user' AND subject_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::{test_meta, test_token, test_user};
    use crate::{MetaError, NewUser, UserPatch};

    /// A patch that only sets the disabled flag.
    fn disabled(disabled: bool) -> UserPatch {
        UserPatch {
            disabled: Some(disabled),
            ..UserPatch::default()
        }
    }

    #[tokio::test]
    async fn creating_a_user_creates_their_private_personal_org() {
        let (_d, m) = test_meta().await;
        let u = m
            .create_user(&NewUser {
                name: "alice",
                email: Some("a@example.com"),
                password_hash: Some("$argon2id$x"),
                admin: true,
                source: "local",
            })
            .await
            .unwrap();
        assert_eq!(u.name, "alice");
        assert_eq!(u.email.as_deref(), Some("a@example.com"));
        assert_eq!(u.password_hash.as_deref(), Some("$argon2id$x"));
        assert!(u.admin && !u.disabled);
        assert_eq!((u.epoch, u.source.as_str()), (0, "local"));
        assert_eq!(m.user_by_name("alice").await.unwrap(), Some(u.clone()));
        assert_eq!(m.user_by_id(u.id).await.unwrap(), Some(u.clone()));
        assert_eq!(m.user_by_name("nobody").await.unwrap(), None);

        let org = m.org_by_name("alice").await.unwrap().unwrap();
        assert!(!org.public);
        assert_eq!(org.owner.as_deref(), Some("alice"));
        let members = m.list_members(org.id).await.unwrap();
        assert_eq!(members.len(), 1);
        let only = &members[0];
        assert_eq!(
            (&*only.kind, &*only.name, &*only.role),
            ("user", "alice", "admin")
        );
    }

    #[tokio::test]
    async fn a_taken_user_or_org_name_conflicts_and_creates_nothing() {
        let (_d, m) = test_meta().await;
        m.create_user(&test_user("alice")).await.unwrap();
        let again = m.create_user(&test_user("alice")).await;
        assert!(matches!(again, Err(MetaError::Conflict)), "{again:?}");

        m.ensure_org("team").await.unwrap();
        let clash = m.create_user(&test_user("team")).await;
        assert!(matches!(clash, Err(MetaError::Conflict)), "{clash:?}");
        // The user row of the failed transaction is rolled back with it.
        assert_eq!(m.user_by_name("team").await.unwrap(), None);
        assert_eq!(m.list_users("", 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn update_user_applies_only_the_given_fields() {
        let (_d, m) = test_meta().await;
        let u = m.create_user(&test_user("bob")).await.unwrap();
        let patch = UserPatch {
            email: Some(Some("b@example.com".into())),
            admin: Some(true),
            disabled: None,
        };
        let v = m.update_user("bob", &patch).await.unwrap().unwrap();
        assert_eq!(v.email.as_deref(), Some("b@example.com"));
        assert!(v.admin && !v.disabled);
        assert_eq!(v.epoch, u.epoch);

        let keep = UserPatch::default();
        let v = m.update_user("bob", &keep).await.unwrap().unwrap();
        assert_eq!(v.email.as_deref(), Some("b@example.com"));
        assert!(v.admin);

        let clear = UserPatch {
            email: Some(None),
            ..UserPatch::default()
        };
        let v = m.update_user("bob", &clear).await.unwrap().unwrap();
        assert_eq!(v.email, None);
        assert!(m.update_user("nobody", &clear).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn disabling_bumps_the_epoch_once_and_revokes_refresh_tokens() {
        let (_d, m) = test_meta().await;
        let u = m.create_user(&test_user("bob")).await.unwrap();
        test_token(&m, "h1", "user", u.id).await;
        let disable = disabled(true);
        let v = m.update_user("bob", &disable).await.unwrap().unwrap();
        assert!(v.disabled);
        assert_eq!(v.epoch, 1);
        assert!(m.refresh_token("h1").await.unwrap().unwrap().revoked);

        // Already disabled: no second bump. Enabling again does not bump either.
        let v = m.update_user("bob", &disable).await.unwrap().unwrap();
        assert_eq!(v.epoch, 1);
        let enable = disabled(false);
        let v = m.update_user("bob", &enable).await.unwrap().unwrap();
        assert!(!v.disabled);
        assert_eq!(v.epoch, 1);
    }

    #[tokio::test]
    async fn set_password_bumps_the_epoch_and_revokes_refresh_tokens() {
        let (_d, m) = test_meta().await;
        let u = m.create_user(&test_user("carol")).await.unwrap();
        let other = m.create_user(&test_user("dave")).await.unwrap();
        test_token(&m, "mine", "user", u.id).await;
        test_token(&m, "theirs", "user", other.id).await;
        assert!(m.set_password("carol", "$argon2id$new").await.unwrap());
        let v = m.user_by_name("carol").await.unwrap().unwrap();
        assert_eq!(v.password_hash.as_deref(), Some("$argon2id$new"));
        assert_eq!(v.epoch, u.epoch + 1);
        assert!(m.refresh_token("mine").await.unwrap().unwrap().revoked);
        assert!(!m.refresh_token("theirs").await.unwrap().unwrap().revoked);
        assert!(!m.set_password("nobody", "x").await.unwrap());
    }

    #[tokio::test]
    async fn delete_user_drops_memberships_and_tokens_but_keeps_the_personal_org() {
        let (_d, m) = test_meta().await;
        let u = m.create_user(&test_user("erin")).await.unwrap();
        let team = m.create_org("team", false, Some(u.id)).await.unwrap();
        let g = m.ensure_group("devs", None).await.unwrap();
        m.set_group_memberships(u.id, &[g.id], true).await.unwrap();
        test_token(&m, "h", "user", u.id).await;

        assert!(m.delete_user("erin").await.unwrap());
        assert_eq!(m.user_by_name("erin").await.unwrap(), None);
        assert!(m.list_members(team.id).await.unwrap().is_empty());
        assert_eq!(m.refresh_token("h").await.unwrap(), None);
        let groups = m.list_groups("", 100).await.unwrap();
        assert!(groups[0].1.is_empty(), "{groups:?}");
        let personal = m.org_by_name("erin").await.unwrap().unwrap();
        assert!(m.list_members(personal.id).await.unwrap().is_empty());
        assert!(!m.delete_user("erin").await.unwrap());
        // The personal org keeps the name taken.
        let again = m.create_user(&test_user("erin")).await;
        assert!(matches!(again, Err(MetaError::Conflict)), "{again:?}");
    }

    #[tokio::test]
    async fn count_admins_counts_enabled_admins_only() {
        let (_d, m) = test_meta().await;
        assert_eq!(m.count_admins().await.unwrap(), 0);
        for (name, admin) in [("a1", true), ("a2", true), ("u1", false)] {
            let u = NewUser {
                admin,
                ..test_user(name)
            };
            m.create_user(&u).await.unwrap();
        }
        assert_eq!(m.count_admins().await.unwrap(), 2);
        m.update_user("a2", &disabled(true)).await.unwrap();
        assert_eq!(m.count_admins().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn list_users_pages_by_name_after_a_cursor() {
        let (_d, m) = test_meta().await;
        for name in ["carl", "abe", "bea"] {
            m.create_user(&test_user(name)).await.unwrap();
        }
        let names =
            |rows: Vec<crate::UserRow>| rows.into_iter().map(|u| u.name).collect::<Vec<_>>();
        assert_eq!(names(m.list_users("", 2).await.unwrap()), ["abe", "bea"]);
        assert_eq!(names(m.list_users("bea", 2).await.unwrap()), ["carl"]);
        assert!(m.list_users("carl", 2).await.unwrap().is_empty());
    }
}
