//! Personal CLI tokens: a user's named secrets for `docker login` and the API, stored hashed,
//! with an optional expiry. A user holds a bounded number of them (the service sets the
//! bound), so listing a user's tokens reads a short list.

use sqlx::any::AnyRow;
use sqlx::Row;

use super::revoke_subject_tx;
use crate::{now_ms, Meta, MetaError};

/// A personal token (never its secret: only the hash is stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
}

const COLUMNS: &str = "id, user_id, name, created_at, expires_at";

fn row(r: &AnyRow) -> Result<PersonalTokenRow, MetaError> {
    Ok(PersonalTokenRow {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        name: r.try_get(2)?,
        created_at: r.try_get(3)?,
        expires_at: r.try_get(4)?,
    })
}

impl Meta {
    /// Stores a new token of `user_id`, unless the user already holds `max` tokens (then
    /// `Ok(None)`); a name the user already uses is `MetaError::Conflict`.
    pub async fn insert_personal_token(
        &self,
        user_id: i64,
        name: &str,
        hash: &str,
        expires_at: Option<i64>,
        max: i64,
    ) -> Result<Option<PersonalTokenRow>, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let held: i64 = sqlx::query(
                "SELECT CAST(COUNT(*) AS BIGINT) FROM personal_tokens WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
            if held >= max {
                return Ok(None);
            }
            sqlx::query(
                "INSERT INTO personal_tokens (user_id, name, hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(user_id)
            .bind(name)
            .bind(hash)
            .bind(now_ms())
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            let r = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM personal_tokens WHERE hash = $1"
            ))
            .bind(hash)
            .fetch_one(&mut *tx)
            .await?;
            let out = row(&r)?;
            tx.commit().await?;
            Ok(Some(out))
        })
        .await
    }

    /// The tokens of `user_id`, by name.
    pub async fn personal_tokens(&self, user_id: i64) -> Result<Vec<PersonalTokenRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM personal_tokens WHERE user_id = $1 ORDER BY name LIMIT 1000"
            ))
            .bind(user_id)
            .fetch_all(&self.read)
            .await?;
            rows.iter().map(row).collect()
        })
        .await
    }

    /// The token whose secret hashes to `hash`.
    pub async fn personal_token_by_hash(
        &self,
        hash: &str,
    ) -> Result<Option<PersonalTokenRow>, MetaError> {
        self.timed(async move {
            let r = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM personal_tokens WHERE hash = $1"
            ))
            .bind(hash)
            .fetch_optional(&self.read)
            .await?;
            r.as_ref().map(row).transpose()
        })
        .await
    }

    /// Deletes token `name` of `user_id` and, in the same transaction, revokes the user's
    /// refresh tokens (a client that logged in with the token, e.g. `docker login`, holds one;
    /// it must stop now, not at its expiry). False when there was no such token.
    pub async fn delete_personal_token(&self, user_id: i64, name: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let n = sqlx::query("DELETE FROM personal_tokens WHERE user_id = $1 AND name = $2")
                .bind(user_id)
                .bind(name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            revoke_subject_tx(&mut tx, "user", user_id).await?;
            tx.commit().await?;
            Ok(true)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::identity::{test_meta, test_token, test_user};
    use crate::MetaError;

    #[tokio::test]
    async fn tokens_are_bounded_unique_by_name_and_revoke_refresh_tokens_when_deleted() {
        let (_d, m) = test_meta().await;
        let ann = m.create_user(&test_user("ann")).await.unwrap();
        let bob = m.create_user(&test_user("bob")).await.unwrap();
        let t = m
            .insert_personal_token(ann.id, "ci", "h1", Some(5), 2)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (t.user_id, t.name.as_str(), t.expires_at),
            (ann.id, "ci", Some(5))
        );
        // The same name twice is a conflict; another user may use it.
        assert!(matches!(
            m.insert_personal_token(ann.id, "ci", "h2", None, 2).await,
            Err(MetaError::Conflict)
        ));
        m.insert_personal_token(bob.id, "ci", "h3", None, 2)
            .await
            .unwrap()
            .unwrap();
        m.insert_personal_token(ann.id, "laptop", "h4", None, 2)
            .await
            .unwrap()
            .unwrap();
        // At the bound, nothing more is stored.
        assert_eq!(
            m.insert_personal_token(ann.id, "third", "h5", None, 2)
                .await
                .unwrap(),
            None
        );
        let names: Vec<String> = m
            .personal_tokens(ann.id)
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert_eq!(names, ["ci", "laptop"]);
        assert_eq!(m.personal_token_by_hash("h1").await.unwrap(), Some(t));
        assert_eq!(m.personal_token_by_hash("nope").await.unwrap(), None);

        // Deleting one revokes ann's refresh tokens, not bob's.
        test_token(&m, "r-ann", "user", ann.id).await;
        test_token(&m, "r-bob", "user", bob.id).await;
        assert!(m.delete_personal_token(ann.id, "ci").await.unwrap());
        assert!(!m.delete_personal_token(ann.id, "ci").await.unwrap());
        assert!(m.refresh_token("r-ann").await.unwrap().unwrap().revoked);
        assert!(!m.refresh_token("r-bob").await.unwrap().unwrap().revoked);
        assert_eq!(m.personal_token_by_hash("h1").await.unwrap(), None);
    }
}
