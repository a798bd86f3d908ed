//! The packet parser, the flow aggregation and the DNS reader against ≥100,000 generated
//! malformed frames (truncated, bit-flipped, lengths lied about, random bytes) and DNS
//! messages: each must be parsed, counted as malformed or skipped — never a panic — and the
//! valid frames they were made from must parse to exactly what was encoded.

use flowsource::dns::cache::NameCache;
use flowsource::dns::message::build::{response, Answer};
use flowsource::dns::message::parse_response;
use flowsource::dns::{DnsWatcher, Names};
use flowsource::js::{JsValue, ToJs};
use flowsource::packet::filter::FilterSpec;
use flowsource::packet::flows::FlowTable;
use flowsource::packet::parse::{parse_frame, Link, Parsed};
use flowsource::packet::Aggregator;
use std::sync::{Arc, Mutex};

mod common;
use common::Rng;

struct Expect {
    family: u8,
    protocol: u8,
    sport: u16,
    dport: u16,
    bytes: u32,
}

/// A valid frame: Ethernet, 0-2 VLAN tags, IPv4 or IPv6 (with 0-2 extension headers), TCP,
/// UDP (sometimes carrying a DNS response) or ICMP.
fn valid_frame(rng: &mut Rng) -> (Vec<u8>, Expect) {
    let v6 = rng.below(2) == 1;
    let protocol = [6u8, 17, if v6 { 58 } else { 1 }][rng.below(3) as usize];
    let sport = if rng.below(4) == 0 { 53 } else { 1 + rng.below(65535) as u16 };
    let dport = 1 + rng.below(65535) as u16;
    let mut l4 = Vec::new();
    match protocol {
        6 => {
            let opts = 4 * rng.below(4) as usize;
            l4.extend_from_slice(&sport.to_be_bytes());
            l4.extend_from_slice(&dport.to_be_bytes());
            l4.extend_from_slice(&(rng.next() as u32).to_be_bytes());
            l4.extend_from_slice(&[0, 0, 0, 0, (((20 + opts) / 4) << 4) as u8, rng.byte() & 0x3f, 0, 0, 0, 0, 0, 0]);
            l4.extend(std::iter::repeat(1).take(opts));
        }
        17 => {
            l4.extend_from_slice(&sport.to_be_bytes());
            l4.extend_from_slice(&dport.to_be_bytes());
            l4.extend_from_slice(&[0, 0, 0, 0]);
        }
        _ => l4.extend_from_slice(&[rng.byte(), 0, 0, 0, 0, 0, 0, 0]),
    }
    let payload: Vec<u8> = if sport == 53 {
        response(rng.next() as u16, "svc.example.test", 1, &[Answer::Cname("svc.example.test", "edge.test", 60), Answer::A("edge.test", [203, 0, 113, rng.byte()], 30)])
    } else {
        (0..rng.below(300)).map(|_| rng.byte()).collect()
    };
    let l4_len = l4.len() + payload.len();
    if protocol == 17 {
        l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
    }
    let mut ip = Vec::new();
    let ethertype: u16;
    if v6 {
        ethertype = 0x86dd;
        let exts = rng.below(3) as usize;
        let mut ext = Vec::new();
        for i in 0..exts {
            let next = if i + 1 == exts { protocol } else { 60 };
            ext.extend_from_slice(&[next, 0, 1, 4, 0, 0, 0, 0]);
        }
        let first = if exts > 0 { 0 } else { protocol };
        let plen = (ext.len() + l4_len) as u16;
        ip.extend_from_slice(&[0x60, 0, 0, 0]);
        ip.extend_from_slice(&plen.to_be_bytes());
        ip.extend_from_slice(&[first, 64]);
        for _ in 0..32 {
            ip.push(rng.byte());
        }
        ip.extend_from_slice(&ext);
    } else {
        ethertype = 0x0800;
        let total = (20 + l4_len) as u16;
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
        for _ in 0..8 {
            ip.push(rng.byte());
        }
    }
    let bytes = (ip.len() + l4_len) as u32;
    ip.extend_from_slice(&l4);
    ip.extend_from_slice(&payload);
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    for _ in 0..rng.below(3) {
        f.extend_from_slice(&[0x81, 0x00, 0, rng.byte()]);
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(&ip);
    let ports = protocol == 6 || protocol == 17;
    (f, Expect { family: if v6 { 6 } else { 4 }, protocol, sport: if ports { sport } else { 0 }, dport: if ports { dport } else { 0 }, bytes })
}

fn mutate(rng: &mut Rng, f: &mut Vec<u8>) {
    match rng.below(6) {
        0 => f.truncate(rng.below(f.len() as u64 + 1) as usize),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(f.len() as u64) as usize;
                f[i] ^= 1 << rng.below(8);
            }
        }
        2 => {
            // Lie about a length field: IPv4 total / IHL, IPv6 payload, TCP data offset, UDP length.
            let i = [16, 17, 14, 18, 19, 30, 46, 54, 58][rng.below(9) as usize];
            if i < f.len() {
                f[i] = rng.byte();
            }
        }
        3 => {
            let n = rng.below(f.len() as u64 + 1) as usize;
            for b in f.iter_mut().skip(n) {
                *b = 0xff;
            }
        }
        4 => *f = (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        _ => {
            let i = rng.below(f.len() as u64 + 1) as usize;
            f.insert(i, rng.byte());
        }
    }
}

