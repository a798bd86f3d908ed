//! The packed batch that crosses into JavaScript: one fixed header, then fixed-stride flow
//! records. Decoded by src/native/records.ts; both sides change together (the addon exports
//! these constants, see [`contract`], and src/native/ refuses an addon that disagrees).
//!
//! All integers little-endian.
//!
//! ```text
//! header (HEADER_BYTES = 64)
//!   0  u32 magic 0x31465350 ("PSF1")      4  u32 record count
//!   8  u32 record stride (RECORD_BYTES)   12 u32 source kind (SourceKind: 1 netlink, 2 procfs,
//!                                                3 cilium, 4 packet)
//!  16  u64 entries read this tick (conntrack table entries, CT map entries, packets)
//!  24  u64 connections tracked after the tick
//!  32  u32 read restarts (ctnetlink dump: ENOBUFS / NLM_F_DUMP_INTR; CT map walk restarts)
//!  36  u32 destroy events applied (conntrack)
//!  40  u32 overruns: a kernel → podflow queue overflowed (conntrack: destroy-event socket
//!      ENOBUFS, once per overflow; packet: packets dropped from the full capture ring)
//!  44  u32 skipped (undecodable messages/lines, CT entries without a protocol, malformed frames)
//!  48  u64 read duration, ns              56 u32 flags (bit 0: the read is incomplete:
//!                                                dump still inconsistent, map walk capped)
//!  60  u32 CT layout (cilium: 0 undecided, 1 v1.15, 2 v1.16; 0 for other kinds)
//! record (RECORD_BYTES = 96), one per (source, destination, destination port, transport,
//! original destination) of the interval:
//!   0  u8  family (4 | 6)                  1  u8  IP protocol number (6 tcp, 17 udp, 1 icmp, 58 ipv6-icmp)
//!   2  u8  flags (bit 0: DNAT — original destination differs)
//!   3  u8  TCP flags seen in the interval, OR-ed (packet; 0 for other kinds)
//!   4  u16 destination port (0 for ICMP)  6  u16 original destination port (when DNAT)
//!   8  [16] source address                24 [16] destination address (post-DNAT, the backend)
//!  40  [16] original destination address (the VIP, when DNAT; else zero)
//!      (IPv4 addresses in the first 4 bytes, network order)
//!  56  u64 tx bytes  64 u64 tx packets  72 u64 rx bytes  80 u64 rx packets
//!  88  u32 new connections                92 u32 reserved
//! ```

use crate::js::{JsValue, ToJs};

pub const MAGIC: u32 = 0x3146_5350;
pub const HEADER_BYTES: usize = 64;
pub const RECORD_BYTES: usize = 96;
pub const FLAG_DNAT: u8 = 1;
const HEADER_FLAG_INCOMPLETE: u32 = 1;

/// What produced a batch (header offset 12), and the name JavaScript knows it by. The one
/// definition of the codes: src/native/ checks its copy against [`contract`] at load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u32)]
pub enum SourceKind {
    /// A conntrack table read over ctnetlink.
    #[default]
    Netlink = 1,
    /// A conntrack table read from /proc/net/nf_conntrack.
    Procfs = 2,
    /// Cilium's eBPF CT maps.
    Cilium = 3,
    /// Packet capture (AF_PACKET).
    Packet = 4,
}

impl SourceKind {
    pub const ALL: [SourceKind; 4] = [SourceKind::Netlink, SourceKind::Procfs, SourceKind::Cilium, SourceKind::Packet];

    pub fn code(self) -> u32 {
        self as u32
    }

    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Netlink => "netlink",
            SourceKind::Procfs => "procfs",
            SourceKind::Cilium => "cilium",
            SourceKind::Packet => "packet",
        }
    }
}

impl ToJs for SourceKind {
    fn to_js(&self) -> JsValue {
        JsValue::String(self.name().into())
    }
}

/// Per-tick figures written into the header.
#[derive(Debug, Default, Clone)]
pub struct TickHeader {
    pub source: SourceKind,
    pub entries: u64,
    pub tracked: u64,
    pub restarts: u32,
    pub destroy_events: u32,
    pub overruns: u32,
    pub skipped: u32,
    pub read_ns: u64,
    /// The read is incomplete (a dump still inconsistent after its retries, a capped map walk).
    pub incomplete: bool,
    /// Cilium: the CT value layout the tick was decoded with (0 undecided, 1 v1.15, 2 v1.16).
    pub ct_layout: u32,
}

fn put32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(out: &mut [u8], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

pub fn write_header(out: &mut [u8], count: u32, h: &TickHeader) {
    put32(out, 0, MAGIC);
    put32(out, 4, count);
    put32(out, 8, RECORD_BYTES as u32);
    put32(out, 12, h.source.code());
    put64(out, 16, h.entries);
    put64(out, 24, h.tracked);
    put32(out, 32, h.restarts);
    put32(out, 36, h.destroy_events);
    put32(out, 40, h.overruns);
    put32(out, 44, h.skipped);
    put64(out, 48, h.read_ns);
    put32(out, 56, if h.incomplete { HEADER_FLAG_INCOMPLETE } else { 0 });
    put32(out, 60, h.ct_layout);
}

/// A flow's counters for one interval (a record's offsets 56..92).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSums {
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub connections: u32,
}

