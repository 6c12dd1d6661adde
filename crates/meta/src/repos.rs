//! Repositories: created on first content, listed for the catalog.

use sqlx::{Any, Row, Transaction};

use crate::db::{id_by_name, in_org, like_escape, like_pattern};
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

/// A repository as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSummary {
    pub name: String,
    pub description: Option<String>,
    pub tag_count: i64,
    pub manifest_count: i64,
    /// Sum of the sizes of the blobs linked to the repository (shared blobs count in each).
    pub size: i64,
    pub created_at: i64,
}

/// A tag with the manifest it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRow {
    pub name: String,
    pub digest: String,
    pub media_type: String,
    pub size: i64,
    pub updated_at: i64,
}

/// A manifest of a repository, with its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestSummary {
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub subject: Option<String>,
    pub size: i64,
    pub created_at: i64,
    pub tags: Vec<String>,
}

const SUMMARY: &str = "SELECT r.name, r.description, \
     (SELECT COUNT(*) FROM tags t WHERE t.repo_id = r.id), \
     (SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id), \
     (SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM repo_blobs l JOIN blobs b ON b.digest = l.digest WHERE l.repo_id = r.id), \
     r.created_at FROM repositories r";

fn summary(r: &sqlx::any::AnyRow) -> Result<RepoSummary, MetaError> {
    Ok(RepoSummary {
        name: r.try_get(0)?,
        description: r.try_get(1)?,
        tag_count: r.try_get(2)?,
        manifest_count: r.try_get(3)?,
        size: r.try_get(4)?,
        created_at: r.try_get(5)?,
    })
}

impl Meta {
    /// The repositories of org `org`, by name after `after`, whose path inside the org contains
    /// `contains` (empty: all). Two bounded queries: the page, then the counts and sizes of the
    /// page's repositories only (see [`Meta::summarise`]).
    pub async fn org_repos(
        &self,
        org: &str,
        after: &str,
        limit: i64,
        contains: &str,
    ) -> Result<Vec<RepoSummary>, MetaError> {
        let pattern = format!("{}/{}", like_escape(org), like_pattern(contains));
        self.timed(async move {
            let rows = sqlx::query(&format!(
                "SELECT r.id, r.name, r.description, r.created_at FROM repositories r \
                 WHERE {} AND r.name > $2 AND r.name LIKE $4 ESCAPE '\\' \
                 ORDER BY r.name LIMIT $3",
                in_org("r.name", "$1")
            ))
            .bind(org)
            .bind(after)
            .bind(limit)
            .bind(&pattern)
            .fetch_all(&self.read)
            .await?;
            let mut page = Vec::with_capacity(rows.len());
            for r in &rows {
                let summary = RepoSummary {
                    name: r.try_get(1)?,
                    description: r.try_get(2)?,
                    tag_count: 0,
                    manifest_count: 0,
                    size: 0,
                    created_at: r.try_get(3)?,
                };
                page.push((r.try_get::<i64, _>(0)?, summary));
            }
            self.summarise(&mut page).await?;
            Ok(page.into_iter().map(|(_, s)| s).collect())
        })
        .await
    }

    /// Fills in the tag and manifest counts and the size of a page of repositories (by id) in
    /// one query over the page's ids, each bound on its own. Not a subquery per row: with one
    /// repository holding most tags, PostgreSQL's statistics make a correlated count look like
    /// a scan of the whole tags table, and it planned exactly that, once per row; with the
    /// ids as values it plans each from that id's own statistics (an index range).
    async fn summarise(&self, page: &mut [(i64, RepoSummary)]) -> Result<(), MetaError> {
        if page.is_empty() {
            return Ok(());
        }
        let ids = (1..=page.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT CAST(0 AS BIGINT), repo_id, COUNT(*) FROM tags \
             WHERE repo_id IN ({ids}) GROUP BY repo_id \
             UNION ALL SELECT CAST(1 AS BIGINT), repo_id, COUNT(*) FROM manifests \
             WHERE repo_id IN ({ids}) GROUP BY repo_id \
             UNION ALL SELECT CAST(2 AS BIGINT), l.repo_id, CAST(SUM(b.size) AS BIGINT) \
             FROM repo_blobs l JOIN blobs b ON b.digest = l.digest \
             WHERE l.repo_id IN ({ids}) GROUP BY l.repo_id"
        );
        let mut q = sqlx::query(&sql);
        for (id, _) in page.iter() {
            q = q.bind(*id);
        }
        for r in q.fetch_all(&self.read).await? {
            let (what, id, n): (i64, i64, i64) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            if let Some((_, s)) = page.iter_mut().find(|(i, _)| *i == id) {
                match what {
                    0 => s.tag_count = n,
                    1 => s.manifest_count = n,
                    _ => s.size = n,
                }
            }
        }
        Ok(())
    }

