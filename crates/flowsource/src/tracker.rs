//! Per-connection state → per-interval deltas, pre-aggregated per flow key.
//!
//! Identity of a connection: conntrack id + original tuple + zone. Each tick:
//! `begin_tick`, `observe` every dumped entry, `destroyed` for every destroy event, then
//! `finish_tick`, which drops the state of connections that vanished and writes the
//! aggregated records. Rules:
//! - delta = current − last emitted; a counter that went backwards is a new connection
//!   (its whole value is the delta), never a negative or wrapped value;
//! - a connection first seen counts from zero (all its counters are the delta, and it counts
//!   as one new connection), except in the first tick with `Startup::Baseline`, where what is
//!   already in the table is history: it is remembered, not reported;
//! - a destroy event carries final counters: its delta closes the connection, so bytes
//!   between the last dump and the removal are not lost;
//! - observing the same entry twice in one tick (a restarted dump) adds a zero delta.

use crate::cidr::Cidr;
use crate::entry::{Counters, Entry, Tuple};
use crate::hash::FxHashMap;
use crate::records::{self, TickHeader, FLAG_DNAT, HEADER_BYTES, RECORD_BYTES};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Startup {
    Baseline,
    Count,
}

#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct ConnKey {
    id: u32,
    zone: u16,
    original: Tuple,
}

struct ConnState {
    original: Counters,
    reply: Counters,
    /// Tick in which the dump last returned the entry.
    seen_tick: u32,
}

/// Pre-aggregation key: one record per (source, destination, destination port, transport)
/// and original destination (VIP) per interval.
#[derive(Hash, PartialEq, Eq, Clone, Copy)]
struct FlowKey {
    family: u8,
    protocol: u8,
    flags: u8,
    dst_port: u16,
    original_dst_port: u16,
    src: [u8; 16],
    dst: [u8; 16],
    original_dst: [u8; 16],
}

#[derive(Default, Clone, Copy)]
struct FlowSums {
    tx_bytes: u64,
    tx_packets: u64,
    rx_bytes: u64,
    rx_packets: u64,
    connections: u32,
}

pub struct Tracker {
    conns: FxHashMap<ConnKey, ConnState>,
    flows: FxHashMap<FlowKey, FlowSums>,
    exclude: Vec<Cidr>,
    startup: Startup,
    tick: u32,
    /// Set once a tick has completed; until then, under `Startup::Baseline`, the table is history.
    baseline_done: bool,
    destroy_events: u32,
}

fn key_of(e: &Entry) -> ConnKey {
    ConnKey { id: e.id, zone: e.zone, original: e.original }
}

fn sub(now: Counters, before: Counters) -> Option<Counters> {
    Some(Counters { packets: now.packets.checked_sub(before.packets)?, bytes: now.bytes.checked_sub(before.bytes)? })
}

/// (original delta, reply delta, is a new connection) between a connection's remembered
/// counters and its current ones.
fn delta(state: &ConnState, e: &Entry) -> (Counters, Counters, bool) {
    match (sub(e.original_counters, state.original), sub(e.reply_counters, state.reply)) {
        (Some(o), Some(r)) => (o, r, false),
        // A counter went backwards: the kernel reused the identity for a new connection.
        _ => (e.original_counters, e.reply_counters, true),
    }
}

impl Tracker {
    pub fn new(startup: Startup, exclude: Vec<Cidr>) -> Tracker {
        Tracker { conns: FxHashMap::default(), flows: FxHashMap::default(), exclude, startup, tick: 0, baseline_done: false, destroy_events: 0 }
    }

    /// True while the first tick's entries are history to remember, not to report.
    fn in_baseline(&self) -> bool {
        !self.baseline_done && self.startup == Startup::Baseline
    }

    pub fn begin_tick(&mut self) {
        self.tick = self.tick.wrapping_add(1).max(1);
        self.destroy_events = 0;
    }

    /// True until a first tick completes under `startup: baseline`: destroy events queued before the
    /// first dump belong to history and are discarded.
    pub fn discards_events(&self) -> bool {
        self.in_baseline()
    }

