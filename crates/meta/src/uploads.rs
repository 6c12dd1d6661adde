//! Upload sessions, kept in the database so any replica can continue any upload.

use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_ms, Meta, MetaError};

/// An upload session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    pub id: String,
    pub repo: String,
    /// Digest algorithm requested with `?digest-algorithm=` (default sha256).
    pub algorithm: String,
    /// Bytes accepted so far.
    pub size: i64,
    /// Opaque storage-backend state.
    pub state: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

fn upload_row(r: &AnyRow) -> Result<UploadRow, MetaError> {
    Ok(UploadRow {
        id: r.try_get(0)?,
        repo: r.try_get(1)?,
        algorithm: r.try_get(2)?,
        size: r.try_get(3)?,
        state: r.try_get(4)?,
        created_at: r.try_get(5)?,
        updated_at: r.try_get(6)?,
    })
}

const COLUMNS: &str = "id, repo, algorithm, size, state, created_at, updated_at";

impl Meta {
    pub async fn create_upload(
        &self,
        id: &str,
        repo: &str,
        algorithm: &str,
        state: Option<&str>,
    ) -> Result<UploadRow, MetaError> {
        self.timed(async move {
            let now = now_ms();
            self.execute_relaxed(
                "INSERT INTO uploads (id, repo, algorithm, size, state, created_at, updated_at) VALUES ($1, $2, $3, 0, $4, $5, $5)",
                |q| {
                    q.bind(id.to_owned())
                        .bind(repo.to_owned())
                        .bind(algorithm.to_owned())
                        .bind(state.map(str::to_owned))
                        .bind(now)
                },
            )
            .await?;
            Ok(UploadRow {
                id: id.to_owned(),
                repo: repo.to_owned(),
                algorithm: algorithm.to_owned(),
                size: 0,
                state: state.map(str::to_owned),
                created_at: now,
                updated_at: now,
            })
        })
        .await
    }

