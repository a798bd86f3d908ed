//! Synthetic conntrack entries for the bench and tests: UDP 10.1.a.b:sport → 10.200.0.d:53.
//! Entry i uses source i % 1024, destination (i / 1024) % 64 and source port
//! 10000 + i / 65536, so every tuple is distinct and 262,144 entries reduce to 65,536 flows.

use crate::entry::{Entry, Tuple, FAMILY_IPV4, PROTO_UDP};

pub fn synthetic_entry(i: u64) -> Entry {
    let s = (i % 1024) as u16;
    let d = ((i / 1024) % 64) as u8;
    let sport = 10_000 + (i / 65_536) as u16;
    let mut src = [0u8; 16];
    src[..4].copy_from_slice(&[10, 1, (s >> 8) as u8, s as u8]);
    let mut dst = [0u8; 16];
    dst[..4].copy_from_slice(&[10, 200, 0, d]);
    let original = Tuple { family: FAMILY_IPV4, protocol: PROTO_UDP, src, dst, src_port: sport, dst_port: 53 };
    let reply = Tuple { family: FAMILY_IPV4, protocol: PROTO_UDP, src: dst, dst: src, src_port: 53, dst_port: sport };
    Entry { original, reply, timeout: 3600, ..Entry::default() }
}

pub fn synthetic_entries(count: u64) -> impl Iterator<Item = Entry> {
    (0..count).map(synthetic_entry)
}
