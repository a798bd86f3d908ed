//! bench/packet's traffic generator: sends UDP/IPv4 frames as fast as it can on an interface
//! (AF_PACKET, sendmmsg in batches of 64) for a number of seconds, cycling over `flows`
//! source ports. Run inside the generator's namespace:
//!   packet_gen <interface> <seconds> <flows> <payload bytes>
//! Prints one JSON line {sent, seconds, frame_bytes}.

use flowsource::sys;
use std::ffi::{c_uint, CString};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

#[repr(C)]
struct SockaddrLl {
    family: u16,
    protocol: u16,
    ifindex: i32,
    hatype: u16,
    pkttype: u8,
    halen: u8,
    addr: [u8; 8],
}

extern "C" {
    fn if_nametoindex(name: *const std::ffi::c_char) -> c_uint;
}

fn frame(sport: u16, payload: usize) -> Vec<u8> {
    let total = 20 + 8 + payload;
    let mut f = vec![0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00];
    let mut ip = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2];
    let mut sum: u32 = 0;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&9000u16.to_be_bytes());
    f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend(std::iter::repeat(0x5a).take(payload));
    f
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let iface = CString::new(args.get(1).cloned().unwrap_or_else(|| "a".into())).unwrap();
    let seconds: f64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let flows: u16 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1024);
    let payload: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(64);
    let ifindex = unsafe { if_nametoindex(iface.as_ptr()) } as i32;
    assert!(ifindex > 0, "no interface {iface:?}");
    let fd = sys::open_socket(17, sys::SOCK_RAW, 0).unwrap_or_else(|e| panic!("socket(AF_PACKET): {e}"));
    let frames: Vec<Vec<u8>> = (0..flows.max(1)).map(|i| frame(20_000 + i, payload)).collect();
    let addr = SockaddrLl { family: 17, protocol: 0x0800u16.to_be(), ifindex, hatype: 0, pkttype: 0, halen: 6, addr: [0x02, 0, 0, 0, 0, 0x02, 0, 0] };
    const BATCH: usize = 64;
    let mut sent: u64 = 0;
    let started = Instant::now();
    let until = Duration::from_secs_f64(seconds);
    let mut next = 0usize;
    while started.elapsed() < until {
        // SAFETY: SockaddrLl is plain bytes (repr(C), no padding read by the kernel beyond its size).
        let addr_bytes = unsafe { std::slice::from_raw_parts((&addr as *const SockaddrLl).cast::<u8>(), std::mem::size_of::<SockaddrLl>()) };
        let datagrams: Vec<(&[u8], &[u8])> = (0..BATCH).map(|k| (&frames[(next + k) % frames.len()][..], addr_bytes)).collect();
        let n = sys::send_datagrams(fd.as_raw_fd(), &datagrams).unwrap_or(0);
        if n > 0 {
            sent += n as u64;
            next = (next + n as usize) % frames.len();
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{{\"sent\":{sent},\"seconds\":{secs:.3},\"frame_bytes\":{}}}", frames[0].len());
}
