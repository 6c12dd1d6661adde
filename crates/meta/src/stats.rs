//! Figures about the whole registry for the system-information page and API: how many
//! accounts, organizations, repositories, tags, manifests and blobs it holds and the bytes the
//! blobs take. One query returning one row (counts, not rows), so a page never reads a table.

use sqlx::Row;

use crate::{Meta, MetaError};

/// What the registry holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemCounts {
    pub users: i64,
    pub groups: i64,
    pub orgs: i64,
    pub repositories: i64,
    pub tags: i64,
    pub manifests: i64,
    /// Distinct blobs (a layer shared by many repositories counts once).
    pub blobs: i64,
    /// Bytes of those blobs: what the blob store holds for them.
    pub blob_bytes: i64,
    /// Uploads started and not yet finished or abandoned.
    pub uploads: i64,
}

impl Meta {
    pub async fn system_counts(&self) -> Result<SystemCounts, MetaError> {
        self.timed(async move {
            let r = sqlx::query(
                "SELECT \
                 CAST((SELECT COUNT(*) FROM users) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM user_groups) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM orgs) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM repositories) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM tags) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM manifests) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM blobs) AS BIGINT), \
                 CAST((SELECT COALESCE(SUM(size), 0) FROM blobs) AS BIGINT), \
                 CAST((SELECT COUNT(*) FROM uploads) AS BIGINT)",
            )
            .fetch_one(&self.read)
            .await?;
            Ok(SystemCounts {
                users: r.try_get(0)?,
                groups: r.try_get(1)?,
                orgs: r.try_get(2)?,
                repositories: r.try_get(3)?,
                tags: r.try_get(4)?,
                manifests: r.try_get(5)?,
                blobs: r.try_get(6)?,
                blob_bytes: r.try_get(7)?,
                uploads: r.try_get(8)?,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn counts_follow_what_is_stored() {
        let (_d, m) = crate::identity::test_meta().await;
        let empty = m.system_counts().await.unwrap();
        assert_eq!(empty, super::SystemCounts::default());
        m.link_blob("o/a", "sha256:aa", 10).await.unwrap();
        m.link_blob("o/b", "sha256:aa", 10).await.unwrap();
        m.link_blob("o/b", "sha256:bb", 5).await.unwrap();
        let c = m.system_counts().await.unwrap();
        assert_eq!((c.repositories, c.blobs, c.blob_bytes), (2, 2, 15));
    }
}
