//! Blob records (one per digest, whatever links it) and their links to repositories.

use sqlx::Row;

use crate::db::placeholders;
use crate::{now_ms, Backend, Meta, MetaError};

impl Meta {
    /// Size of blob `digest` if it is linked into repository `repo`.
    pub async fn blob_in_repo(&self, repo: &str, digest: &str) -> Result<Option<i64>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(
                "SELECT b.size FROM repo_blobs l \
                 JOIN repositories r ON r.id = l.repo_id \
                 JOIN blobs b ON b.digest = l.digest \
                 WHERE r.name = $1 AND l.digest = $2",
            )
            .bind(repo)
            .bind(digest)
            .fetch_optional(&self.read)
            .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
        .await
    }

    /// Records blob `digest` (if new) and links it into `repo`, creating the repository.
    pub async fn link_blob(&self, repo: &str, digest: &str, size: i64) -> Result<(), MetaError> {
        self.timed(async move {
            self.link_blob_ending(repo, digest, size, None).await?;
            Ok(())
        })
        .await
    }

    /// [`Meta::link_blob`], and in the same transaction ends upload session `upload` (its id and
    /// the size the session row must still record): the blob becomes visible exactly when its
    /// session disappears. False, with nothing changed, when the session is gone or has moved
    /// (another request or replica wrote to it meanwhile).
    pub async fn link_blob_ending(
        &self,
        repo: &str,
        digest: &str,
        size: i64,
        upload: Option<(&str, i64)>,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let now = now_ms();
            if let (Some((id, at)), Backend::Sqlite) = (upload, self.backend()) {
                return self.end_session_sqlite(repo, digest, size, id, at, now).await;
            }
            let mut tx = self.write.begin().await?;
            if let Some((id, at)) = upload {
                let ended = sqlx::query("DELETE FROM uploads WHERE id = $1 AND size = $2")
                    .bind(id)
                    .bind(at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if ended == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
            }
            sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING")
                .bind(digest)
                .bind(size)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            // The repository exists in the common case: link first, and create it only when
            // nothing was linked (the link existed already, or the repository did not).
            let link = "INSERT INTO repo_blobs (repo_id, digest, created_at) SELECT id, $2, $3 FROM repositories WHERE name = $1 ON CONFLICT (repo_id, digest) DO NOTHING";
            let linked = sqlx::query(link)
                .bind(repo)
                .bind(digest)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if linked == 0 {
                let created = sqlx::query(
                    "INSERT INTO repositories (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(repo)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if created > 0 {
                    sqlx::query(link)
                        .bind(repo)
                        .bind(digest)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
    }

    /// [`Meta::link_blob_ending`] on SQLite in one call to the connection's worker thread (the
    /// hot path of every pushed blob): the inserts take effect only while the session row still
    /// holds `at` bytes, and the row's deletion reports whether it did.
    async fn end_session_sqlite(
        &self,
        repo: &str,
        digest: &str,
        size: i64,
        id: &str,
        at: i64,
        now: i64,
    ) -> Result<bool, MetaError> {
        const SQL: &str = "BEGIN; \
            INSERT INTO blobs (digest, size, created_at) SELECT $2, $3, $4 \
              WHERE EXISTS (SELECT 1 FROM uploads WHERE id = $5 AND size = $6) \
              ON CONFLICT (digest) DO NOTHING; \
            INSERT INTO repositories (name, created_at) SELECT $1, $4 \
              WHERE EXISTS (SELECT 1 FROM uploads WHERE id = $5 AND size = $6) \
              ON CONFLICT (name) DO NOTHING; \
            INSERT INTO repo_blobs (repo_id, digest, created_at) SELECT id, $2, $4 FROM repositories \
              WHERE name = $1 AND EXISTS (SELECT 1 FROM uploads WHERE id = $5 AND size = $6) \
              ON CONFLICT (repo_id, digest) DO NOTHING; \
            DELETE FROM uploads WHERE id = $5 AND size = $6 RETURNING id; \
            COMMIT";
        let mut conn = self.write.acquire().await?;
        let result = sqlx::query(SQL)
            .bind(repo)
            .bind(digest)
            .bind(size)
            .bind(now)
            .bind(id)
            .bind(at)
            .fetch_all(&mut *conn)
            .await;
        match result {
            Ok(rows) => Ok(rows.len() == 1),
            Err(e) => {
                // A statement failed inside the transaction: end it before the connection goes
                // back to the pool (an error here means it had ended already).
                if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
                    && sqlx::query("SELECT 1").execute(&mut *conn).await.is_err()
                {
                    drop(conn.detach());
                }
                Err(e.into())
            }
        }
    }

    /// Removes the link of `digest` from `repo`; false if there was none. The stored bytes stay
    /// until garbage collection finds no link left.
    pub async fn unlink_blob(&self, repo: &str, digest: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let res = sqlx::query(
                "DELETE FROM repo_blobs WHERE digest = $2 AND repo_id = (SELECT id FROM repositories WHERE name = $1)",
            )
            .bind(repo)
            .bind(digest)
            .execute(&self.write)
            .await?;
            Ok(res.rows_affected() > 0)
        })
        .await
    }

    /// Those of `digests` that are not linked into `repo`.
    pub async fn missing_blobs(
        &self,
        repo: &str,
        digests: &[String],
    ) -> Result<Vec<String>, MetaError> {
        self.timed(async move {
            self.missing(
                "SELECT l.digest FROM repo_blobs l JOIN repositories r ON r.id = l.repo_id WHERE r.name = $1 AND l.digest IN",
                repo,
                digests,
            )
            .await
        })
        .await
    }

    /// Those of `digests` that are not manifests of `repo`.
    pub async fn missing_manifests(
        &self,
        repo: &str,
        digests: &[String],
    ) -> Result<Vec<String>, MetaError> {
        self.timed(async move {
            self.missing(
                "SELECT m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest IN",
                repo,
                digests,
            )
            .await
        })
        .await
    }

    async fn missing(
        &self,
        select: &str,
        repo: &str,
        digests: &[String],
    ) -> Result<Vec<String>, MetaError> {
        let mut wanted: Vec<&String> = digests.iter().collect();
        wanted.sort();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("{select} ({})", placeholders(2, wanted.len()));
        let mut q = sqlx::query(&sql).bind(repo);
        for d in &wanted {
            q = q.bind(d.as_str());
        }
        let found: Vec<String> = q
            .fetch_all(&self.read)
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        Ok(wanted
            .into_iter()
            .filter(|d| !found.contains(d))
            .cloned()
            .collect())
    }
}
