//! Organizations: the first path component of every repository name, public or private.
//!
//! An org is created explicitly (its creator becomes its admin), implicitly on a system admin's
//! first push, or as a user's personal org (whose `owner` is that user's name).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::flag;
use super::members::{set_member_tx, MEMBER_ORGS};
use crate::db::{id_by_name, in_org, like_escape, like_pattern};
use crate::{now_ms, Meta, MetaError};

/// An organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRow {
    pub id: i64,
    pub name: String,
    pub public: bool,
    pub owner: Option<String>,
    pub created_at: i64,
    pub description: Option<String>,
}

const ORG_COLS: &str = "id, name, public, owner, created_at, description";

fn org_row(r: &AnyRow) -> Result<OrgRow, MetaError> {
    Ok(OrgRow {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        public: r.try_get::<i64, _>(2)? != 0,
        owner: r.try_get(3)?,
        created_at: r.try_get(4)?,
        description: r.try_get(5)?,
    })
}

impl Meta {
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

    /// Orgs sorted by name after `after`, whose name contains `contains` (empty: all); with
    /// `visible_to = Some(user id)` only public orgs and orgs the user is a member of (directly
    /// or through a group).
    pub async fn list_orgs(
        &self,
        after: &str,
        limit: i64,
        visible_to: Option<i64>,
        contains: &str,
    ) -> Result<Vec<OrgRow>, MetaError> {
        let pattern = like_pattern(contains);
        self.timed(async move {
            let rows = match visible_to {
                None => {
                    sqlx::query(&format!(
                        "SELECT {ORG_COLS} FROM orgs WHERE name > $1 AND name LIKE $3 ESCAPE '\\' \
                         ORDER BY name LIMIT $2"
                    ))
                    .bind(after)
                    .bind(limit)
                    .bind(&pattern)
                    .fetch_all(&self.read)
                    .await?
                }
                Some(user) => {
                    sqlx::query(&format!(
                        "SELECT {ORG_COLS} FROM orgs WHERE name > $1 AND (public = 1 OR id IN ({MEMBER_ORGS})) \
                         AND name LIKE $4 ESCAPE '\\' ORDER BY name LIMIT $2"
                    ))
                    .bind(after)
                    .bind(limit)
                    .bind(user)
                    .bind(&pattern)
                    .fetch_all(&self.read)
                    .await?
                }
            };
            rows.iter().map(org_row).collect()
        })
        .await
    }

    /// Sets an org's public flag and, when given, its description (`Some("")` clears it);
    /// `None` when there is no such org.
    pub async fn update_org(
        &self,
        name: &str,
        public: bool,
        description: Option<&str>,
    ) -> Result<Option<OrgRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "UPDATE orgs SET public = $1, updated_at = $2, \
                 description = CASE WHEN $4 = 1 THEN $5 ELSE description END \
                 WHERE name = $3 RETURNING {ORG_COLS}"
            ))
            .bind(flag(public))
            .bind(now_ms())
            .bind(name)
            .bind(flag(description.is_some()))
            .bind(description.filter(|d| !d.is_empty()))
            .fetch_optional(&self.write)
            .await?;
            row.as_ref().map(org_row).transpose()
        })
        .await
    }

    /// Number of repositories in an org (the `LIKE` prefix lets PostgreSQL read a range of the
    /// name index instead of every repository).
    pub async fn org_repo_count(&self, name: &str) -> Result<i64, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "SELECT COUNT(*) FROM repositories WHERE {} AND name LIKE $2 ESCAPE '\\'",
                in_org("name", "$1")
            ))
            .bind(name)
            .bind(format!("{}/%", like_escape(name)))
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
}

