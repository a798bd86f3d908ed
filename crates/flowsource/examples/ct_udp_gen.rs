//! bench/agent's traffic generator: one real UDP/IPv4 packet per conntrack entry, so that every
//! entry of the table changes its counters between two agent ticks. Entry `i` is the tuple of
//! `testdata::synthetic_entry(i)` (10.1.a.b:sport → 10.200.0.d:53, 262,144 entries → 65,536
//! flows once source ports are aggregated away), sent through a raw socket (IPPROTO_RAW, the
//! IP header written here, sendmmsg in batches) inside the namespace, where a route sends
//! 10.200.0.0/24 to a dummy device: the packet passes conntrack (OUTPUT, then POSTROUTING, which
//! confirms a new entry) and the dummy device drops it, so nothing is received anywhere.
//! Entry i's UDP payload is 4 + i % 16 bytes, so flows differ in size and the bench's sum check
//! is not a multiple of one packet length.
//!
//! ct_udp_gen NETNS_PATH COUNT
//! Prints one JSON line {packets, bytes, cpu_s, wall_s}: bytes are IP total lengths, what the
//! kernel's conntrack accounting counts.

use flowsource::sys;
use flowsource::testdata::synthetic_entry;
use std::os::fd::AsRawFd;
use std::time::Instant;

const AF_INET: i32 = 2;
/// IPPROTO_RAW: the socket sends whole IP packets (IP_HDRINCL implied).
const IPPROTO_RAW: i32 = 255;
const BATCH: usize = 1024;
const MAX_PACKET: usize = 20 + 8 + 4 + 15;

/// Entry i's packet: IPv4 header (the kernel fills the checksum and id) + UDP (checksum 0: none).
fn packet(i: u64, out: &mut [u8; MAX_PACKET]) -> (usize, [u8; 4]) {
    let e = synthetic_entry(i);
    let t = &e.original;
    let payload = 4 + (i % 16) as usize;
    let total = 20 + 8 + payload;
    let src: [u8; 4] = t.src[..4].try_into().unwrap();
    let dst: [u8; 4] = t.dst[..4].try_into().unwrap();
    out[..20].copy_from_slice(&[0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0, src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3]]);
    let udp_len = 8 + payload;
    out[20..22].copy_from_slice(&t.src_port.to_be_bytes());
    out[22..24].copy_from_slice(&t.dst_port.to_be_bytes());
    out[24..26].copy_from_slice(&(udp_len as u16).to_be_bytes());
    out[26..28].copy_from_slice(&[0, 0]);
    for (k, b) in out[28..total].iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(k as u8);
    }
    (total, dst)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(netns), Some(count)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok())) else {
        eprintln!("usage: ct_udp_gen NETNS_PATH COUNT");
        std::process::exit(2);
    };
    sys::enter_netns(netns).unwrap_or_else(|e| {
        eprintln!("ct_udp_gen: {e}");
        std::process::exit(1);
    });
    let fd = sys::open_socket(AF_INET, sys::SOCK_RAW, IPPROTO_RAW).unwrap_or_else(|e| {
        eprintln!("ct_udp_gen: socket(AF_INET, SOCK_RAW, IPPROTO_RAW): {e}");
        std::process::exit(1);
    });
    let (u0, s0) = sys::process_cpu_us();
    let t0 = Instant::now();
    let mut packets = vec![([0u8; MAX_PACKET], 0usize, [0u8; 16]); BATCH];
    let (mut sent, mut bytes) = (0u64, 0u64);
    while sent < count {
        let n = (count - sent).min(BATCH as u64) as usize;
        for (k, (buf, len, addr)) in packets[..n].iter_mut().enumerate() {
            let (l, dst) = packet(sent + k as u64, buf);
            *len = l;
            // struct sockaddr_in: family, port 0, the address, zero padding.
            *addr = [AF_INET as u8, 0, 0, 0, dst[0], dst[1], dst[2], dst[3], 0, 0, 0, 0, 0, 0, 0, 0];
            bytes += l as u64;
        }
        let datagrams: Vec<(&[u8], &[u8])> = packets[..n].iter().map(|(buf, len, addr)| (&buf[..*len], &addr[..])).collect();
        let mut done = 0;
        while done < n {
            done += sys::send_datagrams(fd.as_raw_fd(), &datagrams[done..]).unwrap_or_else(|e| {
                eprintln!("ct_udp_gen: sendmmsg: {e}");
                std::process::exit(1);
            });
        }
        sent += n as u64;
    }
    let wall = t0.elapsed().as_secs_f64();
    let (u1, s1) = sys::process_cpu_us();
    println!("{{\"packets\":{},\"bytes\":{},\"cpu_s\":{:.4},\"wall_s\":{:.4}}}", sent, bytes, (u1 - u0 + s1 - s0) as f64 / 1e6, wall);
}
