//! Committing a session: the tail goes out as the last part and the multipart upload is
//! completed into `data` (or the tail object is used as it is), the data is read back and
//! hashed when this process did not see every byte, and only verified data is copied
//! server-side (CopyObject, or UploadPartCopy ranges above 5 GiB) to the blob key. Every step
//! is idempotent, so a retried PUT after a crash finishes the job.

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use berth_core::{Algorithm, Digest};
use bytes::Bytes;
use futures_util::StreamExt;

use super::append::join;
use super::objects::{io_err, is_not_found, or_missing, sdk};
use super::state::UploadState;
use super::S3Store;
use crate::StorageError;

/// S3's own limit for a single CopyObject; larger blobs are copied part by part.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a multipart copy.
const COPY_PART: u64 = 1024 * 1024 * 1024;

impl S3Store {
    /// Turns the session into one readable object and returns its key: the completed multipart
    /// upload (`data`), or the tail object when no part was needed. Idempotent.
    async fn finalize(
        &self,
        id: &str,
        state: Option<&str>,
        size: u64,
    ) -> Result<String, StorageError> {
        let st = UploadState::parse(state)?;
        if st.size() != size {
            return Err(io_err(format!(
                "upload {id}: state and session disagree on the size"
            )));
        }
        let Some(mpu) = &st.mpu else {
            return self.tail_key(id, size);
        };
        let data_key = self.data_key(id)?;
        if self.head_len(&data_key).await? == Some(size) {
            return Ok(data_key);
        }
        let mut parts = st.parts.clone();
        if st.tail > 0 {
            let tail = self.get_bytes(&self.tail_key(id, size)?).await?;
            let n = parts.len() as i32 + 1;
            parts.push(join(self.spawn_part(data_key.clone(), mpu.clone(), n, tail)).await?);
        }
        let done = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|p| {
                        CompletedPart::builder()
                            .part_number(p.n)
                            .e_tag(&p.etag)
                            .build()
                    })
                    .collect(),
            ))
            .build();
        let completed = self
            .client
            .complete_multipart_upload()
            .bucket(&*self.bucket)
            .key(&data_key)
            .upload_id(mpu)
            .multipart_upload(done)
            .send()
            .await;
        if let Err(e) = completed {
            // Completed already by an earlier attempt whose answer was lost?
            if is_not_found(&e) && self.head_len(&data_key).await? == Some(size) {
                return Ok(data_key);
            }
            return Err(or_missing(
                "CompleteMultipartUpload",
                StorageError::UploadMissing,
            )(e));
        }
        match self.head_len(&data_key).await? {
            Some(n) if n == size => Ok(data_key),
            got => Err(io_err(format!(
                "upload {id}: completed object holds {got:?} bytes, {size} were sent"
            ))),
        }
    }

    /// Digest of the session's bytes, read back from the store (when this process did not see
    /// them all).
    pub async fn digest_upload(
        &self,
        id: &str,
        state: Option<&str>,
        size: u64,
        algorithm: Algorithm,
    ) -> Result<Digest, StorageError> {
        let mut h = algorithm.hasher();
        if size > 0 {
            let key = self.finalize(id, state, size).await?;
            let mut s = self
                .get_stream(&key, 0, size, StorageError::UploadMissing)
                .await?;
            while let Some(c) = s.next().await {
                h.update(&c?);
            }
        }
        Ok(h.finish())
    }

    /// Copies the verified session data to the blob's key and removes the session's objects.
    /// Idempotent: a retry after the copy succeeds.
    pub async fn commit_upload(
        &self,
        id: &str,
        state: Option<&str>,
        size: u64,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let to = self.blob_key(digest);
        let st = UploadState::parse(state)?;
        if self.head_len(&to).await? == Some(size) {
            // Stored already (another repository, a concurrent push, or a retry).
            return self.remove_session(id, &st, size).await;
        }
        if size == 0 {
            self.put_bytes(&to, Bytes::new()).await?;
        } else {
            let from = self.finalize(id, state, size).await?;
            self.copy(&from, &to, size).await?;
        }
        match self.head_len(&to).await? {
            Some(n) if n == size => {}
            got => {
                return Err(io_err(format!(
                    "blob {digest}: stored copy holds {got:?} bytes, not {size}"
                )))
            }
        }
        if let Err(e) = self.remove_session(id, &st, size).await {
            // The expiry job removes what is left once the session row is gone.
            tracing::warn!(upload = id, error = %e, "could not remove upload objects");
        }
        Ok(())
    }

    /// Removes the objects a session's state names (at `size` bytes): its multipart upload,
    /// the completed `data` object and the tail. Without listing: a commit costs at most three
    /// requests here; superseded tails a failed `release` left behind are the expiry job's.
    async fn remove_session(
        &self,
        id: &str,
        st: &UploadState,
        size: u64,
    ) -> Result<(), StorageError> {
        if let Some(mpu) = &st.mpu {
            let data_key = self.data_key(id)?;
            self.abort_mpu(&data_key, mpu).await?;
            self.delete(&data_key).await?;
        }
        if st.tail > 0 {
            self.delete(&self.tail_key(id, size)?).await?;
        }
        Ok(())
    }

    async fn copy(&self, from: &str, to: &str, size: u64) -> Result<(), StorageError> {
        let source = format!("{}/{}", self.bucket, from);
        if size <= MAX_SINGLE_COPY {
            self.client
                .copy_object()
                .bucket(&*self.bucket)
                .key(to)
                .copy_source(source)
                .send()
                .await
                .map_err(or_missing("CopyObject", StorageError::UploadMissing))?;
            return Ok(());
        }
        let mpu = self.create_mpu(to).await?;
        let result: Result<(), StorageError> = async {
            let mut parts = Vec::new();
            let mut start = 0;
            let mut n = 1;
            while start < size {
                let end = (start + COPY_PART).min(size) - 1;
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&*self.bucket)
                    .key(to)
                    .upload_id(&mpu)
                    .part_number(n)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .map_err(|e| sdk("UploadPartCopy", e))?;
                let etag = out
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .ok_or_else(|| io_err("S3 UploadPartCopy returned no ETag"))?;
                parts.push(CompletedPart::builder().part_number(n).e_tag(etag).build());
                start = end + 1;
                n += 1;
            }
            self.client
                .complete_multipart_upload()
                .bucket(&*self.bucket)
                .key(to)
                .upload_id(&mpu)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(parts))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk("CompleteMultipartUpload", e))?;
            Ok(())
        }
        .await;
        if result.is_err() {
            let _ = self.abort_mpu(to, &mpu).await;
        }
        result
    }
}
