//! The S3 backend: any S3-compatible object store through aws-sdk-s3.
//!
//! Layout under the configured prefix:
//! - `blobs/<alg>/<2 hex>/<hex>`: committed blobs, written only by a server-side copy of
//!   verified data;
//! - `_uploads/<session>/…`: everything of one upload session — the multipart upload being
//!   filled (`data` once completed), and `tail-<size>`, the bytes received after the last full
//!   part (S3 parts must be at least 5 MiB, chunks of an OCI upload may be of any size).
//!
//! The session's backend state — multipart upload id, completed parts, current tail — is a small
//! JSON document kept in the session's database row, never in this process: any replica can
//! take the next chunk. A chunk only ever adds new objects (parts numbered after the recorded
//! ones, a tail under a new key), so a failed chunk leaves the recorded state valid.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use berth_core::{Algorithm, Digest, DigestHasher};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::{safe_id, BlobStream, Incoming, StorageError};

/// S3's own limit for a single CopyObject; larger blobs are copied part by part.
const MAX_SINGLE_COPY: u64 = 5 * 1024 * 1024 * 1024;
/// Part size of a multipart copy.
const COPY_PART: u64 = 1024 * 1024 * 1024;
/// S3's smallest part (all but the last).
const MIN_PART: usize = 5 * 1024 * 1024;

/// How to reach the bucket (from `storage.s3.*`).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Endpoint URL (`http://127.0.0.1:3900`); none means AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    /// Key prefix for everything Berth writes (no leading or trailing `/` needed).
    pub prefix: String,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most self-hosted stores.
    pub path_style: bool,
    /// Static credentials; without them, the standard AWS credential chain.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Bytes gathered before one part is sent (at least 5 MiB).
    pub part_size: usize,
    /// Attempts per S3 request (transient errors are retried with exponential backoff).
    pub max_attempts: u32,
    /// Seconds one attempt may take before it counts as failed.
    pub attempt_timeout_secs: u64,
    /// Serve blob GETs as a 307 redirect to a presigned URL valid this many seconds (0: off).
    pub redirect_secs: u64,
}

/// Blob store in an S3 bucket.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    bucket: Arc<str>,
    prefix: Arc<str>,
    part_size: usize,
    redirect: Option<Duration>,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// One uploaded part of the session's multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Part {
    n: i32,
    etag: String,
    len: u64,
}

/// The backend state of one upload session (kept as JSON in the session's row).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct UploadState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mpu: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    parts: Vec<Part>,
    /// Bytes in the tail object (`tail-<total size>`), 0 when there is none.
    #[serde(default)]
    tail: u64,
}

impl UploadState {
    fn parse(s: Option<&str>) -> Result<UploadState, StorageError> {
        match s {
            None | Some("") => Ok(UploadState::default()),
            Some(s) => serde_json::from_str(s)
                .map_err(|e| StorageError::Io(std::io::Error::other(format!("upload state: {e}")))),
        }
    }

    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn parts_len(&self) -> u64 {
        self.parts.iter().map(|p| p.len).sum()
    }

    fn size(&self) -> u64 {
        self.parts_len() + self.tail
    }
}

fn io_err(m: impl Into<String>) -> StorageError {
    StorageError::Io(std::io::Error::other(m.into()))
}

