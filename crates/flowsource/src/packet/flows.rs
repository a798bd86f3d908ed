//! Packets → per-interval flow records, oriented from the connection's initiator.
//!
//! Per connection (5-tuple, either direction) we remember which end initiated it:
//! - TCP: the sender of a SYN without ACK is the initiator (and the SYN counts one new
//!   connection); a SYN+ACK means its receiver initiated (the SYN was missed);
//! - otherwise (TCP already open when capture started, UDP, SCTP, ...): the **lower-port
//!   heuristic**: services listen on low, well-known or configured ports while clients use
//!   ephemeral ports (Linux 32768–60999), so the end with the *higher* port is taken as the
//!   initiator; equal ports: the sender of the first packet seen;
//! - ICMP: the sender of an echo request (the receiver of an echo reply), else the first sender.
//! A UDP/ICMP/other 5-tuple not seen within `idle_timeout` counts as one new connection, like
//! conntrack. TCP states end `CLOSED_LINGER` after a FIN or RST; a SYN after that is a new
//! connection on the same ports. State is bounded by `max_connections`; past it, packets of
//! unknown 5-tuples are still counted (heuristic orientation) but not remembered.
//!
//! Records are pre-aggregated like the conntrack tracker's: one per (source, destination,
//! destination port, transport) per interval, in the same packed layout (crate::records),
//! with byte 3 of each record holding the TCP flags seen (OR) in the interval.