    pub async fn repo_summary(&self, name: &str) -> Result<Option<RepoSummary>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!("{SUMMARY} WHERE r.name = $1"))
                .bind(name)
                .fetch_optional(&self.read)
                .await?;
            row.as_ref().map(summary).transpose()
        })
        .await
    }

    /// Bytes of the blobs linked into the repositories of org `org` (a blob linked into two
    /// of its repositories counts twice, as in each repository's size).
    pub async fn org_storage(&self, org: &str) -> Result<i64, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!(
                "SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM repo_blobs rb \
                 JOIN repositories r ON r.id = rb.repo_id JOIN blobs b ON b.digest = rb.digest \
                 WHERE {}",
                in_org("r.name", "$1")
            ))
            .bind(org)
            .fetch_one(&self.read)
            .await?;
            Ok(row.try_get(0)?)
        })
        .await
    }

    /// Creates an empty repository (before its first push) with an optional description;
    /// false when it exists.
    pub async fn create_repo(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query(
                "INSERT INTO repositories (name, created_at, description) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(name)
            .bind(now_ms())
            .bind(description)
            .execute(&self.write)
            .await?
            .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Sets a repository's description; false when there is no such repository.
    pub async fn set_repo_description(
        &self,
        name: &str,
        description: &str,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query("UPDATE repositories SET description = $1 WHERE name = $2")
                .bind(description)
                .bind(name)
                .execute(&self.write)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Deletes a repository with its tags, manifests and blob links (the blobs themselves stay
    /// until garbage collection). False when there is no such repository.
    pub async fn delete_repo(&self, name: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let mut tx = self.write.begin().await?;
            let Some(id) = id_by_name(&mut tx, "repositories", name).await? else {
                return Ok(false);
            };
            for sql in [
                "DELETE FROM tags WHERE repo_id = $1",
                "DELETE FROM manifest_refs WHERE repo_id = $1",
                "DELETE FROM manifests WHERE repo_id = $1",
                "DELETE FROM repo_blobs WHERE repo_id = $1",
                "DELETE FROM repositories WHERE id = $1",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await?;
            }
            self.commit_changed(tx, name).await?;
            Ok(true)
        })
        .await
    }

    /// Tags of `repo` with their manifests, sorted bytewise, strictly after `after`, at most
    /// `limit`. A tag's `size` is what pulling it moves: the manifest, the blobs it references
    /// and, for an index, its child manifests and their blobs (each distinct blob once).
    /// The page of tags is cut first (an inner `LIMIT` over the `(repo_id, name)` key, the
    /// repository's id a scalar subquery so both databases walk that index in order and stop
    /// after the page), then joined and sized: as one join, PostgreSQL joined and sorted every
    /// later tag of the repository. The children's blobs are
    /// found from the index's own references (`y.digest IN (…)`, the primary key), so a row
    /// costs a few index lookups, never a scan of every reference of the repository (a join
    /// from the child side made SQLite do that).
    pub async fn tag_rows(
        &self,
        repo: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<TagRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT t.name, t.digest, m.media_type, CAST(m.size \
                 + COALESCE((SELECT SUM(c.size) FROM manifest_refs x \
                     JOIN manifests c ON c.repo_id = x.repo_id AND c.digest = x.child \
                     WHERE x.repo_id = m.repo_id AND x.digest = m.digest AND x.kind = 1), 0) \
                 + COALESCE((SELECT SUM(b.size) FROM blobs b WHERE b.digest IN ( \
                     SELECT x.child FROM manifest_refs x \
                     WHERE x.repo_id = m.repo_id AND x.digest = m.digest AND x.kind = 0 \
                     UNION SELECT y.child FROM manifest_refs y \
                     WHERE y.repo_id = m.repo_id AND y.kind = 0 AND y.digest IN ( \
                         SELECT x.child FROM manifest_refs x \
                         WHERE x.repo_id = m.repo_id AND x.digest = m.digest AND x.kind = 1))), 0) \
                 AS BIGINT), t.updated_at FROM ( \
                     SELECT p.repo_id, p.name, p.digest, p.updated_at FROM tags p \
                     WHERE p.repo_id = (SELECT r.id FROM repositories r WHERE r.name = $1) \
                     AND p.name > $2 ORDER BY p.name LIMIT $3) t \
                 JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest \
                 ORDER BY t.name",
            )
            .bind(repo)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(TagRow {
                        name: r.try_get(0)?,
                        digest: r.try_get(1)?,
                        media_type: r.try_get(2)?,
                        size: r.try_get(3)?,
                        updated_at: r.try_get(4)?,
                    })
                })
                .collect()
        })
        .await
    }

    /// A page of the manifests of `repo`, newest first, each with its tags: those after the
    /// manifest `after` (a digest from the previous page; empty: from the newest), at most
    /// `limit`. A digest that is no longer in the repository ends the listing. Two bounded
    /// queries: the page, then the tags of the page's manifests only.
    pub async fn manifest_rows(
        &self,
        repo: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ManifestSummary>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(
                "SELECT m.digest, m.media_type, m.artifact_type, m.subject, m.size, m.created_at \
                 FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 \
                 AND ($2 = '' OR m.created_at < (SELECT p.created_at FROM manifests p \
                      WHERE p.repo_id = m.repo_id AND p.digest = $2) \
                   OR (m.created_at = (SELECT p.created_at FROM manifests p \
                      WHERE p.repo_id = m.repo_id AND p.digest = $2) AND m.digest > $2)) \
                 ORDER BY m.created_at DESC, m.digest LIMIT $3",
            )
            .bind(repo)
            .bind(after)
            .bind(limit.max(0))
            .fetch_all(&self.read)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(ManifestSummary {
                    digest: r.try_get(0)?,
                    media_type: r.try_get(1)?,
                    artifact_type: r.try_get(2)?,
                    subject: r.try_get(3)?,
                    size: r.try_get(4)?,
                    created_at: r.try_get(5)?,
                    tags: Vec::new(),
                });
            }
            if out.is_empty() {
                return Ok(out);
            }
            let marks: Vec<String> = (0..out.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT t.digest, t.name FROM tags t JOIN repositories r ON r.id = t.repo_id \
                 WHERE r.name = $1 AND t.digest IN ({}) ORDER BY t.name",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql).bind(repo);
            for m in &out {
                q = q.bind(m.digest.clone());
            }
            for t in q.fetch_all(&self.read).await? {
                let digest: String = t.try_get(0)?;
                if let Some(m) = out.iter_mut().find(|m| m.digest == digest) {
                    m.tags.push(t.try_get(1)?);
                }
            }
            Ok(out)
        })
        .await
    }
}

