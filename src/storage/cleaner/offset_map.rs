//! [`OffsetMap`]: key → latest offset for the dirty section of a log, in a fixed block of memory
//! (Kafka's `SkimpyOffsetMap`).
//!
//! ```text
//! memory:  slot 0                     | slot 1 | … | slot n-1        n = memory / 24
//!          MD5(key) 16 bytes | offset i64 BE 8 bytes
//! ```
//!
//! Open addressing: the probe sequence of a key is read from its digest (4 bytes at `attempt`,
//! then 4 bytes at 12 plus the attempts past 12), so every key has its own sequence and the
//! table never grows: the cleaner stops adding keys once `load_factor` of the slots are taken
//! and cleans up to there (the rest of the dirty section waits for the next pass). An all-zero
//! digest marks an empty slot.
//!
//! Keys are told apart by their MD5 digest alone, as Kafka's cleaner tells them apart: two keys
//! with the same digest would count as one (the older record of the other key would be
//! removed). With 128-bit digests that needs about 2^64 keys to become likely; Kafka accepts it.

use md5::{Digest, Md5};

/// Bytes of a key's digest.
pub const HASH_SIZE: usize = 16;
/// Bytes of one slot: the digest and the offset.
pub const BYTES_PER_ENTRY: usize = HASH_SIZE + 8;

/// Key digests → offsets, in at most the memory it was made with. See the module docs.
pub struct OffsetMap {
    bytes: Vec<u8>,
    slots: usize,
    entries: usize,
    /// The latest offset put in (or moved up to with [`update_latest_offset`]); -1 when empty.
    ///
    /// [`update_latest_offset`]: Self::update_latest_offset
    latest_offset: i64,
    lookups: u64,
    probes: u64,
}

impl std::fmt::Debug for OffsetMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsetMap")
            .field("slots", &self.slots)
            .field("entries", &self.entries)
            .field("latest_offset", &self.latest_offset)
            .finish_non_exhaustive()
    }
}

/// The MD5 digest of a key.
pub fn digest(key: &[u8]) -> [u8; HASH_SIZE] {
    let mut d = [0u8; HASH_SIZE];
    d.copy_from_slice(&Md5::digest(key));
    d
}

impl OffsetMap {
    /// A map in `memory` bytes (rounded down to whole slots; at least one slot).
    pub fn new(memory: usize) -> OffsetMap {
        let slots = (memory / BYTES_PER_ENTRY).max(1);
        OffsetMap {
            bytes: vec![0; slots * BYTES_PER_ENTRY],
            slots,
            entries: 0,
            latest_offset: -1,
            lookups: 0,
            probes: 0,
        }
    }

    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Keys in the map.
    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes the map holds (its whole table, allocated once).
    pub fn memory(&self) -> usize {
        self.bytes.len()
    }

