//! Manifests (exact bytes), what they reference, tags, and referrers by subject.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::cache::{Key, CHANNEL};
use crate::repos::ensure_repo;
use crate::{now_ms, Backend, Meta, MetaError};

/// A manifest to store.
#[derive(Debug, Clone)]
pub struct NewManifest<'a> {
    pub digest: &'a str,
    pub media_type: &'a str,
    pub body: &'a [u8],
    pub artifact_type: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub annotations: Option<&'a str>,
    /// Blobs it references (config, layers).
    pub blobs: Vec<String>,
    /// Manifests it references (index entries).
    pub children: Vec<String>,
}

/// A stored manifest. `body` is empty when fetched without it (HEAD).
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub body: Vec<u8>,
}

/// One entry of a referrers list.
#[derive(Debug, Clone)]
pub struct ReferrerRow {
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

fn manifest_row(r: &AnyRow, with_body: bool) -> Result<ManifestRow, MetaError> {
    Ok(ManifestRow {
        digest: r.try_get(0)?,
        media_type: r.try_get(1)?,
        size: r.try_get(2)?,
        body: if with_body { r.try_get(3)? } else { Vec::new() },
    })
}

impl Meta {
    /// Stores `m` in `repo` (idempotent for the same digest) and points `tags` at it, in one
    /// transaction: a reader sees all of it or none.
    pub async fn put_manifest(
        &self,
        repo: &str,
        m: &NewManifest<'_>,
        tags: &[String],
    ) -> Result<(), MetaError> {
        self.timed(async move {
            let now = now_ms();
            let mut tx = self.write.begin().await?;
            let repo_id = ensure_repo(&mut tx, repo).await?;
            let inserted = sqlx::query(
                "INSERT INTO manifests (repo_id, digest, media_type, size, body, artifact_type, subject, annotations, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (repo_id, digest) DO NOTHING",
            )
            .bind(repo_id)
            .bind(m.digest)
            .bind(m.media_type)
            .bind(m.body.len() as i64)
            .bind(m.body)
            .bind(m.artifact_type)
            .bind(m.subject)
            .bind(m.annotations)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted > 0 {
                let refs = m
                    .blobs
                    .iter()
                    .map(|d| (d, 0i64))
                    .chain(m.children.iter().map(|d| (d, 1i64)));
                for (child, kind) in refs {
                    sqlx::query(
                        "INSERT INTO manifest_refs (repo_id, digest, child, kind) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (repo_id, digest, child) DO NOTHING",
                    )
                    .bind(repo_id)
                    .bind(m.digest)
                    .bind(child.as_str())
                    .bind(kind)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            for tag in tags {
                sqlx::query(
                    "INSERT INTO tags (repo_id, name, digest, updated_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
                )
                .bind(repo_id)
                .bind(tag.as_str())
                .bind(m.digest)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            self.commit_changed(tx, repo).await?;
            Ok(())
        })
        .await
    }

    /// Commits a transaction that changed manifests or tags of `repo`, and drops the cached
    /// entries of `repo`: here right after the commit, and on other replicas through a
    /// notification that PostgreSQL delivers at that commit. Always sent, even with the cache
    /// off here, so a replica configured with it on is never left stale.
    pub(crate) async fn commit_changed(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        repo: &str,
    ) -> Result<(), MetaError> {
        if self.backend() == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(repo)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.cache.invalidate(repo);
        Ok(())
    }

    /// Looks `key` up in the cache, else with `query` (and caches what it found).
    async fn cached(
        &self,
        repo: &str,
        key: Key,
        with_body: bool,
        sql_with_body: &str,
        sql_without: &str,
        value: &str,
    ) -> Result<Option<ManifestRow>, MetaError> {
        let generation = match self.cache.get(repo, &key) {
            Ok(mut row) => {
                if !with_body {
                    row.body = Vec::new();
                }
                return Ok(Some(row));
            }
            Err(g) => g,
        };
        let sql = if with_body {
            sql_with_body
        } else {
            sql_without
        };
        let row = sqlx::query(sql)
            .bind(repo)
            .bind(value)
            .fetch_optional(&self.read)
            .await?;
        let row = row.map(|r| manifest_row(&r, with_body)).transpose()?;
        if with_body {
            if let Some(r) = &row {
                self.cache.insert(repo, key, r, generation);
            }
        }
        Ok(row)
    }

    /// The manifests `digests` of `repo` in one query (a page of a listing), in no particular
    /// order; digests the repository does not hold are left out. A body larger than
    /// `max_body` bytes comes back empty, so a page holds at most `digests × max_body` bytes.
    pub async fn manifests_by_digests(
        &self,
        repo: &str,
        digests: &[String],
        max_body: i64,
    ) -> Result<Vec<ManifestRow>, MetaError> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let marks = (0..digests.len())
            .map(|i| format!("${}", i + 3))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT m.digest, m.media_type, m.size, \
             CASE WHEN m.size <= $2 THEN m.body ELSE NULL END FROM manifests m \
             WHERE m.repo_id = (SELECT r.id FROM repositories r WHERE r.name = $1) \
             AND m.digest IN ({marks})"
        );
        self.timed(async move {
            let mut q = sqlx::query(&sql).bind(repo).bind(max_body);
            for d in digests {
                q = q.bind(d.clone());
            }
            let rows = q.fetch_all(&self.read).await?;
            rows.iter()
                .map(|r| {
                    Ok(ManifestRow {
                        digest: r.try_get(0)?,
                        media_type: r.try_get(1)?,
                        size: r.try_get(2)?,
                        body: r.try_get::<Option<Vec<u8>>, _>(3)?.unwrap_or_default(),
                    })
                })
                .collect()
        })
        .await
    }

    /// The manifest `digest` of `repo`.
    pub async fn manifest_by_digest(
        &self,
        repo: &str,
        digest: &str,
        with_body: bool,
    ) -> Result<Option<ManifestRow>, MetaError> {
        self.timed(async move {
            self.cached(
                repo,
                Key::Digest(digest.to_owned()),
                with_body,
                "SELECT m.digest, m.media_type, m.size, m.body FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest = $2",
                "SELECT m.digest, m.media_type, m.size FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest = $2",
                digest,
            )
            .await
        })
        .await
    }

    /// The manifest tag `tag` of `repo` points at.
    pub async fn manifest_by_tag(
        &self,
        repo: &str,
        tag: &str,
        with_body: bool,
    ) -> Result<Option<ManifestRow>, MetaError> {
        self.timed(async move {
            self.cached(
                repo,
                Key::Tag(tag.to_owned()),
                with_body,
                "SELECT m.digest, m.media_type, m.size, m.body FROM tags t JOIN repositories r ON r.id = t.repo_id \
                 JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest WHERE r.name = $1 AND t.name = $2",
                "SELECT m.digest, m.media_type, m.size FROM tags t JOIN repositories r ON r.id = t.repo_id \
                 JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest WHERE r.name = $1 AND t.name = $2",
                tag,
            )
            .await
        })
        .await
    }

    /// Deletes manifest `digest` of `repo` and every tag pointing at it; false if unknown.
    pub async fn delete_manifest(&self, repo: &str, digest: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(repo_id) = crate::db::id_by_name(&mut tx, "repositories", repo).await? else {
                return Ok(false);
            };
            for sql in [
                "DELETE FROM tags WHERE repo_id = $1 AND digest = $2",
                "DELETE FROM manifest_refs WHERE repo_id = $1 AND digest = $2",
            ] {
                sqlx::query(sql)
                    .bind(repo_id)
                    .bind(digest)
                    .execute(&mut *tx)
                    .await?;
            }
            let n = sqlx::query("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
                .bind(repo_id)
                .bind(digest)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            self.commit_changed(tx, repo).await?;
            Ok(n > 0)
        })
        .await
    }

