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
//! - observing the same entry twice in one tick (a restarted dump) adds a zero delta;
//! - a tick abandoned halfway (its dump failed) keeps what it observed: those deltas go out
//!   with the next completed tick.
//!
//! Matching in dump order: the kernel walks its hash table in the same order on every dump
//! (and a Cilium map iterates the same way), so the state is kept in the order of the previous
//! dump and each entry is first compared with the one that came at the same point last time —
//! a sequential walk (prefetched ahead), no hashing. Only an entry that is not there (new,
//! moved, or after vanished ones) is looked up in the hash index ([`conn_index`]), which also
//! resyncs the walk to where that entry was before. State lives in slots (a slab), compacted
//! into dump order again when most are free or the walk is badly scattered. Flow sums live in
//! cells that outlive the interval; each connection remembers its cell, so a connection that
//! changes again is aggregated without hashing its flow key.

mod conn_index;

use crate::cidr::Cidr;
use crate::entry::{Counters, Entry, Tuple};
use crate::hash::FxHashMap;
use crate::records::{self, FlowSums, Record, TickHeader, FLAG_DNAT};
use conn_index::ConnIndex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Startup {
    Baseline,
    Count,
}

impl Startup {
    pub fn parse(s: &str) -> Result<Startup, String> {
        match s {
            "baseline" => Ok(Startup::Baseline),
            "count" => Ok(Startup::Count),
            _ => Err(format!("startup must be baseline or count, not {s:?}")),
        }
    }
}

#[derive(PartialEq, Eq, Clone, Copy)]
struct ConnKey {
    id: u32,
    zone: u16,
    original: Tuple,
}

/// One tracked connection (80 bytes). In steady state (counters unchanged) a tick only reads
/// it; what every tick writes lives in [`Mark`]s, so the slots' cache lines stay clean and are
/// not written back to memory.
#[derive(Clone, Copy)]
struct Conn {
    key: ConnKey,
    original: Counters,
    reply: Counters,
    /// In the index (false once vanished or destroyed; the slot is then free or about to be).
    live: bool,
}

/// The per-tick bookkeeping of a slot, in a dense array beside the slots.
#[derive(Clone, Copy)]
struct Mark {
    /// Tick in which the dump last returned the entry.
    seen_tick: u32,
    /// Position in the dump order of that tick (where to resync the walk to).
    order_pos: u32,
    /// The flow cell the connection's deltas went to last time: a hint, checked against the
    /// cell's key before use (NO_FLOW: none yet).
    flow: u32,
}

const NO_FLOW: u32 = u32::MAX;

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

/// One pre-aggregation key and its sums for the current interval. Cells outlive the interval
/// (so a connection that changes again finds its cell through its mark's hint, without
/// hashing the key) until unused for `FLOW_IDLE_TICKS`.
struct FlowCell {
    /// `family` 0: a free cell (no real key has it), so a stale hint never matches.
    key: FlowKey,
    sums: FlowSums,
    /// Listed in `Tracker::dirty` (has sums to emit).
    dirty: bool,
    last_tick: u32,
}

/// Flow cells unused for this many ticks are dropped (checked every this many ticks).
const FLOW_IDLE_TICKS: u32 = 32;