    /// Share of the slots in use.
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.slots as f64
    }

    /// Probes per lookup so far (1.0 = no collision).
    pub fn collision_rate(&self) -> f64 {
        if self.lookups == 0 {
            return 0.0;
        }
        self.probes as f64 / self.lookups as f64
    }

    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Moves the latest offset up to `offset` (a batch read past its last keyed record, or an
    /// offset gap at the end of a segment).
    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = self.latest_offset.max(offset);
    }

    /// Empties the map for the next log.
    pub fn clear(&mut self) {
        self.bytes.fill(0);
        self.entries = 0;
        self.latest_offset = -1;
        self.lookups = 0;
        self.probes = 0;
    }

    /// Records `offset` as the latest for `key` (a later put of the same key replaces it).
    /// Returns false, putting nothing, if the map has no free slot left.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        self.put_digest(&digest(key), offset)
    }

    fn put_digest(&mut self, hash: &[u8; HASH_SIZE], offset: i64) -> bool {
        self.lookups += 1;
        for attempt in 0..self.max_attempts() {
            let pos = self.position_of(hash, attempt);
            let slot = &mut self.bytes[pos..pos + BYTES_PER_ENTRY];
            let empty = slot[..HASH_SIZE].iter().all(|&b| b == 0);
            if empty || slot[..HASH_SIZE] == hash[..] {
                slot[..HASH_SIZE].copy_from_slice(hash);
                slot[HASH_SIZE..].copy_from_slice(&offset.to_be_bytes());
                self.entries += usize::from(empty);
                self.latest_offset = offset;
                return true;
            }
        }
        false
    }

    /// The latest offset recorded for `key`, or -1.
    pub fn get(&mut self, key: &[u8]) -> i64 {
        let hash = digest(key);
        self.lookups += 1;
        for attempt in 0..self.max_attempts() {
            let pos = self.position_of(&hash, attempt);
            let slot = &self.bytes[pos..pos + BYTES_PER_ENTRY];
            if slot[..HASH_SIZE].iter().all(|&b| b == 0) {
                return -1;
            }
            if slot[..HASH_SIZE] == hash[..] {
                let mut o = [0u8; 8];
                o.copy_from_slice(&slot[HASH_SIZE..]);
                return i64::from_be_bytes(o);
            }
        }
        -1
    }

    /// Probes past the 13 read from the digest go one slot further each time, so `slots + 13`
    /// attempts visit every slot.
    fn max_attempts(&self) -> usize {
        self.slots + HASH_SIZE
    }

    /// Byte position of the `attempt`-th slot probed for `hash`.
    fn position_of(&mut self, hash: &[u8; HASH_SIZE], attempt: usize) -> usize {
        self.probes += 1;
        let at = attempt.min(HASH_SIZE - 4);
        let probe = u32::from_be_bytes([hash[at], hash[at + 1], hash[at + 2], hash[at + 3]]);
        let extra = attempt.saturating_sub(HASH_SIZE - 4);
        let slot = (probe as usize).wrapping_add(extra) % self.slots;
        slot * BYTES_PER_ENTRY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_unknown_keys_are_absent() {
        let mut map = OffsetMap::new(1000);
        assert_eq!(map.slots(), 41);
        for i in 0..30i64 {
            assert!(map.put(format!("key-{}", i % 10).as_bytes(), i));
        }
        assert_eq!(map.len(), 10);
        for k in 0..10i64 {
            assert_eq!(map.get(format!("key-{k}").as_bytes()), 20 + k);
        }
        assert_eq!(map.get(b"absent"), -1);
        assert_eq!(map.latest_offset(), 29);
        map.update_latest_offset(25);
        assert_eq!(map.latest_offset(), 29);
        map.update_latest_offset(40);
        assert_eq!(map.latest_offset(), 40);
        map.clear();
        assert!(map.is_empty());
        assert_eq!(map.get(b"key-1"), -1);
        assert_eq!(map.latest_offset(), -1);
    }

    #[test]
    fn memory_is_bounded_and_every_slot_can_fill() {
        let mut map = OffsetMap::new(24 * 64 + 23);
        assert_eq!(map.memory(), 24 * 64, "whole slots only, never more");
        for i in 0..64i64 {
            assert!(map.put(&i.to_be_bytes(), i), "slot {i}");
        }
        assert_eq!(map.len(), 64);
        assert!(!map.put(b"one too many", 99), "full: nothing put");
        assert_eq!(map.memory(), 24 * 64);
        for i in 0..64i64 {
            assert_eq!(map.get(&i.to_be_bytes()), i);
        }
        // A full map still replaces a known key's offset.
        assert!(map.put(&5i64.to_be_bytes(), 500));
        assert_eq!(map.get(&5i64.to_be_bytes()), 500);
        assert!((map.utilization() - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn md5_digest_of_a_key() {
        // RFC 1321's test vector.
        assert_eq!(
            digest(b"abc"),
            [
                0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
                0x7f, 0x72
            ]
        );
    }
}