    pub fn observe(&mut self, e: &Entry) {
        let key = key_of(e);
        let baseline = self.in_baseline();
        let tick = self.tick;
        let (o, r, new) = match self.conns.get_mut(&key) {
            Some(state) => {
                let d = delta(state, e);
                state.original = e.original_counters;
                state.reply = e.reply_counters;
                state.seen_tick = tick;
                d
            }
            None => {
                self.conns.insert(key, ConnState { original: e.original_counters, reply: e.reply_counters, seen_tick: tick });
                if baseline {
                    return;
                }
                (e.original_counters, e.reply_counters, true)
            }
        };
        self.add(e, o, r, new);
    }

    pub fn destroyed(&mut self, e: &Entry) {
        self.destroy_events += 1;
        let (o, r, new) = match self.conns.remove(&key_of(e)) {
            Some(state) => delta(&state, e),
            // A connection of the start-up table that the first dump missed: history.
            None if self.in_baseline() => return,
            // Opened and closed between two dumps: everything it counted is new.
            None => (e.original_counters, e.reply_counters, true),
        };
        self.add(e, o, r, new);
    }

    fn excluded(&self, family: u8, addr: &[u8; 16]) -> bool {
        self.exclude.iter().any(|c| c.contains(family, addr))
    }

    fn add(&mut self, e: &Entry, o: Counters, r: Counters, new: bool) {
        if !new && o.bytes == 0 && o.packets == 0 && r.bytes == 0 && r.packets == 0 {
            return;
        }
        let orig = &e.original;
        // The reply comes from the real destination: after DNAT (a service VIP) that is the
        // backend, and the VIP is kept as the original destination.
        let dst = e.reply.src;
        let dst_port = if orig.is_icmp() { 0 } else { e.reply.src_port };
        let dnat = dst != orig.dst || dst_port != orig.flow_dst_port();
        if self.excluded(orig.family, &orig.src) || self.excluded(orig.family, &dst) {
            return;
        }
        let key = FlowKey {
            family: orig.family,
            protocol: orig.protocol,
            flags: if dnat { FLAG_DNAT } else { 0 },
            dst_port,
            original_dst_port: if dnat { orig.flow_dst_port() } else { 0 },
            src: orig.src,
            dst,
            original_dst: if dnat { orig.dst } else { [0; 16] },
        };
        let sums = self.flows.entry(key).or_default();
        sums.tx_bytes += o.bytes;
        sums.tx_packets += o.packets;
        sums.rx_bytes += r.bytes;
        sums.rx_packets += r.packets;
        sums.connections += u32::from(new);
    }

    /// Drops the state of connections the dump no longer returned (bounded memory), and
    /// returns the packed batch: header + one record per flow key with activity.
    pub fn finish_tick(&mut self, mut header: TickHeader) -> Vec<u8> {
        let tick = self.tick;
        self.conns.retain(|_, s| s.seen_tick == tick);
        if self.conns.capacity() > 4 * self.conns.len().max(1024) {
            self.conns.shrink_to_fit();
        }
        self.baseline_done = true;
        header.tracked = self.conns.len() as u64;
        header.destroy_events = self.destroy_events;
        let count = self.flows.len();
        let mut out = vec![0u8; HEADER_BYTES + count * RECORD_BYTES];
        records::write_header(&mut out, count as u32, &header);
        for (i, (k, s)) in self.flows.drain().enumerate() {
            let r = &mut out[HEADER_BYTES + i * RECORD_BYTES..HEADER_BYTES + (i + 1) * RECORD_BYTES];
            r[0] = k.family;
            r[1] = k.protocol;
            r[2] = k.flags;
            r[4..6].copy_from_slice(&k.dst_port.to_le_bytes());
            r[6..8].copy_from_slice(&k.original_dst_port.to_le_bytes());
            r[8..24].copy_from_slice(&k.src);
            r[24..40].copy_from_slice(&k.dst);
            r[40..56].copy_from_slice(&k.original_dst);
            r[56..64].copy_from_slice(&s.tx_bytes.to_le_bytes());
            r[64..72].copy_from_slice(&s.tx_packets.to_le_bytes());
            r[72..80].copy_from_slice(&s.rx_bytes.to_le_bytes());
            r[80..88].copy_from_slice(&s.rx_packets.to_le_bytes());
            r[88..92].copy_from_slice(&s.connections.to_le_bytes());
        }
        if self.flows.capacity() > 65_536 {
            self.flows.shrink_to(4096);
        }
        out
    }

