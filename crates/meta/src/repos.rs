//! Repositories: created on first content, listed for the catalog.

use sqlx::{Any, Row, Transaction};

use crate::{now_ms, Meta, MetaError};

impl Meta {
    /// True when the repository has been created (by a blob link or a manifest).
    pub async fn repo_exists(&self, name: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let row = sqlx::query("SELECT 1 FROM repositories WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
            Ok(row.is_some())
        })
        .await
    }

    /// Repository names sorted bytewise, strictly after `after`, at most `limit`.
    pub async fn list_repos(&self, after: &str, limit: i64) -> Result<Vec<String>, MetaError> {
        self.timed(async move {
            let rows =
                sqlx::query("SELECT name FROM repositories WHERE name > $1 ORDER BY name LIMIT $2")
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.read)
                    .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>(0).map_err(MetaError::from))
                .collect()
        })
        .await
    }
}

/// The id of repository `name`, creating it if needed, inside a write transaction.
pub(crate) async fn ensure_repo(
    tx: &mut Transaction<'_, Any>,
    name: &str,
) -> Result<i64, MetaError> {
    sqlx::query(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query("SELECT id FROM repositories WHERE name = $1")
        .bind(name)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get(0)?)
}