use super::parse::{PacketInfo, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};
use crate::cidr::Cidr;
use crate::entry::{PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::hash::FxHashMap;
use crate::records::{self, FlowSums, Record, SourceKind, TickHeader};

const CLOSED_LINGER_NS: u64 = 5_000_000_000;

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct ConnKey {
    family: u8,
    protocol: u8,
    lo_port: u16,
    hi_port: u16,
    lo: [u8; 16],
    hi: [u8; 16],
}

struct ConnState {
    /// The initiator is the `lo` end of the key.
    lo_initiates: bool,
    last_ns: u64,
    closed: bool,
    syn_counted: bool,
}

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct FlowKey {
    family: u8,
    protocol: u8,
    dst_port: u16,
    src: [u8; 16],
    dst: [u8; 16],
}

/// A flow's sums, and the TCP flags its packets carried (OR).
#[derive(Default, Clone, Copy)]
struct PacketSums {
    sums: FlowSums,
    tcp_flags: u8,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub packets: u64,
    pub malformed: u64,
    pub non_ip: u64,
    pub filtered: u64,
    /// Non-first fragments: no ports to attribute them by.
    pub fragments: u64,
    pub table_full: u64,
    pub kernel_drops: u64,
}

pub struct FlowTable {
    conns: FxHashMap<ConnKey, ConnState>,
    flows: FxHashMap<FlowKey, PacketSums>,
    max_connections: usize,
    idle_timeout_ns: u64,
    exclude: Vec<Cidr>,
    /// Since the previous tick.
    pub interval: Counts,
    /// Since the start.
    pub total: Counts,
}

fn is_icmp(protocol: u8) -> bool {
    protocol == PROTO_ICMP || protocol == PROTO_ICMPV6
}

/// A packet's two ends: its ports (0 without ports) and its connection key, which orders the
/// ends so both directions of a connection share one key.
struct Ends {
    key: ConnKey,
    /// The packet's sender is the key's `lo` end.
    src_is_lo: bool,
    sport: u16,
    dport: u16,
}

impl Ends {
    #[inline]
    fn of(p: &PacketInfo) -> Ends {
        let (sport, dport) = if p.has_ports { (p.src_port, p.dst_port) } else { (0, 0) };
        let src_is_lo = (p.src, sport) <= (p.dst, dport);
        let key = if src_is_lo {
            ConnKey { family: p.family, protocol: p.protocol, lo: p.src, lo_port: sport, hi: p.dst, hi_port: dport }
        } else {
            ConnKey { family: p.family, protocol: p.protocol, lo: p.dst, lo_port: dport, hi: p.src, hi_port: sport }
        };
        Ends { key, src_is_lo, sport, dport }
    }

    /// The lower-port heuristic (module doc): the sender initiates when its port is the
    /// higher one; equal ports or no ports: the sender of the first packet seen.
    #[inline]
    fn higher_port_sends(&self) -> bool {
        // Without ports both are 0: equal.
        if self.sport != self.dport { self.sport > self.dport } else { true }
    }
}

/// Who initiated, judged from this packet alone: Some(true) = its sender. A SYN's sender, a
/// SYN+ACK's receiver, an echo request's sender, an echo reply's receiver.
#[inline]
fn initiator_hint(p: &PacketInfo) -> Option<bool> {
    if p.protocol == PROTO_TCP {
        match p.tcp_flags & (TCP_SYN | TCP_ACK) {
            TCP_SYN => Some(true),
            f if f == TCP_SYN | TCP_ACK => Some(false),
            _ => None,
        }
    } else if is_icmp(p.protocol) {
        match p.icmp_type {
            8 | 128 => Some(true),
            0 | 129 => Some(false),
            _ => None,
        }
    } else {
        None
    }
}

/// How one packet counts: toward tx (its sender initiated) or rx, and as a new connection.
#[derive(Clone, Copy)]
struct Orientation {
    sender_initiates: bool,
    new_connection: bool,
}

impl FlowTable {
    pub fn new(max_connections: usize, idle_timeout_ns: u64, exclude: Vec<Cidr>) -> FlowTable {
        FlowTable { conns: FxHashMap::default(), flows: FxHashMap::default(), max_connections, idle_timeout_ns, exclude, interval: Counts::default(), total: Counts::default() }
    }

    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    pub fn count(&mut self, f: impl Fn(&mut Counts)) {
        f(&mut self.interval);
        f(&mut self.total);
    }

    /// Adds one packet seen at `now_ns` (monotonic): finds or starts its connection's state,
    /// which says who initiated, then adds the packet to the interval's flow.
    pub fn add(&mut self, p: &PacketInfo, now_ns: u64) {
        self.count(|c| c.packets += 1);
        if p.fragment {
            self.count(|c| c.fragments += 1);
            return;
        }
        let ends = Ends::of(p);
        let seen = self.track(p, &ends, now_ns);
        self.add_to_flow(p, &ends, seen);
    }

    /// Updates (or starts) the state of the packet's connection, which orients the packet.
    #[inline]
    fn track(&mut self, p: &PacketInfo, ends: &Ends, now_ns: u64) -> Orientation {
        let tcp = p.protocol == PROTO_TCP;
        let syn = tcp && p.tcp_flags & (TCP_SYN | TCP_ACK) == TCP_SYN;
        let ends_connection = tcp && p.tcp_flags & (TCP_FIN | TCP_RST) != 0;
        let idle = self.idle_timeout_ns;
        let room = self.conns.len() < self.max_connections;
        match self.conns.get_mut(&ends.key) {
            Some(s) if !(s.closed && syn) && now_ns.saturating_sub(s.last_ns) <= if s.closed { CLOSED_LINGER_NS } else { idle } => {
                s.last_ns = now_ns;
                let mut new_connection = false;
                if syn && !s.syn_counted {
                    // The SYN of a connection whose first packets we saw without it (a retransmit
                    // after a lost capture, or a reopened state): orient and count it now.
                    s.lo_initiates = ends.src_is_lo;
                    s.syn_counted = true;
                    new_connection = true;
                }
                if ends_connection {
                    s.closed = true;
                }
                Orientation { sender_initiates: s.lo_initiates == ends.src_is_lo, new_connection }
            }
            existing => {
                let sender = initiator_hint(p).unwrap_or_else(|| ends.higher_port_sends());
                // TCP counts connections from SYNs only; other protocols per new 5-tuple.
                let new_connection = if tcp { syn } else { true };
                let state = ConnState { lo_initiates: sender == ends.src_is_lo, last_ns: now_ns, closed: ends_connection, syn_counted: syn };
                match existing {
                    Some(s) => *s = state,
                    None if room => {
                        self.conns.insert(ends.key, state);
                    }
                    None => {
                        self.interval.table_full += 1;
                        self.total.table_full += 1;
                    }
                }
                Orientation { sender_initiates: sender, new_connection }
            }
        }
    }

    /// Adds the packet to its flow (oriented from the initiator), unless an end is excluded.
    #[inline]
    fn add_to_flow(&mut self, p: &PacketInfo, ends: &Ends, seen: Orientation) {
        let (src, dst, dst_port) = if seen.sender_initiates { (p.src, p.dst, ends.dport) } else { (p.dst, p.src, ends.sport) };
        if self.exclude.iter().any(|c| c.contains(p.family, &src) || c.contains(p.family, &dst)) {
            return;
        }
        let flow = FlowKey { family: p.family, protocol: p.protocol, dst_port: if is_icmp(p.protocol) { 0 } else { dst_port }, src, dst };
        let PacketSums { sums, tcp_flags } = self.flows.entry(flow).or_default();
        if seen.sender_initiates {
            sums.tx_bytes += u64::from(p.bytes);
            sums.tx_packets += 1;
        } else {
            sums.rx_bytes += u64::from(p.bytes);
            sums.rx_packets += 1;
        }
        sums.connections += u32::from(seen.new_connection);
        *tcp_flags |= p.tcp_flags;
    }

    /// Ends the interval: drops idle connection state and returns the packed batch (header +
    /// one record per flow with activity). Header fields, for packet batches: `source`
    /// packet, `entries` packets seen, `tracked` connections remembered, `overruns` packets
    /// the kernel dropped (ring full), `skipped` malformed frames.
    pub fn finish_tick(&mut self, now_ns: u64) -> Vec<u8> {
        let idle = self.idle_timeout_ns;
        self.conns.retain(|_, s| now_ns.saturating_sub(s.last_ns) <= if s.closed { CLOSED_LINGER_NS } else { idle });
        if self.conns.capacity() > 4 * self.conns.len().max(1024) {
            self.conns.shrink_to_fit();
        }
        let header = TickHeader {
            source: SourceKind::Packet,
            entries: self.interval.packets,
            tracked: self.conns.len() as u64,
            overruns: self.interval.kernel_drops.min(u64::from(u32::MAX)) as u32,
            skipped: self.interval.malformed.min(u64::from(u32::MAX)) as u32,
            ..TickHeader::default()
        };
        self.interval = Counts::default();
        let count = self.flows.len();
        let mut out = records::new_batch(count, &header);
        for (i, (k, s)) in self.flows.drain().enumerate() {
            let record = Record {
                family: k.family,
                protocol: k.protocol,
                tcp_flags: s.tcp_flags,
                dst_port: k.dst_port,
                src: k.src,
                dst: k.dst,
                sums: s.sums,
                ..Record::default()
            };
            records::write_record(&mut out, i, &record);
        }
        if self.flows.capacity() > 4 * count.max(1024) {
            self.flows.shrink_to_fit();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::PROTO_UDP;
    use crate::records::{HEADER_BYTES, RECORD_BYTES};

    fn pkt(src: u8, sport: u16, dst: u8, dport: u16, flags: u8, bytes: u32) -> PacketInfo {
        let mut p = PacketInfo { family: 4, protocol: PROTO_TCP, has_ports: true, src_port: sport, dst_port: dport, tcp_flags: flags, bytes, ..PacketInfo::default() };
        p.src[..4].copy_from_slice(&[10, 0, 0, src]);
        p.dst[..4].copy_from_slice(&[10, 0, 0, dst]);
        p
    }

    struct Rec {
        src: u8,
        dst: u8,
        port: u16,
        tx: (u64, u64),
        rx: (u64, u64),
        conns: u32,
        flags: u8,
    }

    fn records(buf: &[u8]) -> Vec<Rec> {
        let n = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
        let mut v: Vec<Rec> = (0..n)
            .map(|i| {
                let r = &buf[HEADER_BYTES + i * RECORD_BYTES..];
                let u = |at: usize| u64::from_le_bytes(r[at..at + 8].try_into().unwrap());
                Rec { src: r[11], dst: r[27], port: u16::from_le_bytes([r[4], r[5]]), tx: (u(56), u(64)), rx: (u(72), u(80)), conns: u32::from_le_bytes(r[88..92].try_into().unwrap()), flags: r[3] }
            })
            .collect();
        v.sort_by_key(|r| (r.src, r.dst, r.port));
        v
    }

    #[test]
    fn syn_orients_even_against_the_port_heuristic() {
        let mut t = FlowTable::new(100, 60_000_000_000, vec![]);
        // Client on port 80 connects to a server on 40000: the heuristic would say otherwise.
        t.add(&pkt(1, 80, 2, 40000, TCP_SYN, 60), 0);
        t.add(&pkt(2, 40000, 1, 80, TCP_SYN | TCP_ACK, 60), 1);
        t.add(&pkt(1, 80, 2, 40000, TCP_ACK, 52), 2);
        t.add(&pkt(1, 80, 2, 40000, TCP_ACK, 1052), 3);
        t.add(&pkt(2, 40000, 1, 80, TCP_ACK | TCP_FIN, 52), 4);
        let r = records(&t.finish_tick(5));
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].src, r[0].dst, r[0].port, r[0].tx, r[0].rx, r[0].conns), (1, 2, 40000, (1164, 3), (112, 2), 1));
        assert_eq!(r[0].flags, TCP_SYN | TCP_ACK | TCP_FIN);
    }

    #[test]
    fn without_syn_the_higher_port_initiates() {
        let mut t = FlowTable::new(100, 60_000_000_000, vec![]);
        t.add(&pkt(2, 443, 1, 51000, TCP_ACK, 1500), 0);
        t.add(&pkt(1, 51000, 2, 443, TCP_ACK, 52), 1);
        let mut u = pkt(1, 5353, 2, 33000, 0, 100);
        u.protocol = PROTO_UDP;
        t.add(&u, 2);
        let r = records(&t.finish_tick(3));
        assert_eq!(r.len(), 2);
        assert_eq!((r[0].src, r[0].dst, r[0].port, r[0].tx, r[0].rx, r[0].conns), (1, 2, 443, (52, 1), (1500, 1), 0));
        // UDP: the 33000 end initiated, toward 5353; a new 5-tuple is one connection.
        assert_eq!((r[1].src, r[1].dst, r[1].port, r[1].tx, r[1].rx, r[1].conns), (2, 1, 5353, (0, 0), (100, 1), 1));
    }

    #[test]
    fn reused_ports_after_close_count_a_new_connection_and_state_is_bounded() {
        let mut t = FlowTable::new(2, 60_000_000_000, vec![]);
        for round in 0..2u64 {
            t.add(&pkt(1, 40000, 2, 80, TCP_SYN, 60), round * 10);
            t.add(&pkt(1, 40000, 2, 80, TCP_SYN, 60), round * 10 + 1); // retransmit
            t.add(&pkt(1, 40000, 2, 80, TCP_RST | TCP_ACK, 40), round * 10 + 2);
        }
        let r = records(&t.finish_tick(100));
        assert_eq!((r[0].tx, r[0].conns), ((320, 6), 2));
        for i in 0..5 {
            t.add(&pkt(1, 40001 + i, 2, 80, TCP_ACK, 40), 200);
        }
        assert_eq!(t.connections(), 2);
        assert_eq!(t.interval.table_full, 4);
        let r = records(&t.finish_tick(300));
        assert_eq!((r[0].tx, r[0].conns), ((200, 5), 0));
        // Idle state is dropped at the tick.
        t.finish_tick(300 + 61_000_000_000);
        assert_eq!(t.connections(), 0);
    }
}