    pub fn tracked(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{PROTO_ICMP, PROTO_TCP};

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut b = [0; 16];
        b[..4].copy_from_slice(&a);
        b
    }

    fn conn(id: u32, src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, o: (u64, u64), r: (u64, u64)) -> Entry {
        let original = Tuple { family: 4, protocol: PROTO_TCP, src: v4(src), dst: v4(dst), src_port: sport, dst_port: dport };
        let reply = Tuple { family: 4, protocol: PROTO_TCP, src: v4(dst), dst: v4(src), src_port: dport, dst_port: sport };
        Entry {
            original,
            reply,
            original_counters: Counters { packets: o.0, bytes: o.1 },
            reply_counters: Counters { packets: r.0, bytes: r.1 },
            id,
            ..Entry::default()
        }
    }

    #[derive(Debug, PartialEq)]
    struct Rec {
        flags: u8,
        proto: u8,
        dst_port: u16,
        orig_port: u16,
        src: [u8; 4],
        dst: [u8; 4],
        orig: [u8; 4],
        tx: (u64, u64),
        rx: (u64, u64),
        conns: u32,
    }

    fn decode(buf: &[u8]) -> Vec<Rec> {
        let n = u32::from_le_bytes(buf[4..8].try_into().unwrap()) as usize;
        assert_eq!(buf.len(), HEADER_BYTES + n * RECORD_BYTES);
        let u64at = |r: &[u8], o: usize| u64::from_le_bytes(r[o..o + 8].try_into().unwrap());
        let mut out: Vec<Rec> = (0..n)
            .map(|i| {
                let r = &buf[HEADER_BYTES + i * RECORD_BYTES..][..RECORD_BYTES];
                Rec {
                    flags: r[2],
                    proto: r[1],
                    dst_port: u16::from_le_bytes([r[4], r[5]]),
                    orig_port: u16::from_le_bytes([r[6], r[7]]),
                    src: r[8..12].try_into().unwrap(),
                    dst: r[24..28].try_into().unwrap(),
                    orig: r[40..44].try_into().unwrap(),
                    tx: (u64at(r, 64), u64at(r, 56)),
                    rx: (u64at(r, 80), u64at(r, 72)),
                    conns: u32::from_le_bytes(r[88..92].try_into().unwrap()),
                }
            })
            .collect();
        out.sort_by_key(|r| (r.src, r.dst, r.dst_port));
        out
    }

    fn tick(t: &mut Tracker, dump: &[Entry], destroyed: &[Entry]) -> Vec<Rec> {
        t.begin_tick();
        for e in dump {
            t.observe(e);
        }
        for e in destroyed {
            t.destroyed(e);
        }
        decode(&t.finish_tick(TickHeader::default()))
    }

    const A: [u8; 4] = [10, 0, 1, 2];
    const B: [u8; 4] = [10, 0, 2, 3];

