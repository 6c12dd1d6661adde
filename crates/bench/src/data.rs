//! Blob contents: deterministic pseudo-random bytes, made without allocating whole blobs.
//!
//! One pool of random bytes (64 MiB + 1 MiB, from a seeded wyrand generator) is made at start.
//! A blob is a function of `(seed, len)`: a 32-byte header carrying the seed and the length,
//! then 1 MiB pieces sliced out of the pool at seed-dependent offsets. Slices are `Bytes`
//! views of the pool, so producing a 1 GiB body costs no copy and no allocation, and the same
//! bytes can be produced twice (once to compute the digest before the timed push, once to
//! send). Every blob differs from every other by its header, so no two digests coincide.

use bytes::Bytes;
use sha2::{Digest as _, Sha256};

/// Size of one piece handed to the HTTP client, and the granularity of pool offsets.
pub const PIECE: u64 = 1 << 20;
const POOL_PIECES: u64 = 64;
const HEADER: u64 = 32;
/// Odd, so consecutive pieces of a blob walk through the whole pool before repeating.
const STRIDE: u64 = 37;

/// wyrand: a small, fast, statistically decent generator (not for cryptography).
pub fn wyrand(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0xa076_1d64_78bd_642f);
    let t = u128::from(*state).wrapping_mul(u128::from(*state ^ 0xe703_7ed1_a0b4_28db));
    ((t >> 64) ^ t) as u64
}

/// Mixes several numbers into one well-spread seed.
pub fn mix(parts: &[u64]) -> u64 {
    let mut s = 0x9e37_79b9_7f4a_7c15_u64;
    for p in parts {
        s ^= *p;
        wyrand(&mut s);
    }
    wyrand(&mut s)
}

/// The shared pool of random bytes every blob is sliced from.
#[derive(Clone)]
pub struct Pool(Bytes);

impl Pool {
    pub fn new(seed: u64) -> Pool {
        let len = ((POOL_PIECES + 1) * PIECE) as usize;
        let mut v = Vec::with_capacity(len);
        let mut s = seed;
        while v.len() < len {
            v.extend_from_slice(&wyrand(&mut s).to_le_bytes());
        }
        v.truncate(len);
        Pool(Bytes::from(v))
    }

    /// Bytes `from..to` of blob `(seed, len)`, as zero-copy pieces of at most 1 MiB.
    pub fn pieces(&self, seed: u64, len: u64, from: u64, to: u64) -> Pieces {
        let mut header = [0u8; HEADER as usize];
        header[..8].copy_from_slice(&seed.to_le_bytes());
        header[8..16].copy_from_slice(&len.to_le_bytes());
        header[16..].copy_from_slice(b"berth-bench-blob");
        Pieces {
            pool: self.0.clone(),
            header,
            seed,
            pos: from,
            end: to.min(len),
        }
    }

    /// `sha256:<hex>` of blob `(seed, len)`.
    pub fn digest(&self, seed: u64, len: u64) -> String {
        let mut h = Sha256::new();
        for p in self.pieces(seed, len, 0, len) {
            h.update(&p);
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}

/// Iterator over the pieces of a byte range of one blob.
pub struct Pieces {
    pool: Bytes,
    header: [u8; HEADER as usize],
    seed: u64,
    pos: u64,
    end: u64,
}

impl Iterator for Pieces {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.pos >= self.end {
            return None;
        }
        if self.pos < HEADER {
            let e = self.end.min(HEADER);
            let b = Bytes::copy_from_slice(&self.header[self.pos as usize..e as usize]);
            self.pos = e;
            return Some(b);
        }
        let q = self.pos - HEADER;
        let piece = q / PIECE;
        let within = q % PIECE;
        let n = (PIECE - within).min(self.end - self.pos);
        let slot = self.seed.wrapping_add(piece.wrapping_mul(STRIDE)) % POOL_PIECES;
        let shift = (self.seed >> 32) % PIECE;
        let off = slot * PIECE + shift + within;
        self.pos += n;
        Some(self.pool.slice(off as usize..(off + n) as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_concatenate_to_the_whole_blob() {
        let pool = Pool::new(1);
        let len = 3 * PIECE + 12345;
        let whole: Vec<u8> = pool.pieces(7, len, 0, len).flatten().collect();
        assert_eq!(whole.len() as u64, len);
        let step = 8 * 1024 * 1024 / 16 + 3;
        let mut parts = Vec::new();
        let mut at = 0;
        while at < len {
            parts.extend(pool.pieces(7, len, at, at + step).flatten());
            at += step;
        }
        assert_eq!(parts, whole);
        assert_ne!(pool.digest(7, len), pool.digest(8, len));
        assert!(pool.pieces(7, len, 0, len).all(|p| p.len() as u64 <= PIECE));
    }
}
