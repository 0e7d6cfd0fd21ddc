//! The in-memory set of stored event ids that makes ingest idempotent without a UNIQUE index.
//!
//! Each id is kept as its 128-bit xxh3 hash: 16 bytes per event whatever the id's length. Two
//! distinct ids share a hash with probability about n²/2¹²⁹, under 10⁻¹⁸ for 10¹⁰ events, so a
//! collision (which would drop a genuine event as a duplicate) is not a practical concern.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The hash an event id is known by.
pub(crate) fn id_hash(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

/// Keys are already uniform hashes, so the table uses their low 64 bits instead of hashing again.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only reached for keys other than u128; fold them in so the hasher stays correct.
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// Hashes of the stored event ids.
pub(crate) type IdSet = HashSet<u128, BuildHasherDefault<PassThrough>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_ids_share_a_hash_and_distinct_ids_do_not() {
        assert_eq!(id_hash("evt-1"), id_hash("evt-1"));
        assert_ne!(id_hash("evt-1"), id_hash("evt-2"));
        assert_ne!(id_hash(""), id_hash(" "));
    }

    #[test]
    fn set_finds_what_was_inserted() {
        let mut set = IdSet::default();
        let ids: Vec<u128> = (0..10_000).map(|i| id_hash(&format!("e{i}"))).collect();
        for h in &ids {
            assert!(set.insert(*h));
        }
        assert_eq!(set.len(), 10_000);
        assert!(ids.iter().all(|h| set.contains(h)));
        assert!(!set.contains(&id_hash("e10000")));
        assert!(!set.insert(ids[42]));
    }

    #[test]
    fn byte_writes_depend_on_every_byte() {
        let hash = |b: &[u8]| {
            let mut h = PassThrough::default();
            h.write(b);
            h.finish()
        };
        assert_ne!(hash(b"abcdefgh1"), hash(b"abcdefgh2"));
        assert_ne!(hash(b"a"), hash(b"b"));
    }
}
