//! Cleanup of staging data: aborting the multipart uploads and deleting the objects of one
//! session, and finding sessions whose staging data is older than the age limit (including
//! those whose session row never got written) by listing everything under `_uploads/`.

use super::objects::sdk;
use super::S3Store;
use crate::StorageError;

impl S3Store {
    /// Removes every object and multipart upload of session `id` (missing is fine).
    pub async fn abort_upload(&self, id: &str) -> Result<(), StorageError> {
        let prefix = self.upload_prefix(id)?;
        for (key, mpu, _) in self.list_mpus(&prefix).await? {
            self.abort_mpu(&key, &mpu).await?;
        }
        for (key, _) in self.list_objects(&prefix).await? {
            self.delete(&key).await?;
        }
        Ok(())
    }

    async fn list_mpus(&self, prefix: &str) -> Result<Vec<(String, String, i64)>, StorageError> {
        let mut out = Vec::new();
        let mut key_marker: Option<String> = None;
        let mut id_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&*self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| sdk("ListMultipartUploads", e))?;
            for u in page.uploads() {
                if let (Some(k), Some(id)) = (u.key(), u.upload_id()) {
                    let at = u
                        .initiated()
                        .map(|t| t.to_millis().unwrap_or(0))
                        .unwrap_or(0);
                    out.push((k.to_owned(), id.to_owned(), at));
                }
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                break;
            }
        }
        Ok(out)
    }

    async fn list_objects(&self, prefix: &str) -> Result<Vec<(String, i64)>, StorageError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&*self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk("ListObjectsV2", e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    let at = o
                        .last_modified()
                        .map(|t| t.to_millis().unwrap_or(0))
                        .unwrap_or(0);
                    out.push((k.to_owned(), at));
                }
            }
        }
        Ok(out)
    }

    /// Sessions with objects or multipart uploads last written before `before_ms`.
    pub async fn stale_staging(&self, before_ms: i64) -> Result<Vec<String>, StorageError> {
        let root = format!("{}_uploads/", self.prefix);
        let session = |key: &str| {
            key.strip_prefix(&root)
                .and_then(|rest| rest.split('/').next())
                .map(str::to_owned)
        };
        let mut ids: Vec<String> = Vec::new();
        for (key, _, at) in self.list_mpus(&root).await? {
            if at < before_ms {
                ids.extend(session(&key));
            }
        }
        for (key, at) in self.list_objects(&root).await? {
            if at < before_ms {
                ids.extend(session(&key));
            }
        }
        ids.sort();
        ids.dedup();
        Ok(ids)
    }
}
