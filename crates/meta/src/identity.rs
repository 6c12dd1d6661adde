//! Identities: users, groups, organizations, their members and robot accounts.
//!
//! Booleans are stored as 0/1 integers on both dialects. A user's `epoch` is the generation of
//! their credentials: a password change or a disable bumps it, which invalidates refresh tokens
//! and cached credential checks issued under an older epoch.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use crate::db::{id_by_name, in_org};
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

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner: Option<String>,
    pub created_at: i64,
}

/// One member of an org: a user or a group, with its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// `user` or `group`.
    pub kind: String,
    pub name: String,
    pub role: String,
    pub created_at: i64,
}

/// A group of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRow {
    pub id: i64,
    pub name: String,
    pub external_dn: Option<String>,
}

/// A robot account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RobotRow {
    pub id: i64,
    pub org: String,
    pub name: String,
    pub description: Option<String>,
    pub secret_hash: String,
    /// JSON list of robot rules.
    pub rules: String,
    pub expires_at: Option<i64>,
    pub disabled: bool,
    pub created_by: Option<String>,
    pub created_at: i64,
}

/// A new robot account.
#[derive(Debug, Clone)]
pub struct NewRobot<'a> {
    pub org: &'a str,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub secret_hash: &'a str,
    pub rules: &'a str,
    pub expires_at: Option<i64>,
    pub created_by: Option<&'a str>,
}

const USER_COLS: &str =
    "id, name, email, password_hash, admin, disabled, epoch, source, created_at";

fn user_row(r: &AnyRow) -> Result<UserRow, MetaError> {
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
    })
}

const ORG_COLS: &str = "id, name, public, owner, created_at";

