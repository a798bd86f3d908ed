//! Address → DNS name, bounded in size and honouring TTLs.
//!
//! An entry lives for max(TTL, floor): the floor keeps names for connections that outlive a
//! short TTL (CDNs answer with 20-60 s) and are reported after it. A newer answer for the same
//! address replaces the name and the expiry. When the cache is full, expired entries go first,
//! then the entry closest to expiry (the one least likely to still be used), counted as an
//! eviction. Lookups never return an expired entry.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

struct Entry {
    name: Arc<str>,
    expires_ns: u64,
    seq: u64,
}

pub struct NameCache {
    map: HashMap<IpAddr, Entry>,
    by_expiry: BTreeSet<(u64, u64, IpAddr)>,
    max_entries: usize,
    floor_ns: u64,
    seq: u64,
    pub evictions: u64,
    pub expired: u64,
}

impl NameCache {
    pub fn new(max_entries: usize, floor_s: u64) -> NameCache {
        NameCache { map: HashMap::new(), by_expiry: BTreeSet::new(), max_entries: max_entries.max(1), floor_ns: floor_s * 1_000_000_000, seq: 0, evictions: 0, expired: 0 }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn insert(&mut self, address: IpAddr, name: &str, ttl_s: u32, now_ns: u64) {
        let expires_ns = now_ns + (u64::from(ttl_s) * 1_000_000_000).max(self.floor_ns);
        self.seq += 1;
        if let Some(old) = self.map.remove(&address) {
            self.by_expiry.remove(&(old.expires_ns, old.seq, address));
        } else if self.map.len() >= self.max_entries {
            self.purge(now_ns);
            if self.map.len() >= self.max_entries {
                if let Some(first) = self.by_expiry.pop_first() {
                    self.map.remove(&first.2);
                    self.evictions += 1;
                }
            }
        }
        self.by_expiry.insert((expires_ns, self.seq, address));
        self.map.insert(address, Entry { name: Arc::from(name), expires_ns, seq: self.seq });
    }

    /// Drops every entry expired at `now_ns`.
    pub fn purge(&mut self, now_ns: u64) {
        while let Some(&(exp, seq, addr)) = self.by_expiry.first() {
            if exp > now_ns {
                break;
            }
            self.by_expiry.remove(&(exp, seq, addr));
            self.map.remove(&addr);
            self.expired += 1;
        }
    }

    pub fn lookup(&self, address: &IpAddr, now_ns: u64) -> Option<Arc<str>> {
        self.map.get(address).filter(|e| e.expires_ns > now_ns).map(|e| e.name.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const S: u64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ttl_and_floor() {
        let mut c = NameCache::new(10, 30);
        c.insert(ip("192.0.2.1"), "short.test", 5, 0);
        c.insert(ip("192.0.2.2"), "long.test", 100, 0);
        assert_eq!(c.lookup(&ip("192.0.2.1"), 29 * S).as_deref(), Some("short.test"), "floor keeps it");
        assert_eq!(c.lookup(&ip("192.0.2.1"), 30 * S), None);
        assert_eq!(c.lookup(&ip("192.0.2.2"), 99 * S).as_deref(), Some("long.test"));
        assert_eq!(c.lookup(&ip("192.0.2.2"), 100 * S), None);
        c.purge(100 * S);
        assert!(c.is_empty());
        assert_eq!(c.expired, 2);
    }

    #[test]
    fn bounded_evicting_closest_to_expiry() {
        let mut c = NameCache::new(2, 0);
        c.insert(ip("192.0.2.1"), "a.test", 50, 0);
        c.insert(ip("192.0.2.2"), "b.test", 10, 0);
        c.insert(ip("192.0.2.3"), "c.test", 30, 0);
        assert_eq!(c.len(), 2);
        assert_eq!(c.evictions, 1);
        assert_eq!(c.lookup(&ip("192.0.2.2"), 0), None);
        // Replacing an address does not evict.
        c.insert(ip("192.0.2.1"), "a2.test", 5, 0);
        assert_eq!((c.len(), c.evictions), (2, 1));
        assert_eq!(c.lookup(&ip("192.0.2.1"), 0).as_deref(), Some("a2.test"));
        // Expired entries go before live ones.
        c.insert(ip("192.0.2.4"), "d.test", 30, 6 * S);
        assert_eq!((c.evictions, c.expired), (1, 1));
        assert_eq!(c.lookup(&ip("192.0.2.3"), 6 * S).as_deref(), Some("c.test"));
        for i in 0..10_000u32 {
            c.insert(IpAddr::from(i.to_be_bytes()), "x.test", i % 300, 7 * S);
        }
        assert_eq!(c.len(), 2);
        assert_eq!(c.by_expiry.len(), 2);
    }
}
