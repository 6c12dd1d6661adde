//! Upload sessions: start one, append chunks at the offset it stands at, finish it against a
//! digest (verify, commit, link), cancel it, ask where it stands, and expire abandoned ones.
//!
//! Session state (repository, algorithm, bytes accepted) is a database row and the bytes a
//! staging object, so any replica can continue any session. A chunk is taken whole or not at
//! all: a failed or short chunk is rolled back by the store, and the row advances with a
//! compare-and-set on its old size. A session is used by one call at a time
//! ([`UploadSession`] holds it); the running hash is kept in the process so finishing need not
//! read the bytes back.

use std::time::Duration;

use berth_core::{Algorithm, Digest, RepoName};
use berth_meta::{now_ms, UploadRow};
use berth_storage::StorageError;
use bytes::Bytes;
use futures_util::Stream;

use super::ingest::check_digest;
use super::sessions::SessionGuard;
use super::{Error, Service};

/// Where an upload session stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadState {
    pub id: String,
    /// Bytes accepted so far.
    pub size: u64,
}

impl From<&UploadRow> for UploadState {
    fn from(u: &UploadRow) -> Self {
        UploadState {
            id: u.id.clone(),
            size: u.size.max(0) as u64,
        }
    }
}

/// What the caller says about a chunk: the offset it starts at, if it says one (it must be
/// where the session stands), and its exact length, if known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Chunk {
    pub start: Option<u64>,
    pub len: Option<u64>,
}

impl Chunk {
    /// The chunk's declared length when appended to session `id` of `repo` holding `size`
    /// bytes; [`Error::OutOfOrder`] if it starts elsewhere.
    fn check(&self, repo: &RepoName, id: &str, size: u64) -> Result<Option<u64>, Error> {
        match self.start {
            Some(start) if start != size => Err(Error::OutOfOrder {
                repo: repo.to_string(),
                id: id.to_owned(),
                size,
                start,
            }),
            _ => Ok(self.len),
        }
    }
}

/// One upload session, held exclusively by the caller (in this process) until dropped.
pub struct UploadSession<'s> {
    svc: &'s Service,
    repo: RepoName,
    row: UploadRow,
    guard: SessionGuard,
}

impl Service {
    /// Starts a session of `repo` whose digest will be computed with `algorithm`. Writes only
    /// the row: the staging data is created by the first bytes.
    pub async fn start_upload(
        &self,
        repo: &RepoName,
        algorithm: Algorithm,
    ) -> Result<UploadState, Error> {
        let id = uuid::Uuid::new_v4().to_string();
        let state = self.store.begin_upload(&id).await?;
        let u = self
            .meta
            .create_upload(&id, repo.as_str(), algorithm.as_str(), state.as_deref())
            .await?;
        Ok(UploadState::from(&u))
    }

    /// Where session `id` of `repo` stands.
    pub async fn upload_status(&self, repo: &RepoName, id: &str) -> Result<UploadState, Error> {
        Ok(UploadState::from(&self.load_upload(repo, id).await?))
    }