/// Whose catalog is listed.
#[derive(Debug, Clone)]
pub enum Visibility {
    /// Every repository (system admins).
    All,
    /// Repositories of public orgs, of orgs user `user_id` is a member of (directly or through
    /// a group), and of org `org` (a robot's own org).
    Scoped {
        user_id: Option<i64>,
        org: Option<String>,
    },
}

impl Meta {
    /// [`Meta::list_repos`] restricted to what `v` may see.
    pub async fn list_repos_visible(
        &self,
        after: &str,
        limit: i64,
        v: &Visibility,
    ) -> Result<Vec<String>, MetaError> {
        let Visibility::Scoped { user_id, org } = v else {
            return self.list_repos(after, limit).await;
        };
        self.timed(async move {
            let rows = sqlx::query(&format!(
                "SELECT name FROM repositories r WHERE name > $1 AND EXISTS (SELECT 1 FROM orgs o \
                 WHERE {} AND (o.public = 1 OR o.name = $4 OR o.id IN ({}))) ORDER BY name LIMIT $2",
                in_org("r.name", "o.name"),
                crate::identity::MEMBER_ORGS
            ))
            .bind(after)
            .bind(limit)
            .bind(user_id.unwrap_or(-1))
            .bind(org.as_deref().unwrap_or(""))
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
