//! The manifest cache: hot manifest GETs (by tag or digest) served from memory.
//!
//! Correctness first. Entries are dropped for a whole repository whenever a manifest or tag of
//! it changes: in this process right after the write commits, and in every other replica
//! through PostgreSQL `NOTIFY berth_manifests, '<repo>'`, sent inside the writing transaction
//! (so it is delivered exactly when the change becomes visible). A lookup that raced with an
//! invalidation never stores what it read: a generation counter taken before the query must be
//! unchanged when the result is inserted. While the listener connection is down, the cache is
//! off (notifications may be lost then); it is emptied and switched on again only after the
//! listener is back.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::ManifestRow;

/// The PostgreSQL notification channel; the payload is the repository name.
pub(crate) const CHANNEL: &str = "berth_manifests";

/// What a lookup named: a tag or a digest of a repository.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Tag(String),
    Digest(String),
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, HashMap<Key, ManifestRow>>,
    generation: u64,
    bytes: usize,
}

pub(crate) struct ManifestCache {
    inner: Mutex<Inner>,
    enabled: AtomicBool,
    max_bytes: usize,
}

impl std::fmt::Debug for ManifestCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestCache")
            .field("enabled", &self.enabled.load(Ordering::Relaxed))
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// Rough memory of one entry.
fn cost(repo: &str, key: &Key, row: &ManifestRow) -> usize {
    let k = match key {
        Key::Tag(t) | Key::Digest(t) => t.len(),
    };
    repo.len() + k + row.digest.len() + row.media_type.len() + row.body.len() + 96
}

impl ManifestCache {
    /// A cache of at most `max_bytes` (0: never caches); on until [`ManifestCache::disable`].
    pub(crate) fn new(max_bytes: usize) -> ManifestCache {
        ManifestCache {
            inner: Mutex::new(Inner::default()),
            enabled: AtomicBool::new(max_bytes > 0),
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached row (with body) and, on a miss, the generation to pass to `insert`.
    /// Off, it takes no lock (every manifest GET passes here) and hands out a generation that
    /// never matches, so nothing read meanwhile is stored.
    pub(crate) fn get(&self, repo: &str, key: &Key) -> Result<ManifestRow, u64> {
        if !self.enabled.load(Ordering::Acquire) {
            return Err(u64::MAX);
        }
        let inner = self.lock();
        match inner.entries.get(repo).and_then(|m| m.get(key)) {
            Some(row) => Ok(row.clone()),
            None => Err(inner.generation),
        }
    }

    /// Stores what a lookup started at `generation` read, unless anything was invalidated since.
    pub(crate) fn insert(&self, repo: &str, key: Key, row: &ManifestRow, generation: u64) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        let c = cost(repo, &key, row);
        if c > self.max_bytes / 4 {
            return;
        }
        if inner.bytes + c > self.max_bytes {
            // Crude but bounded: start over (hot entries come back on their next GET).
            inner.entries.clear();
            inner.bytes = 0;
        }
        if let Some(old) = inner
            .entries
            .entry(repo.to_owned())
            .or_default()
            .insert(key.clone(), row.clone())
        {
            inner.bytes = inner.bytes.saturating_sub(cost(repo, &key, &old));
        }
        inner.bytes += c;
    }

    /// Forgets everything about `repo`.
    pub(crate) fn invalidate(&self, repo: &str) {
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some(m) = inner.entries.remove(repo) {
            let freed: usize = m.iter().map(|(k, r)| cost(repo, k, r)).sum();
            inner.bytes = inner.bytes.saturating_sub(freed);
        }
    }

    /// Forgets everything and stops caching (the invalidation feed is down).
    pub(crate) fn disable(&self) {
        let mut inner = self.lock();
        self.enabled.store(false, Ordering::Release);
        inner.generation += 1;
        inner.entries.clear();
        inner.bytes = 0;
    }

    /// Whether this cache ever caches (it has memory).
    pub(crate) fn can_enable(&self) -> bool {
        self.max_bytes > 0
    }

    /// Starts caching again from empty (the invalidation feed is back).
    pub(crate) fn enable(&self) {
        if self.max_bytes == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.generation += 1;
        inner.entries.clear();
        inner.bytes = 0;
        self.enabled.store(true, Ordering::Release);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(d: &str) -> ManifestRow {
        ManifestRow {
            digest: d.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            size: 2,
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn hits_misses_and_invalidation() {
        let c = ManifestCache::new(1 << 20);
        let k = Key::Tag("v1".into());
        let g = c.get("a/b", &k).unwrap_err();
        c.insert("a/b", k.clone(), &row("d1"), g);
        assert_eq!(c.get("a/b", &k).unwrap().digest, "d1");
        assert!(c.get("a/c", &k).is_err());
        c.invalidate("a/b");
        assert!(c.get("a/b", &k).is_err());
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_is_not_stored() {
        let c = ManifestCache::new(1 << 20);
        let k = Key::Tag("v1".into());
        let g = c.get("a/b", &k).unwrap_err();
        // A write commits (and invalidates) while the lookup's query is in flight.
        c.invalidate("a/b");
        c.insert("a/b", k.clone(), &row("stale"), g);
        assert!(c.get("a/b", &k).is_err());
    }

    #[test]
    fn disabled_while_the_feed_is_down_and_bounded() {
        let c = ManifestCache::new(1 << 20);
        let k = Key::Digest("sha256:x".into());
        let g = c.get("r", &k).unwrap_err();
        c.insert("r", k.clone(), &row("d"), g);
        c.disable();
        assert!(c.get("r", &k).is_err());
        let g = c.get("r", &k).unwrap_err();
        c.insert("r", k.clone(), &row("d"), g);
        assert_eq!(c.len(), 0);
        c.enable();
        let g = c.get("r", &k).unwrap_err();
        c.insert("r", k.clone(), &row("d"), g);
        assert_eq!(c.len(), 1);

        let small = ManifestCache::new(4096);
        for i in 0..100 {
            let k = Key::Tag(format!("t{i}"));
            let g = small.get("r", &k).unwrap_err();
            small.insert("r", k, &row("d"), g);
        }
        assert!(small.lock().bytes <= 4096);
        assert!(ManifestCache::new(0).get("r", &k).is_err());
    }
}