    /// Takes session `id` of `repo` for one call: [`Error::UploadUnknown`] if there is no such
    /// session in `repo`, [`Error::UploadBusy`] if another call of this process holds it.
    pub async fn open_upload(&self, repo: &RepoName, id: &str) -> Result<UploadSession<'_>, Error> {
        let row = self.load_upload(repo, id).await?;
        let guard = self
            .sessions
            .acquire(id)
            .ok_or_else(|| Error::UploadBusy { id: id.to_owned() })?;
        Ok(UploadSession {
            svc: self,
            repo: repo.clone(),
            row,
            guard,
        })
    }

    async fn load_upload(&self, repo: &RepoName, id: &str) -> Result<UploadRow, Error> {
        match self.meta.get_upload(id).await? {
            Some(u) if u.repo == repo.as_str() => Ok(u),
            _ => Err(Error::UploadUnknown { id: id.to_owned() }),
        }
    }

    /// Removes a session's row and staging object; failures are logged (expiry retries).
    async fn end_upload(&self, id: &str) {
        if let Err(e) = self.meta.delete_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not delete upload session");
        }
        if let Err(e) = self.store.abort_upload(id).await {
            tracing::warn!(upload = id, error = %e, "could not delete upload data");
        }
        self.sessions.forget(id);
    }

    /// Ends every session untouched for `max_age`, and removes staging objects as old whose
    /// session row never got written (a crash between the two). Returns how many went.
    pub async fn expire_uploads(&self, max_age: Duration) -> Result<usize, Error> {
        let cutoff = now_ms() - max_age.as_millis() as i64;
        let mut removed = 0;
        loop {
            let stale = self.meta.stale_uploads(cutoff, 500).await?;
            let batch = stale.len();
            for u in stale {
                // Skip a session a call of this process is still streaming into.
                if let Some(_guard) = self.sessions.acquire(&u.id) {
                    self.end_upload(&u.id).await;
                    removed += 1;
                }
            }
            if batch < 500 {
                break;
            }
        }
        for id in self.store.stale_staging(cutoff).await? {
            if self.meta.get_upload(&id).await?.is_none() {
                self.store.abort_upload(&id).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

impl UploadSession<'_> {
    /// Where the session stands.
    pub fn state(&self) -> UploadState {
        UploadState::from(&self.row)
    }

    /// Appends `chunk`'s bytes at the session's size and records the new size.
    pub async fn append<S, E>(&mut self, chunk: Chunk, body: S) -> Result<UploadState, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        self.append_body(chunk, body, true).await?;
        Ok(self.state())
    }

    /// Appends an optional last chunk, verifies that everything uploaded has digest `digest`
    /// and makes the blob visible in the repository, ending the session. Returns the blob's
    /// size. A digest mismatch ends the session with nothing made visible.
    pub async fn finish<S, E>(
        mut self,
        digest: &Digest,
        chunk: Chunk,
        body: S,
    ) -> Result<u64, Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let svc = self.svc;
        let recorded = self.row.size;
        self.append_body(chunk, body, false).await?;
        let u = &self.row;
        let size = u.size as u64;

        let computed = match self.guard.take_hash(size) {
            Some(h) if h.algorithm() == digest.algorithm() => h.finish(),
            _ => match svc
                .store
                .digest_upload(&u.id, u.state.as_deref(), size, digest.algorithm())
                .await
            {
                Ok(d) => d,
                // A crash after the staging data was renamed into place, before the session
                // ended: the blob under this digest is that data (verified before the rename).
                Err(StorageError::UploadMissing)
                    if svc.store.blob_len(digest).await? == Some(size) =>
                {
                    digest.clone()
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Err(e) = check_digest(computed, digest) {
            svc.end_upload(&u.id).await;
            return Err(e);
        }
        svc.store
            .commit_upload(&u.id, u.state.as_deref(), size, digest)
            .await?;
        if !svc
            .meta
            .link_blob_ending(
                self.repo.as_str(),
                &digest.to_string(),
                u.size,
                Some((&u.id, recorded)),
            )
            .await?
        {
            return Err(Error::UploadMoved);
        }
        let UploadSession { row, guard, .. } = self;
        drop(guard);
        svc.sessions.forget(&row.id);
        Ok(size)
    }

    /// Ends the session: its row and bytes are gone.
    pub async fn cancel(self) {
        self.svc.end_upload(&self.row.id).await;
    }

    /// Appends `body` at the session's size, keeping the running hash when it covers all bytes
    /// so far. With `record`, writes the new size and backend state to the row; finishing does
    /// not, since the transaction that links the blob removes the row (checking it still holds
    /// the old size).
    async fn append_body<S, E>(&mut self, chunk: Chunk, body: S, record: bool) -> Result<(), Error>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let svc = self.svc;
        let u = &mut self.row;
        let declared = chunk.check(&self.repo, &u.id, u.size as u64)?;
        if declared == Some(0) {
            return Ok(());
        }
        let offset = u.size as u64;
        let mut hasher = self.guard.take_hash(offset).or_else(|| {
            (offset == 0).then(|| u.algorithm.parse().unwrap_or(Algorithm::Sha256).hasher())
        });
        let (n, state) = svc
            .store
            .append(
                &u.id,
                u.state.as_deref(),
                offset,
                body,
                hasher.as_mut(),
                declared,
            )
            .await?;
        if n == 0 {
            return Ok(());
        }
        let new_size = u.size + n as i64;
        if record
            && !svc
                .meta
                .advance_upload(&u.id, u.size, new_size, state.as_deref())
                .await?
        {
            return Err(Error::UploadMoved);
        }
        if let Some(h) = hasher {
            self.guard.keep_hash(new_size as u64, h);
        }
        svc.store
            .release(&u.id, u.state.as_deref(), offset, new_size as u64)
            .await;
        u.size = new_size;
        u.state = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_start_where_the_session_stands() {
        let repo = RepoName::parse("a/b").unwrap();
        let c = |start, len| Chunk { start, len };
        assert_eq!(c(None, None).check(&repo, "u", 5).ok(), Some(None));
        assert_eq!(c(None, Some(3)).check(&repo, "u", 5).ok(), Some(Some(3)));
        assert_eq!(c(Some(5), Some(3)).check(&repo, "u", 5).ok(), Some(Some(3)));
        match c(Some(4), Some(3)).check(&repo, "u", 5) {
            Err(Error::OutOfOrder {
                repo,
                id,
                size,
                start,
            }) => assert_eq!(
                (repo.as_str(), id.as_str(), size, start),
                ("a/b", "u", 5, 4)
            ),
            other => panic!("{other:?}"),
        }
    }
}
