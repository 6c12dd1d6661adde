//! Per-process state of upload sessions: which are busy with a request, and the running hash
//! of each, so a PATCH followed by a PUT on this replica never reads the data back.
//!
//! Nothing here is needed for correctness: a session continued on another replica (or after a
//! restart) finds no entry, and its digest is computed from the stored bytes at the end.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_core::DigestHasher;

/// Cached running hashes beyond this many are not kept (abandoned sessions are dropped by the
/// cleanup job).
const MAX_CACHED: usize = 100_000;

#[derive(Default)]
struct Entry {
    busy: bool,
    /// Hash of the first `offset` bytes.
    hash: Option<(u64, DigestHasher)>,
}

#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Entry>>,
}

/// Exclusive use of one session by one request; released on drop.
pub(crate) struct SessionGuard {
    sessions: Arc<Sessions>,
    id: String,
}

impl Sessions {
    /// Marks `id` busy; `None` if another request of this process holds it.
    pub(crate) fn acquire(self: &Arc<Self>, id: &str) -> Option<SessionGuard> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let e = map.entry(id.to_owned()).or_default();
        if e.busy {
            return None;
        }
        e.busy = true;
        Some(SessionGuard {
            sessions: self.clone(),
            id: id.to_owned(),
        })
    }

    /// Forgets `id` (finished, cancelled or expired).
    pub(crate) fn forget(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get_mut(id) {
            e.hash = None;
            if !e.busy {
                map.remove(id);
            }
        }
    }
}

impl SessionGuard {
    /// The running hash, if it covers exactly the first `offset` bytes.
    pub(crate) fn take_hash(&self, offset: u64) -> Option<DigestHasher> {
        let mut map = self.sessions.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get_mut(&self.id).and_then(|e| e.hash.take()) {
            Some((o, h)) if o == offset => Some(h),
            _ => None,
        }
    }

    /// Keeps `hash` as the hash of the first `offset` bytes.
    pub(crate) fn keep_hash(&self, offset: u64, hash: DigestHasher) {
        let mut map = self.sessions.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > MAX_CACHED {
            return;
        }
        if let Some(e) = map.get_mut(&self.id) {
            e.hash = Some((offset, hash));
        }
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut map = self.sessions.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = map.get_mut(&self.id) {
            e.busy = false;
            if e.hash.is_none() {
                map.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::Algorithm;

    #[test]
    fn busy_and_hash() {
        let s = Arc::new(Sessions::default());
        let g = s.acquire("a").unwrap();
        assert!(s.acquire("a").is_none());
        g.keep_hash(5, Algorithm::Sha256.hasher());
        drop(g);
        let g = s.acquire("a").unwrap();
        assert!(g.take_hash(4).is_none(), "wrong offset drops the hash");
        g.keep_hash(5, Algorithm::Sha256.hasher());
        assert!(g.take_hash(5).is_some());
        drop(g);
        s.forget("a");
        assert!(s.map.lock().unwrap().is_empty());
    }
}
