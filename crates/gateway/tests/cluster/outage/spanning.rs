//! The upload in flight when the dependency goes away: a chunked upload that keeps its session
//! whatever happens. It opens its session and has chunks acknowledged before the outage, waits
//! until the outage has begun, meets it, resends a failed chunk from where `GET` on its session
//! says it stands, and completes after the dependency is back.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use berth_testkit::header;

use super::clients::{Fail, Traffic};
use super::BEFORE;
use crate::traffic::{BlobRec, Client};

impl Traffic {
    /// The upload session's size according to the server (`GET` on the session), retried until
    /// answered; `None` when the traffic stops first or the session broke.
    async fn session_size(&self, loc: &str, what: &str) -> Option<(usize, String)> {
        loop {
            if self.stopping() {
                return None;
            }
            match self
                .call("GET upload", what, self.c.get(loc.to_owned()), &[204])
                .await
            {
                Ok(res) => {
                    let range = header(&res, "range");
                    let last: usize = range.strip_prefix("0-")?.parse().ok()?;
                    // Chunks are never 1 byte long, so "0-0" is an empty session.
                    let size = if last == 0 { 0 } else { last + 1 };
                    let loc = self.location(&res, what).ok()?;
                    return Some((size, loc));
                }
                Err(Fail::Retry) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(Fail::Broken) => return None,
            }
        }
    }

    /// A chunked upload that keeps its session whatever happens: a failed chunk is resent from
    /// where the server says the session stands. With `pause`, it waits with an open session
    /// (some chunks acknowledged) until the outage has begun. Returns the 503s it met.
    async fn resumable_upload(&self, rec: &BlobRec, chunk: usize, pause: bool) -> Option<usize> {
        self.log.lock().unwrap().pushes.tried_blob(rec);
        let data = rec.data();
        let what = format!("resumable upload of {} to {}", rec.digest, rec.repo);
        let mut loc = loop {
            if self.stopping() {
                return None;
            }
            match self.start_session(&rec.repo, &what).await {
                Ok(l) => break l,
                Err(Fail::Retry) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(Fail::Broken) => return None,
            }
        };
        let mut unavailable = 0;
        let mut offset = 0;
        let mut chunks = 0;
        while offset < data.len() {
            if self.stopping() {
                return None;
            }
            if pause && chunks == 3 {
                self.paused.store(true, Ordering::SeqCst);
                while self.phase() == BEFORE && !self.stopping() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            let end = (offset + chunk).min(data.len()) - 1;
            match self.patch(&loc, offset, &data[offset..=end], &what).await {
                Ok(res) => {
                    let range = header(&res, "range");
                    if range != format!("0-{end}") {
                        self.error(format!(
                            "{what}: PATCH answered Range {range:?}, not 0-{end}"
                        ));
                        return None;
                    }
                    loc = self.location(&res, &what).ok()?;
                    offset = end + 1;
                    chunks += 1;
                }
                Err(Fail::Retry) => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let (size, l) = self.session_size(&loc, &what).await?;
                    // The failed chunk was taken whole (its answer lost) or not at all.
                    if size != offset && size != end + 1 {
                        self.error(format!(
                            "{what}: session holds {size} bytes after a failed chunk {offset}-{end}"
                        ));
                        return None;
                    }
                    loc = l;
                    offset = size;
                }
                Err(Fail::Broken) => return None,
            }
            if pause {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        loop {
            if self.stopping() {
                return None;
            }
            match self.close(&loc, rec, &what).await {
                Ok(res) => {
                    self.acked_blob(&res, rec, "chunked", &what).ok()?;
                    return Some(unavailable);
                }
                Err(Fail::Retry) => {
                    unavailable += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(Fail::Broken) => return None,
            }
        }
    }
}

/// Large chunked uploads (1 MiB chunks, more than one S3 part): the first one holds its
/// session open until the outage has begun and finishes after it.
pub(super) async fn spanning(t: Arc<Traffic>) {
    let repo = "outage/big";
    for i in 0u64..3 {
        if t.stopping() {
            return;
        }
        let rec = BlobRec::new(repo, 0xB16_0000 + i, 10 * 1024 * 1024 + 12345);
        let Some(n503) = t.resumable_upload(&rec, 1024 * 1024, i == 0).await else {
            continue;
        };
        if i == 0 {
            let mut log = t.log.lock().unwrap();
            log.spanning = Some(rec);
            log.spanning_503 = n503;
        }
    }
}
