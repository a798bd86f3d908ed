//! The packed batch that crosses into JavaScript: one fixed header, then fixed-stride flow
//! records. Decoded by src/native/records.ts; both sides must change together (bump VERSION).
//!
//! All integers little-endian.
//!
//! ```text
//! header (HEADER_BYTES = 64)
//!   0  u32 magic 0x31465350 ("PSF1")      4  u32 record count
//!   8  u32 record stride (RECORD_BYTES)   12 u32 source (1 netlink, 2 procfs)
//!  16  u64 table entries read this tick   24 u64 connections tracked after the tick
//!  32  u32 dump restarts (ENOBUFS / NLM_F_DUMP_INTR)
//!  36  u32 destroy events applied         40 u32 event overruns (ENOBUFS: events lost)
//!  44  u32 messages/lines skipped (undecodable)
//!  48  u64 dump duration, ns              56 u32 flags (bit 0: last dump still inconsistent)
//!  60  u32 reserved
//! record (RECORD_BYTES = 96), one per (source, destination, destination port, transport,
//! original destination) of the interval:
//!   0  u8  family (4 | 6)                  1  u8  IP protocol number (6 tcp, 17 udp, 1 icmp, 58 ipv6-icmp)
//!   2  u8  flags (bit 0: DNAT — original destination differs)   3 u8 reserved
//!   4  u16 destination port (0 for ICMP)  6  u16 original destination port (when DNAT)
//!   8  [16] source address                24 [16] destination address (post-DNAT, the backend)
//!  40  [16] original destination address (the VIP, when DNAT; else zero)
//!      (IPv4 addresses in the first 4 bytes, network order)
//!  56  u64 tx bytes  64 u64 tx packets  72 u64 rx bytes  80 u64 rx packets
//!  88  u32 new connections                92 u32 reserved
//! ```

pub const MAGIC: u32 = 0x3146_5350;
pub const HEADER_BYTES: usize = 64;
pub const RECORD_BYTES: usize = 96;
pub const FLAG_DNAT: u8 = 1;
pub const SOURCE_NETLINK: u32 = 1;
pub const SOURCE_PROCFS: u32 = 2;

/// Per-tick figures written into the header.
#[derive(Debug, Default, Clone)]
pub struct TickHeader {
    pub source: u32,
    pub entries: u64,
    pub tracked: u64,
    pub restarts: u32,
    pub destroy_events: u32,
    pub event_overruns: u32,
    pub skipped: u32,
    pub dump_ns: u64,
    pub inconsistent: bool,
}

pub fn write_header(out: &mut [u8], count: u32, h: &TickHeader) {
    let put32 = |out: &mut [u8], at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 = |out: &mut [u8], at: usize, v: u64| out[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put32(out, 0, MAGIC);
    put32(out, 4, count);
    put32(out, 8, RECORD_BYTES as u32);
    put32(out, 12, h.source);
    put64(out, 16, h.entries);
    put64(out, 24, h.tracked);
    put32(out, 32, h.restarts);
    put32(out, 36, h.destroy_events);
    put32(out, 40, h.event_overruns);
    put32(out, 44, h.skipped);
    put64(out, 48, h.dump_ns);
    put32(out, 56, u32::from(h.inconsistent));
    put32(out, 60, 0);
}