/// An S3 failure as a storage error: the store is unreachable or misbehaving (503 upstream).
fn sdk<E, R>(op: &str, e: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    io_err(format!("S3 {op}: {}", DisplayErrorContext(&e)))
}

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Maps a failed `op` to `missing` when the object or upload does not exist, else to an
/// unavailable store.
fn or_missing<E>(
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

fn is_not_found<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
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

/// The result of one S3 upload of a part, sent while the next part is received.
type PartTask = JoinHandle<Result<Part, StorageError>>;

impl S3Store {
    /// Builds the client; no request is made (see [`S3Store::init`]).
    pub async fn connect(s: &S3Settings) -> Result<S3Store, StorageError> {
        if s.bucket.is_empty() {
            return Err(io_err("storage.s3.bucket is empty"));
        }
        let retry = aws_sdk_s3::config::retry::RetryConfig::standard()
            .with_max_attempts(s.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(200))
            .with_max_backoff(Duration::from_secs(5));
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(s.attempt_timeout_secs.max(1)))
            .build();
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(s.region.clone()))
            .retry_config(retry)
            .timeout_config(timeouts)
            // A store that stops sending in the middle of a response body (frozen, cut off)
            // fails the read after this long instead of hanging it; a consumer that is merely
            // slow to poll (a slow client downloading) is not a stall.
            .stalled_stream_protection(
                StalledStreamProtectionConfig::enabled()
                    .grace_period(Duration::from_secs(s.attempt_timeout_secs.max(1)))
                    .build(),
            );
        if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(
                id.clone(),
                secret.clone(),
                None,
                None,
                "berth-config",
            ));
        }
        let shared = loader.load().await;
        let mut b = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(s.path_style)
            // Integrity is Berth's own digest check; optional checksums are not sent, so
            // stores without the newer checksum headers work too.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            );
        if let Some(e) = &s.endpoint {
            b = b.endpoint_url(e);
        }
        let prefix = s.prefix.trim_matches('/');
        Ok(S3Store {
            client: Client::from_conf(b.build()),
            bucket: s.bucket.as_str().into(),
            prefix: if prefix.is_empty() {
                "".into()
            } else {
                format!("{prefix}/").into()
            },
            part_size: s.part_size.max(MIN_PART),
            redirect: (s.redirect_secs > 0).then(|| Duration::from_secs(s.redirect_secs)),
        })
    }

    fn blob_key(&self, d: &Digest) -> String {
        format!(
            "{}blobs/{}/{}/{}",
            self.prefix,
            d.algorithm().as_str(),
            &d.hex()[..2],
            d.hex()
        )
    }

    fn upload_prefix(&self, id: &str) -> Result<String, StorageError> {
        Ok(format!("{}_uploads/{}/", self.prefix, safe_id(id)?))
    }

    fn data_key(&self, id: &str) -> Result<String, StorageError> {
        Ok(format!("{}data", self.upload_prefix(id)?))
    }

    fn tail_key(&self, id: &str, total: u64) -> Result<String, StorageError> {
        Ok(format!("{}tail-{total}", self.upload_prefix(id)?))
    }

    /// Checks that the bucket exists and the credentials work.
    pub async fn init(&self) -> Result<(), StorageError> {
        self.ping().await
    }

    pub async fn ping(&self) -> Result<(), StorageError> {
        let call = self.client.head_bucket().bucket(&*self.bucket).send();
        match tokio::time::timeout(Duration::from_secs(5), call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if is_not_found(&e) => {
                Err(io_err(format!("S3 bucket {} does not exist", self.bucket)))
            }
            Ok(Err(e)) => Err(sdk("HeadBucket", e)),
            Err(_) => Err(io_err("S3 HeadBucket timed out")),
        }
    }

    /// A new session needs no object and no state yet (no state reads as empty).
    pub fn begin_upload(&self, id: &str) -> Result<Option<String>, StorageError> {
        safe_id(id)?;
        Ok(None)
    }

    async fn get_bytes(&self, key: &str) -> Result<Bytes, StorageError> {
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

    async fn put_bytes(&self, key: &str, data: Bytes) -> Result<(), StorageError> {
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

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let r = self
            .client
            .delete_object()
            .bucket(&*self.bucket)
            .key(key)
            .send()
            .await;
        gone_is_ok("DeleteObject", r)
    }

    async fn head_len(&self, key: &str) -> Result<Option<u64>, StorageError> {
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

    async fn create_mpu(&self, key: &str) -> Result<String, StorageError> {
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

    fn spawn_part(&self, key: String, mpu: String, n: i32, data: Bytes) -> PartTask {
        let client = self.client.clone();
        let bucket = self.bucket.clone();
        tokio::spawn(async move {
            let len = data.len() as u64;
            let out = client
                .upload_part()
                .bucket(&*bucket)
                .key(key)
                .upload_id(mpu)
                .part_number(n)
                .content_length(len as i64)
                .body(ByteStream::from(data))
                .send()
                .await
                .map_err(or_missing("UploadPart", StorageError::UploadMissing))?;
            let etag = out
                .e_tag()
                .map(str::to_owned)
                .ok_or_else(|| io_err("S3 UploadPart returned no ETag"))?;
            Ok(Part { n, etag, len })
        })
    }

    /// Appends `body` to the session described by `state`; returns the bytes appended and the
    /// new state. Full parts go out as multipart-upload parts (one in flight while the next
    /// arrives), the rest becomes a new tail object. The old state stays valid on failure.
    pub async fn append<S, E>(
        &self,
        id: &str,
        state: Option<&str>,
        offset: u64,
        body: S,
        hasher: Option<&mut DigestHasher>,
        exact_len: Option<u64>,
    ) -> Result<(u64, Option<String>), StorageError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut st = UploadState::parse(state)?;
        if st.size() != offset {
            return Err(io_err(format!(
                "upload {id}: stored state holds {} bytes, the session {offset}",
                st.size()
            )));
        }
        let mut body = Incoming::new(body, hasher, exact_len);
        if body.is_empty().await? {
            return Ok((0, state.map(str::to_owned)));
        }
        let data_key = self.data_key(id)?;
        let mut buf = BytesMut::new();
        if st.tail > 0 {
            let tail = self.get_bytes(&self.tail_key(id, offset)?).await?;
            if tail.len() as u64 != st.tail {
                return Err(io_err(format!(
                    "upload {id}: tail object has the wrong size"
                )));
            }
            buf.extend_from_slice(&tail);
        }
        let created_mpu = st.mpu.is_none();
        let mut inflight: Option<PartTask> = None;
        let result: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await? {
                buf.extend_from_slice(&chunk);
                if buf.len() >= self.part_size {
                    let mpu = match &st.mpu {
                        Some(m) => m.clone(),
                        None => {
                            let m = self.create_mpu(&data_key).await?;
                            st.mpu = Some(m.clone());
                            m
                        }
                    };
                    if let Some(t) = inflight.take() {
                        st.parts.push(join(t).await?);
                    }
                    let n = st.parts.len() as i32 + 1;
                    if n > 10_000 {
                        return Err(io_err(
                            "blob exceeds 10,000 parts; raise storage.s3.part_size",
                        ));
                    }
                    let part = std::mem::replace(&mut buf, BytesMut::with_capacity(self.part_size))
                        .freeze();
                    inflight = Some(self.spawn_part(data_key.clone(), mpu, n, part));
                }
            }
            if let Some(t) = inflight.take() {
                st.parts.push(join(t).await?);
            }
            st.tail = buf.len() as u64;
            if !buf.is_empty() {
                let key = self.tail_key(id, offset + body.received())?;
                self.put_bytes(&key, buf.split().freeze()).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            if let Some(t) = inflight.take() {
                t.abort();
            }
            if created_mpu {
                if let Some(m) = &st.mpu {
                    let _ = self.abort_mpu(&data_key, m).await;
                }
            }
            return Err(e);
        }
        Ok((body.received(), Some(st.to_json())))
    }

    /// Drops what `old` held that `new` no longer needs (the superseded tail object), once the
    /// new state is recorded. Best effort: the session's cleanup removes leftovers.
    pub async fn release(&self, id: &str, old: Option<&str>, old_size: u64, new_size: u64) {
        let Ok(st) = UploadState::parse(old) else {
            return;
        };
        if st.tail > 0 && old_size != new_size {
            if let Ok(key) = self.tail_key(id, old_size) {
                if let Err(e) = self.delete(&key).await {
                    tracing::debug!(upload = id, error = %e, "could not delete an old tail");
                }
            }
        }
    }

    async fn abort_mpu(&self, key: &str, mpu: &str) -> Result<(), StorageError> {
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

    pub async fn blob_len(&self, digest: &Digest) -> Result<Option<u64>, StorageError> {
        self.head_len(&self.blob_key(digest)).await
    }

    async fn get_stream(
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

async fn join(t: PartTask) -> Result<Part, StorageError> {
    t.await
        .map_err(|e| io_err(format!("part upload task: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_sums() {
        let st = UploadState {
            mpu: Some("m1".into()),
            parts: vec![
                Part {
                    n: 1,
                    etag: "\"a\"".into(),
                    len: 8,
                },
                Part {
                    n: 2,
                    etag: "\"b\"".into(),
                    len: 8,
                },
            ],
            tail: 3,
        };
        let back = UploadState::parse(Some(&st.to_json())).unwrap();
        assert_eq!(back, st);
        assert_eq!(back.size(), 19);
        assert_eq!(UploadState::parse(None).unwrap().size(), 0);
        assert_eq!(
            UploadState::parse(Some("{}")).unwrap(),
            UploadState::default()
        );
        assert!(UploadState::parse(Some("nope")).is_err());
    }
}
