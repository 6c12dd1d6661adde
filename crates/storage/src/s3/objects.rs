//! The single S3 requests the rest of the backend is built from (read, write, delete and size
//! one object; start and abort a multipart upload), and how S3 failures become
//! [`StorageError`]s: a missing object or upload is the caller's to name, anything else means
//! the store is unreachable or misbehaving.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::S3Store;
use crate::StorageError;

pub(super) fn io_err(m: impl Into<String>) -> StorageError {
    StorageError::Io(std::io::Error::other(m.into()))
}

/// An S3 failure as a storage error: the store is unreachable or misbehaving (503 upstream).
pub(super) fn sdk<E, R>(op: &str, e: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    io_err(format!("S3 {op}: {}", DisplayErrorContext(&e)))
}

pub(super) type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Maps a failed `op` to `missing` when the object or upload does not exist, else to an
/// unavailable store.
pub(super) fn or_missing<E>(
    op: &'static str,
    missing: StorageError,
) -> impl FnOnce(SdkError<E, HttpResponse>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| {
        if is_not_found(&e) {
            missing
        } else {
            sdk(op, e)
        }
    }
}

/// A removal that found nothing to remove succeeded.
fn gone_is_ok<T, E>(op: &str, r: Result<T, SdkError<E, HttpResponse>>) -> Result<(), StorageError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        Err(e) => Err(sdk(op, e)),
    }
}

pub(super) fn is_not_found<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            matches!(
                s.err().code(),
                Some("NoSuchKey" | "NotFound" | "NoSuchUpload")
            ) || s.raw().status().as_u16() == 404
        }
        _ => false,
    }
}

impl S3Store {
    pub(super) async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
        let out = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(or_missing("GetObject", StorageError::UploadMissing))?;
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| io_err(format!("S3 GetObject body: {e}")))?;
        Ok(data.into_bytes())
    }

    pub(super) async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&*self.bucket)
            .key(key)
            .content_length(data.len() as i64)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| sdk("PutObject", e))?;
        Ok(())
    }

    pub(super) async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let r = self
            .client
            .delete_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await;
        gone_is_ok("DeleteObject", r)
    }

    pub(super) async fn head_len(&self, key: &str) -> Result<Option<u64>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => Ok(Some(o.content_length().unwrap_or(0).max(0) as u64)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(sdk("HeadObject", e)),
        }
    }

    pub(super) async fn create_mpu(&self, key: &str) -> Result<String, StorageError> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk("CreateMultipartUpload", e))?;
        out.upload_id()
            .map(str::to_owned)
            .ok_or_else(|| io_err("S3 CreateMultipartUpload returned no upload id"))
    }

    pub(super) async fn abort_mpu(&self, key: &str, mpu: &str) -> Result<(), StorageError> {
        let r = self
            .client
            .abort_multipart_upload()
            .bucket(&*self.bucket)
            .key(key)
            .upload_id(mpu)
            .send()
            .await;
        gone_is_ok("AbortMultipartUpload", r)
    }
}
