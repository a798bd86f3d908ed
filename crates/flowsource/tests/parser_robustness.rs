//! The ctnetlink and procfs parsers against ≥100,000 generated malformed, truncated and random
//! inputs: each must give an entry, an error or a skipped message — never a panic — and valid
//! messages must decode to exactly what was encoded.

use flowsource::entry::{Counters, Entry, Tuple, FAMILY_IPV4, FAMILY_IPV6, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP};
use flowsource::netlink::attr::messages;
use flowsource::netlink::builder::MessageBuilder;
use flowsource::netlink::parse::parse_conntrack;
use flowsource::netlink::socket::{walk_datagram, DumpStats};
use flowsource::netlink::{IPCTNL_MSG_CT_NEW, NLM_F_MULTI};
use flowsource::procfs::parse_line;

mod common;
use common::Rng;

fn random_entry(rng: &mut Rng) -> Entry {
    let v6 = rng.below(2) == 1;
    let family = if v6 { FAMILY_IPV6 } else { FAMILY_IPV4 };
    let protocol = match rng.below(4) {
        0 => PROTO_TCP,
        1 => PROTO_UDP,
        _ if v6 => PROTO_ICMPV6,
        _ => PROTO_ICMP,
    };
    let mut addr = || {
        let mut a = [0u8; 16];
        let len = if v6 { 16 } else { 4 };
        for b in a.iter_mut().take(len) {
            *b = rng.next() as u8;
        }
        a
    };
    let (src, dst, vip) = (addr(), addr(), addr());
    let mut rng2 = Rng(src[0] as u64 + 1);
    let sport = rng2.next() as u16;
    let dport = rng2.next() as u16;
    let original = Tuple { family, protocol, src, dst: vip, src_port: sport, dst_port: dport };
    let reply = Tuple { family, protocol, src: dst, dst: src, src_port: dport, dst_port: sport };
    Entry {
        original,
        reply,
        original_counters: Counters { packets: rng.next() >> 20, bytes: rng.next() >> 10 },
        reply_counters: Counters { packets: rng.next() >> 20, bytes: rng.next() >> 10 },
        status: rng.next() as u32,
        timeout: rng.next() as u32,
        mark: rng.next() as u32,
        zone: rng.next() as u16,
        id: rng.next() as u32,
    }
}

fn datagram(rng: &mut Rng, n: usize, seq: u32) -> (Vec<u8>, Vec<Entry>) {
    let mut b = MessageBuilder::new();
    let entries: Vec<Entry> = (0..n).map(|_| random_entry(rng)).collect();
    for e in &entries {
        b.entry(IPCTNL_MSG_CT_NEW, NLM_F_MULTI, seq, e);
    }
    (b.buf, entries)
}

/// Runs every decoding path over `buf`; returns the number of decoded entries.
fn decode_all(buf: &[u8]) -> u64 {
    let mut decoded = 0u64;
    for m in messages(buf).flatten() {
        if parse_conntrack(m.payload).is_ok() {
            decoded += 1;
        }
        let _ = parse_conntrack(m.payload.get(4..).unwrap_or(&[]));
    }
    let _ = parse_conntrack(buf);
    let mut stats = DumpStats::default();
    let mut interrupted = false;
    let _ = walk_datagram(buf, 7, &mut interrupted, &mut stats, &mut |_e: &Entry| {});
    decoded
}

#[test]
fn valid_messages_round_trip() {
    let mut rng = Rng(42);
    for _ in 0..2_000 {
        let (buf, entries) = datagram(&mut rng, 3, 7);
        let mut stats = DumpStats::default();
        let mut got = Vec::new();
        walk_datagram(&buf, 7, &mut false, &mut stats, &mut |e: &Entry| got.push(e.clone())).unwrap();
        assert_eq!(stats.skipped, 0, "{:?}", stats.first_error);
        assert_eq!(got.len(), entries.len());
        for (g, e) in got.iter().zip(&entries) {
            assert_eq!(g, e);
        }
    }
}

#[test]
fn at_least_100k_malformed_netlink_buffers_never_panic() {
    let mut rng = Rng(0x5eed);
    let mut cases = 0u64;
    let mut decoded = 0u64;
    // 1. Truncation at every kind of boundary.
    for _ in 0..25_000 {
        let n = 1 + rng.below(3) as usize;
        let (buf, _) = datagram(&mut rng, n, 7);
        let cut = rng.below(buf.len() as u64) as usize;
        decoded += decode_all(&buf[..cut]);
        cases += 1;
    }
    // 2. Random byte flips (lengths, types, flags, payloads).
    for _ in 0..35_000 {
        let n = 1 + rng.below(2) as usize;
        let (mut buf, _) = datagram(&mut rng, n, 7);
        for _ in 0..1 + rng.below(8) {
            let i = rng.below(buf.len() as u64) as usize;
            buf[i] = rng.next() as u8;
        }
        decoded += decode_all(&buf);
        cases += 1;
    }
    // 3. Length fields set to hostile values (0, 1..3, huge, off by one).
    for _ in 0..20_000 {
        let (mut buf, _) = datagram(&mut rng, 1, 7);
        let at = (rng.below(buf.len() as u64 / 4) * 4) as usize;
        let v: u16 = match rng.below(5) {
            0 => 0,
            1 => rng.below(4) as u16,
            2 => u16::MAX,
            3 => u16::from_ne_bytes([buf[at], buf[at + 1]]).wrapping_add(1),
            _ => rng.next() as u16,
        };
        buf[at..at + 2].copy_from_slice(&v.to_ne_bytes());
        decoded += decode_all(&buf);
        cases += 1;
    }
    // 4. Pure noise, with and without a plausible netlink header.
    for _ in 0..25_000 {
        let len = rng.below(512) as usize;
        let mut buf: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if len >= 20 && rng.below(2) == 0 {
            buf[0..4].copy_from_slice(&(len as u32).to_ne_bytes());
            buf[4..6].copy_from_slice(&0x0100u16.to_ne_bytes());
            buf[16] = if rng.below(2) == 0 { 2 } else { 10 };
        }
        decoded += decode_all(&buf);
        cases += 1;
    }
    assert!(cases >= 100_000, "{cases}");
    // Some mutated messages still decode (flips inside payload bytes); most must not crash.
    assert!(decoded > 0);
}

#[test]
fn malformed_procfs_lines_never_panic() {
    let mut rng = Rng(99);
    let good = "ipv4     2 tcp      6 117 TIME_WAIT src=10.0.0.1 dst=10.0.0.2 sport=36888 dport=80 packets=6 bytes=372 src=10.0.0.2 dst=10.0.0.1 sport=80 dport=36888 packets=4 bytes=290 [ASSURED] mark=0 zone=0 use=2";
    let alphabet = b"=. :0123456789abcdefipvsrctdoknz[]\xff";
    for _ in 0..20_000 {
        let mut bytes = good.as_bytes().to_vec();
        for _ in 0..1 + rng.below(6) {
            let i = rng.below(bytes.len() as u64) as usize;
            match rng.below(3) {
                0 => bytes[i] = alphabet[rng.below(alphabet.len() as u64) as usize],
                1 => bytes.truncate(i),
                _ => {
                    bytes.remove(i.min(bytes.len().saturating_sub(1)).min(bytes.len()));
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        let line = String::from_utf8_lossy(&bytes);
        let _ = parse_line(&line);
    }
    assert!(parse_line(good).is_ok());
}