    pub async fn get_upload(&self, id: &str) -> Result<Option<UploadRow>, MetaError> {
        self.timed(async move {
            let row = sqlx::query(&format!("SELECT {COLUMNS} FROM uploads WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            row.map(|r| upload_row(&r)).transpose()
        })
        .await
    }

    /// Moves the session from `from` to `to` bytes, only if it is still at `from` (so two
    /// writers racing on one session cannot both win). True if it moved.
    pub async fn advance_upload(
        &self,
        id: &str,
        from: i64,
        to: i64,
        state: Option<&str>,
    ) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = self
                .execute_relaxed(
                    "UPDATE uploads SET size = $3, state = $4, updated_at = $5 WHERE id = $1 AND size = $2 RETURNING id",
                    |q| {
                        q.bind(id.to_owned())
                            .bind(from)
                            .bind(to)
                            .bind(state.map(str::to_owned))
                            .bind(now_ms())
                    },
                )
                .await?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn delete_upload(&self, id: &str) -> Result<bool, MetaError> {
        self.timed(async move {
            let n = sqlx::query("DELETE FROM uploads WHERE id = $1")
                .bind(id)
                .execute(&self.write)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
        .await
    }

    /// Sessions not touched since `before_ms`, oldest first.
    pub async fn stale_uploads(
        &self,
        before_ms: i64,
        limit: i64,
    ) -> Result<Vec<UploadRow>, MetaError> {
        self.timed(async move {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS} FROM uploads WHERE updated_at < $1 ORDER BY updated_at LIMIT $2"
            ))
            .bind(before_ms)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
            rows.iter().map(upload_row).collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use crate::{Meta, MetaOptions, NewManifest};

    async fn meta() -> (tempfile::TempDir, Meta) {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
        let meta = Meta::connect(&url, &MetaOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        meta.migrate().await.unwrap_or_else(|e| panic!("{e}"));
        (dir, meta)
    }

    #[tokio::test]
    async fn uploads_advance_only_from_their_size() -> Result<(), crate::MetaError> {
        let (_d, m) = meta().await;
        m.create_upload("u1", "a/b", "sha256", None).await?;
        assert!(m.advance_upload("u1", 0, 10, None).await?);
        assert!(!m.advance_upload("u1", 0, 20, None).await?);
        // The relaxed writes hand the connection back with every commit fsynced (FULL = 2).
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&m.write)
            .await?;
        assert_eq!(sync, 2);
        assert_eq!(m.get_upload("u1").await?.map(|u| u.size), Some(10));
        assert_eq!(m.stale_uploads(i64::MAX, 10).await?.len(), 1);
        assert!(m.delete_upload("u1").await?);
        assert!(m.get_upload("u1").await?.is_none());
        Ok(())
    }

    #[tokio::test]
    async fn ending_a_session_links_only_if_it_has_not_moved() -> Result<(), crate::MetaError> {
        let (_d, m) = meta().await;
        m.create_upload("u1", "new/repo", "sha256", None).await?;
        assert!(m.advance_upload("u1", 0, 5, None).await?);
        // The row holds 5 bytes, not 3: nothing is linked and the session stays.
        assert!(
            !m.link_blob_ending("new/repo", "sha256:b", 9, Some(("u1", 3)))
                .await?
        );
        assert_eq!(m.blob_in_repo("new/repo", "sha256:b").await?, None);
        assert!(m.get_upload("u1").await?.is_some());
        assert!(
            m.link_blob_ending("new/repo", "sha256:b", 9, Some(("u1", 5)))
                .await?
        );
        assert_eq!(m.blob_in_repo("new/repo", "sha256:b").await?, Some(9));
        assert!(m.get_upload("u1").await?.is_none());
        assert_eq!(m.list_repos("", 10).await?, vec!["new/repo"]);
        // Gone now: a second close links nothing more.
        assert!(
            !m.link_blob_ending("new/repo", "sha256:c", 1, Some(("u1", 5)))
                .await?
        );
        assert_eq!(m.blob_in_repo("new/repo", "sha256:c").await?, None);
        // The same bytes from another session into the same repository: already linked.
        m.create_upload("u2", "new/repo", "sha256", None).await?;
        assert!(
            m.link_blob_ending("new/repo", "sha256:b", 9, Some(("u2", 0)))
                .await?
        );
        // The writer is usable afterwards, for a plain link too.
        m.link_blob("new/repo", "sha256:e", 2).await?;
        assert_eq!(m.blob_in_repo("new/repo", "sha256:e").await?, Some(2));
        Ok(())
    }

    #[tokio::test]
    async fn manifests_tags_and_referrers() -> Result<(), crate::MetaError> {
        let (_d, m) = meta().await;
        m.link_blob("o/r", "sha256:b1", 5).await?;
        assert_eq!(m.blob_in_repo("o/r", "sha256:b1").await?, Some(5));
        assert_eq!(m.blob_in_repo("o/other", "sha256:b1").await?, None);
        let missing = m
            .missing_blobs("o/r", &["sha256:b1".into(), "sha256:b2".into()])
            .await?;
        assert_eq!(missing, vec!["sha256:b2".to_string()]);
        let man = NewManifest {
            digest: "sha256:m1",
            media_type: "application/vnd.oci.image.manifest.v1+json",
            body: b"{}",
            artifact_type: Some("application/x"),
            subject: Some("sha256:s"),
            annotations: None,
            blobs: vec!["sha256:b1".into(), "sha256:b1".into()],
            children: vec![],
        };
        m.put_manifest("o/r", &man, &["b".into(), "a".into(), "B".into()])
            .await?;
        m.put_manifest("o/r", &man, &["c".into()]).await?;
        assert_eq!(m.list_tags("o/r", "", 10).await?, vec!["B", "a", "b", "c"]);
        assert_eq!(m.list_tags("o/r", "a", 1).await?, vec!["b"]);
        let got = m.manifest_by_tag("o/r", "a", true).await?.map(|r| r.body);
        assert_eq!(got.as_deref(), Some(&b"{}"[..]));
        assert_eq!(m.referrers("o/r", "sha256:s", None, "", 10).await?.len(), 1);
        assert_eq!(
            m.referrers("o/r", "sha256:s", Some("application/y"), "", 10)
                .await?
                .len(),
            0
        );
        assert!(m.delete_tag("o/r", "a").await?);
        assert!(!m.delete_tag("o/r", "a").await?);
        assert!(m.delete_manifest("o/r", "sha256:m1").await?);
        assert!(m.list_tags("o/r", "", 10).await?.is_empty());
        assert_eq!(m.list_repos("", 10).await?, vec!["o/r"]);
        Ok(())
    }
}
