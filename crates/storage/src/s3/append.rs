//! Appending a chunk to an upload session: the current tail and the new bytes are cut into
//! full parts of the session's multipart upload (one part in flight while the next arrives),
//! and what is left becomes a new tail object named after the new size. A failed chunk only
//! creates objects the recorded state does not name, so the session stays as it was.

use aws_sdk_s3::primitives::ByteStream;
use berth_core::DigestHasher;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::task::JoinHandle;

use super::objects::{io_err, or_missing};
use super::state::{Part, UploadState};
use super::S3Store;
use crate::{Incoming, StorageError};

/// The result of one S3 upload of a part, sent while the next part is received.
pub(super) type PartTask = JoinHandle<Result<Part, StorageError>>;

impl S3Store {
    pub(super) fn spawn_part(&self, key: String, mpu: String, n: i32, data: Bytes) -> PartTask {
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
}

pub(super) async fn join(t: PartTask) -> Result<Part, StorageError> {
    t.await
        .map_err(|e| io_err(format!("part upload task: {e}")))?
}