    /// Deletes tag `tag` of `repo` (the manifest stays); false if unknown.
    pub async fn delete_tag(&self, repo: &str, tag: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let n = sqlx::query(
                "DELETE FROM tags WHERE name = $2 AND repo_id = (SELECT id FROM repositories WHERE name = $1)",
            )
            .bind(repo)
            .bind(tag)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            self.commit_changed(tx, repo).await?;
            Ok(n > 0)
        })
        .await
    }

    /// Tags of `repo` sorted bytewise, strictly after `after`, at most `limit`.
    pub async fn list_tags(
        &self,
        repo: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<String>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id \
                 WHERE r.name = $1 AND t.name > $2 ORDER BY t.name LIMIT $3",
            )
            .bind(repo)
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

    /// Manifests of `repo` whose subject is `subject`, by digest, strictly after `after`,
    /// optionally only those of `artifact_type`.
    pub async fn referrers(
        &self,
        repo: &str,
        subject: &str,
        artifact_type: Option<&str>,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ReferrerRow>, MetaError> {
        self.timed(async move {
            let filter = if artifact_type.is_some() {
                "AND m.artifact_type = $5"
            } else {
                ""
            };
            let sql = format!(
                "SELECT m.digest, m.media_type, m.size, m.artifact_type, m.annotations FROM manifests m \
                 JOIN repositories r ON r.id = m.repo_id \
                 WHERE r.name = $1 AND m.subject = $2 AND m.digest > $3 {filter} ORDER BY m.digest LIMIT $4"
            );
            let mut q = sqlx::query(&sql)
                .bind(repo)
                .bind(subject)
                .bind(after)
                .bind(limit);
            if let Some(t) = artifact_type {
                q = q.bind(t);
            }
            let rows = q.fetch_all(&self.read).await?;
            rows.iter()
                .map(|r| {
                    Ok(ReferrerRow {
                        digest: r.try_get(0)?,
                        media_type: r.try_get(1)?,
                        size: r.try_get(2)?,
                        artifact_type: r.try_get(3)?,
                        annotations: r.try_get(4)?,
                    })
                })
                .collect()
        })
        .await
    }
}