/// Inserts an org inside a write transaction and returns its id; a taken name fails with
/// [`MetaError::Conflict`].
pub(super) async fn insert_org(
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

#[cfg(test)]
mod tests {
    use crate::identity::{test_meta, test_robot, test_token, test_user};
    use crate::{MetaError, OrgRow};

    fn names(rows: Vec<OrgRow>) -> Vec<String> {
        rows.into_iter().map(|o| o.name).collect()
    }

    #[tokio::test]
    async fn create_org_makes_the_creator_admin_and_conflicts_on_a_taken_name() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let team = m.create_org("team", true, Some(ann.id)).await.unwrap();
        assert_eq!((team.name.as_str(), team.public), ("team", true));
        assert_eq!(team.owner, None);
        assert_eq!(m.org_by_name("team").await.unwrap(), Some(team.clone()));
        assert_eq!(m.member_roles(team.id, ann.id).await.unwrap(), ["admin"]);

        let solo = m.create_org("solo", false, None).await.unwrap();
        assert!(!solo.public);
        assert!(m.list_members(solo.id).await.unwrap().is_empty());

        for taken in ["team", "ann"] {
            let r = m.create_org(taken, false, None).await;
            assert!(matches!(r, Err(MetaError::Conflict)), "{taken}: {r:?}");
        }
        assert_eq!(m.org_by_name("ghost").await.unwrap(), None);
    }

    #[tokio::test]
    async fn ensure_org_creates_a_private_org_once_and_leaves_an_existing_one_alone() {
        let (_d, m) = test_meta().await;
        let o = m.ensure_org("pushed").await.unwrap();
        assert!(!o.public);
        assert_eq!(o.owner, None);
        assert_eq!(m.ensure_org("pushed").await.unwrap(), o);

        let public = m.create_org("open", true, None).await.unwrap();
        assert_eq!(m.ensure_org("open").await.unwrap(), public);
        assert_eq!(m.list_orgs("", 10, None, "").await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn list_orgs_shows_a_user_public_orgs_and_their_own() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let bob = m.create_user(&test_user("bob")).await.unwrap();
        m.create_org("open", true, None).await.unwrap();
        m.create_org("closed", false, None).await.unwrap();
        let direct = m.create_org("direct", false, None).await.unwrap();
        m.set_member(direct.id, "user", ann.id, "reader")
            .await
            .unwrap();
        let via = m.create_org("viagroup", false, None).await.unwrap();
        let g = m.ensure_group("devs", None).await.unwrap();
        m.set_group_memberships(ann.id, &[g.id], true)
            .await
            .unwrap();
        m.set_member(via.id, "group", g.id, "writer").await.unwrap();

        let all = names(m.list_orgs("", 100, None, "").await.unwrap());
        assert_eq!(all, ["ann", "bob", "closed", "direct", "open", "viagroup"]);
        let anns = names(m.list_orgs("", 100, Some(ann.id), "").await.unwrap());
        assert_eq!(anns, ["ann", "direct", "open", "viagroup"]);
        let bobs = names(m.list_orgs("", 100, Some(bob.id), "").await.unwrap());
        assert_eq!(bobs, ["bob", "open"]);

        let page = names(m.list_orgs("ann", 2, Some(ann.id), "").await.unwrap());
        assert_eq!(page, ["direct", "open"]);
        let page = names(m.list_orgs("b", 2, None, "").await.unwrap());
        assert_eq!(page, ["bob", "closed"]);
        // A search: names containing the text; LIKE's wildcards are plain characters.
        let found = names(m.list_orgs("", 100, None, "o").await.unwrap());
        assert_eq!(found, ["bob", "closed", "open", "viagroup"]);
        let found = names(m.list_orgs("", 100, Some(bob.id), "o").await.unwrap());
        assert_eq!(found, ["bob", "open"]);
        assert!(m.list_orgs("", 100, None, "_").await.unwrap().is_empty());
        assert!(m.list_orgs("", 100, None, "%").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn update_org_sets_the_public_flag() {
        let (_d, m) = test_meta().await;
        let o = m.create_org("team", false, None).await.unwrap();
        let v = m.update_org("team", true, None).await.unwrap().unwrap();
        assert!(v.public);
        assert_eq!((v.id, v.created_at), (o.id, o.created_at));
        assert_eq!(m.org_by_name("team").await.unwrap(), Some(v));
        let d = m
            .update_org("team", false, Some("our images"))
            .await
            .unwrap()
            .unwrap();
        assert!(!d.public);
        assert_eq!(d.description.as_deref(), Some("our images"));
        // Without a description the old one stays; an empty one clears it.
        let kept = m.update_org("team", false, None).await.unwrap().unwrap();
        assert_eq!(kept.description.as_deref(), Some("our images"));
        let cleared = m
            .update_org("team", false, Some(""))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(cleared.description, None);
        assert_eq!(m.update_org("ghost", true, None).await.unwrap(), None);
    }

    #[tokio::test]
    async fn org_repo_count_counts_only_repositories_under_the_org() {
        let (_d, m) = test_meta().await;
        for name in ["team/app", "team/lib/x", "teamwork/app", "other/team"] {
            sqlx::query("INSERT INTO repositories (name, created_at) VALUES ($1, 0)")
                .bind(name)
                .execute(&m.write)
                .await
                .unwrap();
        }
        assert_eq!(m.org_repo_count("team").await.unwrap(), 2);
        assert_eq!(m.org_repo_count("teamwork").await.unwrap(), 1);
        assert_eq!(m.org_repo_count("ghost").await.unwrap(), 0);
    }

    #[tokio::test]
    async fn delete_org_drops_its_members_robots_and_their_tokens() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let team = m.create_org("team", false, Some(ann.id)).await.unwrap();
        let ci = m
            .create_robot(&test_robot("team", "ci"))
            .await
            .unwrap()
            .unwrap();
        let kept = m
            .create_robot(&test_robot("ann", "ci"))
            .await
            .unwrap()
            .unwrap();
        test_token(&m, "gone", "robot", ci.id).await;
        test_token(&m, "kept", "robot", kept.id).await;

        assert!(m.delete_org("team").await.unwrap());
        assert_eq!(m.org_by_name("team").await.unwrap(), None);
        assert_eq!(m.robot_by_id(ci.id).await.unwrap(), None);
        assert_eq!(m.refresh_token("gone").await.unwrap(), None);
        assert!(m.member_roles(team.id, ann.id).await.unwrap().is_empty());
        assert_eq!(m.robot_by_id(kept.id).await.unwrap(), Some(kept));
        assert!(m.refresh_token("kept").await.unwrap().is_some());
        assert!(m.user_by_name("ann").await.unwrap().is_some());
        assert!(!m.delete_org("team").await.unwrap());
    }
}