/// One flow record's fields (see the layout above).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub family: u8,
    pub protocol: u8,
    pub flags: u8,
    pub tcp_flags: u8,
    pub dst_port: u16,
    pub original_dst_port: u16,
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub original_dst: [u8; 16],
    pub sums: FlowSums,
}

/// A zeroed batch of `count` records with its header written; fill record `i` with
/// [`write_record`].
pub fn new_batch(count: usize, header: &TickHeader) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_BYTES + count * RECORD_BYTES];
    write_header(&mut out, count as u32, header);
    out
}

/// Writes record `i` of a batch made by [`new_batch`] (its bytes are still zero).
#[inline]
pub fn write_record(batch: &mut [u8], i: usize, r: &Record) {
    let at = HEADER_BYTES + i * RECORD_BYTES;
    let out = &mut batch[at..at + RECORD_BYTES];
    out[0] = r.family;
    out[1] = r.protocol;
    out[2] = r.flags;
    out[3] = r.tcp_flags;
    out[4..6].copy_from_slice(&r.dst_port.to_le_bytes());
    out[6..8].copy_from_slice(&r.original_dst_port.to_le_bytes());
    out[8..24].copy_from_slice(&r.src);
    out[24..40].copy_from_slice(&r.dst);
    out[40..56].copy_from_slice(&r.original_dst);
    put64(out, 56, r.sums.tx_bytes);
    put64(out, 64, r.sums.tx_packets);
    put64(out, 72, r.sums.rx_bytes);
    put64(out, 80, r.sums.rx_packets);
    put32(out, 88, r.sums.connections);
}

js_object! {
    /// The batch constants the addon was built with; src/native/ compares them with its own at
    /// load, so a stale binary is refused with a clear message instead of misread.
    pub struct Contract {
        pub batch_magic: u32 => "batchMagic",
        pub header_bytes: usize => "headerBytes",
        pub record_bytes: usize => "recordBytes",
        /// name → code of every [`SourceKind`].
        pub source_kinds: JsValue => "sourceKinds",
        /// name → code of every Cilium CT layout (header offset 60).
        pub ct_layouts: JsValue => "ctLayouts",
    }
}

pub fn contract() -> Contract {
    use crate::bpf::ctmap::Layout;
    let kinds = SourceKind::ALL.iter().map(|k| (k.name().into(), JsValue::Number(f64::from(k.code())))).collect();
    let layouts = [Layout::V115, Layout::V116].iter().map(|l| (l.name().into(), JsValue::Number(f64::from(l.code())))).collect();
    Contract { batch_magic: MAGIC, header_bytes: HEADER_BYTES, record_bytes: RECORD_BYTES, source_kinds: JsValue::Object(kinds), ct_layouts: JsValue::Object(layouts) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_kind_codes_and_names_are_distinct() {
        for (i, a) in SourceKind::ALL.iter().enumerate() {
            for b in &SourceKind::ALL[i + 1..] {
                assert_ne!(a.code(), b.code(), "{a:?} and {b:?} share a code");
                assert_ne!(a.name(), b.name());
            }
        }
        assert_eq!(SourceKind::ALL.map(SourceKind::code), [1, 2, 3, 4]);
    }

    #[test]
    fn header_and_record_fields_land_at_their_documented_offsets() {
        let h = TickHeader { source: SourceKind::Cilium, entries: 7, tracked: 8, restarts: 9, destroy_events: 10, overruns: 11, skipped: 12, read_ns: 13, incomplete: true, ct_layout: 2 };
        let mut b = new_batch(2, &h);
        let r = Record {
            family: 6,
            protocol: 17,
            flags: FLAG_DNAT,
            tcp_flags: 0x12,
            dst_port: 53,
            original_dst_port: 5353,
            src: [1; 16],
            dst: [2; 16],
            original_dst: [3; 16],
            sums: FlowSums { tx_bytes: 100, tx_packets: 101, rx_bytes: 102, rx_packets: 103, connections: 104 },
        };
        write_record(&mut b, 1, &r);
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        assert_eq!(b.len(), HEADER_BYTES + 2 * RECORD_BYTES);
        assert_eq!([u32_at(0), u32_at(4), u32_at(8), u32_at(12)], [MAGIC, 2, 96, 3]);
        assert_eq!([u64_at(16), u64_at(24), u64_at(48)], [7, 8, 13]);
        assert_eq!([u32_at(32), u32_at(36), u32_at(40), u32_at(44), u32_at(56), u32_at(60)], [9, 10, 11, 12, 1, 2]);
        assert!(b[HEADER_BYTES..HEADER_BYTES + RECORD_BYTES].iter().all(|&x| x == 0), "record 0 untouched");
        let at = HEADER_BYTES + RECORD_BYTES;
        assert_eq!(&b[at..at + 8], &[6, 17, 1, 0x12, 53, 0, 0xe9, 0x14]);
        assert_eq!((b[at + 8], b[at + 24], b[at + 40]), (1, 2, 3));
        assert_eq!([u64_at(at + 56), u64_at(at + 64), u64_at(at + 72), u64_at(at + 80)], [100, 101, 102, 103]);
        assert_eq!((u32_at(at + 88), u32_at(at + 92)), (104, 0));
    }
}