#[test]
fn malformed_frames_never_panic_and_valid_frames_parse_exactly() {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut agg = Aggregator::new(FilterSpec::parse("all", 256).unwrap(), FlowTable::new(4096, 60_000_000_000, vec![]));
    let names = Arc::new(Mutex::new(Names::new(NameCache::new(1024, 0))));
    let mut dns = DnsWatcher::new(names.clone());
    let (mut valid, mut mutated, mut malformed) = (0u64, 0u64, 0u64);
    for i in 0..150_000u64 {
        let (mut f, expect) = valid_frame(&mut rng);
        if i % 3 == 0 {
            valid += 1;
            match parse_frame(&f, f.len(), Link::Ethernet) {
                Parsed::Ip(p) => {
                    assert_eq!((p.family, p.protocol, p.src_port, p.dst_port, p.bytes), (expect.family, expect.protocol, expect.sport, expect.dport, expect.bytes), "frame {i}");
                }
                other => panic!("frame {i}: valid frame parsed as {other:?}"),
            }
        } else {
            mutate(&mut rng, &mut f);
            mutated += 1;
            let wire = f.len() + rng.below(3) as usize * 100;
            for link in [Link::Ethernet, Link::RawIp] {
                if let Parsed::Malformed(_) = parse_frame(&f, wire, link) {
                    malformed += 1;
                }
            }
            let cut = rng.below(f.len() as u64 + 1) as usize;
            let _ = parse_frame(&f[..cut], wire, Link::Ethernet);
        }
        agg.frame_bytes(&f, f.len(), Link::Ethernet, i);
        dns.frame_bytes(&f, f.len(), Link::Ethernet);
        if i % 10_000 == 0 {
            let buf = agg.tick();
            assert_eq!(buf.len() % 32, 0);
        }
    }
    // Raw DNS messages, mutated.
    for _ in 0..50_000 {
        let mut m = response(1, "a.b.test", 28, &[Answer::Cname("a.b.test", "c.test", 5), Answer::Aaaa("c.test", [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 5)]);
        mutate(&mut rng, &mut m);
        let _ = parse_response(&m);
    }
    assert!(mutated >= 100_000, "{mutated} malformed frames");
    assert!(malformed > 10_000, "mutations produced {malformed} malformed verdicts");
    assert!(valid >= 50_000);
    let status = agg.status().to_js();
    assert!(matches!(status.get("malformed"), Some(JsValue::Number(_))), "{status:?}");
    let n = names.lock().unwrap();
    assert!(n.counts.names > 1000, "valid DNS answers among the frames were read: {:?}", n.counts);
    assert!(n.cache.len() <= 1024);
}
