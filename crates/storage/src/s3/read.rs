//! Serving blobs: their size, ranged streams of their bytes (checked against the length
//! asked for, so a short object fails the read instead of ending it early), and presigned
//! GetObject URLs for redirected downloads.

use std::time::SystemTime;

use aws_sdk_s3::presigning::PresigningConfig;
use berth_core::Digest;

use super::objects::{io_err, or_missing, sdk};
use super::S3Store;
use crate::{BlobStream, StorageError};

impl S3Store {
    pub async fn blob_len(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        self.head_len(&self.blob_key(digest)).await
    }

    pub(super) async fn get_stream(
        &self,
        key: &str,
        start: u64,
        len: u64,
        missing: StorageError,
    ) -> Result<BlobStream, StorageError> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let out = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(key)
            .range(format!("bytes={start}-{}", start + len - 1))
            .send()
            .await
            .map_err(or_missing("GetObject", missing))?;
        let body = out.body;
        let expected = len;
        let stream = futures_util::stream::unfold(
            (body, 0u64, false),
            move |(mut body, got, done)| async move {
                if done {
                    return None;
                }
                match body.next().await {
                    Some(Ok(b)) => Some((Ok(b.clone()), (body, got + b.len() as u64, false))),
                    Some(Err(e)) => Some((
                        Err(std::io::Error::other(format!("S3 read: {e}"))),
                        (body, got, true),
                    )),
                    None if got < expected => Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "S3 object is shorter than recorded",
                        )),
                        (body, got, true),
                    )),
                    None => None,
                }
            },
        );
        Ok(Box::pin(stream))
    }

    pub async fn read_blob(
        &self,
        digest: &Digest,
        start: u64,
        len: u64,
    ) -> Result<BlobStream, StorageError> {
        self.get_stream(
            &self.blob_key(digest),
            start,
            len,
            StorageError::BlobMissing,
        )
        .await
    }

    /// A presigned GET URL for the blob when redirects are configured.
    pub async fn redirect_url(&self, digest: &Digest) -> Result<Option<String>, StorageError> {
        let Some(ttl) = self.redirect else {
            return Ok(None);
        };
        let cfg = PresigningConfig::builder()
            .start_time(SystemTime::now())
            .expires_in(ttl)
            .build()
            .map_err(|e| io_err(format!("presigning: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(&*self.bucket)
            .key(self.blob_key(digest))
            .presigned(cfg)
            .await
            .map_err(|e| sdk("presign GetObject", e))?;
        Ok(Some(req.uri().to_owned()))
    }
}