    #[test]
    fn baseline_hides_history_then_reports_deltas() {
        let mut t = Tracker::new(Startup::Baseline, vec![]);
        assert!(tick(&mut t, &[conn(1, A, 1000, B, 80, (10, 1000), (8, 5000))], &[]).is_empty());
        let r = tick(&mut t, &[conn(1, A, 1000, B, 80, (12, 1100), (9, 6000))], &[]);
        assert_eq!(r.len(), 1);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((2, 100), (1, 1000), 0));
        // Unchanged counters: nothing to report.
        assert!(tick(&mut t, &[conn(1, A, 1000, B, 80, (12, 1100), (9, 6000))], &[]).is_empty());
        // A connection first seen after start-up counts from zero.
        let r = tick(&mut t, &[conn(1, A, 1000, B, 80, (12, 1100), (9, 6000)), conn(2, A, 1001, B, 80, (3, 180), (2, 120))], &[]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((3, 180), (2, 120), 1));
    }

    #[test]
    fn count_startup_reports_the_table() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        let r = tick(&mut t, &[conn(1, A, 1000, B, 80, (10, 1000), (8, 5000))], &[]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((10, 1000), (8, 5000), 1));
    }

    #[test]
    fn counter_going_backwards_is_a_new_connection() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        tick(&mut t, &[conn(1, A, 1000, B, 80, (10, 1000), (8, 5000))], &[]);
        let r = tick(&mut t, &[conn(1, A, 1000, B, 80, (2, 120), (9, 6000))], &[]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((2, 120), (9, 6000), 1));
    }

    #[test]
    fn destroy_events_close_connections_without_loss() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        tick(&mut t, &[conn(1, A, 1000, B, 80, (10, 1000), (8, 5000))], &[]);
        // Gone from the table before the next dump; the event carries final counters.
        let r = tick(&mut t, &[], &[conn(1, A, 1000, B, 80, (14, 1300), (10, 5100))]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((4, 300), (2, 100), 0));
        assert_eq!(t.tracked(), 0);
        // Opened and closed between two dumps: counted in full.
        let r = tick(&mut t, &[], &[conn(7, A, 2000, B, 80, (5, 400), (4, 900))]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((5, 400), (4, 900), 1));
        // Event for an entry the same tick's dump still returned: the dump's view, then the tail.
        let r = tick(&mut t, &[conn(8, A, 2001, B, 80, (1, 60), (1, 60))], &[conn(8, A, 2001, B, 80, (3, 160), (2, 100))]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((3, 160), (2, 100), 1));
        assert_eq!(t.tracked(), 0);
    }

    #[test]
    fn vanished_connections_are_forgotten() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        tick(&mut t, &[conn(1, A, 1000, B, 80, (1, 1), (1, 1)), conn(2, A, 1001, B, 80, (1, 1), (1, 1))], &[]);
        assert_eq!(t.tracked(), 2);
        tick(&mut t, &[conn(2, A, 1001, B, 80, (1, 1), (1, 1))], &[]);
        assert_eq!(t.tracked(), 1);
    }

    #[test]
    fn restarted_dump_is_idempotent() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        let e = conn(1, A, 1000, B, 80, (10, 1000), (8, 5000));
        let r = tick(&mut t, &[e.clone(), e.clone(), e], &[]);
        assert_eq!((r[0].tx, r[0].rx, r[0].conns), ((10, 1000), (8, 5000), 1));
    }

    #[test]
    fn aggregates_per_pair_and_keeps_the_vip_on_dnat() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        let vip = [10, 96, 0, 10];
        let backend = [10, 0, 9, 9];
        let mut nat = conn(3, A, 3000, vip, 80, (5, 500), (5, 700));
        nat.reply.src = v4(backend);
        nat.reply.src_port = 8080;
        let r = tick(&mut t, &[conn(1, A, 1000, B, 80, (1, 100), (1, 200)), conn(2, A, 1001, B, 80, (2, 10), (3, 20)), nat], &[]);
        assert_eq!(r.len(), 2);
        let plain = r.iter().find(|x| x.dst == B).unwrap();
        assert_eq!((plain.tx, plain.rx, plain.conns, plain.flags), ((3, 110), (4, 220), 2, 0));
        let n = r.iter().find(|x| x.dst == backend).unwrap();
        assert_eq!((n.dst_port, n.orig, n.orig_port, n.flags), (8080, vip, 80, FLAG_DNAT));
        assert_eq!(n.src, A);
    }

    #[test]
    fn icmp_has_no_port_and_is_not_nat() {
        let mut t = Tracker::new(Startup::Count, vec![]);
        let mut e = conn(1, A, 77, B, 8 << 8, (1, 84), (1, 84));
        e.original.protocol = PROTO_ICMP;
        e.reply.protocol = PROTO_ICMP;
        e.reply.src_port = 0; // echo reply type 0
        let r = tick(&mut t, &[e], &[]);
        assert_eq!((r[0].proto, r[0].dst_port, r[0].flags), (PROTO_ICMP, 0, 0));
    }

    #[test]
    fn excluded_cidrs_are_dropped() {
        let mut t = Tracker::new(Startup::Count, crate::cidr::parse_list("127.0.0.0/8,10.0.2.0/24").unwrap());
        let r = tick(&mut t, &[conn(1, [127, 0, 0, 1], 1, [127, 0, 0, 1], 2, (1, 1), (1, 1)), conn(2, A, 1, B, 2, (1, 1), (1, 1)), conn(3, A, 1, [10, 9, 9, 9], 2, (1, 1), (1, 1))], &[]);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].dst, [10, 9, 9, 9]);
    }
}