fn org_row(r: &AnyRow) -> Result<OrgRow, MetaError> {
    Ok(OrgRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        public: r.try_get::<i64, _>(2)? != 0,
        owner: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

const ROBOT_COLS: &str = "r.id, o.name, r.name, r.description, r.secret_hash, r.rules, \
     r.expires_at, r.disabled, r.created_by, r.created_at";

fn robot_row(r: &AnyRow) -> Result<RobotRow, MetaError> {
    Ok(RobotRow {
        id: r.try_get(0)?,
        org: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        secret_hash: r.try_get(4)?,
        rules: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        disabled: r.try_get::<i64, _>(7)? != 0,
        created_by: r.try_get(8)?,
        created_at: r.try_get(9)?,
    })
}

fn flag(b: bool) -> i64 {
    i64::from(b)
}

impl Meta {
    // ---- users ----

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

    // ---- groups ----

    /// The group named `name`, created if missing.
    pub async fn ensure_group(&self, name: &str, dn: Option<&str>) -> Result<GroupRow, MetaError> {
        self.timed(async move {
            sqlx::query(
                "INSERT INTO user_groups (name, external_dn, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(dn)
            .bind(now_ms())
            .execute(&self.write)
            .await?;
            let r = sqlx::query("SELECT id, name, external_dn FROM user_groups WHERE name = $1")
                .bind(name)
                .fetch_one(&self.write)
                .await?;
            Ok(GroupRow {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                external_dn: r.try_get(2)?,
            })
        })
        .await
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<GroupRow>, MetaError> {
        self.timed(async move {
            let r = sqlx::query("SELECT id, name, external_dn FROM user_groups WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
            r.map(|r| {
                Ok(GroupRow {
                    id: r.try_get(0)?,
                    name: r.try_get(1)?,
                    external_dn: r.try_get(2)?,
                })
            })
            .transpose()
        })
        .await
    }

    /// Makes `user_id` a member of exactly the groups `group_ids` (a directory login syncs
    /// this), or adds one membership when `replace` is false.
    pub async fn set_group_memberships(
        &self,
        user_id: i64,
        group_ids: &[i64],
        replace: bool,
    ) -> Result<(), MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            if replace {
                sqlx::query("DELETE FROM group_members WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            for g in group_ids {
                sqlx::query(
                    "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(g)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Every group, by name, with its member user names.
    pub async fn list_groups(&self) -> Result<Vec<(GroupRow, Vec<String>)>, MetaError> {
        self.timed(async move {
            let groups = sqlx::query("SELECT id, name, external_dn FROM user_groups ORDER BY name")
                .fetch_all(&self.read)
                .await?;
            let members = sqlx::query(
                "SELECT gm.group_id, u.name FROM group_members gm JOIN users u ON u.id = gm.user_id ORDER BY u.name",
            )
            .fetch_all(&self.read)
            .await?;
            let mut out = Vec::with_capacity(groups.len());
            for g in &groups {
                let row = GroupRow {
                    id: g.try_get(0)?,
                    name: g.try_get(1)?,
                    external_dn: g.try_get(2)?,
                };
                let mut names = Vec::new();
                for m in &members {
                    if m.try_get::<i64, _>(0)? == row.id {
                        names.push(m.try_get(1)?);
                    }
                }
                out.push((row, names));
            }
            Ok(out)
        })
        .await
    }

    /// Removes `user_id` from group `group_id`; false when it was not a member.
    pub async fn remove_group_member(
        &self,
        group_id: i64,
        user_id: i64,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(group_id)
                .bind(user_id)
                .execute(&self.write)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    // ---- orgs ----

    /// Creates an org; [`MetaError::Conflict`] when it exists. `creator` becomes its admin.
    pub async fn create_org(
        &self,
        name: &str,
        public: bool,
        creator: Option<i64>,
    ) -> Result<OrgRow, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let id = insert_org(&mut tx, name, public, None).await?;
            if let Some(u) = creator {
                set_member_tx(&mut tx, id, "user", u, "admin").await?;
            }
            let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM orgs WHERE id = $1"))
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            org_row(&row)
        })
        .await
    }

    /// The org named `name`, created private if missing (a system admin's first push).
    pub async fn ensure_org(&self, name: &str) -> Result<OrgRow, MetaError> {
        self.timed(async move {
            let now = now_ms();
            sqlx::query(
                "INSERT INTO orgs (name, public, created_at, updated_at) VALUES ($1, 0, $2, $2) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(now)
            .execute(&self.write)
            .await?;
            let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM orgs WHERE name = $1"))
                .bind(name)
                .fetch_one(&self.write)
                .await?;
            org_row(&row)
        })
        .await
    }

    pub async fn org_by_name(&self, name: &str) -> Result<Option<OrgRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM orgs WHERE name = $1"))
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
            row.as_ref().map(org_row).transpose()
        })
        .await
    }

    /// Orgs sorted by name after `after`; with `visible_to = Some(user id)` only public orgs
    /// and orgs the user is a member of (directly or through a group).
    pub async fn list_orgs(
        &self,
        after: &str,
        limit: i64,
        visible_to: Option<i64>,
    ) -> Result<Vec<OrgRow>, MetaError> {
        self.timed(async move {
            let rows = match visible_to {
                None => {
                    sqlx::query(&format!(
                        "SELECT {ORG_COLS} FROM orgs WHERE name > $1 ORDER BY name LIMIT $2"
                    ))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?
                }
                Some(user) => {
                    sqlx::query(&format!(
                        "SELECT {ORG_COLS} FROM orgs WHERE name > $1 AND (public = 1 OR id IN ({MEMBER_ORGS})) \
                         ORDER BY name LIMIT $2"
                    ))
                    .bind(after)
                    .bind(limit)
                    .bind(user)
                    .fetch_all(&self.read)
                    .await?
                }
            };
            rows.iter().map(org_row).collect()
        })
        .await
    }

    /// Sets an org's public flag; `None` when there is no such org.
    pub async fn update_org(&self, name: &str, public: bool) -> Result<Option<OrgRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "UPDATE orgs SET public = $1, updated_at = $2 WHERE name = $3 RETURNING {ORG_COLS}"
            ))
            .bind(flag(public))
            .bind(now_ms())
            .bind(name)
            .fetch_optional(&self.write)
            .await?;
            row.as_ref().map(org_row).transpose()
        })
        .await
    }

    /// Number of repositories in an org.
    pub async fn org_repo_count(&self, name: &str) -> Result<i64, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) FROM repositories WHERE {}",
                in_org("name", "$1")
            ))
            .bind(name)
            .fetch_one(&self.read)
            .await?;
            Ok(row.try_get(0)?)
        })
        .await
    }

    /// Deletes an org with its members and robots (the caller makes sure it holds no
    /// repositories). False when there is no such org.
    pub async fn delete_org(&self, name: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(id) = id_by_name(&mut tx, "orgs", name).await? else {
                return Ok(false);
            };
            sqlx::query(
                "DELETE FROM refresh_tokens WHERE kind = 'robot' AND subject_id IN (SELECT id FROM robots WHERE org_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            for table in ["robots", "org_members"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE org_id = $1"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("DELETE FROM orgs WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    // ---- members ----

    /// Adds or changes a member's role. `kind` is `user` or `group`.
    pub async fn set_member(
        &self,
        org_id: i64,
        kind: &str,
        member_id: i64,
        role: &str,
    ) -> Result<(), MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            set_member_tx(&mut tx, org_id, kind, member_id, role).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    /// Removes a member; false when it was not one.
    pub async fn remove_member(
        &self,
        org_id: i64,
        kind: &str,
        member_id: i64,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query(
                "DELETE FROM org_members WHERE org_id = $1 AND kind = $2 AND member_id = $3",
            )
            .bind(org_id)
            .bind(kind)
            .bind(member_id)
            .execute(&self.write)
            .await?
            .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// The org's members, users then groups, by name.
    pub async fn list_members(&self, org_id: i64) -> Result<Vec<MemberRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT m.kind, u.name, m.role, m.created_at FROM org_members m JOIN users u \
                   ON m.kind = 'user' AND u.id = m.member_id WHERE m.org_id = $1 \
                 UNION ALL \
                 SELECT m.kind, g.name, m.role, m.created_at FROM org_members m JOIN user_groups g \
                   ON m.kind = 'group' AND g.id = m.member_id WHERE m.org_id = $1 \
                 ORDER BY 1 DESC, 2",
            )
            .bind(org_id)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(MemberRow {
                        kind: r.try_get(0)?,
                        name: r.try_get(1)?,
                        role: r.try_get(2)?,
                        created_at: r.try_get(3)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// The roles `user_id` holds in `org_id`: directly and through each of their groups.
    pub async fn member_roles(&self, org_id: i64, user_id: i64) -> Result<Vec<String>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT role FROM org_members WHERE org_id = $1 AND \
                 ((kind = 'user' AND member_id = $2) OR \
                  (kind = 'group' AND member_id IN (SELECT group_id FROM group_members WHERE user_id = $2)))",
            )
            .bind(org_id)
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).map_err(MetaError::from))
                .collect()
        })
        .await
    }

    // ---- robots ----

    /// Creates a robot; [`MetaError::Conflict`] when the org has one of that name. `None` when
    /// the org does not exist.
    pub async fn create_robot(&self, r: &NewRobot<'_>) -> Result<Option<RobotRow>, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(org_id) = id_by_name(&mut tx, "orgs", r.org).await? else {
                return Ok(None);
            };
            sqlx::query(
                "INSERT INTO robots (org_id, name, description, secret_hash, rules, expires_at, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(org_id)
            .bind(r.name)
            .bind(r.description)
            .bind(r.secret_hash)
            .bind(r.rules)
            .bind(r.expires_at)
            .bind(r.created_by)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            let row = sqlx::query(&format!(
                "SELECT {ROBOT_COLS} FROM robots r JOIN orgs o ON o.id = r.org_id WHERE r.org_id = $1 AND r.name = $2"
            ))
            .bind(org_id)
            .bind(r.name)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(robot_row(&row)?))
        })
        .await
    }

    pub async fn robot(&self, org: &str, name: &str) -> Result<Option<RobotRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "SELECT {ROBOT_COLS} FROM robots r JOIN orgs o ON o.id = r.org_id WHERE o.name = $1 AND r.name = $2"
            ))
            .bind(org)
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
            row.as_ref().map(robot_row).transpose()
        })
        .await
    }

    pub async fn robot_by_id(&self, id: i64) -> Result<Option<RobotRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "SELECT {ROBOT_COLS} FROM robots r JOIN orgs o ON o.id = r.org_id WHERE r.id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
            row.as_ref().map(robot_row).transpose()
        })
        .await
    }

    pub async fn list_robots(&self, org: &str) -> Result<Vec<RobotRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(&format!(
                "SELECT {ROBOT_COLS} FROM robots r JOIN orgs o ON o.id = r.org_id WHERE o.name = $1 ORDER BY r.name"
            ))
            .bind(org)
            .fetch_all(&self.read)
            .await?;
            rows.iter().map(robot_row).collect()
        })
        .await
    }

    /// Deletes (revokes) a robot and its refresh tokens; false when there is none.
    pub async fn delete_robot(&self, org: &str, name: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(row) = sqlx::query(
                "SELECT r.id FROM robots r JOIN orgs o ON o.id = r.org_id WHERE o.name = $1 AND r.name = $2",
            )
            .bind(org)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            else {
                return Ok(false);
            };
            let id: i64 = row.try_get(0)?;
            revoke_subject_tx(&mut tx, "robot", id).await?;
            sqlx::query("DELETE FROM robots WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}

/// Org ids `$3` (a user id) is a member of, directly or through a group.
pub(crate) const MEMBER_ORGS: &str =
    "SELECT org_id FROM org_members WHERE (kind = 'user' AND member_id = $3) \
     OR (kind = 'group' AND member_id IN (SELECT group_id FROM group_members WHERE user_id = $3))";

async fn insert_org(
    tx: &mut Transaction<'_, Any>,
    name: &str,
    public: bool,
    owner: Option<&str>,
) -> Result<i64, MetaError> {
    let now = now_ms();
    let row = sqlx::query(
        "INSERT INTO orgs (name, public, owner, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(name)
    .bind(flag(public))
    .bind(owner)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get(0)?)
}

async fn set_member_tx(
    tx: &mut Transaction<'_, Any>,
    org_id: i64,
    kind: &str,
    member_id: i64,
    role: &str,
) -> Result<(), MetaError> {
    sqlx::query(
        "INSERT INTO org_members (org_id, kind, member_id, role, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, kind, member_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(kind)
    .bind(member_id)
    .bind(role)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(crate) async fn revoke_subject_tx(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    id: i64,
) -> Result<(), MetaError> {
    sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE kind = $1 AND subject_id = $2")
        .bind(kind)
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
