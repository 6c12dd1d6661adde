//! Blob records (one per digest, whatever links it) and their links to repositories.

use std::sync::LazyLock;

use sqlx::Row;

use crate::db::placeholders;
use crate::{now_ms, Backend, Meta, MetaError};

/// "No session ($5 is NULL), or session $5 still holds $6 bytes."
macro_rules! session_holds {
    () => {
        "($5 IS NULL OR EXISTS (SELECT 1 FROM uploads WHERE id = $5 AND size = $6))"
    };
}

/// Recording blob `$2` (`$3` bytes, at time `$4`) and linking it into repository `$1`, creating
/// the repository; with an upload session (`$5` id, `$6` size) each step takes effect only
/// while the session row still holds `$6` bytes, and the last removes the row (returning it).
/// Every statement is bound with all six values.
const LINK: [&str; 4] = [
    concat!(
        "INSERT INTO blobs (digest, size, created_at) SELECT $2, $3, $4 WHERE ",
        session_holds!(),
        " ON CONFLICT (digest) DO NOTHING"
    ),
    concat!(
        "INSERT INTO repositories (name, created_at) SELECT $1, $4 WHERE ",
        session_holds!(),
        " ON CONFLICT (name) DO NOTHING"
    ),
    concat!(
        "INSERT INTO repo_blobs (repo_id, digest, created_at) SELECT id, $2, $4 FROM repositories WHERE name = $1 AND ",
        session_holds!(),
        " ON CONFLICT (repo_id, digest) DO NOTHING"
    ),
    "DELETE FROM uploads WHERE id = $5 AND size = $6 RETURNING id",
];

/// [`LINK`] as one SQLite transaction, for a single multi-statement call.
static LINK_SQLITE: LazyLock<String> =
    LazyLock::new(|| format!("BEGIN; {}; COMMIT", LINK.join("; ")));

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
        self.link_blob_ending(repo, digest, size, None)
            .await
            .map(|_| ())
    }

    /// [`Meta::link_blob`], and in the same transaction ends upload session `upload` (its id and
    /// the size the session row must still record): the blob becomes visible exactly when its
    /// session disappears. False, with nothing changed, when the session is gone or has moved
    /// (another request or replica wrote to it meanwhile).
    ///
    /// Both dialects run the same statements ([`LINK`]). SQLite takes them as one
    /// multi-statement call to its connection's worker thread (this is the last step of every
    /// pushed blob); PostgreSQL's extended protocol takes one statement per call, so there they
    /// run in a transaction.
    pub async fn link_blob_ending(
        &self,
        repo: &str,
        digest: &str,
        size: i64,
        upload: Option<(&str, i64)>,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let (id, at) = upload.unzip();
            let bind = |sql| {
                sqlx::query(sql)
                    .bind(repo)
                    .bind(digest)
                    .bind(size)
                    .bind(now_ms())
                    .bind(id)
                    .bind(at)
            };
            if self.backend() == Backend::Sqlite {
                let mut conn = self.write.acquire().await?;
                match bind(LINK_SQLITE.as_str()).fetch_all(&mut *conn).await {
                    Ok(rows) => return Ok(upload.is_none() || rows.len() == 1),
                    Err(e) => {
                        // A statement failed inside the transaction: end it before the
                        // connection goes back to the pool (an error here means it had ended).
                        if sqlx::query("ROLLBACK").execute(&mut *conn).await.is_err()
                            && sqlx::query("SELECT 1").execute(&mut *conn).await.is_err()
                        {
                            drop(conn.detach());
                        }
                        return Err(e.into());
                    }
                }
            }
            let mut tx = self.write.begin().await?;
            for sql in &LINK[..3] {
                bind(sql).execute(&mut *tx).await?;
            }
            if upload.is_some() && bind(LINK[3]).fetch_all(&mut *tx).await?.is_empty() {
                tx.rollback().await?;
                return Ok(false);
            }
            tx.commit().await?;
            Ok(true)
        })
        .await
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
