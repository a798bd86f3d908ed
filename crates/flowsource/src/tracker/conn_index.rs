//! The tracker's fallback index: connection key → slot number, for entries that are not where
//! the previous dump had them (new, moved, or after a gap). An open-addressing table of 8-byte
//! buckets, linear probing, load ≤ 1/2. Keys themselves live in the tracker's slots; a bucket
//! holds the slot and 32 bits of the key's hash, so most non-matching probes are rejected
//! without touching the slot (a cache miss).
//!
//! ```text
//! bucket u64:  high 32 bits  tag = hash >> 32 (its low bits also pick the home bucket)
//!              low 32 bits   slot + 1 (0 = empty)
//! ```
//! Removal shifts following entries back (no tombstones), so probe sequences stay short under
//! churn. Growing re-homes entries from their tags; no key is re-hashed.

const MIN_BUCKETS: usize = 1024;

pub struct ConnIndex {
    buckets: Vec<u64>,
    mask: usize,
    len: usize,
}

#[inline]
fn tag_of(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl ConnIndex {
    pub fn new() -> ConnIndex {
        ConnIndex { buckets: vec![0; MIN_BUCKETS], mask: MIN_BUCKETS - 1, len: 0 }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The slot whose key has `hash` and satisfies `is_key`.
    #[inline]
    pub fn find(&self, hash: u64, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        let tag = tag_of(hash);
        let mut i = tag as usize & self.mask;
        loop {
            let b = self.buckets[i];
            if b == 0 {
                return None;
            }
            if (b >> 32) as u32 == tag {
                let slot = (b as u32) - 1;
                if is_key(slot) {
                    return Some(slot);
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Adds `slot` under `hash`; the caller knows the key is not present.
    pub fn insert(&mut self, hash: u64, slot: u32) {
        if (self.len + 1) * 2 > self.buckets.len() {
            self.resize(self.buckets.len() * 2);
        }
        self.place(u64::from(tag_of(hash)) << 32 | u64::from(slot + 1));
        self.len += 1;
    }

    fn place(&mut self, bucket: u64) {
        let mut i = (bucket >> 32) as usize & self.mask;
        while self.buckets[i] != 0 {
            i = (i + 1) & self.mask;
        }
        self.buckets[i] = bucket;
    }

    /// Removes `slot` (stored under `hash`); false when it was not there.
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let want = u64::from(tag_of(hash)) << 32 | u64::from(slot + 1);
        let mut i = tag_of(hash) as usize & self.mask;
        loop {
            match self.buckets[i] {
                0 => return false,
                b if b == want => break,
                _ => i = (i + 1) & self.mask,
            }
        }
        // Backward-shift deletion: move later members of the probe run into the hole when
        // their home bucket is not between the hole and their position.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let b = self.buckets[j];
            if b == 0 {
                break;
            }
            let home = (b >> 32) as usize & self.mask;
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                self.buckets[hole] = b;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.buckets[hole] = 0;
        self.len -= 1;
        true
    }

    fn resize(&mut self, buckets: usize) {
        let buckets = buckets.max(MIN_BUCKETS).next_power_of_two();
        let old = std::mem::replace(&mut self.buckets, vec![0; buckets]);
        self.mask = buckets - 1;
        for b in old.into_iter().filter(|&b| b != 0) {
            self.place(b);
        }
    }

    /// Shrinks when at most 1/8 full (bounded memory after a big table empties).
    pub fn shrink_if_sparse(&mut self) {
        if self.buckets.len() > MIN_BUCKETS && self.len * 8 < self.buckets.len() {
            self.resize(self.len * 2 + 1);
        }
    }

    /// Renumbers every slot through `new_slot[old]` (after the tracker compacted its slots).
    pub fn renumber(&mut self, new_slot: &[u32]) {
        for b in self.buckets.iter_mut().filter(|b| **b != 0) {
            let old = (*b as u32 - 1) as usize;
            *b = (*b & !0xffff_ffff) | u64::from(new_slot[old] + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Against std's HashMap under random insert/remove churn, with hashes whose low tag bits
    /// collide often (long probe runs, wrap-around at the table's end).
    #[test]
    fn matches_a_reference_map_under_churn() {
        let mut idx = ConnIndex::new();
        let mut reference: HashMap<u32, u64> = HashMap::new();
        let mut present: Vec<u32> = Vec::new();
        let mut last_hash = 0u64;
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next_slot = 0u32;
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let remove = x % 3 == 0 && !reference.is_empty();
            if remove {
                let victim = present.swap_remove((x >> 8) as usize % present.len());
                let h = reference.remove(&victim).unwrap();
                assert!(idx.remove(h, victim));
                assert!(!idx.remove(h, victim));
            } else {
                // Every 8th hash equal in its tag to a recent one: equal tags must be told apart.
                let h = if round % 8 == 0 { (x >> 32 << 32) ^ 0xffff } else { x };
                let h = if round % 8 == 1 { last_hash } else { h };
                last_hash = h;
                reference.insert(next_slot, h);
                present.push(next_slot);
                idx.insert(h, next_slot);
                next_slot += 1;
            }
            if round % 10_007 == 0 {
                idx.shrink_if_sparse();
                for (&slot, &h) in &reference {
                    assert_eq!(idx.find(h, |s| s == slot), Some(slot));
                }
            }
        }
        assert_eq!(idx.len(), reference.len());
        for (&slot, &h) in &reference {
            assert_eq!(idx.find(h, |s| s == slot), Some(slot));
        }
        // Renumbering keeps every entry findable under its new number.
        let max = next_slot as usize;
        let new_slot: Vec<u32> = (0..max as u32).map(|s| max as u32 - 1 - s).collect();
        idx.renumber(&new_slot);
        for (&slot, &h) in &reference {
            let want = new_slot[slot as usize];
            assert_eq!(idx.find(h, |s| s == want), Some(want));
        }
    }
}
