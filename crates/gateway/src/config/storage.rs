//! `storage.*`: where blobs live — the filesystem under the data directory, or an
//! S3-compatible object store — and secrets read from files.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The blob store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Filesystem root; empty means `<data_dir>/storage`.
    pub path: String,
    /// An S3-compatible bucket instead of the filesystem (used when `bucket` is set).
    pub s3: S3Config,
}

/// `storage.s3.*`: blobs in an S3-compatible object store.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint URL, e.g. `http://minio:9000`; empty means AWS S3 itself.
    pub endpoint: String,
    pub region: String,
    /// The bucket; setting it switches the blob store to S3.
    pub bucket: String,
    /// Key prefix for everything Berth stores in the bucket.
    pub prefix: String,
    /// Path-style requests (`endpoint/bucket/key`), which most self-hosted stores need.
    pub path_style: bool,
    /// Static credentials (each also as `…_file`, a file holding the value); without them the
    /// standard AWS credential chain (environment, profile, web identity, instance role).
    pub access_key_id: String,
    pub access_key_id_file: String,
    pub secret_access_key: String,
    pub secret_access_key_file: String,
    /// Size of one multipart-upload part in MiB (at least 5); a blob can have 10,000 parts.
    pub part_size_mib: usize,
    /// Attempts per S3 request; transient failures are retried with exponential backoff.
    pub max_attempts: u32,
    /// Seconds one S3 request attempt may take.
    pub attempt_timeout_secs: u64,
    /// When positive, blob GETs answer 307 to a presigned URL valid this many seconds, so the
    /// bytes flow from the store to the client directly.
    pub redirect_secs: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            region: "us-east-1".into(),
            bucket: String::new(),
            prefix: String::new(),
            path_style: false,
            access_key_id: String::new(),
            access_key_id_file: String::new(),
            secret_access_key: String::new(),
            secret_access_key_file: String::new(),
            part_size_mib: 8,
            max_attempts: 4,
            attempt_timeout_secs: 60,
            redirect_secs: 0,
        }
    }
}

/// Reads a secret from `file`, refusing a file other users can read.
pub(super) fn read_secret_file(file: &str, what: &str) -> Result<String, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file)
        .map_err(|e| ConfigError::Invalid(format!("{what}_file {file}: {e}")))?;
    if meta.permissions().mode() & 0o004 != 0 {
        return Err(ConfigError::Invalid(format!(
            "{what}_file {file} is readable by every user; chmod o-r it"
        )));
    }
    let value = std::fs::read_to_string(file)
        .map_err(|e| ConfigError::Invalid(format!("{what}_file {file}: {e}")))?;
    Ok(value.trim_end_matches(['\r', '\n']).to_owned())
}

impl S3Config {
    pub fn enabled(&self) -> bool {
        !self.bucket.is_empty()
    }

    /// The settings for the store, with `…_file` secrets read.
    pub fn settings(&self) -> Result<berth_storage::S3Settings, ConfigError> {
        let pick = |value: &str, file: &str, what: &str| -> Result<Option<String>, ConfigError> {
            match (value.is_empty(), file.is_empty()) {
                (false, false) => Err(ConfigError::Invalid(format!(
                    "storage.s3.{what} and {what}_file are both set"
                ))),
                (false, true) => Ok(Some(value.to_owned())),
                (true, false) => read_secret_file(file, &format!("storage.s3.{what}")).map(Some),
                (true, true) => Ok(None),
            }
        };
        let access_key_id = pick(
            &self.access_key_id,
            &self.access_key_id_file,
            "access_key_id",
        )?;
        let secret_access_key = pick(
            &self.secret_access_key,
            &self.secret_access_key_file,
            "secret_access_key",
        )?;
        if access_key_id.is_some() != secret_access_key.is_some() {
            return Err(ConfigError::Invalid(
                "storage.s3: set both access_key_id and secret_access_key, or neither".into(),
            ));
        }
        Ok(berth_storage::S3Settings {
            endpoint: (!self.endpoint.is_empty()).then(|| self.endpoint.clone()),
            region: self.region.clone(),
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
            path_style: self.path_style,
            access_key_id,
            secret_access_key,
            part_size: self.part_size_mib * 1024 * 1024,
            max_attempts: self.max_attempts,
            attempt_timeout_secs: self.attempt_timeout_secs,
            redirect_secs: self.redirect_secs,
        })
    }
}
