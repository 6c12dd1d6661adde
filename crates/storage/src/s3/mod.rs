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
//!
//! This module holds the store itself: its settings, the client, and the keys it writes. The
//! work is split by what a request does: `state` is the session's state document, `objects` the
//! single S3 requests everything is built from, `append` takes chunks, `commit` turns a
//! verified session into a blob, `read` serves blobs, and `cleanup` removes what sessions left
//! behind.

mod append;
mod cleanup;
mod commit;
mod objects;
mod read;
mod state;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{
    Credentials, Region, RequestChecksumCalculation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::Client;
use berth_core::Digest;

use crate::{safe_id, StorageError};
use objects::{io_err, is_not_found, sdk};

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
}
