//! Robot accounts: named machine credentials that belong to one org, with a hashed secret,
//! access rules and an optional expiry.
//!
//! A robot's name is unique within its org; deleting a robot revokes its refresh tokens.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::revoke_subject_tx;
use crate::db::id_by_name;
use crate::{now_ms, Meta, MetaError};

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

impl Meta {
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

#[cfg(test)]
mod tests {
    use crate::identity::{test_meta, test_robot, test_token};
    use crate::{MetaError, NewRobot};

    #[tokio::test]
    async fn create_robot_stores_every_field_and_is_found_by_name_and_id() {
        let (_d, m) = test_meta().await;
        m.ensure_org("team").await.unwrap();
        let r = m
            .create_robot(&NewRobot {
                org: "team",
                name: "ci",
                description: Some("builds"),
                secret_hash: "$argon2id$s",
                rules: r#"[{"repositories":["*"],"actions":["pull"]}]"#,
                expires_at: Some(99),
                created_by: Some("ann"),
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!((r.org.as_str(), r.name.as_str()), ("team", "ci"));
        assert_eq!(r.description.as_deref(), Some("builds"));
        assert_eq!(r.secret_hash, "$argon2id$s");
        assert!(r.rules.contains("pull"));
        assert_eq!(r.expires_at, Some(99));
        assert!(!r.disabled);
        assert_eq!(r.created_by.as_deref(), Some("ann"));

        assert_eq!(m.robot("team", "ci").await.unwrap(), Some(r.clone()));
        assert_eq!(m.robot_by_id(r.id).await.unwrap(), Some(r.clone()));
        assert_eq!(m.robot("team", "cd").await.unwrap(), None);
        assert_eq!(m.robot("other", "ci").await.unwrap(), None);
        assert_eq!(m.robot_by_id(r.id + 1).await.unwrap(), None);
    }

    #[tokio::test]
    async fn robot_names_are_unique_per_org_and_need_an_existing_org() {
        let (_d, m) = test_meta().await;
        m.ensure_org("team").await.unwrap();
        m.ensure_org("other").await.unwrap();
        let first = m
            .create_robot(&test_robot("team", "ci"))
            .await
            .unwrap()
            .unwrap();
        let again = m.create_robot(&test_robot("team", "ci")).await;
        assert!(matches!(again, Err(MetaError::Conflict)), "{again:?}");
        let elsewhere = m
            .create_robot(&test_robot("other", "ci"))
            .await
            .unwrap()
            .unwrap();
        assert_ne!(first.id, elsewhere.id);
        assert_eq!(elsewhere.org, "other");
        assert_eq!(
            m.create_robot(&test_robot("ghost", "ci")).await.unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn list_robots_lists_one_org_by_name() {
        let (_d, m) = test_meta().await;
        m.ensure_org("team").await.unwrap();
        m.ensure_org("other").await.unwrap();
        for name in ["zz", "aa", "mm"] {
            m.create_robot(&test_robot("team", name)).await.unwrap();
        }
        m.create_robot(&test_robot("other", "bb")).await.unwrap();
        let names: Vec<_> = m
            .list_robots("team")
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["aa", "mm", "zz"]);
        assert!(m.list_robots("ghost").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn delete_robot_revokes_its_tokens() {
        let (_d, m) = test_meta().await;
        m.ensure_org("team").await.unwrap();
        let ci = m
            .create_robot(&test_robot("team", "ci"))
            .await
            .unwrap()
            .unwrap();
        let cd = m
            .create_robot(&test_robot("team", "cd"))
            .await
            .unwrap()
            .unwrap();
        test_token(&m, "ci", "robot", ci.id).await;
        test_token(&m, "cd", "robot", cd.id).await;

        assert!(m.delete_robot("team", "ci").await.unwrap());
        assert_eq!(m.robot("team", "ci").await.unwrap(), None);
        assert!(m.refresh_token("ci").await.unwrap().unwrap().revoked);
        assert!(!m.refresh_token("cd").await.unwrap().unwrap().revoked);
        assert!(!m.delete_robot("team", "ci").await.unwrap());
        assert!(!m.delete_robot("ghost", "cd").await.unwrap());
        assert_eq!(m.list_robots("team").await.unwrap(), [cd]);
    }
}