pub struct Tracker {
    slots: Vec<Conn>,
    /// One per slot.
    marks: Vec<Mark>,
    /// Slot numbers free for reuse.
    free: Vec<u32>,
    index: ConnIndex,
    /// Slots in the order the last completed tick's dump returned them.
    order: Vec<u32>,
    /// This tick's order, built as entries arrive.
    next_order: Vec<u32>,
    /// Where in `order` the next entry is expected.
    cursor: usize,
    /// Slots of `order` seen so far this tick (all seen: nothing vanished).
    seen_old: usize,
    /// Steps of `next_order` to a slot that is not the next one in memory.
    scattered: usize,
    /// Slots created this tick (kept in the order if the tick is abandoned).
    created: Vec<u32>,
    /// Slots closed by destroy events this tick (freed when the tick finishes).
    destroyed_slots: Vec<u32>,
    /// Between `begin_tick` and `finish_tick`.
    in_tick: bool,
    flows: Vec<FlowCell>,
    flow_index: FxHashMap<FlowKey, u32>,
    free_flows: Vec<u32>,
    /// Cells with sums to emit, in the order they were first touched.
    dirty: Vec<u32>,
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

/// FxHash-style mix of the key's words with a final avalanche (the index uses the high bits).
fn hash_key(k: &ConnKey) -> u64 {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let t = &k.original;
    let word = |b: &[u8; 16], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let words = [
        word(&t.src, 0),
        word(&t.src, 8),
        word(&t.dst, 0),
        word(&t.dst, 8),
        u64::from(k.id) | u64::from(k.zone) << 32 | u64::from(t.family) << 48 | u64::from(t.protocol) << 56,
        u64::from(t.src_port) | u64::from(t.dst_port) << 16,
    ];
    let mut h = 0u64;
    for w in words {
        h = (h.rotate_left(5) ^ w).wrapping_mul(SEED);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Entries ahead of the walk whose slot is prefetched (~100 ns of decode each: enough to hide
/// a memory access).
const PREFETCH_AHEAD: usize = 8;

/// Hints the CPU to load the cache lines of `x` (at most two: ≤ 64 bytes, or a slot).
#[inline(always)]
fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let p = (x as *const T).cast::<i8>();
        // SAFETY: prefetching is a hint; it never faults, and both addresses lie within `x`.
        unsafe {
            _mm_prefetch(p, _MM_HINT_T0);
            _mm_prefetch(p.wrapping_add(std::mem::size_of::<T>() - 1), _MM_HINT_T0);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

fn sub(now: Counters, before: Counters) -> Option<Counters> {
    Some(Counters { packets: now.packets.checked_sub(before.packets)?, bytes: now.bytes.checked_sub(before.bytes)? })
}

/// (original delta, reply delta, is a new connection) between a connection's remembered
/// counters and its current ones.
fn delta(state: &Conn, e: &Entry) -> (Counters, Counters, bool) {
    match (sub(e.original_counters, state.original), sub(e.reply_counters, state.reply)) {
        (Some(o), Some(r)) => (o, r, false),
        // A counter went backwards: the kernel reused the identity for a new connection.
        _ => (e.original_counters, e.reply_counters, true),
    }
}

impl Tracker {
    pub fn new(startup: Startup, exclude: Vec<Cidr>) -> Tracker {
        Tracker {
            slots: Vec::new(),
            marks: Vec::new(),
            free: Vec::new(),
            index: ConnIndex::new(),
            order: Vec::new(),
            next_order: Vec::new(),
            cursor: 0,
            seen_old: 0,
            scattered: 0,
            created: Vec::new(),
            destroyed_slots: Vec::new(),
            in_tick: false,
            flows: Vec::new(),
            flow_index: FxHashMap::default(),
            free_flows: Vec::new(),
            dirty: Vec::new(),
            exclude,
            startup,
            tick: 0,
            baseline_done: false,
            destroy_events: 0,
        }
    }

    /// True while the first tick's entries are history to remember, not to report.
    fn in_baseline(&self) -> bool {
        !self.baseline_done && self.startup == Startup::Baseline
    }

    pub fn begin_tick(&mut self) {
        if self.in_tick {
            // The previous tick was abandoned (its dump failed): what it observed stays
            // observed (its deltas are still pending in `flows`), and the connections it
            // created join the order so that they are forgotten when they vanish.
            self.order.extend(self.created.iter().copied().filter(|&s| self.slots[s as usize].live));
        }
        self.created.clear();
        self.next_order.clear();
        self.next_order.reserve(self.order.len());
        self.cursor = 0;
        self.seen_old = 0;
        self.scattered = 0;
        self.in_tick = true;
        self.tick = self.tick.wrapping_add(1).max(1);
        self.destroy_events = 0;
    }

    /// True until a first tick completes under `startup: baseline`: destroy events queued before the
    /// first dump belong to history and are discarded.
    pub fn discards_events(&self) -> bool {
        self.in_baseline()
    }

    /// The slot of `key`: first where the previous dump had the next entry, else from the index.
    #[inline]
    fn find(&mut self, key: &ConnKey) -> Option<u32> {
        // The kernel's work between two datagrams evicts the slots and stops the hardware
        // prefetcher's stream: fetch the slot expected a few entries ahead ourselves.
        if let Some(&ahead) = self.order.get(self.cursor + PREFETCH_AHEAD) {
            prefetch(&self.slots[ahead as usize]);
            prefetch(&self.marks[ahead as usize]);
        }
        if let Some(&s) = self.order.get(self.cursor) {
            let c = &self.slots[s as usize];
            if c.key == *key && c.live {
                self.cursor += 1;
                return Some(s);
            }
        }
        self.find_out_of_order(key)
    }

    #[inline(never)]
    fn find_out_of_order(&mut self, key: &ConnKey) -> Option<u32> {
        let slots = &self.slots;
        let s = self.index.find(hash_key(key), |s| slots[s as usize].key == *key)?;
        let m = self.marks[s as usize];
        // Resync: continue the walk after this entry's place in the previous dump, when that
        // is ahead (entries in between vanished, or moved and will be found by the index).
        let at = m.order_pos as usize;
        if m.seen_tick != self.tick && at >= self.cursor && self.order.get(at) == Some(&s) {
            self.cursor = at + 1;
        }
        Some(s)
    }

    /// Appends a slot to this tick's order.
    #[inline]
    fn push_order(&mut self, s: u32) {
        if let Some(&last) = self.next_order.last() {
            self.scattered += usize::from(s != last.wrapping_add(1));
        }
        self.marks[s as usize].order_pos = self.next_order.len() as u32;
        self.next_order.push(s);
    }

    fn insert(&mut self, key: ConnKey, e: &Entry) -> u32 {
        let conn = Conn { key, original: e.original_counters, reply: e.reply_counters, live: true };
        let mark = Mark { seen_tick: self.tick, order_pos: 0, flow: NO_FLOW };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = conn;
                self.marks[s as usize] = mark;
                s
            }
            None => {
                self.slots.push(conn);
                self.marks.push(mark);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(hash_key(&key), s);
        self.created.push(s);
        self.push_order(s);
        s
    }

    pub fn observe(&mut self, e: &Entry) {
        let key = key_of(e);
        let tick = self.tick;
        let Some(s) = self.find(&key) else {
            let s = self.insert(key, e);
            if !self.in_baseline() {
                self.add(e, e.original_counters, e.reply_counters, true, Some(s));
            }
            return;
        };
        let c = &mut self.slots[s as usize];
        if c.original == e.original_counters && c.reply == e.reply_counters {
            // Unchanged (the steady state): nothing to count, and the slot stays clean.
            self.mark_seen(s, tick);
            return;
        }
        let (o, r, new) = delta(c, e);
        c.original = e.original_counters;
        c.reply = e.reply_counters;
        self.mark_seen(s, tick);
        self.add(e, o, r, new, Some(s));
    }

    #[inline]
    fn mark_seen(&mut self, s: u32, tick: u32) {
        if self.marks[s as usize].seen_tick != tick {
            self.marks[s as usize].seen_tick = tick;
            self.seen_old += 1;
            self.push_order(s);
        }
    }

    pub fn destroyed(&mut self, e: &Entry) {
        self.destroy_events += 1;
        let key = key_of(e);
        let hash = hash_key(&key);
        let slots = &self.slots;
        let (o, r, new, slot) = match self.index.find(hash, |s| slots[s as usize].key == key) {
            Some(s) => {
                self.index.remove(hash, s);
                let c = &mut self.slots[s as usize];
                c.live = false;
                self.destroyed_slots.push(s);
                let (o, r, new) = delta(c, e);
                (o, r, new, Some(s))
            }
            // A connection of the start-up table that the first dump missed: history.
            None if self.in_baseline() => return,
            // Opened and closed between two dumps: everything it counted is new.
            None => (e.original_counters, e.reply_counters, true, None),
        };
        self.add(e, o, r, new, slot);
    }

    /// Forgets connections the dump no longer returned, frees destroyed ones, and makes this
    /// tick's order the one the next dump is matched against.
    fn settle_order(&mut self) {
        let tick = self.tick;
        if self.seen_old < self.order.len() {
            for &s in &self.order {
                let c = &mut self.slots[s as usize];
                if c.live && self.marks[s as usize].seen_tick != tick {
                    c.live = false;
                    self.index.remove(hash_key(&c.key), s);
                    self.free.push(s);
                }
            }
        }
        if !self.destroyed_slots.is_empty() {
            let slots = &self.slots;
            self.next_order.retain(|&s| slots[s as usize].live);
            self.free.extend(self.destroyed_slots.drain(..));
        }
        std::mem::swap(&mut self.order, &mut self.next_order);
        self.next_order.clear();
        self.created.clear();
        let live = self.order.len();
        // Compact when most slots are free, or the walk jumps around memory a lot (a quarter
        // of its steps: the prefetch ahead of the walk hides scattered slots well, so this is
        // rare under ordinary churn of a few percent per tick).
        if live >= 1024 && (self.scattered > live / 4 || self.slots.len() > 2 * live) {
            self.compact();
        } else if live < 1024 && self.slots.len() > 4096 {
            self.compact();
        }
        if self.next_order.capacity() > 4 * live.max(1024) {
            self.next_order.shrink_to(live);
        }
        self.index.shrink_if_sparse();
    }

    /// Rewrites the slots in dump order (sequential walk next tick) and drops free ones.
    fn compact(&mut self) {
        let mut new_slot = vec![u32::MAX; self.slots.len()];
        let mut slots = Vec::with_capacity(self.order.len());
        let mut marks = Vec::with_capacity(self.order.len());
        for (i, &s) in self.order.iter().enumerate() {
            slots.push(self.slots[s as usize]);
            marks.push(Mark { order_pos: i as u32, ..self.marks[s as usize] });
            new_slot[s as usize] = i as u32;
        }
        self.index.renumber(&new_slot);
        self.slots = slots;
        self.marks = marks;
        self.free = Vec::new();
        for (i, s) in self.order.iter_mut().enumerate() {
            *s = i as u32;
        }
    }

    fn excluded(&self, family: u8, addr: &[u8; 16]) -> bool {
        self.exclude.iter().any(|c| c.contains(family, addr))
    }

    /// Adds a connection's deltas to its flow's sums. `slot`: the connection's slot, whose
    /// mark remembers the flow cell.
    fn add(&mut self, e: &Entry, o: Counters, r: Counters, new: bool, slot: Option<u32>) {
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
        let hint = slot.map_or(NO_FLOW, |s| self.marks[s as usize].flow);
        let f = match self.flows.get(hint as usize) {
            Some(cell) if cell.key == key => hint,
            _ => {
                let f = self.flow_cell(key);
                if let Some(s) = slot {
                    self.marks[s as usize].flow = f;
                }
                f
            }
        };
        let cell = &mut self.flows[f as usize];
        cell.last_tick = self.tick;
        if !cell.dirty {
            cell.dirty = true;
            self.dirty.push(f);
        }
        let sums = &mut cell.sums;
        sums.tx_bytes += o.bytes;
        sums.tx_packets += o.packets;
        sums.rx_bytes += r.bytes;
        sums.rx_packets += r.packets;
        sums.connections += u32::from(new);
    }

    /// The cell of `key`, created if there is none.
    #[inline(never)]
    fn flow_cell(&mut self, key: FlowKey) -> u32 {
        if let Some(&f) = self.flow_index.get(&key) {
            return f;
        }
        let cell = FlowCell { key, sums: FlowSums::default(), dirty: false, last_tick: self.tick };
        let f = match self.free_flows.pop() {
            Some(f) => {
                self.flows[f as usize] = cell;
                f
            }
            None => {
                self.flows.push(cell);
                (self.flows.len() - 1) as u32
            }
        };
        self.flow_index.insert(key, f);
        f
    }

    /// Drops flow cells unused for `FLOW_IDLE_TICKS` (bounded memory); compacts the cells when
    /// most are free (their connections' hints then miss once and are renewed).
    fn collect_idle_flows(&mut self) {
        if self.tick % FLOW_IDLE_TICKS != 0 {
            return;
        }
        let tick = self.tick;
        for (f, cell) in self.flows.iter_mut().enumerate() {
            if cell.key.family != 0 && !cell.dirty && tick.wrapping_sub(cell.last_tick) >= FLOW_IDLE_TICKS {
                self.flow_index.remove(&cell.key);
                cell.key.family = 0;
                self.free_flows.push(f as u32);
            }
        }
        let live = self.flows.len() - self.free_flows.len();
        if self.flows.len() > 4096 && self.free_flows.len() > live {
            self.flows.retain(|c| c.key.family != 0);
            self.flows.shrink_to_fit();
            self.free_flows = Vec::new();
            self.flow_index = self.flows.iter().enumerate().map(|(f, c)| (c.key, f as u32)).collect();
        }
    }

    /// Drops the state of connections the dump no longer returned (bounded memory), and
    /// returns the packed batch: header + one record per flow key with activity.
    pub fn finish_tick(&mut self, mut header: TickHeader) -> Vec<u8> {
        self.settle_order();
        self.in_tick = false;
        self.baseline_done = true;
        header.tracked = self.index.len() as u64;
        header.destroy_events = self.destroy_events;
        let mut out = records::new_batch(self.dirty.len(), &header);
        for (i, f) in self.dirty.drain(..).enumerate() {
            let cell = &mut self.flows[f as usize];
            cell.dirty = false;
            let (k, s) = (cell.key, std::mem::take(&mut cell.sums));
            let record = Record {
                family: k.family,
                protocol: k.protocol,
                flags: k.flags,
                tcp_flags: 0,
                dst_port: k.dst_port,
                original_dst_port: k.original_dst_port,
                src: k.src,
                dst: k.dst,
                original_dst: k.original_dst,
                sums: s,
            };
            records::write_record(&mut out, i, &record);
        }
        if self.dirty.capacity() > 65_536 {
            self.dirty.shrink_to(4096);
        }
        self.collect_idle_flows();
        out
    }

    pub fn tracked(&self) -> usize {
        self.index.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::{PROTO_ICMP, PROTO_TCP};
    use crate::records::{HEADER_BYTES, RECORD_BYTES};

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

    #[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
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

    /// The tracker's rules written the plain way (a map per key, no dump order), to check the
    /// dump-order matching against.
    struct Model {
        conns: std::collections::HashMap<(u32, u16, Tuple), (Counters, Counters)>,
        seen: std::collections::HashSet<(u32, u16, Tuple)>,
        flows: std::collections::HashMap<([u8; 4], [u8; 4], u16, [u8; 4], u16, u8), ((u64, u64), (u64, u64), u32)>,
        baseline: bool,
    }

    impl Model {
        fn add(&mut self, e: &Entry, o: Counters, r: Counters, new: bool) {
            if !new && o == Counters::default() && r == Counters::default() {
                return;
            }
            let dnat = e.reply.src != e.original.dst || e.reply.src_port != e.original.dst_port;
            let v4 = |a: &[u8; 16]| -> [u8; 4] { a[..4].try_into().unwrap() };
            let key = (
                v4(&e.original.src),
                v4(&e.reply.src),
                e.reply.src_port,
                if dnat { v4(&e.original.dst) } else { [0; 4] },
                if dnat { e.original.dst_port } else { 0 },
                if dnat { FLAG_DNAT } else { 0 },
            );
            let f = self.flows.entry(key).or_default();
            f.0 .0 += o.packets;
            f.0 .1 += o.bytes;
            f.1 .0 += r.packets;
            f.1 .1 += r.bytes;
            f.2 += u32::from(new);
        }
        fn delta(before: (Counters, Counters), e: &Entry) -> (Counters, Counters, bool) {
            let s = |a: Counters, b: Counters| Some(Counters { packets: a.packets.checked_sub(b.packets)?, bytes: a.bytes.checked_sub(b.bytes)? });
            match (s(e.original_counters, before.0), s(e.reply_counters, before.1)) {
                (Some(o), Some(r)) => (o, r, false),
                _ => (e.original_counters, e.reply_counters, true),
            }
        }
        fn observe(&mut self, e: &Entry) {
            let k = (e.id, e.zone, e.original);
            self.seen.insert(k);
            let (o, r, new) = match self.conns.get(&k) {
                Some(&before) => Self::delta(before, e),
                None if self.baseline => {
                    self.conns.insert(k, (e.original_counters, e.reply_counters));
                    return;
                }
                None => (e.original_counters, e.reply_counters, true),
            };
            self.conns.insert(k, (e.original_counters, e.reply_counters));
            self.add(e, o, r, new);
        }
        fn destroyed(&mut self, e: &Entry) {
            let (o, r, new) = match self.conns.remove(&(e.id, e.zone, e.original)) {
                Some(before) => Self::delta(before, e),
                None if self.baseline => return,
                None => (e.original_counters, e.reply_counters, true),
            };
            self.add(e, o, r, new);
        }
        fn finish(&mut self) -> Vec<Rec> {
            let seen = std::mem::take(&mut self.seen);
            self.conns.retain(|k, _| seen.contains(k));
            self.baseline = false;
            let mut out: Vec<Rec> = self
                .flows
                .drain()
                .map(|((src, dst, dst_port, orig, orig_port, flags), (tx, rx, conns))| Rec {
                    flags,
                    proto: PROTO_TCP,
                    dst_port,
                    orig_port,
                    src,
                    dst,
                    orig,
                    tx,
                    rx,
                    conns,
                })
                .collect();
            out.sort_by_key(|r| (r.src, r.dst, r.dst_port));
            out
        }
    }

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n.max(1)
        }
    }

    /// A table under churn — new entries at random places, vanished and destroyed ones, moved
    /// ones, whole reorders (a hash resize), counters growing and restarting, restarted dumps
    /// (duplicates), abandoned ticks — gives exactly the model's records every tick.
    #[test]
    fn dump_order_matching_equals_the_plain_model() {
        // Seeds 5 and 6 draw from a wide address space: thousands of flows, most soon idle, so
        // idle flow cells are dropped and the cells compacted along the way.
        for (seed, startup) in [(1u64, Startup::Baseline), (2, Startup::Count), (3, Startup::Baseline), (4, Startup::Count), (5, Startup::Count), (6, Startup::Baseline)] {
            let wide = seed >= 5;
            let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ seed);
            let mut t = Tracker::new(startup, vec![]);
            let mut m = Model { conns: Default::default(), seen: Default::default(), flows: Default::default(), baseline: startup == Startup::Baseline };
            let mut next_id = 1u32;
            let mut fresh = |rng: &mut Rng| {
                next_id += 1;
                let src = if wide { [10, 0, rng.below(64) as u8, rng.below(256) as u8] } else { [10, 0, rng.below(4) as u8, rng.below(8) as u8] };
                let dst = [10, 1, 0, rng.below(8) as u8];
                let mut e = conn(next_id, src, 1000 + rng.below(50_000) as u16, dst, 80 + rng.below(3) as u16, (rng.below(5), rng.below(500)), (rng.below(5), rng.below(500)));
                if rng.below(5) == 0 {
                    e.reply.src = v4([10, 2, 0, rng.below(4) as u8]); // DNAT to a backend
                    e.reply.src_port = 8080;
                }
                if rng.below(50) == 0 {
                    e.id = 0; // readers without ids (procfs, Cilium): identity is the tuple
                }
                e
            };
            let mut table: Vec<Entry> = (0..3000).map(|_| fresh(&mut rng)).collect();
            for round in 0..if wide { 150 } else { 120 } {
                // Mutate the table.
                let mut destroyed = Vec::new();
                for _ in 0..rng.below(if round % 10 == 0 { 1500 } else { 60 }) {
                    let at = rng.below(table.len() as u64 + 1) as usize;
                    table.insert(at, fresh(&mut rng));
                }
                for _ in 0..rng.below(if round % 15 == 0 { 2000 } else { 60 }) {
                    if table.is_empty() {
                        break;
                    }
                    let mut e = table.remove(rng.below(table.len() as u64) as usize);
                    if rng.below(2) == 0 {
                        e.original_counters.bytes += rng.below(100);
                        destroyed.push(e);
                    }
                }
                for e in table.iter_mut() {
                    match rng.below(20) {
                        0 => e.original_counters = Counters { packets: e.original_counters.packets + 1, bytes: e.original_counters.bytes + rng.below(1500) },
                        1 => e.reply_counters.bytes += rng.below(1500),
                        2 if rng.below(10) == 0 => e.original_counters = Counters { packets: 0, bytes: 1 },
                        _ => {}
                    }
                }
                for _ in 0..rng.below(20) {
                    let (a, b) = (rng.below(table.len() as u64) as usize, rng.below(table.len() as u64) as usize);
                    table.swap(a, b);
                }
                if round % 17 == 5 {
                    table.reverse();
                }
                // An abandoned tick: a dump that failed halfway.
                if round % 13 == 7 {
                    t.begin_tick();
                    let half = rng.below(table.len() as u64) as usize;
                    for e in &table[..half] {
                        t.observe(e);
                        m.observe(e);
                    }
                    m.seen.clear();
                }
                // A restarted dump returns a prefix twice.
                let mut dump: Vec<&Entry> = Vec::new();
                if round % 7 == 3 {
                    dump.extend(&table[..rng.below(table.len() as u64) as usize]);
                }
                dump.extend(&table);
                t.begin_tick();
                for e in &dump {
                    t.observe(e);
                    m.observe(e);
                }
                for e in &destroyed {
                    t.destroyed(e);
                    m.destroyed(e);
                }
                let mut got = decode(&t.finish_tick(TickHeader::default()));
                let mut want = m.finish();
                got.sort();
                want.sort();
                if let Some(i) = (0..got.len().max(want.len())).find(|&i| got.get(i) != want.get(i)) {
                    panic!("seed {seed} round {round}: {} records, want {}; first difference: {:?} vs {:?}", got.len(), want.len(), got.get(i), want.get(i));
                }
                assert_eq!(t.tracked(), m.conns.len(), "seed {seed} round {round}");
                assert!(t.slots.len() <= 2 * t.tracked() + 4096, "slots bounded: {} for {}", t.slots.len(), t.tracked());
                assert_eq!(t.marks.len(), t.slots.len());
                let live_flows = t.flows.len() - t.free_flows.len();
                assert_eq!(live_flows, t.flow_index.len());
                assert!(t.flows.len() <= 2 * live_flows + 4096, "flow cells bounded: {} for {live_flows}", t.flows.len());
            }
        }
    }
}
